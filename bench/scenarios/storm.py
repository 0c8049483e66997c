"""Benchmark 4, reconnect storm: C clients following S busy sessions all lose their connections.

One user per session; the user's driver connection (never dropped) keeps the session busy:
it sends ``"bench <tokens> <rate>"``, waits for the streamed answer to end, and sends again.
C/S followers per session keep a copy of the session. After a warm-up every follower's TCP
connection is reset at the same instant and every follower reconnects at once.

Tether followers apply the protocol's client rule (bench.scenarios.common.SessionView) and
resubscribe with ``after_seq = last_seq``; a follower has caught up when its ``last_seq``
reaches the head the driver saw at the drop. Node followers use socket.io's connection state
recovery (pid and offset in the CONNECT auth); every event there carries a per-session seq, and a
follower has caught up when it holds every seq up to the head at the drop.

Loss and duplicates are counted at the end, after the drivers stop and answers finish.
Tether: each follower's copy against the server's state (a full resume from seq 0): messages
missing or stale are lost, a wrong text (a delta applied twice or skipped) counts as duplicate
applied; repeats that the merge rule ignored are reported separately. Node: seqs after the
follower's first subscribe that never arrived are lost, seqs that arrived twice are duplicates
(socket.io's client has no merge rule: it applies what it gets).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

from bench.client import SioClient, connect_many
from bench.procs import ServerProcess
from bench.scenarios.common import SessionView, auth_for, expect_ok, percentile


class NodeView:
    """A Node follower's record of the seqs it received for its session."""

    def __init__(self) -> None:
        self.first = 0  # head at subscribe: seqs after it are expected
        self.seen: dict[int, int] = {}
        self.contiguous = 0

    def receive(self, seq: int) -> None:
        self.seen[seq] = self.seen.get(seq, 0) + 1
        while self.contiguous + 1 in self.seen:
            self.contiguous += 1


async def run_storm(server: ServerProcess, tokens: dict[str, str] | None, clients_n: int,
                    sessions_n: int, warm: float, after: float, node: bool) -> dict[str, Any]:
    users = [f"r{i}" for i in range(sessions_n)]
    per_session = max(1, clients_n // sessions_n)
    stream_spec = "bench 25 50"  # half a second of streaming per answer
    driver_head = {u: 0 for u in users}
    answers_done = {u: 0 for u in users}
    sent = {u: 0 for u in users}

    def driver_event(client: Any, event: str, data: Any) -> None:
        user = client.user
        if event == "message":
            m = data["message"]
            driver_head[user] = max(driver_head[user], m["seq"])
            if m["role"] == "assistant" and m["status"] != "streaming":
                answers_done[user] += 1
        elif event == "delta" and "seq" in data:
            driver_head[user] = max(driver_head[user], data["seq"])

    resubscribes: list[asyncio.Task[None]] = []

    async def resubscribe(client: SioClient) -> None:
        view: SessionView = client.user["view"]
        if view.pending is not None:
            return
        view.begin_subscribe()
        try:
            ack = await expect_ok(client.call("subscribe", {"session_id": view.session_id,
                                                            "after_seq": view.last_seq}))
        except (ConnectionError, RuntimeError, TimeoutError):
            view.pending = None
            return
        view.on_ack(ack)

    def follower_event(client: Any, event: str, data: Any) -> None:
        if node:
            view: NodeView = client.user["view"]
            if event == "message":
                view.receive(data["message"]["seq"])
            elif event == "delta":
                view.receive(data["seq"])
            return
        tview: SessionView = client.user["view"]
        gap = False
        if event == "message":
            gap = tview.on_message(data["message"])
        elif event == "delta":
            gap = tview.on_delta(data)
        if gap:
            resubscribes.append(asyncio.get_running_loop().create_task(resubscribe(client)))

    drivers = [SioClient(server.url, auth_for(tokens, u), driver_event) for u in users]
    for d, u in zip(drivers, users, strict=True):
        d.user = u
    await connect_many(drivers)
    session_of = {}
    for d, u in zip(drivers, users, strict=True):
        ack = await expect_ok(d.call("create_session", {"id": str(uuid.uuid4()),
                                                        "agent": "bench"}))
        session_of[u] = ack["session"]["id"]
        await expect_ok(d.call("subscribe", {"session_id": session_of[u]}))
    followers = []
    for u in users:
        for _ in range(per_session):
            f = SioClient(server.url, auth_for(tokens, u), follower_event, recovery=node)
            f.user = {"owner": u, "view": NodeView() if node else SessionView(session_of[u])}
            followers.append(f)
    await connect_many(followers)
    for f in followers:
        ack = await expect_ok(f.call("subscribe", {"session_id": session_of[f.user["owner"]]}))
        if node:
            f.user["view"].first = f.user["view"].contiguous = ack["head_seq"]
        else:
            f.user["view"].last_seq = ack["head_seq"]

    stop = asyncio.Event()

    async def drive(d: SioClient) -> None:
        u = d.user
        while not stop.is_set():
            sent[u] += 1
            await expect_ok(d.call("send", {"session_id": session_of[u],
                                            "client_msg_id": uuid.uuid4().hex,
                                            "content": stream_spec}))
            while answers_done[u] < sent[u]:  # noqa: ASYNC110 - a counter, polled
                await asyncio.sleep(0.02)
            await asyncio.sleep(0.05)

    driving = [asyncio.create_task(drive(d)) for d in drivers]
    await asyncio.sleep(warm)

    # the storm
    head_at_drop = dict(driver_head)
    t_drop = time.monotonic()
    for f in followers:
        f.abort()
    caught: dict[int, float] = {}
    not_recovered = 0

    async def come_back(f: SioClient) -> None:
        nonlocal not_recovered
        await f.connect(60)
        if node:
            if not f.recovered:
                not_recovered += 1
                await expect_ok(f.call("subscribe", {"session_id": session_of[f.user["owner"]]}))
        else:
            await resubscribe(f)
        f.user["back"] = True

    def is_caught_up(f: SioClient) -> bool:
        view = f.user["view"]
        target = head_at_drop[f.user["owner"]]
        if not f.user.get("back"):
            return False
        if node:
            return view.contiguous >= target
        return view.pending is None and view.last_seq >= target

    reconnecting = asyncio.gather(*(come_back(f) for f in followers), return_exceptions=True)
    deadline = t_drop + 60
    while len(caught) < len(followers) and time.monotonic() < deadline:
        now = time.monotonic()
        for i, f in enumerate(followers):
            if i not in caught and f.is_open and is_caught_up(f):
                caught[i] = now - t_drop
        await asyncio.sleep(0.005)
    errors = [r for r in await reconnecting if isinstance(r, BaseException)]
    await asyncio.sleep(after)
    stop.set()
    await asyncio.gather(*driving, return_exceptions=True)
    await asyncio.sleep(0.5)
    if resubscribes:
        await asyncio.gather(*resubscribes, return_exceptions=True)

    lost = dup_applied = dup_delivered = gaps = 0
    if node:
        for f in followers:
            view = f.user["view"]
            final = driver_head[f.user["owner"]]
            expected = range(view.first + 1, final + 1)
            lost += sum(1 for s in expected if s not in view.seen)
            dup_applied += sum(c - 1 for c in view.seen.values() if c > 1)
    else:
        truth: dict[str, dict[str, dict[str, Any]]] = {}
        for d, u in zip(drivers, users, strict=True):
            ack = await expect_ok(d.call("subscribe", {"session_id": session_of[u],
                                                       "after_seq": 0}))
            truth[u] = {m["id"]: m for m in ack["messages"]}
        for f in followers:
            view = f.user["view"]
            missing, wrong = view.differences(truth[f.user["owner"]])
            lost += missing
            dup_applied += wrong + view.stream_mismatch
            dup_delivered += view.dup_delivered
            gaps += view.gaps
    for c in (*drivers, *followers):
        c.abort()
    times = sorted(caught.values())
    return {
        "clients": len(followers),
        "sessions": sessions_n,
        "caught_up": len(caught),
        "catch_up_all_s": times[-1] if len(times) == len(followers) else float("inf"),
        "catch_up_p50_s": percentile(times, 50),
        "catch_up_p90_s": percentile(times, 90),
        "catch_up_p99_s": percentile(times, 99),
        "lost": lost,
        "duplicates_applied": dup_applied,
        "duplicates_ignored": dup_delivered,
        "gaps_seen": gaps,
        "not_recovered": not_recovered,
        "reconnect_errors": len(errors),
        "answers": sum(answers_done.values()),
    }


def check(result: dict[str, Any]) -> list[str]:
    problems = [f"{k}={result[k]}" for k in ("lost", "duplicates_applied", "reconnect_errors",
                                             "not_recovered") if result[k]]
    if result["caught_up"] != result["clients"]:
        problems.append(f"caught_up={result['caught_up']}/{result['clients']}")
    return problems
