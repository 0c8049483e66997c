from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from tests.support.client import Client
from tests.support.server import ServerProcess, start_server

CI = os.environ.get("CI") == "true"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A real ``tether serve`` on an ephemeral port, shared by one test module."""
    proc = start_server(tmp_path_factory.mktemp("server"))
    yield proc
    proc.stop()


@pytest.fixture
async def clients(request: pytest.FixtureRequest) -> AsyncIterator[Callable[..., Client]]:
    """A factory of clients (of ``server`` unless given a ``url``); all closed after the test.
    The module's ``server`` process is started only when a client needs it."""
    made: list[Client] = []

    def make(**kwargs: object) -> Client:
        if "url" not in kwargs:
            kwargs["url"] = request.getfixturevalue("server").url
        client = Client(**kwargs)  # type: ignore[arg-type]
        made.append(client)
        return client

    yield make
    for client in made:
        await client.close()


@pytest.fixture
async def client(clients: Callable[..., Client]) -> Client:
    c = clients()
    await c.connect()
    return c


def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"
