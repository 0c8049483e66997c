"""What every scenario shares: client set-up, the protocol's merge rule, statistics."""

from __future__ import annotations

import asyncio
import resource
import statistics
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from bench.client import EventHandler, SioClient, connect_many


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


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


@dataclass(slots=True)
class MessageState:
    seq: int
    status: str
    content: str
    chunks: int


@dataclass
class SessionView:
    """A follower's copy of one session, kept by the protocol's client rule (PROTOCOL.md s. 5).

    Applying is an upsert by message id keeping the higher seq; a delta is applied only when its
    chunk number is the next one. Repeats are counted (``dup_delivered``) and ignored; a text that
    ends up different from the server's is what a lost or doubly-applied change looks like."""

    session_id: str
    last_seq: int = 0
    messages: dict[str, MessageState] = field(default_factory=dict)
    held: dict[int, dict[str, Any]] = field(default_factory=dict)
    dup_delivered: int = 0
    gaps: int = 0
    stream_mismatch: int = 0
    pending: list[tuple[str, dict[str, Any]]] | None = None

    def apply_message(self, m: dict[str, Any]) -> None:
        current = self.messages.get(m["id"])
        if current is not None and current.seq >= m["seq"]:
            self.dup_delivered += 1
            return
        if (current is not None and current.status == "streaming" and m["status"] != "streaming"
                and not m["content"].startswith(current.content)):
            self.stream_mismatch += 1  # the streamed text was not a prefix of the final text
        self.messages[m["id"]] = MessageState(m["seq"], m["status"], m["content"], m["chunks"])

    def on_message(self, m: dict[str, Any]) -> bool:
        """A live ``message``; returns True when a gap asks for a resubscribe."""
        if self.pending is not None:
            self.pending.append(("message", m))
            return False
        self.apply_message(m)
        if m["seq"] <= self.last_seq:
            return False
        if m["seq"] == self.last_seq + 1:
            self.last_seq += 1
            while self.last_seq + 1 in self.held:
                self.held.pop(self.last_seq + 1)
                self.last_seq += 1
            return False
        self.held[m["seq"]] = m
        self.gaps += 1
        return True

    def on_delta(self, d: dict[str, Any]) -> bool:
        if self.pending is not None:
            self.pending.append(("delta", d))
            return False
        state = self.messages.get(d["message_id"])
        if state is None or state.status != "streaming":
            return False  # its message event has not arrived (or it already ended)
        if d["chunk"] < state.chunks:
            self.dup_delivered += 1
            return False
        if d["chunk"] > state.chunks:
            self.gaps += 1
            return True
        state.content += d["text"]
        state.chunks += 1
        return False

    def begin_subscribe(self) -> None:
        self.pending = []

    def on_ack(self, ack: dict[str, Any]) -> None:
        """Apply a subscribe reply, then what was buffered meanwhile (rule 3)."""
        buffered, self.pending = self.pending or [], None
        if ack["mode"] == "reset":
            self.messages.clear()
        for m in ack["messages"]:
            current = self.messages.get(m["id"])
            if current is not None and current.seq == m["seq"] and m["status"] == "streaming":
                # same change, but the snapshot carries the text so far: keep the longer one
                if m["chunks"] > current.chunks:
                    self.messages[m["id"]] = MessageState(m["seq"], m["status"], m["content"],
                                                          m["chunks"])
                continue
            self.apply_message(m)
        self.last_seq = max(self.last_seq, ack["head_seq"])
        self.held = {s: m for s, m in self.held.items() if s > self.last_seq}
        for kind, data in buffered:
            if kind == "message":
                self.on_message(data)
            else:
                self.on_delta(data)
        while self.last_seq + 1 in self.held:
            self.held.pop(self.last_seq + 1)
            self.last_seq += 1

    def differences(self, truth: dict[str, dict[str, Any]]) -> tuple[int, int]:
        """(missing or stale messages, messages with wrong text) against the server's state."""
        lost = wrong = 0
        for message_id, m in truth.items():
            mine = self.messages.get(message_id)
            if mine is None or mine.seq != m["seq"] or mine.status != m["status"]:
                lost += 1
            elif mine.content != m["content"]:
                wrong += 1
        return lost, wrong


async def gather_limited_ok(futures: list[Any], concurrency: int = 200) -> list[dict[str, Any]]:
    """Await acks (already sent) and require every one to be ok."""
    del concurrency  # the requests are in flight already; kept for symmetry with connect_many
    return list(await asyncio.gather(*(expect_ok(f) for f in futures)))
