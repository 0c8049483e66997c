"""The fault test's clients: each follows one session by the documented client rule (the
reference merge rule, tether.merge, through tests.support.client.Follower) and sends through a
retrying outbox, the browser's contract: one message at a time, in order, re-sent with the same
``client_msg_id`` until acknowledged, whatever happens to the connection.

A client whose connection dies (reset, or silent: Engine.IO's ping timeout, or a request with no
ack) connects again to a node picked at random, with the same ``client_id``, and resumes with
``after_seq`` keeping its view.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.support.client import Client, Follower, SessionView

#: Seconds a request may go without its ack before the connection is taken for dead.
ACK_TIMEOUT = 5.0
#: Words questions are made of.
WORDS = ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india")


@dataclass
class Outbox:
    """Messages not yet acknowledged, oldest first, and what each acknowledged one became."""

    pending: list[tuple[str, str]] = field(default_factory=list)  # (client_msg_id, content)
    acked: dict[str, str] = field(default_factory=dict)  # client_msg_id -> message id
    #: Acks of ``duplicate: true`` (a re-send of a message stored the first time).
    duplicates: int = 0
    attempts: int = 0


class FaultClient:
    def __init__(
        self, name: str, session_id: str, seed: int, urls: Callable[[], list[str]],
        log: Callable[[str], None],
    ) -> None:
        self.name = name
        self.session_id = session_id
        self.rng = random.Random(seed)
        self.urls = urls
        self.log = log
        self.client_id = f"fault-{name}-{uuid.uuid4().hex[:6]}"
        self.outbox = Outbox()
        self.view = SessionView(session_id)
        #: The session as this client knows it: from ``session`` events and a ``list_sessions``
        #: at each connect, the fresher one winning (the browser's SessionList rule).
        self.session: dict[str, Any] | None = None
        self.client: Client | None = None
        self.follower: Follower | None = None
        self.connects = 0
        self.problems: list[str] = []
        self._sent = 0

    # -- connection ---------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return (
            self.client is not None and self.client.sio.connected
            and not self.client.disconnected.is_set()
        )

    async def connect(self, deadline: float) -> None:
        """Connect to a random node and resume the session, trying until ``deadline``."""
        await self.drop()
        pause = 0.2
        while time.monotonic() < deadline:
            client = Client(self.rng.choice(self.urls()), client_id=self.client_id)
            try:
                async with asyncio.timeout(ACK_TIMEOUT * 2):
                    client.sio.on("session", self._on_session)
                    await client.connect()
                    follower = Follower(client, self.session_id)
                    follower.view = self.view
                    await follower.subscribe()
                    listed = await client.ok("list_sessions", {"limit": 200})
                    for session in listed["sessions"]:
                        self._on_session({"session": session})
            except Exception as exc:  # down, cut, unavailable: try elsewhere
                with contextlib.suppress(Exception):
                    await client.close()
                self.log(f"{self.name}: connect failed ({type(exc).__name__}: {exc})"[:200])
                await asyncio.sleep(pause)
                pause = min(pause * 2, 2.0)
                continue
            self.client, self.follower = client, follower
            self.connects += 1
            return
        raise TimeoutError(f"{self.name} could not connect")

    def _on_session(self, data: dict[str, Any]) -> None:
        session = data.get("session") or {}
        if session.get("id") == self.session_id and fresher(session, self.session):
            self.session = session

    async def drop(self) -> None:
        if self.follower is not None:
            self.view = self.follower.view  # a reset on resubscribe replaced it
        if self.client is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.client.close(), 3)
        self.client = self.follower = None

    async def _call(self, event: str, data: dict[str, Any]) -> dict[str, Any] | None:
        """The ack, or None when the connection is gone (or took too long to answer)."""
        if not self.connected:
            return None
        assert self.client is not None
        try:
            return await self.client.call(event, data, timeout=ACK_TIMEOUT)
        except Exception:
            return None

    # -- sending ------------------------------------------------------------------------------

    def write(self) -> None:
        """Queue a new question in the outbox."""
        self._sent += 1
        words = self.rng.randint(3, 8)
        content = " ".join([f"{self.name}#{self._sent}", *self.rng.choices(WORDS, k=words)])
        self.outbox.pending.append((uuid.uuid4().hex, content))

    async def flush(self, deadline: float) -> None:
        """Send the outbox in order until it is empty (re-sending the same ``client_msg_id``
        after any failure) or ``deadline`` passes."""
        while self.outbox.pending and time.monotonic() < deadline:
            if not self.connected:
                try:
                    await self.connect(deadline)
                except TimeoutError:
                    return
            cmid, content = self.outbox.pending[0]
            self.outbox.attempts += 1
            ack = await self._call(
                "send", {"session_id": self.session_id, "client_msg_id": cmid, "content": content}
            )
            if ack is None:
                await self.drop()  # no ack: take the connection for dead
                continue
            if not ack["ok"]:
                code = ack["error"]["code"]
                if code not in ("unavailable", "rate_limited"):
                    self.problems.append(f"{self.name}: send {cmid} refused: {ack['error']}")
                    self.outbox.pending.pop(0)
                await asyncio.sleep(0.3)
                continue
            self.outbox.pending.pop(0)
            self.outbox.acked[cmid] = ack["message"]["id"]
            self.outbox.duplicates += bool(ack["duplicate"])

    async def run(self, until: float) -> None:
        """Write a question every one to four seconds and send it, until ``until``."""
        with contextlib.suppress(TimeoutError):
            await self.connect(until)
        while time.monotonic() < until:
            self.write()
            await self.flush(until)
            await asyncio.sleep(self.rng.uniform(1.0, 4.0))
            if not self.connected:
                with contextlib.suppress(TimeoutError):
                    await self.connect(until)

    # -- after healing ------------------------------------------------------------------------

    def snapshot(self) -> SessionView:
        """The view as it is now (the live follower's, or the kept one)."""
        return self.follower.view if self.follower is not None else self.view

    async def resume(self, deadline: float) -> None:
        """Resume once more (after_seq = last_seq), on the current or a new connection."""
        if not self.connected:
            await self.connect(deadline)
            return
        assert self.follower is not None
        async with asyncio.timeout(max(deadline - time.monotonic(), 1)):
            await self.follower.subscribe()

    async def close(self) -> None:
        await self.drop()


def fresher(incoming: dict[str, Any], current: dict[str, Any] | None) -> bool:
    """Whether ``incoming`` is at least as recent a state of a session as ``current``
    (static/js/client/sessionlist.js ``isFresher``)."""
    if current is None:
        return True
    if incoming["updated_at"] != current["updated_at"]:
        return bool(incoming["updated_at"] > current["updated_at"])
    return bool(incoming.get("head_seq", 0) >= current.get("head_seq", 0))
