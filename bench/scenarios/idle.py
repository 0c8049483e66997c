"""Benchmark 3, idle capacity: N connected clients, each subscribed to a session.

N/10 users, each with one session followed by 10 connections (a user's devices and tabs). The
sessions are created first; then the server's RSS is read (``rss0``), the N clients connect (at
most 200 handshakes in flight: connects/s and server CPU per connect), subscribe, and after a
settle the RSS is read again: memory per connection = (rss1 - rss0) / N. Idle CPU is the server's
CPU share over ``idle`` seconds with everyone connected and nothing happening but Engine.IO pings.
Then up to :data:`PROBES` of the clients each send one ``heartbeat`` (the web client's liveness
probe), at random moments spread over ``heartbeat_s`` seconds (100 a second at full size): the
round trip from send to answer, p50 and p99, is how long a live client's probe waits on a server
holding N idle connections.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from typing import Any

from bench.client import SioClient, connect_many, gather_limited
from bench.procs import ServerProcess
from bench.scenarios.common import auth_for, expect_ok, percentile

#: How many clients send a heartbeat in the probe phase.
PROBES = 1000


async def heartbeats(clients: list[SioClient], spread: float) -> tuple[list[float], int]:
    """One ``heartbeat`` from each of up to PROBES clients, at a random moment within
    ``spread`` seconds: the round trips (s) of those answered ok, and how many were not."""
    rtts: list[float] = []
    failed = 0

    async def probe(client: SioClient) -> None:
        nonlocal failed
        await asyncio.sleep(random.random() * spread)
        sent = time.monotonic()
        try:
            answer = await client.request("heartbeat", {}, timeout=10)
        except Exception:
            failed += 1
            return
        if isinstance(answer, dict) and answer.get("ok"):
            rtts.append(time.monotonic() - sent)
        else:
            failed += 1

    await asyncio.gather(*(probe(c) for c in random.sample(clients, min(PROBES, len(clients)))))
    return rtts, failed


async def run_idle(server: ServerProcess, tokens: dict[str, str] | None, n: int,
                   idle: float, heartbeat_s: float = 10.0) -> dict[str, Any]:
    per_user = 10
    users = [f"i{u}" for u in range(max(1, n // per_user))]
    setup = [SioClient(server.url, auth_for(tokens, u)) for u in users]
    await connect_many(setup)
    sessions = {}
    for client, user in zip(setup, users, strict=True):
        ack = await expect_ok(client.call("create_session", {"id": str(uuid.uuid4())}))
        sessions[user] = ack["session"]["id"]
    for client in setup:
        await client.close()
    await asyncio.sleep(1.0)
    rss0 = server.rss()
    owners = [users[i % len(users)] for i in range(n)]
    clients = [SioClient(server.url, auth_for(tokens, u)) for u in owners]
    cpu0, t0 = server.cpu_seconds(), time.monotonic()
    await connect_many(clients, concurrency=200)
    connect_wall, connect_cpu = time.monotonic() - t0, server.cpu_seconds() - cpu0
    async def subscribe(client: SioClient, session_id: str) -> None:
        await expect_ok(client.call("subscribe", {"session_id": session_id}))

    # At most 200 subscribes in flight, like the handshakes: 10,000 at once only measured how
    # long the server's database pool makes them queue (SQLAlchemy's 30 s pool timeout).
    await gather_limited([subscribe(c, sessions[u]) for c, u in zip(clients, owners, strict=True)],
                         concurrency=200)
    await asyncio.sleep(2.0)
    rss1 = server.rss()
    cpu0, t0 = server.cpu_seconds(), time.monotonic()
    await asyncio.sleep(idle)
    idle_cpu = (server.cpu_seconds() - cpu0) / (time.monotonic() - t0)
    rtts, hb_failed = await heartbeats(clients, heartbeat_s)
    still_open = sum(1 for c in clients if c.is_open)
    for c in clients:
        c.abort()
    return {
        "connections": n,
        "rss0_mib": rss0 / 2**20,
        "rss1_mib": rss1 / 2**20,
        "kib_per_connection": (rss1 - rss0) / n / 1024,
        "connects_per_s": n / connect_wall,
        "cpu_ms_per_connect": connect_cpu / n * 1000,
        "idle_cpu_percent": idle_cpu * 100,
        "heartbeat_p50_ms": percentile(rtts, 50) * 1000,
        "heartbeat_p99_ms": percentile(rtts, 99) * 1000,
        "heartbeats_failed": hb_failed,
        "dropped": n - still_open,
    }


def check(result: dict[str, Any]) -> list[str]:
    return [f"{key}={result[key]}" for key in ("dropped", "heartbeats_failed") if result[key]]
