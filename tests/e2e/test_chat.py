"""Scenarios 2 to 5 of issue 3, and the screenshots of the app."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from tests.e2e.conftest import DESKTOP, PHONE
from tests.e2e.pages import (
    assert_each_once,
    messages,
    open_app,
    send_from_page,
    wait_messages,
)
from tests.support.inprocess import InProcessServer
from tests.support.proxy import FaultProxy


def user_rows(rows: list[dict[str, Any]], text: str) -> list[dict[str, Any]]:
    return [r for r in rows if r["role"] == "user" and r["text"] == text]


async def stored_user_messages(device: Any, session_id: str, text: str) -> list[dict[str, Any]]:
    ack = await device.ok("subscribe", {"session_id": session_id, "limit": 200})
    return [m for m in ack["messages"] if m["role"] == "user" and m["content"] == text]


async def test_message_typed_offline_is_delivered_once(
    browser: Any, server: InProcessServer, proxy: FaultProxy, other: Any
) -> None:
    device = await other(server.url)
    session_id = await device.new_session(title="Tunnel")
    context = await browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    page = await context.new_page()
    await open_app(page, proxy.url, session_id)

    await context.set_offline(True)
    await page.wait_for_selector(
        "[data-testid=connection-status]:not([data-state=connected])", timeout=10_000
    )
    banner = page.locator("#banner")
    await banner.wait_for(state="visible", timeout=5_000)
    text = f"typed in a tunnel {uuid.uuid4().hex[:6]}"
    await send_from_page(page, text)
    await wait_messages(page, f"ms.some(m => m.status === 'pending' && m.text === {text!r})", 5)
    assert "sent when you're back online" in (await banner.text_content() or "")
    assert await stored_user_messages(device, session_id, text) == []

    await context.set_offline(False)
    await wait_messages(
        page,
        f"ms.some(m => m.role === 'user' && m.status === 'complete' && m.text === {text!r})"
        " && ms.some(m => m.role === 'assistant' && m.status === 'complete')",
        15,
    )
    rows = await messages(page)
    assert len(user_rows(rows, text)) == 1
    assert_each_once(rows)
    assert len(await stored_user_messages(device, session_id, text)) == 1
    await context.close()


async def test_reloaded_page_delivers_its_pending_message_once(
    browser: Any, server: InProcessServer, proxy: FaultProxy, other: Any
) -> None:
    device = await other(server.url)
    session_id = await device.new_session(title="Reload")
    await device.ok("subscribe", {"session_id": session_id})
    context = await browser.new_context(viewport=DESKTOP)
    page = await context.new_page()
    await open_app(page, proxy.url, session_id)

    # Requests still reach the server, but nothing comes back: the ack of the send is lost.
    assert proxy.drop_all(upstream=False, only="/socket.io/") == 1
    text = f"sent just before a reload {uuid.uuid4().hex[:6]}"
    await send_from_page(page, text)
    await wait_messages(page, f"ms.some(m => m.status === 'pending' && m.text === {text!r})", 5)
    await device.wait_for(
        lambda: any(m["content"] == text for m in device.messages(session_id)) or None,
        timeout=10, what="the server stored the message",
    )

    await page.reload(timeout=15_000)
    await wait_messages(
        page,
        f"ms.filter(m => m.role === 'user' && m.text === {text!r}).length === 1"
        f" && ms.some(m => m.role === 'user' && m.status === 'complete' && m.text === {text!r})",
        15,
    )
    outbox = await page.evaluate("window.tether.outbox.entries.length")
    assert outbox == 0, "the re-sent message was acknowledged (as a duplicate) and left the outbox"
    rows = await messages(page)
    assert len(user_rows(rows, text)) == 1
    assert_each_once(rows)
    assert len(await stored_user_messages(device, session_id, text)) == 1
    await context.close()


async def test_two_tabs_see_each_others_messages_and_streams_live(
    browser: Any, server: InProcessServer, screenshots: Path
) -> None:
    context = await browser.new_context(viewport=DESKTOP)
    first = await context.new_page()
    await open_app(first, server.url)
    await first.click("[data-testid=new-session]")
    await first.wait_for_function("() => location.hash.startsWith('#/s/')", timeout=10_000)
    session_id = (await first.evaluate("location.hash")).removeprefix("#/s/")
    second = await context.new_page()
    await open_app(second, server.url, session_id)
    assert await first.evaluate("window.tether.clientId") != await second.evaluate(
        "window.tether.clientId"
    ), "each tab has its own client_id"

    long_text = "please stream this answer word by word " * 6
    await send_from_page(first, long_text.strip())
    await second.wait_for_selector(
        "[data-testid=message][data-role=assistant][data-status=streaming]", timeout=10_000
    )
    await wait_messages(second, "ms.some(m => m.role === 'assistant' && m.status === 'complete')")
    await send_from_page(second, "hello from the second tab")
    await wait_messages(
        first,
        "ms.some(m => m.role === 'user' && m.text === 'hello from the second tab')"
        " && ms.filter(m => m.role === 'assistant' && m.status === 'complete').length === 2",
    )
    first_rows, second_rows = await messages(first), await messages(second)
    assert_each_once(first_rows)
    assert [(r["id"], r["status"]) for r in first_rows] == [
        (r["id"], r["status"]) for r in second_rows
    ]
    await first.screenshot(path=str(screenshots / "desktop-chat.png"))
    await context.close()


INJECTION = (
    "Plan:\n\n# Plan\n\n**bold**, _italic_ and `code`\n\n- one\n- two\n\n"
    '<img src=x onerror="window.__pwned=1"> <script>window.__pwned=2</script> '
    "[click](javascript:window.__pwned=3) <a href=\"javascript:window.__pwned=4\">a</a> "
    '<iframe src="javascript:window.__pwned=5"></iframe>'
)


async def test_streamed_markdown_renders_and_html_injection_is_neutralised(
    browser: Any, server: InProcessServer, screenshots: Path
) -> None:
    context = await browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    page = await context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: dialogs.append(dialog.message))
    await open_app(page, server.url)
    await page.click("#menu")  # on a phone the session list slides in
    await page.click("[data-testid=new-session]")
    await page.wait_for_function("() => location.hash.startsWith('#/s/')", timeout=10_000)
    await send_from_page(page, INJECTION)
    answer = page.locator("[data-testid=message][data-role=assistant]")
    await page.wait_for_selector(
        "[data-testid=message][data-role=assistant][data-status=complete]", timeout=15_000
    )
    body = answer.locator(".body")
    assert await body.locator("h1").count() == 1
    assert await body.locator("strong").text_content() == "bold"
    assert await body.locator("code").count() >= 1
    assert await body.locator("li").count() == 2
    assert await body.locator("script, iframe, [onerror]").count() == 0
    assert await page.locator("a[href^='javascript']").count() == 0
    assert await page.evaluate("window.__pwned") is None
    assert dialogs == []
    # The user's own message is shown as typed: text, never markup.
    mine = page.locator("[data-testid=message][data-role=user] .body")
    assert "<script>" in (await mine.text_content() or "")
    assert await mine.locator("*").count() == 0
    await page.screenshot(path=str(screenshots / "phone-chat.png"))
    await page.click("#menu")
    await page.wait_for_function(  # the sidebar has finished sliding in
        """() => { const bar = document.getElementById('sidebar');
                   return document.querySelector('.app').classList.contains('sidebar-open')
                       && bar.getAnimations().length === 0
                       && getComputedStyle(bar).transform === 'none'; }""",
        polling=20, timeout=5_000,
    )
    await page.screenshot(path=str(screenshots / "phone-sessions.png"))
    await context.close()
