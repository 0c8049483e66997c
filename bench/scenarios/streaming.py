"""Benchmark 1, token streaming: N concurrent runs at ``rate`` tokens/s, one subscriber each.

Each of N users (own token, own connection) creates a session with the ``bench`` agent,
subscribes, and sends ``"bench <tokens> <rate>"``; sends are spread over one second so the
streams do not tick in lock-step. The agent stamps every token with the time it yielded it; the
subscriber computes, per token, the delay from that yield to its own receipt of the ``delta``
that carries it (both clocks are this machine's). Server CPU is measured over the whole window
from the first send to the last stream's end, and divided by tokens and by ``delta`` events.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import Callable
from typing import Any

from bench.agent import token_delays
from bench.procs import ServerProcess
from bench.scenarios.common import LoadMeter, auth_for, expect_ok, open_clients, percentile


def delta_tokens(data: dict[str, Any], received: float) -> list[float]:
    """The delays of the tokens a plain-text ``delta`` carries (in its ``text``)."""
    return token_delays(data["text"], received)


def answer_tokens(message: dict[str, Any]) -> int:
    return len(message["content"].split())


async def run_streaming(server: ServerProcess, tokens: dict[str, str] | None, n: int,
                        per_stream: int, rate: float, *, shape: str = "bench",
                        tokens_of: Callable[[dict[str, Any], float], list[float]] = delta_tokens,
                        answer_tokens_of: Callable[[dict[str, Any]], int] = answer_tokens,
                        ) -> dict[str, Any]:
    """``shape`` is the agent's prompt word (bench/agent.py), ``tokens_of`` reads a delta's
    token delays and ``answer_tokens_of`` counts the final message's tokens, so a variant of
    the answer (bench/scenarios/structured.py) is measured the same way."""
    users = [f"s{i}" for i in range(n)]
    delays: list[float] = []
    done = asyncio.Event()
    finished = 0

    def on_event(client: Any, event: str, data: Any) -> None:
        nonlocal finished
        st = client.user
        if event == "delta":
            received = time.time()
            if data["chunk"] != st["chunks"]:
                st["bad_chunks"] += 1
            st["chunks"] = data["chunk"] + 1
            st["deltas"] += 1
            got = tokens_of(data, received)
            st["tokens"] += len(got)
            delays.extend(got)
        elif event == "message":
            m = data["message"]
            if m["role"] == "assistant" and m["status"] != "streaming" and st["sent"]:
                st["final_tokens"] = answer_tokens_of(m)
                st["finals"].append((m["status"], st["final_tokens"], st["tokens"]))
                if len(st["finals"]) == 1:
                    finished += 1
                if finished == n:
                    done.set()

    clients = await open_clients(server.url, [auth_for(tokens, u) for u in users], on_event)
    for client in clients:
        client.user = {"chunks": 0, "deltas": 0, "tokens": 0, "bad_chunks": 0, "sent": False,
                       "final_tokens": 0, "finals": []}
    sessions = await asyncio.gather(*(
        expect_ok(c.call("create_session", {"id": str(uuid.uuid4()), "agent": "bench"}))
        for c in clients))
    await asyncio.gather(*(
        expect_ok(c.call("subscribe", {"session_id": s["session"]["id"]}))
        for c, s in zip(clients, sessions, strict=True)))

    async def start(client: Any, session_id: str) -> None:
        await asyncio.sleep(random.random())
        client.user["sent"] = True
        await expect_ok(client.call("send", {"session_id": session_id,
                                             "client_msg_id": uuid.uuid4().hex,
                                             "content": f"{shape} {per_stream} {rate}"}))

    load = LoadMeter()
    cpu0, wall0 = server.cpu_seconds(), time.monotonic()
    await asyncio.gather(*(start(c, s["session"]["id"]) for c, s in zip(clients, sessions,
                                                                        strict=True)))
    await asyncio.wait_for(done.wait(), per_stream / rate * 3 + 30)
    cpu, wall = server.cpu_seconds() - cpu0, time.monotonic() - wall0
    load_share = load.share()
    for client in clients:
        client.abort()
    states = [c.user for c in clients]
    delivered_tokens = sum(s["tokens"] for s in states)
    deltas = sum(s["deltas"] for s in states)
    return {
        "streams": n,
        "expected_tokens": n * per_stream,
        "tokens": delivered_tokens,
        "missing_tokens": n * per_stream - delivered_tokens,
        "bad_chunks": sum(s["bad_chunks"] for s in states),
        "final_mismatch": sum(1 for s in states if s["final_tokens"] != per_stream),
        # What each mismatching stream's final message(s) said: (status, tokens in its
        # content, tokens its deltas had delivered by then).
        "mismatches": [s["finals"] for s in states if s["final_tokens"] != per_stream][:5],
        "deltas": deltas,
        "cpu_s": cpu,
        "wall_s": wall,
        "cpu_ms_per_1k_tokens": cpu / max(1, delivered_tokens) * 1e6,
        "cpu_ms_per_1k_deltas": cpu / max(1, deltas) * 1e6,
        "delay_p50_ms": percentile(delays, 50) * 1000,
        "delay_p99_ms": percentile(delays, 99) * 1000,
        "loadgen_cpu_share": load_share,
    }


def check(result: dict[str, Any]) -> list[str]:
    problems = []
    for key in ("missing_tokens", "bad_chunks", "final_mismatch"):
        if result[key]:
            problems.append(f"{key}={result[key]}")
    return problems
