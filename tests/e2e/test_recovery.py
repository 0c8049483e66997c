"""Scenario 1 of issue 3: a phone-sized page whose JavaScript is frozen while its connection is
silently dropped comes back and shows every missed message exactly once, fast."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest

from tests.e2e.conftest import ARTIFACTS, PHONE
from tests.e2e.pages import (
    CONNECTED,
    assert_each_once,
    messages,
    open_app,
    send_from_page,
    set_visibility,
    wait_ids_complete,
)

SHORT_PINGS = {"TETHER_PING_INTERVAL": "2", "TETHER_PING_TIMEOUT": "2"}

CASES = [
    # (name, server environment, absence in seconds)
    pytest.param("absent-5s", {}, 5.0, id="absent-5s"),
    # Longer than ping_interval + ping_timeout (2 + 2 s): the server has dropped the socket.
    pytest.param("absent-beyond-ping-timeout", SHORT_PINGS, 7.0, id="absent-beyond-ping-timeout"),
]


def record(name: str, result: dict[str, Any]) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / "recovery.jsonl"
    with path.open("a") as file:
        file.write(json.dumps({"case": name, **result}) + "\n")


@pytest.mark.parametrize(("name", "env", "absence"), CASES)
async def test_frozen_page_with_a_silently_dropped_connection_recovers(
    name: str, env: dict[str, str], absence: float, browser: Any, servers: Any, other: Any,
    screenshots: Any,
) -> None:
    from tests.support.proxy import FaultProxy

    server = servers(env)
    proxy = await FaultProxy("127.0.0.1", server.port).start()
    try:
        device = await other(server.url)
        page = await frozen_page_recovers(browser, device, proxy, proxy.url, name, absence)
        if name == "absent-5s":
            await page.screenshot(path=str(screenshots / "phone-after-recovery.png"))
        await page.context.close()
    finally:
        await proxy.close()


async def frozen_page_recovers(
    browser: Any, device: Any, proxy: Any, app_url: str, name: str, absence: float
) -> Any:
    """The scenario: the page at ``app_url`` (through ``proxy``) is frozen and its connection
    silently dropped while ``device`` (another client) adds messages; it must come back with
    every message once, in order, and work again. Returns the page (its context still open)."""
    session_id = await device.new_session(title=f"Recovery {name}")
    await device.ok("subscribe", {"session_id": session_id})
    await device.send(session_id, "before the phone sleeps")
    await device.wait_status(session_id, "complete", 1)

    context = await browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    page = await context.new_page()
    await open_app(page, app_url, session_id)
    before = await device.ok("subscribe", {"session_id": session_id})
    await wait_ids_complete(page, [m["id"] for m in before["messages"]])
    assert len(proxy.live) >= 1

    # The phone goes to the background: hidden, JavaScript frozen, network silently gone.
    await set_visibility(page, "hidden")
    cdp = await context.new_cdp_session(page)
    await cdp.send("Debugger.enable")
    await cdp.send("Debugger.pause")
    away_since = time.monotonic()
    assert proxy.drop_all() >= 1

    for n in range(3):
        await device.send(session_id, f"missed message {n + 1}: the quick brown fox jumps")
    await device.wait_status(session_id, "complete", 4, timeout=30)
    await asyncio.sleep(max(0.0, absence - (time.monotonic() - away_since)))

    # The user comes back.
    after = await device.ok("subscribe", {"session_id": session_id})
    expected = [m["id"] for m in after["messages"]]
    assert len(expected) == 8
    back = time.monotonic()
    await cdp.send("Debugger.resume")
    await set_visibility(page, "visible")
    await wait_ids_complete(page, expected, timeout=20)
    recovery_s = time.monotonic() - back

    rows = await messages(page)
    assert_each_once(rows)
    assert [r["id"] for r in rows] == expected, "every message on screen once, in order"
    await page.wait_for_selector(CONNECTED, timeout=10_000)
    diagnostics = await page.evaluate("window.tether.diagnostics()")
    result = {
        "absence_s": round(time.monotonic() - away_since - recovery_s, 2),
        "visible_to_all_shown_ms": round(recovery_s * 1000),
        "client_recovery_ms": diagnostics["lastRecoveryMs"],
        "client_recovery_reason": diagnostics["lastRecoveryReason"],
        "zombies_dropped": diagnostics["zombies"],
        "reconnects": diagnostics["reconnects"],
    }
    record(name, result)
    print(f"\n[recovery] {name}: {json.dumps(result)}")
    assert diagnostics["reconnects"] >= 1

    # And the page works again.
    await send_from_page(page, "back online, still working?")
    await page.wait_for_function(
        """() => [...document.querySelectorAll('[data-testid=message][data-role=assistant]')]
             .some(el => el.dataset.status === 'complete' &&
                         el.textContent.includes('back online, still working?'))""",
        polling=20, timeout=15_000,
    )
    assert_each_once(await messages(page))
    return page
