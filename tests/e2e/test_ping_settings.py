"""Bug 1 of issue 10: the browser client uses the server's real ping settings, which it learns
from ``hello.limits`` (socket.io-client keeps its copy private, renamed by the minified build).
With non-default ``TETHER_PING_INTERVAL`` / ``TETHER_PING_TIMEOUT`` the watchdog's silence limit
and the wake-up decision (probe, or drop at once) must follow them."""

from __future__ import annotations

import time
from typing import Any

from tests.e2e.conftest import PHONE
from tests.e2e.pages import CONNECTED, open_app, set_visibility

DIAGNOSTICS = "window.tether.diagnostics()"


async def open_phone(browser: Any, url: str) -> tuple[Any, Any, dict[str, Any]]:
    """A phone-sized page of the app, connected and told the server's ping settings; returns
    the context, the page and its diagnostics."""
    context = await browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    page = await context.new_page()
    await open_app(page, url)
    await page.wait_for_function(f"() => {DIAGNOSTICS}.pingFromServer", timeout=10_000)
    return context, page, await page.evaluate(DIAGNOSTICS)


async def wait_zombie_dropped(page: Any, timeout: float) -> dict[str, Any]:
    """Wait until the client has dropped a zombie and is connected again; its diagnostics."""
    await page.wait_for_function(
        f"() => {{ const d = {DIAGNOSTICS}; return d.zombies >= 1 && d.state === 'connected'; }}",
        polling=20, timeout=timeout * 1000,
    )
    return await page.evaluate(DIAGNOSTICS)  # type: ignore[no-any-return]


async def log_lines(page: Any) -> list[str]:
    lines = await page.evaluate("window.tether.logbook.recent(500).map((l) => l.msg)")
    return [str(line) for line in lines]


async def test_a_silent_connection_is_probed_after_the_servers_ping_interval(
    browser: Any, servers: Any
) -> None:
    from tests.support.proxy import FaultProxy

    # Engine.IO itself gives up after 3 + 20 = 23 s of silence; the client's watchdog must probe
    # once a ping is overdue (3 s + 5 s), so it recovers long before that.
    server = servers({"TETHER_PING_INTERVAL": "3", "TETHER_PING_TIMEOUT": "20"})
    proxy = await FaultProxy("127.0.0.1", server.port).start()
    try:
        context, page, settings = await open_phone(browser, proxy.url)
        assert (settings["pingInterval"], settings["pingTimeout"]) == (3000, 20_000)
        assert (settings["serverTimeout"], settings["silenceLimit"]) == (23_000, 8000)
        assert settings["zombies"] == 0

        dropped_at = time.monotonic()
        assert proxy.drop_all(only="/socket.io/") >= 1
        after = await wait_zombie_dropped(page, timeout=16)
        took = time.monotonic() - dropped_at
        assert took < 16, f"recovered after {took:.1f} s, not by Engine.IO's 23 s timeout"
        assert after["zombies"] == 1
        lines = await log_lines(page)
        probed = [line for line in lines if "heartbeat timed out" in line and "silent for" in line]
        assert probed, lines[-20:]
        await page.wait_for_selector(CONNECTED, timeout=10_000)
        await context.close()
    finally:
        await proxy.close()


async def test_an_absence_longer_than_the_servers_ping_timeout_reconnects_without_probing(
    browser: Any, servers: Any
) -> None:
    # The server drops a client silent for 2 + 2 s; after 5 s away the client must not trust its
    # socket (default settings, 25 + 20 s, would have it probe instead).
    server = servers({"TETHER_PING_INTERVAL": "2", "TETHER_PING_TIMEOUT": "2"})
    context, page, settings = await open_phone(browser, server.url)
    assert (settings["pingInterval"], settings["pingTimeout"]) == (2000, 2000)
    assert settings["serverTimeout"] == 4000

    await set_visibility(page, "hidden")
    hidden_at = time.monotonic()
    # The absence itself is the scenario: the page stays hidden for 5 s.
    await page.wait_for_function(
        "(until) => Date.now() >= until", arg=await page.evaluate("Date.now() + 5000"),
        polling=100, timeout=10_000,
    )
    assert time.monotonic() - hidden_at >= 4.5
    await set_visibility(page, "visible")
    after = await wait_zombie_dropped(page, timeout=10)
    assert after["zombies"] == 1
    lines = await log_lines(page)
    dropped = [line for line in lines if "dropping the connection: away" in line]
    assert dropped and "> server timeout" in dropped[0], lines[-20:]
    await context.close()
