"""Delivery latency of a change across nodes against one node (issue 4's figures).

Sends N messages from a client on node A and times, for a follower, the moment its ``message``
event for that message arrives after the send was emitted. Three setups, measured in one run:
one node on SQLite, one node on PostgreSQL, and two nodes on PostgreSQL + Redis with the
follower on the other node.

    .venv/bin/python bench/cross_node.py [--messages 200]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.support.client import Client
from tests.support.server import ServerProcess, start_server

PG = "postgresql://postgres@127.0.0.1:5432/test"


async def measure(sender_url: str, follower_url: str, count: int) -> list[float]:
    sender, follower = Client(sender_url), Client(follower_url)
    await sender.connect()
    await follower.connect()
    sid = await sender.new_session(agent="echo")
    await follower.ok("subscribe", {"session_id": sid})
    arrived: dict[str, float] = {}
    follower.sio.on("message", lambda d: arrived.setdefault(
        d["message"]["client_msg_id"] or "", time.perf_counter()))
    delays = []
    for n in range(count):
        cmid = f"b{n}"
        started = time.perf_counter()
        await sender.ok("send", {"session_id": sid, "client_msg_id": cmid, "content": "x"})
        await follower.wait_for(lambda cmid=cmid: cmid in arrived, timeout=10)
        delays.append(arrived[cmid] - started)
    await sender.close()
    await follower.close()
    return delays


def summary(delays: list[float]) -> str:
    ordered = sorted(delays)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"p50 {statistics.median(ordered) * 1000:.2f} ms, p99 {p99 * 1000:.2f} ms"


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=200)
    args = parser.parse_args()
    env = {"TETHER_ECHO_DELAY": "0", "TETHER_RATE_LIMIT": "100000", "TETHER_RATE_BURST": "100000",
           "TETHER_USER_RATE_LIMIT": "100000", "TETHER_USER_RATE_BURST": "100000",
           "TETHER_MAX_CONNECTIONS_PER_USER": "100000"}
    name = f"bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(PG)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    pg = PG.rsplit("/", 1)[0] + "/" + name
    servers: list[ServerProcess] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            sqlite = start_server(root / "sqlite", env)
            servers.append(sqlite)
            one_pg = start_server(root / "pg", {**env, "TETHER_DATABASE_URL": pg})
            servers.append(one_pg)
            one_pg.stop()
            cluster = {**env, "TETHER_DATABASE_URL": pg,
                       "TETHER_REDIS_URL": "redis://127.0.0.1:6379/0", "TETHER_REDIS_PREFIX": name}
            a = start_server(root / "a", cluster)
            b = start_server(root / "b", cluster)
            servers += [a, b]
            one_pg = start_server(root / "pg2", {**env, "TETHER_DATABASE_URL": pg})
            servers.append(one_pg)
            rows = [
                ("one node, SQLite", await measure(sqlite.url, sqlite.url, args.messages)),
                ("one node, PostgreSQL", await measure(one_pg.url, one_pg.url, args.messages)),
                ("two nodes, PostgreSQL + Redis, same node",
                 await measure(a.url, a.url, args.messages)),
                ("two nodes, PostgreSQL + Redis, other node",
                 await measure(a.url, b.url, args.messages)),
            ]
            print(f"send ack + delivery to a follower, {args.messages} messages each:")
            for label, delays in rows:
                print(f"  {label:45} {summary(delays)}")
    finally:
        for server in servers:
            server.stop()
        admin = await asyncpg.connect(PG)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    asyncio.run(main())
