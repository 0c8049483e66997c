"""Issue 15, items 2 and 3: the status banner says what is true, and a refused token is said to be
refused and forgotten. Takes the screenshots of those states."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.e2e.conftest import PHONE
from tests.e2e.pages import CONNECTED, open_app
from tests.e2e.test_security import new_token
from tests.support.inprocess import InProcessServer, serve_in_process
from tests.support.proxy import FaultProxy

BANNER = "#banner"


async def test_server_down_with_the_browser_online_says_unreachable_with_retry_now(
    browser: Any, server: InProcessServer, proxy: FaultProxy, screenshots: Path
) -> None:
    context = await browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    page = await context.new_page()
    await open_app(page, proxy.url)
    proxy.sever()
    await page.wait_for_selector(f"{BANNER}[data-state=unreachable]", timeout=20_000)
    text = await page.locator(f"{BANNER} .banner-text").text_content() or ""
    assert "Can't reach the server" in text and "next attempt in" in text, text
    assert "offline" not in text.lower()
    assert await page.evaluate("navigator.onLine") is True
    await page.screenshot(path=str(screenshots / "status-unreachable.png"))

    # "Retry now" connects within the attempt's own time, not after the next scheduled delay:
    # wait for a scheduled attempt at least 2.5 s away (the policy's delays are random, at
    # most 5 s), so the scheduled attempt can neither beat the click (the banner, button and
    # all, would be gone) nor pass for it.
    next_in = await page.wait_for_function(
        "() => { const at = window.tether.connection.nextAttemptAt;"
        " return at !== null && at - Date.now() >= 2500 ? at - Date.now() : false; }",
        timeout=40_000,
    )
    proxy.restore()
    await page.click("[data-testid=banner-retry]", timeout=2_000)
    await page.wait_for_selector(CONNECTED, timeout=await next_in.json_value() - 500)
    assert await page.locator(BANNER).is_hidden()
    await context.close()


async def test_browser_offline_says_offline(
    browser: Any, server: InProcessServer, proxy: FaultProxy
) -> None:
    context = await browser.new_context(viewport=PHONE)
    page = await context.new_page()
    await open_app(page, proxy.url)
    await context.set_offline(True)
    proxy.sever()  # what the network going away does to the open socket
    await page.wait_for_selector(f"{BANNER}[data-state=offline]", timeout=10_000)
    assert (await page.locator(f"{BANNER} .banner-text").text_content() or "").startswith(
        "You're offline"
    )
    await context.close()


async def test_a_wrong_token_is_refused_in_the_dialog_and_forgotten(
    browser: Any, tmp_path: Path, screenshots: Path
) -> None:
    data = tmp_path / "data"
    good = new_token(data, "alice")
    async with serve_in_process(data) as srv:
        context = await browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
        page = await context.new_page()
        await page.goto(f"{srv.url}/?token=tt_wrong", timeout=15_000)
        await page.wait_for_selector("[data-testid=signin-error]", state="visible", timeout=10_000)
        assert "refused" in (await page.text_content("[data-testid=signin-error]") or "")
        assert await page.evaluate("localStorage.getItem('tether.token')") is None
        assert await page.evaluate("window.tether.token") is None
        assert (await page.get_attribute(BANNER, "data-state")) == "signed_out"
        await page.screenshot(path=str(screenshots / "status-signed-out.png"))

        await page.fill("[data-testid=token-input]", "tt_still_wrong")
        await page.press("[data-testid=token-input]", "Enter")
        await page.wait_for_selector("[data-testid=signin-error]", state="visible", timeout=10_000)
        assert await page.input_value("[data-testid=token-input]") == ""
        assert await page.evaluate("localStorage.getItem('tether.token')") is None

        await page.fill("[data-testid=token-input]", good)
        await page.press("[data-testid=token-input]", "Enter")
        await page.wait_for_selector(CONNECTED, timeout=10_000)
        assert await page.locator("#signin").is_hidden()
        assert await page.evaluate("JSON.parse(localStorage.getItem('tether.token'))") == good
        await context.close()
