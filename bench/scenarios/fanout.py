"""Benchmark 2, room fan-out: one session followed by K clients, messages sent at rising rates.

All K followers and the sender are connections of one user (a session is followed by its owner's
devices and tabs). The sender sends at a fixed rate for ``step`` seconds, then the rate grows by
half, until the server saturates (deliveries fall under 85 % of what was offered, or p99 goes over a
second). A delivery is a ``message`` or ``delta`` event a follower receives: each send makes
the same four on both servers (the user's message, the answer's message streaming, its one
delta, its message complete). ``session`` events (running, idle) are received and costed but
not counted: the baseline sends a pair per answer, Tether one pair per run of queued questions
(its session stays running while questions wait), so counting them would credit a server for
sending more of them (all events per second are reported too, as ``events_per_s``). Latency
is send to receipt of the user ``message``, from a timestamp in the content. Between steps the
backlog drains, so each step starts clean. A step's deliveries/s is every event the step caused
divided by the time from its first send to the last follower receiving its last event, so a
saturated server is credited with what it really delivered, backlog included, and not with what
happened to arrive inside the sending window. Deliveries/s at saturation is the best step's.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import orjson

from bench.procs import ServerProcess
from bench.scenarios.common import (
    LoadMeter,
    auth_for,
    expect_ok,
    last_unsaturated,
    open_clients,
    paced,
    percentile,
    schedule,
)


async def run_fanout(server: ServerProcess, tokens: dict[str, str] | None, k: int,
                     start_rate: float, step: float, max_steps: int = 10) -> dict[str, Any]:
    auth = [auth_for(tokens, "fan") for _ in range(k + 1)]
    deliveries = 0  # message and delta events (see the module docstring)
    events = 0  # every event, session events included
    user_messages = 0
    latencies: list[float] = []

    answers = 0

    last_delivery = 0.0

    def on_raw(client: Any, text: str) -> None:
        # Count message and delta events as deliveries; parse only ``message`` events (the
        # user's carry the send time).
        nonlocal deliveries, events, user_messages, last_delivery
        events += 1
        last_delivery = time.monotonic()
        head = text[:14]
        if '"delta"' in head:
            deliveries += 1
        elif '"message"' in head:
            deliveries += 1
            m = orjson.loads(text[text.index("["):])[1]["message"]
            if m["role"] == "user":
                user_messages += 1
                latencies.append(time.time() - float(m["content"].split()[1]))

    def on_sender_event(client: Any, event: str, data: Any) -> None:
        nonlocal answers
        if event == "message":
            m = data["message"]
            if m["role"] == "assistant" and m["status"] != "streaming":
                answers += 1

    sender, *followers = await open_clients(server.url, auth, None)
    sender.on_event = on_sender_event
    for f in followers:
        f.on_raw = on_raw
    session = (await expect_ok(sender.call("create_session", {"id": str(uuid.uuid4()),
                                                              "agent": "bench"})))["session"]
    await asyncio.gather(*(expect_ok(f.call("subscribe", {"session_id": session["id"]}))
                           for f in (sender, *followers)))
    steps = []
    rate = start_rate
    sent_total = 0
    failures = 0
    for _ in range(max_steps):
        latencies.clear()
        d0, e0, u0 = deliveries, events, user_messages
        load = LoadMeter()
        cpu0, t0 = server.cpu_seconds(), time.monotonic()
        acks: list[Any] = []
        due = schedule(rate, step)
        count = len(due)

        def send(i: int, at: float, acks: list[Any] = acks) -> None:
            acks.append(sender.call("send", {"session_id": session["id"],
                                             "client_msg_id": uuid.uuid4().hex,
                                             "content": f"f {time.time():.6f}"}))

        await paced(t0, due, send)
        elapsed_send = max(step, time.monotonic() - t0)
        await asyncio.sleep(max(0.0, t0 + elapsed_send - time.monotonic()))
        window = time.monotonic() - t0
        delivered = deliveries - d0
        cpu = server.cpu_seconds() - cpu0
        load_share = load.share()
        # drain: every follower has every user message, and every answer has ended
        sent_total += count
        deadline = time.monotonic() + 60
        while (  # noqa: ASYNC110 - two counters polled under a deadline
            user_messages - u0 < count * k or answers < sent_total
        ) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.1)  # the answers' last events (``session`` idle) reach followers
        results = await asyncio.gather(*acks, return_exceptions=True)
        failures += sum(1 for r in results if not (isinstance(r, dict) and r.get("ok")))
        drain = time.monotonic() - t0 - window
        per_send = (deliveries - d0) / max(1, count * k)
        offered = rate * per_send * k
        span = max(window, last_delivery - t0)
        sustained = (deliveries - d0) / span
        steps.append({
            "rate": rate, "sent": count, "deliveries_per_s": sustained,
            "in_window_per_s": delivered / window,
            "offered_per_s": offered, "events_per_s": (events - e0) / span,
            "events_per_send": (events - e0) / max(1, count * k),
            "p50_ms": percentile(latencies, 50) * 1000,
            "p99_ms": percentile(latencies, 99) * 1000, "server_cpu_share": cpu / window,
            "loadgen_cpu_share": load_share, "drain_s": drain,
            "complete": user_messages - u0 == count * k,
        })
        if sustained < 0.85 * offered or percentile(latencies, 99) > 1.0:
            break
        rate *= 1.5
    for c in (sender, *followers):
        c.abort()
    best = max(steps, key=lambda s: s["deliveries_per_s"])
    last = last_unsaturated(steps, lambda s: s["deliveries_per_s"] >= 0.85 * s["offered_per_s"])
    return {
        "followers": k,
        "steps": steps,
        "deliveries_per_s": best["deliveries_per_s"],
        "events_per_s_at_best": best["events_per_s"],
        "events_per_send_at_best": best["events_per_send"],
        "p99_ms_at_best": best["p99_ms"],
        "p99_ms_last_unsaturated": last["p99_ms"] if last else float("nan"),
        "rate_last_unsaturated": last["rate"] if last else 0,
        # server CPU per send fully fanned out, where the server kept up: the same work on both
        "cpu_ms_per_send_last_unsaturated": (
            last["server_cpu_share"] / last["rate"] * 1000 if last else float("nan")),
        "missing_user_messages": sent_total * k - user_messages,
        "missing_answers": sent_total - answers,
        "failed_sends": failures,
        "loadgen_cpu_share_at_best": best["loadgen_cpu_share"],
    }


def check(result: dict[str, Any]) -> list[str]:
    return [f"{key}={result[key]}" for key in ("missing_user_messages", "missing_answers",
                                                   "failed_sends")
            if result[key]]
