"""Issue 15, item 9: WCAG 2.2 AA in the main states, checked by axe-core (vendored, served from
static/vendor/ so the page's CSP lets it load): signed in with chats, an answer streaming (Stop),
a stopped one, a failed answer with Retry, the banner up, phone width with the drawer open, and
the sign-in dialog; in the dark and the light colour scheme."""

from __future__ import annotations

import json
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import DESKTOP, PHONE
from tests.e2e.pages import CONNECTED, open_app, send_from_page
from tests.e2e.test_security import new_token
from tests.support.inprocess import serve_in_process
from tests.support.proxy import FaultProxy
from tests.support.server import ServerProcess, start_server

MODULE = '''
import asyncio
from tether.agents import AgentError

async def broken(turn):
    yield "partial words "
    raise AgentError("the model is overloaded")

async def slow(turn):
    for n in range(400):
        yield f"word{n} "
        await asyncio.sleep(0.05)
'''

AGENTS = """
[agents.broken]
kind = "python"
entrypoint = "tether_e2e_a11y:broken"

[agents.slow]
kind = "python"
entrypoint = "tether_e2e_a11y:slow"
"""

AA_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
MARKDOWN = (
    "A *markdown* answer with `code`, a [link](https://example.com) and\n\n"
    "| a | b |\n|---|---|\n| 1 | 2 |"
)
ASSISTANT = "[data-testid=message][data-role=assistant]"
AXE_RUN = """(tags) => axe.run(document, {
  runOnly: { type: 'tag', values: tags }, resultTypes: ['violations'] })"""


@pytest.fixture
async def a11y_server(tmp_path: Path) -> AsyncIterator[ServerProcess]:
    data = tmp_path / "data"
    data.mkdir()
    (data / "tether_e2e_a11y.py").write_text(textwrap.dedent(MODULE))
    (data / "agents.toml").write_text(AGENTS)
    proc = start_server(data, env={"TETHER_ALLOWED_HOSTS": '["127.0.0.1", "localhost"]'})
    yield proc
    proc.stop()


async def violations(page: Any, state: str) -> list[str]:
    """axe-core's AA violations on the page as it is, one readable line per failing node."""
    if not await page.evaluate("typeof window.axe === 'object'"):
        await page.add_script_tag(url="static/vendor/axe.min.js")
    result = await page.evaluate(AXE_RUN, AA_TAGS)
    return [
        f"{state}: {v['id']} ({v['impact']}) {json.dumps(node['target'])}: {node['failureSummary']}"
        for v in result["violations"] for node in v["nodes"]
    ]


@pytest.mark.parametrize("scheme", ["dark", "light"])
async def test_the_main_states_meet_wcag_aa(
    scheme: str, browser: Any, a11y_server: ServerProcess, other: Any
) -> None:
    proxy = await FaultProxy("127.0.0.1", a11y_server.port).start()
    found: list[str] = []
    try:
        device = await other(a11y_server.url)
        chat = await device.new_session(title="Markdown answers")
        await device.ok("subscribe", {"session_id": chat})
        await device.send(chat, MARKDOWN)
        await device.wait_status(chat, "complete", 1)
        broken = await device.new_session(title="A failing agent", agent="broken")
        slow = await device.new_session(title="A slow agent", agent="slow")

        context = await browser.new_context(viewport=DESKTOP, color_scheme=scheme)
        page = await context.new_page()
        await open_app(page, proxy.url, chat)
        await page.wait_for_selector(f"{ASSISTANT}[data-status=complete]")
        found += await violations(page, "signed in with chats")

        await page.goto(f"{proxy.url}/#/s/{slow}")
        await send_from_page(page, "a long answer, please")
        await page.wait_for_selector(f"{ASSISTANT}[data-status=streaming]")
        await page.wait_for_selector("[data-testid=composer-stop]:visible")
        await page.wait_for_selector("[data-testid=session-item][data-running=true]")
        found += await violations(page, "streaming")
        await page.click("[data-testid=composer-stop]")
        await page.wait_for_selector(f"{ASSISTANT}[data-status=cancelled]")
        found += await violations(page, "stopped")

        await page.goto(f"{proxy.url}/#/s/{broken}")
        await send_from_page(page, "this will fail")
        await page.wait_for_selector(f"{ASSISTANT}[data-status=failed] [data-testid=answer-retry]",
                                     timeout=15_000)
        found += await violations(page, "failed with retry")

        proxy.sever()
        await page.wait_for_selector("#banner[data-state=unreachable]", timeout=20_000)
        found += await violations(page, "banner up")
        proxy.restore()
        await page.wait_for_selector(CONNECTED, timeout=15_000)
        await context.close()

        phone = await browser.new_context(
            viewport=PHONE, is_mobile=True, has_touch=True, color_scheme=scheme
        )
        page = await phone.new_page()
        await open_app(page, proxy.url, chat)
        found += await violations(page, "phone")
        await page.click("#menu")
        await page.wait_for_selector(".app.sidebar-open")
        found += await violations(page, "phone, drawer open")
        await phone.close()
    finally:
        await proxy.close()
    assert not found, "\n".join(found)


async def test_the_sign_in_dialog_meets_wcag_aa(browser: Any, tmp_path: Path) -> None:
    data = tmp_path / "data"
    new_token(data, "alice")
    async with serve_in_process(data) as srv:
        context = await browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
        page = await context.new_page()
        await page.goto(f"{srv.url}/?token=tt_wrong", timeout=15_000)
        await page.wait_for_selector("[data-testid=signin-error]", state="visible", timeout=10_000)
        found = await violations(page, "sign-in dialog, token refused")
        await context.close()
    assert not found, "\n".join(found)
