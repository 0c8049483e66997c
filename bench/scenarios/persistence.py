"""Benchmark 5, persistence: sends/s end to end, into one session or into many.

Closed loop: each sender connection sends, waits for the ack (the message is stored and
broadcast), and sends again, for ``duration`` seconds. "one": every sender is a tab of one user
sending into one session. "many": every sender is its own user with its own session. Each send
also starts an answer (the ``bench`` agent's one-token reply), whose writes compete with the
sends as they would in use; answers that queue behind a busy session finish after the window.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import statistics
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from bench.client import SioClient
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


def sender_users(senders: int, one_session: bool) -> list[str]:
    """The user of each sender connection."""
    return ["p0"] * senders if one_session else [f"p{i}" for i in range(senders)]


async def open_senders(server: ServerProcess, tokens: dict[str, str] | None, senders: int,
                       one_session: bool) -> tuple[list[SioClient], list[str]]:
    """The sender connections and the session each sends into ("one": every sender a tab of
    user p0 in one session; else user p<i> with its own session)."""
    users = sender_users(senders, one_session)
    clients = await open_clients(server.url, [auth_for(tokens, u) for u in users], None)
    if one_session:
        shared = (await expect_ok(clients[0].call("create_session", {"agent": "bench"})))
        return clients, [shared["session"]["id"]] * senders
    acks = await asyncio.gather(*(expect_ok(c.call("create_session", {"agent": "bench"}))
                                  for c in clients))
    return clients, [a["session"]["id"] for a in acks]


async def run_persistence(server: ServerProcess, tokens: dict[str, str] | None, senders: int,
                          one_session: bool, duration: float) -> dict[str, Any]:
    clients, session_ids = await open_senders(server, tokens, senders, one_session)
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


# -- the stepped open loop: ack latency at the last unsaturated step ----------------------------

#: A step kept up when at least this share of its offered sends/s was acknowledged.
KEPT_UP_SHARE = 0.95


def backlog_grew(waiting: list[int], rate: float) -> bool:
    """Whether the sends waiting for their ack piled up over a step. ``waiting`` is how many
    waited at each send, in order. A server that keeps up has its rate times its latency
    waiting all along (Little's law); one that does not, a count that grows with time. So: the
    median over the step's last quarter against the median over its second (the first is its
    start), beyond 1.5 times plus 25 ms of sends (at least 2), so that one burst (a late load
    generator catching up) does not count."""
    n = len(waiting)
    if n < 4:
        return False
    second = statistics.median(waiting[n // 4:n // 2])
    last = statistics.median(waiting[3 * n // 4:])
    return last > 1.5 * second + max(2.0, 0.025 * rate)


def overloaded(waiting: int, rate: float) -> bool:
    """More sends waiting for their ack than a second's worth (at least 20): the step is
    saturated whatever comes next, so it ends there instead of piling up more to drain. A
    shorter stall, which a server that keeps up drains, does not end it."""
    return waiting > max(20.0, rate)


def kept_up(step: dict[str, Any]) -> bool:
    """The step verdict: the acks kept up with the offered rate (at least ``KEPT_UP_SHARE`` of
    it acknowledged within the window), no ack backlog grew, and the answers the step's sends
    started all ended within one step's duration after its last ack (a server whose answers
    fall further behind at every step is saturated, whatever its acks do)."""
    return (not step["overloaded"] and step["acked_per_s"] >= KEPT_UP_SHARE * step["rate"]
            and not step["backlog_grew"] and step["answers_drain_s"] <= step["duration_s"])


def step_rates(start: float, factor: float, count: int) -> list[float]:
    """The offered sends/s of a stepped run: a geometric series from ``start``."""
    return [start * factor ** i for i in range(count)]


class AckSteps:
    """What one stepped run has seen: acks, and the live ``message`` events of its sessions
    (each session is followed by one of its senders), to check counts and to let each step's
    answers finish before the next step starts."""

    def __init__(self) -> None:
        self.acked: dict[str, str] = {}  # client_msg_id -> session_id, of every send acked ok
        self.failed = 0
        self.live_user: set[str] = set()  # client_msg_ids of user messages received live
        self.answers: set[str] = set()  # ids of answers received ended (not streaming)

    def on_raw(self, client: SioClient, text: str) -> None:
        if '"message"' not in text[:14]:
            return  # delta and session events: not needed, not parsed
        m = orjson.loads(text[text.index("["):])[1]["message"]
        if m["role"] == "user":
            self.live_user.add(m["client_msg_id"])
        elif m["status"] != "streaming":
            self.answers.add(m["id"])


async def stored_user_messages(client: SioClient, session_id: str) -> list[str]:
    """The client_msg_id of every stored user message of a session (``history``, newest page
    first)."""
    ids: list[str] = []
    before = 2**31 - 1  # the protocol's largest position
    while True:
        page = await expect_ok(client.call("history", {"session_id": session_id,
                                                      "before_position": before, "limit": 200}))
        ids += [m["client_msg_id"] for m in page["messages"] if m["role"] == "user"]
        if not page["has_more"] or not page["messages"]:
            return ids
        before = page["messages"][0]["position"]


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """No garbage collection in the load generator while a step runs (it collects before and
    after): a full collection of its heap, which grows with every ack it keeps, stopped its loop
    for 49 ms in the 800/s step with one session (12-03), and every send due meanwhile counted
    it as ack latency, on whichever server was measured."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.collect()


class Step:
    """One step of a stepped run: its sends, due by the clock, and their acks."""

    def __init__(self, seen: AckSteps, clients: list[SioClient], session_ids: list[str],
                 rate: float, duration: float) -> None:
        self.seen, self.clients, self.session_ids = seen, clients, session_ids
        self.rate = rate
        self.due = schedule(rate, duration)
        self.duration = duration
        self.pending: list[asyncio.Future[Any]] = []
        self.latencies: list[float] = []  # ack time minus due time, s
        self.lags: list[float] = []  # send time minus due time, s: the load generator's delay
        self.acked = 0
        self.last_ack = 0.0
        self.waiting: list[int] = []  # sends waiting for their ack, at each send
        self.failed = 0  # this step's failed sends
        self.overloaded = False

    def send(self, i: int, at: float) -> bool:
        waiting = len(self.pending) - self.acked - self.failed
        self.waiting.append(waiting)
        if overloaded(waiting, self.rate):
            self.overloaded = True
            return False
        self.lags.append(time.monotonic() - at)
        client = self.clients[i % len(self.clients)]
        session_id = self.session_ids[i % len(self.clients)]
        msg_id = uuid.uuid4().hex
        future = client.call("send", {"session_id": session_id, "client_msg_id": msg_id,
                                      "content": f"step {self.rate:g} {i}"})
        future.add_done_callback(lambda f: self._on_ack(f, at, msg_id, session_id))
        self.pending.append(future)
        return True

    def _on_ack(self, future: asyncio.Future[Any], at: float, msg_id: str,
                session_id: str) -> None:
        self.last_ack = time.monotonic()
        ack = None if future.cancelled() or future.exception() else future.result()
        if isinstance(ack, dict) and ack.get("ok") and not ack.get("duplicate"):
            self.acked += 1
            self.latencies.append(self.last_ack - at)
            self.seen.acked[msg_id] = session_id
        else:
            self.failed += 1
            self.seen.failed += 1

    async def run(self, server: ServerProcess) -> dict[str, Any]:
        with collector_paused():
            return await self._run(server)

    async def _run(self, server: ServerProcess) -> dict[str, Any]:
        load = LoadMeter()
        cpu0, t0 = server.cpu_seconds(), time.monotonic()
        await paced(t0, self.due, self.send)
        await asyncio.sleep(t0 + self.duration - time.monotonic())
        # The acks that came within the window (a load generator late with its sends makes
        # it longer, and the rate lower): a server that keeps up owes only its latency's
        # worth of sends at the end, one that does not owes what piled up.
        window = time.monotonic() - t0
        acked_in_window = self.acked
        cpu = server.cpu_seconds() - cpu0
        await asyncio.wait(self.pending, timeout=60)
        result = {
            "rate": self.rate, "sent": len(self.pending), "acked": self.acked,
            "overloaded": self.overloaded,
            "acked_per_s": acked_in_window / window,
            "drain_s": max(0.0, self.last_ack - t0 - window),
            "duration_s": self.duration, "waiting_max": max(self.waiting),
            "backlog_grew": backlog_grew(self.waiting, self.rate),
            "ack_p50_ms": percentile(self.latencies, 50) * 1000,
            "ack_p99_ms": percentile(self.latencies, 99) * 1000,
            "send_lag_p99_ms": percentile(self.lags, 99) * 1000,
            "server_cpu_share": cpu / window,
            "server_cpu_ms_per_send": cpu / max(1, acked_in_window) * 1000,
            "loadgen_cpu_share": load.share(),
        }
        return result


async def answers_ended(seen: AckSteps, sends: int, timeout: float = 60) -> float:
    """Wait until ``sends`` answers have ended (or ``timeout``); the seconds it took."""
    t = time.monotonic()
    while len(seen.answers) < sends and time.monotonic() < t + timeout:  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    return time.monotonic() - t


async def run_ack_steps(server: ServerProcess, tokens: dict[str, str] | None, senders: int,
                        one_session: bool, rates: list[float], duration: float,
                        stored: bool) -> dict[str, Any]:
    """Open loop: sends due by the clock at each rate of ``rates`` for ``duration`` seconds,
    spread over the senders in turn, until a step does not keep up (:func:`kept_up`). An ack's
    latency is from when its send was due, so time queued anywhere (the server, the load
    generator) counts. Between steps every ack and every answer arrives, so each step starts
    clean. ``stored``: also check through ``history`` that every acked send is stored exactly
    once (the baseline stores nothing)."""
    clients, session_ids = await open_senders(server, tokens, senders, one_session)
    seen = AckSteps()
    # One more connection of its user follows each session (a sender's other tab): the
    # senders receive only their acks, as in the closed loop. On a sender that follows its
    # session an ack queues behind that session's events, and a server with Nagle's algorithm
    # on (the baseline's sockets: TCP_NODELAY is off there) holds it until the client's
    # delayed TCP ACK, up to 40 ms: a TCP artefact, not the server's ack path.
    owners = dict(zip(session_ids, sender_users(senders, one_session), strict=True))
    followers = dict(zip(owners, await open_clients(
        server.url, [auth_for(tokens, u) for u in owners.values()], None), strict=True))
    for sid, c in followers.items():
        c.on_raw = seen.on_raw
        await expect_ok(c.call("subscribe", {"session_id": sid}))
    # Warm-up: one send per sender, each waiting for its ack, so that the first step does not
    # measure a cold server (its first statements, its first answer).
    for c, sid in zip(clients, session_ids, strict=True):
        msg_id = uuid.uuid4().hex
        await expect_ok(c.call("send", {"session_id": sid, "client_msg_id": msg_id,
                                        "content": "warm-up"}))
        seen.acked[msg_id] = sid
    sent_total = senders
    await answers_ended(seen, sent_total)
    steps: list[dict[str, Any]] = []
    for rate in rates:
        result = await Step(seen, clients, session_ids, rate, duration).run(server)
        sent_total += result["sent"]
        # the step's answers end before the next step starts (the baseline's at once)
        result["answers_drain_s"] = await answers_ended(seen, sent_total)
        result["kept_up"] = kept_up(result)
        steps.append(result)
        if not result["kept_up"]:
            break
    await asyncio.sleep(0.2)  # the last live user messages
    stored_ids: list[str] = []
    if stored:
        for sid, c in followers.items():
            stored_ids += await stored_user_messages(c, sid)
    for c in (*clients, *followers.values()):
        c.abort()
    last = last_unsaturated(steps, kept_up)
    saturated = [s["rate"] for s in steps if not s["kept_up"]]
    counts = {i: stored_ids.count(i) for i in seen.acked} if stored else {}
    return {
        "senders": senders, "sessions": 1 if one_session else senders, "steps": steps,
        "rate_last_unsaturated": last["rate"] if last else 0.0,
        "ack_p50_ms_last_unsaturated": last["ack_p50_ms"] if last else float("nan"),
        "ack_p99_ms_last_unsaturated": last["ack_p99_ms"] if last else float("nan"),
        "server_cpu_ms_per_send_last_unsaturated": (
            last["server_cpu_ms_per_send"] if last else float("nan")),
        "loadgen_cpu_share_last_unsaturated": last["loadgen_cpu_share"] if last else float("nan"),
        "first_saturated_rate": saturated[0] if saturated else float("inf"),
        "sends": len(seen.acked), "failed": seen.failed,
        # an acked send never heard live, or (``stored``) not stored exactly once
        "lost": sum(1 for i in seen.acked if i not in seen.live_user
                    or (stored and counts[i] == 0)),
        "doubled": sum(1 for n in counts.values() if n > 1),
        "missing_answers": sent_total - len(seen.answers),
    }


def check_steps(result: dict[str, Any]) -> list[str]:
    problems = [f"{key}={result[key]}" for key in ("failed", "lost", "doubled", "missing_answers")
                if result[key]]
    if not result["sends"]:
        problems.append("no send succeeded")
    return problems
