"""What every scenario shares: client set-up, the protocol's merge rule, statistics."""

from __future__ import annotations

import asyncio
import resource
import statistics
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench.client import EventHandler, SioClient, connect_many
from tether import merge


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def schedule(rate: float, duration: float) -> list[float]:
    """When an open-loop step's sends are due, in seconds from its start: ``rate`` per second,
    evenly spaced over ``duration`` (at least one). Open loop: the clock decides, never an
    answer, so a slow server meets a growing queue and its latency shows it."""
    return [i / rate for i in range(max(1, round(rate * duration)))]


async def paced(t0: float, due: list[float], send: Callable[[int, float], bool | None]) -> None:
    """Call ``send(i, t0 + due[i])`` at each due time (``time.monotonic``); one that is late
    (the loop was busy) is made at once, so a late stretch catches up in a burst. A ``send``
    that returns False ends the step there."""
    for i, offset in enumerate(due):
        at = t0 + offset
        delay = at - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        if send(i, at) is False:
            return


def last_unsaturated(steps: list[dict[str, Any]], kept_up: Callable[[dict[str, Any]], bool]
                     ) -> dict[str, Any] | None:
    """The last step of a rising-rate search in which the server kept up, or None."""
    unsaturated = [s for s in steps if kept_up(s)]
    return unsaturated[-1] if unsaturated else None


def median(values: list[float]) -> float:
    clean = [v for v in values if v == v]
    return statistics.median(clean) if clean else float("nan")


def own_cpu() -> float:
    """CPU seconds of this (load generator) process."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class LoadMeter:
    """How busy the load generator itself was: it must not be the bottleneck."""

    def __init__(self) -> None:
        self.cpu0, self.wall0 = own_cpu(), time.monotonic()

    def share(self) -> float:
        return (own_cpu() - self.cpu0) / max(1e-9, time.monotonic() - self.wall0)


def auth_for(
    tokens: dict[str, str] | None, user: str, client_id: str | None = None
) -> dict[str, Any]:
    auth: dict[str, Any] = {"client_id": client_id or uuid.uuid4().hex[:16]}
    if tokens:
        auth["token"] = tokens[user]
    return auth


async def open_clients(url: str, auths: list[dict[str, Any]], on_event: EventHandler | None,
                       *, recovery: bool = False, concurrency: int = 200) -> list[SioClient]:
    clients = [SioClient(url, auth, on_event, recovery=recovery) for auth in auths]
    await connect_many(clients, concurrency)
    return clients


async def expect_ok(future: Any) -> dict[str, Any]:
    ack = await asyncio.wait_for(future, 60)
    if not isinstance(ack, dict) or not ack.get("ok"):
        raise RuntimeError(f"request failed: {ack}")
    return ack


@dataclass
class SessionView(merge.View):
    """A follower's copy of one session, kept by the protocol's client rule (PROTOCOL.md s. 5)
    as :mod:`tether.merge` (the reference the tests use too) applies it.

    On top of the rule it counts what a benchmark reports: repeats delivered and ignored
    (``dup_delivered``), gaps seen (``gaps``), and a streamed text that was not a prefix of the
    final one (``stream_mismatch``); a text that ends up different from the server's is what a
    lost or doubly-applied change looks like."""

    dup_delivered: int = 0
    gaps: int = 0
    stream_mismatch: int = 0
    #: Live events received while a subscribe is pending (rule 3), or None.
    pending: list[merge.Buffered] | None = None

    def _check_stream(self, m: dict[str, Any]) -> None:
        current = self.messages.get(m["id"])
        if (current is not None and current["status"] == "streaming"
                and m["status"] != "streaming" and m["seq"] > current["seq"]
                and not m["content"].startswith(current["content"])):
            self.stream_mismatch += 1  # the streamed text was not a prefix of the final text

    def on_message(self, m: dict[str, Any]) -> bool:
        """A live ``message``; returns True when a gap asks for a resubscribe."""
        if self.pending is not None:
            self.pending.append(("message", {"message": m}))
            return False
        self._check_stream(m)
        result = merge.apply_live_message(self, m)
        if result == "stale":
            self.dup_delivered += 1
        elif result == "held":
            self.gaps += 1
            return True
        return False

    def on_delta(self, d: dict[str, Any]) -> bool:
        """A live ``delta``; returns True when a gap asks for a resubscribe."""
        if self.pending is not None:
            self.pending.append(("delta", d))
            return False
        result = merge.apply_delta(self, d)
        if result == "ignored" and self.messages[d["message_id"]]["status"] == "streaming":
            self.dup_delivered += 1  # an old chunk (not one of a finished message)
        elif result == "gap":
            self.gaps += 1
            return True
        return False

    def begin_subscribe(self) -> None:
        self.pending = []

    def on_ack(self, ack: dict[str, Any]) -> bool:
        """Apply a subscribe reply, then what was buffered meanwhile (rule 3); True when a
        buffered delta revealed a gap."""
        buffered, self.pending = self.pending or [], None
        for m in ack["messages"]:
            self._check_stream(m)
        return merge.apply_subscribe_ack(self, ack, buffered)

    def differences(self, truth: dict[str, dict[str, Any]]) -> tuple[int, int]:
        """(missing or stale messages, messages with wrong text) against the server's state."""
        lost = wrong = 0
        for message_id, m in truth.items():
            mine = self.messages.get(message_id)
            if mine is None or mine["seq"] != m["seq"] or mine["status"] != m["status"]:
                lost += 1
            elif mine["content"] != m["content"]:
                wrong += 1
        return lost, wrong


async def gather_limited_ok(futures: list[Any], concurrency: int = 200) -> list[dict[str, Any]]:
    """Await acks (already sent) and require every one to be ok."""
    del concurrency  # the requests are in flight already; kept for symmetry with connect_many
    return list(await asyncio.gather(*(expect_ok(f) for f in futures)))
