"""Issue 15, item 4: an action other than send says at once that it could not be done while the
server cannot be reached, and never shows a change that then silently reverts."""

from __future__ import annotations

from typing import Any

from tests.e2e.conftest import DESKTOP
from tests.e2e.pages import CONNECTED, open_app
from tests.support.inprocess import InProcessServer
from tests.support.proxy import FaultProxy

NOTICE = "[data-testid=action-notice]"


async def test_rename_and_new_chat_while_disconnected_say_they_could_not_be_done(
    browser: Any, server: InProcessServer, proxy: FaultProxy, other: Any
) -> None:
    device = await other(server.url)
    session_id = await device.new_session(title="Kept name")
    context = await browser.new_context(viewport=DESKTOP)
    page = await context.new_page()
    await open_app(page, proxy.url, session_id)
    item = f"[data-testid=session-item][data-session-id='{session_id}']"
    await page.wait_for_selector(f"{item} .title:text('Kept name')", timeout=10_000)
    proxy.sever()
    await page.wait_for_selector(
        "[data-testid=connection-status]:not([data-state=connected])", timeout=10_000
    )

    await page.click(f"{item} [data-testid=session-rename]")
    await page.fill("[data-testid=session-rename-input]", "Never saved")
    await page.press("[data-testid=session-rename-input]", "Enter")
    await page.wait_for_selector(NOTICE, state="visible", timeout=2_000)
    assert "Couldn't rename the chat" in (await page.text_content(NOTICE) or "")
    assert await page.text_content(f"{item} .title") == "Kept name"

    sessions_before = await page.locator("[data-testid=session-item]").count()
    await page.click("[data-testid=new-session]")
    await page.wait_for_selector(f"{NOTICE}:text('start a new chat')", timeout=2_000)
    assert await page.locator("[data-testid=session-item]").count() == sessions_before

    await page.click(f"{item} [data-testid=session-archive]")
    await page.wait_for_selector(f"{NOTICE}:text('archive the chat')", timeout=2_000)
    assert await page.locator(item).is_visible()

    proxy.restore()
    await page.wait_for_selector(CONNECTED, timeout=15_000)
    listed = (await device.ok("list_sessions", {}))["sessions"]
    assert [(s["title"], s["archived"]) for s in listed if s["id"] == session_id] == [
        ("Kept name", False)
    ]
    await context.close()


async def test_stop_while_disconnected_says_so_at_once_and_stop_when_connected_stops(
    browser: Any, servers: Any, other: Any
) -> None:
    from tests.e2e.pages import send_from_page

    server = servers({"TETHER_ECHO_DELAY": "0.1"})  # a 60-word echo streams for about 6 s
    proxy = await FaultProxy("127.0.0.1", server.port).start()
    try:
        context = await browser.new_context(viewport=DESKTOP)
        page = await context.new_page()
        await open_app(page, proxy.url)
        await page.locator("#empty-new").click()
        await page.wait_for_function("() => location.hash.startsWith('#/s/')", timeout=10_000)
        streaming = "[data-testid=message][data-role=assistant][data-status=streaming]"
        stop = "[data-testid=composer-stop]"

        await send_from_page(page, " ".join(f"word{n}" for n in range(60)))
        await page.wait_for_selector(streaming, timeout=10_000)
        proxy.sever()
        await page.wait_for_selector(
            "[data-testid=connection-status]:not([data-state=connected])", timeout=10_000
        )
        await page.click(stop)
        await page.wait_for_selector(f"{NOTICE}:text('stop the answer')", timeout=2_000)
        assert "not connected" in (await page.text_content(NOTICE) or "")
        proxy.restore()
        await page.wait_for_selector(CONNECTED, timeout=15_000)
        # Nothing was shown as stopped, so nothing reverts: the answer carries on to its end.
        await page.wait_for_selector(
            "[data-testid=message][data-role=assistant][data-status=complete]", timeout=20_000
        )

        await send_from_page(page, " ".join(f"again{n}" for n in range(60)))
        await page.wait_for_selector(streaming, timeout=10_000)
        await page.click(stop)
        await page.wait_for_selector(
            "[data-testid=message][data-role=assistant][data-status=cancelled]", timeout=5_000
        )
        await context.close()
    finally:
        await proxy.close()
