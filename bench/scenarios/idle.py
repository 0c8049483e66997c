"""Benchmark 3, idle capacity: N connected clients, each subscribed to a session.

N/10 users, each with one session followed by 10 connections (a user's devices and tabs). The
sessions are created first; then the server's RSS is read (``rss0``), the N clients connect (at
most 200 handshakes in flight: connects/s and server CPU per connect), subscribe, and after a
settle the RSS is read again: memory per connection = (rss1 - rss0) / N. Idle CPU is the server's
CPU share over ``idle`` seconds with everyone connected and nothing happening but Engine.IO pings.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

from bench.client import SioClient, connect_many
from bench.procs import ServerProcess
from bench.scenarios.common import auth_for, expect_ok, gather_limited_ok


async def run_idle(server: ServerProcess, tokens: dict[str, str] | None, n: int,
                   idle: float) -> dict[str, Any]:
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
    await gather_limited_ok([c.call("subscribe", {"session_id": sessions[u]})
                             for c, u in zip(clients, owners, strict=True)])
    await asyncio.sleep(2.0)
    rss1 = server.rss()
    cpu0, t0 = server.cpu_seconds(), time.monotonic()
    await asyncio.sleep(idle)
    idle_cpu = (server.cpu_seconds() - cpu0) / (time.monotonic() - t0)
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
        "dropped": n - still_open,
    }


def check(result: dict[str, Any]) -> list[str]:
    return [f"dropped={result['dropped']}"] if result["dropped"] else []
