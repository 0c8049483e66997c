"""Fixtures of the end-to-end tests: Tether in-process or as ``tether serve`` processes, the fault
proxy (silent drop), real Chromium through Playwright, and a protocol client playing "another
device"."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.client import Client
from tests.support.inprocess import InProcessServer, serve_in_process
from tests.support.proxy import FaultProxy
from tests.support.server import ServerProcess, start_server

CHROMIUM = os.environ.get("TETHER_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
CI = os.environ.get("CI") == "true"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
#: Where the e2e tests save their screenshots: the ignored artifacts folder, so a test run leaves
#: the tree clean. ``make screenshots`` points it at docs/screenshots to refresh the README's.
SCREENSHOTS = Path(os.environ.get("TETHER_SCREENSHOTS", ARTIFACTS / "screenshots"))

pytestmark = pytest.mark.browser


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/e2e/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.browser)


def _missing_browser() -> str | None:
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        return "Playwright for Python is not installed"
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        return f"no Chromium at {CHROMIUM} (apt-get install -y chromium)"
    return None


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    """Chromium; a missing browser skips locally and fails under CI=true."""
    problem = _missing_browser()
    if problem:
        if CI:
            pytest.fail(f"CI=true and {problem}")
        pytest.skip(problem)
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, timeout=30_000
        )
        try:
            yield chromium
        finally:
            await chromium.close()


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    """Start ``tether serve`` processes with extra environment; all stopped after the test."""
    started: list[ServerProcess] = []

    def start(env: dict[str, str] | None = None) -> ServerProcess:
        env = {"TETHER_ALLOWED_HOSTS": json.dumps(PROXIED_HOSTS), **(env or {})}
        server = start_server(tmp_path / f"server{len(started)}", env=env)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


#: The browser reaches the servers through a proxy on another port: the Host check (on loopback,
#: loopback names with the served port) must also answer to the proxy's port.
PROXIED_HOSTS = ["127.0.0.1", "localhost"]


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[InProcessServer]:
    """Tether with default settings in the test's own event loop (no process to start); tests
    that need other settings, or a process to kill, use ``servers``."""
    async with serve_in_process(tmp_path / "in-process", allowed_hosts=PROXIED_HOSTS) as server:
        yield server


@pytest.fixture
async def proxy(server: InProcessServer) -> AsyncIterator[FaultProxy]:
    proxy = await FaultProxy("127.0.0.1", server.port).start()
    yield proxy
    await proxy.close()


@pytest.fixture
async def other() -> AsyncIterator[Callable[[str], Any]]:
    """Connected protocol clients ("another device"), closed after the test."""
    made: list[Client] = []

    async def connect(url: str) -> Client:
        client = Client(url)
        await client.connect()
        made.append(client)
        return client

    yield connect
    for client in made:
        await client.close()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    """The folder screenshots go to (see ``SCREENSHOTS``)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
