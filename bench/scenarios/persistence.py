"""Benchmark 5, persistence: sends/s end to end, into one session or into many.

Closed loop: each sender connection sends, waits for the ack (the message is stored and
broadcast), and sends again, for ``duration`` seconds. "one": every sender is a tab of one user
sending into one session. "many": every sender is its own user with its own session. Each send
also starts an answer (the ``bench`` agent's one-token reply), whose writes compete with the
sends as they would in use; answers that queue behind a busy session finish after the window.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path
from typing import Any

from bench.procs import ServerProcess
from bench.scenarios.common import auth_for, expect_ok, open_clients, percentile


def waited_for_cpu(pid: int) -> float:
    """Seconds the threads of process ``pid`` have spent runnable but waiting for a CPU (the
    second field of /proc/<pid>/task/<tid>/schedstat, in ns), summed over its threads."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[1])
        except (OSError, IndexError, ValueError):
            continue  # a thread that ended meanwhile
    return total / 1e9


async def run_persistence(server: ServerProcess, tokens: dict[str, str] | None, senders: int,
                          one_session: bool, duration: float) -> dict[str, Any]:
    users = ["p0"] * senders if one_session else [f"p{i}" for i in range(senders)]
    clients = await open_clients(server.url, [auth_for(tokens, u) for u in users], None)
    if one_session:
        shared = (await expect_ok(clients[0].call("create_session", {"agent": "bench"})))
        session_ids = [shared["session"]["id"]] * senders
    else:
        acks = await asyncio.gather(*(expect_ok(c.call("create_session", {"agent": "bench"}))
                                      for c in clients))
        session_ids = [a["session"]["id"] for a in acks]
    latencies: list[float] = []
    failures = 0
    stop_at = 0.0

    async def loop(client: Any, session_id: str) -> int:
        nonlocal failures
        done = 0
        while time.monotonic() < stop_at:
            t = time.monotonic()
            ack = await asyncio.wait_for(client.call("send", {
                "session_id": session_id, "client_msg_id": uuid.uuid4().hex,
                "content": f"persist {done}"}), 60)
            if isinstance(ack, dict) and ack.get("ok") and not ack.get("duplicate"):
                done += 1
                latencies.append(time.monotonic() - t)
            else:
                failures += 1
        return done

    cpu0, waited0, t0 = server.cpu_seconds(), waited_for_cpu(server.pid), time.monotonic()
    stop_at = t0 + duration
    counts = await asyncio.gather(*(loop(c, s) for c, s in zip(clients, session_ids,
                                                                strict=True)))
    wall = time.monotonic() - t0
    cpu = server.cpu_seconds() - cpu0
    waited = waited_for_cpu(server.pid) - waited0
    for c in clients:
        c.abort()
    total = sum(counts)
    return {
        "senders": senders,
        "sessions": 1 if one_session else senders,
        "sends": total,
        "sends_per_s": total / wall,
        "ack_p50_ms": percentile(latencies, 50) * 1000,
        "ack_p99_ms": percentile(latencies, 99) * 1000,
        "server_cpu_share": cpu / wall,
        # Robust to a shared machine (a starved load generator lowers sends/s, not this):
        # server CPU per stored send, its answer's writes included.
        "server_cpu_ms_per_send": cpu / max(1, total) * 1000,
        # The share of the window the server was runnable but had no CPU (the machine's other
        # processes, PostgreSQL's among them, had it), summed over its threads like the CPU
        # share: with one busy thread (PostgreSQL) the two add up to about 1 when the server
        # never waits for its database, only for a CPU.
        "server_cpu_wait_share": waited / wall,
        "failed": failures,
    }


def check(result: dict[str, Any]) -> list[str]:
    problems = [f"failed={result['failed']}"] if result["failed"] else []
    if not result["sends"]:
        problems.append("no send succeeded")
    return problems
