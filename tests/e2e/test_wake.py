"""Wake in under 200 ms (issue 15): a phone-sized page following 10 sessions is hidden and frozen
(CDP ``Debugger.pause``) while a proxy silently drops its connection and another device adds a
message (and its streamed answer) to every session; the page comes back. Measured in the page:
from the ``visibilitychange`` to every missed message of every session held by the client, final,
and the open chat's shown on screen.

The 75 s and 10 min absences run with the server's ping settings scaled down by ``SCALE`` (and the
absence with them): what the client decides depends only on the absence against the ping settings
(docs/web-client.md), and the server has dropped the old socket in both, so CI waits seconds, not
minutes. ``TETHER_WAKE_RUNS`` repeats each case (the figures in the docs are medians of the runs
in ``test-artifacts/wake.jsonl``)."""

from __future__ import annotations

import asyncio
import json
import os
import time
from typing import Any

import pytest

from tests.e2e.conftest import ARTIFACTS, PHONE
from tests.e2e.pages import CONNECTED, assert_each_once, messages, open_app

SESSIONS = 10
#: 75 s and 10 min against 25 s / 20 s pings become 3 s and 24 s against 1 s / 0.8 s.
SCALE = 25
SCALED_PINGS = {"TETHER_PING_INTERVAL": str(25 / SCALE), "TETHER_PING_TIMEOUT": str(20 / SCALE)}
FAST_ECHO = {"TETHER_ECHO_DELAY": "0.002"}
#: The assertion is generous (two shared cores on CI); docs/web-client.md reports the measured.
BOUND_MS = 1500
RUNS = int(os.environ.get("TETHER_WAKE_RUNS", "1"))

CASES = [
    # (name, server environment, absence in seconds, whether the old socket is probed at all)
    pytest.param("wake-5s", {}, 5.0, True, id="5s"),
    # The baseline: the same, with the wake-up race switched off in the page (probe only).
    pytest.param("wake-5s-probe-only", {}, 5.0, None, id="5s-probe-only"),
    pytest.param("wake-75s", SCALED_PINGS, 75 / SCALE, False, id="75s-scaled"),
    pytest.param("wake-10min", SCALED_PINGS, 600 / SCALE, False, id="10min-scaled"),
]

FOLLOWED_LIVE = """(ids) => {
  const f = window.tether.diagnostics().followers;
  return ids.every(id => f.some(x => x.sessionId === id && x.state === 'live'));
}"""

# Make the page visible again (as tests/e2e/pages.py SET_VISIBILITY does) and resolve with the
# milliseconds until every expected message is held, final, and the open chat's are on screen.
WAKE_AND_TIME = """([expected, openId]) => new Promise((resolve) => {
  const final = (m) => m && m.id && m.status !== 'streaming';
  const held = () => Object.entries(expected).every(([sid, ids]) => {
    const got = new Map(window.tether.messagesFor(sid).map(m => [m.id, m]));
    return ids.every(id => final(got.get(id)));
  });
  const shown = () => expected[openId].every(id => {
    const el = document.querySelector(`[data-testid=message][data-message-id="${id}"]`);
    return el && el.dataset.status !== 'streaming';
  });
  const started = performance.now();
  const check = () => {
    if (held() && shown()) resolve(performance.now() - started); else setTimeout(check, 1);
  };
  for (const [name, value] of [['visibilityState', 'visible'], ['hidden', false]]) {
    Object.defineProperty(document, name, { configurable: true, get: () => value });
  }
  document.dispatchEvent(new Event('visibilitychange'));
  window.dispatchEvent(new PageTransitionEvent('pageshow', { persisted: true }));
  window.dispatchEvent(new Event('focus'));
  check();
})"""

NO_RACE = """() => Object.defineProperty(window.tether.connection.ping, 'raceAfter',
  { get: () => Infinity })"""

HIDE = """() => {
  for (const [name, value] of [['visibilityState', 'hidden'], ['hidden', true]]) {
    Object.defineProperty(document, name, { configurable: true, get: () => value });
  }
  document.dispatchEvent(new Event('visibilitychange'));
}"""


def record(result: dict[str, Any]) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    with (ARTIFACTS / "wake.jsonl").open("a") as file:
        file.write(json.dumps(result) + "\n")


@pytest.mark.parametrize("run", range(RUNS))
@pytest.mark.parametrize(("name", "env", "absence", "probed"), CASES)
async def test_every_missed_message_is_back_soon_after_the_page_is_visible(
    name: str, env: dict[str, str], absence: float, probed: bool | None, run: int, browser: Any,
    servers: Any, other: Any,
) -> None:
    from tests.support.proxy import FaultProxy

    server = servers({**FAST_ECHO, **env})
    proxy = await FaultProxy("127.0.0.1", server.port).start()
    try:
        device = await other(server.url)
        result = await wake_once(browser, device, proxy, name, absence, probed, run)
    finally:
        await proxy.close()
    if probed is not None:  # the baseline is measured, not bounded
        assert result["visible_to_all_ms"] < BOUND_MS, result


async def wake_once(
    browser: Any, device: Any, proxy: Any, name: str, absence: float, probed: bool | None,
    run: int,
) -> dict[str, Any]:
    ids = [await device.new_session(title=f"Wake {name} {run} #{n}") for n in range(SESSIONS)]
    for session_id in ids:
        await device.ok("subscribe", {"session_id": session_id})
        await device.send(session_id, "before the phone sleeps")
    for session_id in ids:
        await device.wait_status(session_id, "complete", 1)

    context = await browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    try:
        page = await context.new_page()
        await open_app(page, proxy.url, ids[0])
        await page.evaluate("(ids) => ids.forEach(id => window.tether.follow(id))", ids[1:])
        await page.wait_for_function(FOLLOWED_LIVE, arg=ids, polling=20, timeout=15_000)
        if probed is None:
            await page.evaluate(NO_RACE)

        # The phone goes to the background: hidden, JavaScript frozen, network silently gone.
        await page.evaluate(HIDE)
        cdp = await context.new_cdp_session(page)
        await cdp.send("Debugger.enable")
        await cdp.send("Debugger.pause")
        away_since = time.monotonic()
        assert proxy.drop_all() >= 1
        for session_id in ids:
            await device.send(session_id, "missed while away: the quick brown fox")
        for session_id in ids:
            await device.wait_status(session_id, "complete", 2, timeout=30)
        await asyncio.sleep(max(0.0, absence - (time.monotonic() - away_since)))

        expected: dict[str, list[str]] = {}
        for session_id in ids:
            ack = await device.ok("subscribe", {"session_id": session_id})
            expected[session_id] = [m["id"] for m in ack["messages"]]
            assert len(expected[session_id]) == 4
        away_s = time.monotonic() - away_since
        await cdp.send("Debugger.resume")
        shown_ms = await asyncio.wait_for(
            page.evaluate(WAKE_AND_TIME, [expected, ids[0]]), timeout=30
        )

        if os.environ.get("TETHER_WAKE_LOG"):
            lines = await page.evaluate(
                "window.tether.logbook.recent(80).map(l => l.ts.slice(11, 23) + ' ' + l.msg)"
            )
            print("\n".join(reversed(lines)))
        rows = await messages(page)
        assert_each_once(rows)
        assert [r["id"] for r in rows] == expected[ids[0]], "the open chat: each once, in order"
        for session_id in ids:
            held = await page.evaluate(
                "(id) => window.tether.messagesFor(id).map(m => m.id)", session_id
            )
            assert held == expected[session_id], "every session: each message once, in order"
        await page.wait_for_selector(CONNECTED, timeout=10_000)
        diagnostics = await page.evaluate("window.tether.diagnostics()")
        result = {
            "case": name, "run": run, "absence_s": round(away_s, 2),
            "visible_to_all_ms": round(shown_ms), "sessions": SESSIONS,
            "ping_ms": [diagnostics["pingInterval"], diagnostics["pingTimeout"]],
            "races": diagnostics["races"], "zombies": diagnostics["zombies"],
            "reconnects": diagnostics["reconnects"],
        }
        record(result)
        print(f"\n[wake] {json.dumps(result)}")
        assert diagnostics["reconnects"] >= 1
        if probed:
            # Within the server's tolerance the old socket looked alive: the fresh connection
            # opened beside the probe won, instead of waiting out the probe's timeout.
            assert diagnostics["races"]["fresh"] >= 1, diagnostics
        return result
    finally:
        await context.close()
