"""A test client written from PROTOCOL.md only: python-socketio's AsyncClient plus the merge rule
of section 5, with a timeout on every wait."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from typing import Any

import socketio

Row = dict[str, Any]


class SessionView:
    """One session as a client sees it, kept by the section-5 merge rule."""

    def __init__(self) -> None:
        self.messages: dict[str, Row] = {}
        self.last_seq = 0
        self.applied: list[int] = []  # every seq applied from live events, in arrival order

    def apply(self, message: Row) -> None:
        current = self.messages.get(message["id"])
        if current is None or message["seq"] > current["seq"]:
            self.messages[message["id"]] = dict(message)

    def apply_delta(self, delta: Row) -> bool:
        """Apply a chunk in order; False when it reveals a gap."""
        message = self.messages.get(delta["message_id"])
        if message is None or message["status"] != "streaming":
            return True
        if delta["chunk"] == message["chunks"]:
            message["content"] += delta["text"]
            message["chunks"] += 1
            return True
        return delta["chunk"] < message["chunks"]

    def ordered(self) -> list[Row]:
        return sorted(self.messages.values(), key=lambda m: m["position"])


class Client:
    """A protocol client; ``events`` records every server event in arrival order."""

    def __init__(self, url: str, client_id: str | None = None, token: str | None = None) -> None:
        self.url = url
        self.client_id = client_id or f"t-{uuid.uuid4().hex[:12]}"
        self.token = token
        self.sio = socketio.AsyncClient(reconnection=False)
        self.events: list[tuple[str, Any]] = []
        self.hello: Row | None = None
        self.disconnected = asyncio.Event()
        for name in ("hello", "message", "delta", "session", "resync"):
            self.sio.on(name, self._recorder(name))
        self.sio.on("disconnect", self._on_disconnect)

    def _recorder(self, name: str) -> Callable[[Any], None]:
        def record(data: Any) -> None:
            if name == "hello":
                self.hello = data
            self.events.append((name, data))

        return record

    def _on_disconnect(self, *args: Any) -> None:
        self.disconnected.set()

    async def connect(self, transports: list[str] | None = None, wait_hello: bool = True) -> None:
        auth: Row = {"client_id": self.client_id}
        if self.token is not None:
            auth["token"] = self.token
        await self.sio.connect(
            self.url, auth=auth, transports=transports or ["websocket"], wait_timeout=10
        )
        if wait_hello:
            await self.wait_for(lambda: self.hello is not None, what="hello")

    async def close(self) -> None:
        if self.sio.connected:
            await self.sio.disconnect()

    async def call(self, event: str, data: Any = None, timeout: float = 10) -> Row:
        if data is None:
            return await self.sio.call(event, timeout=timeout)  # type: ignore[no-any-return]
        return await self.sio.call(event, data, timeout=timeout)  # type: ignore[no-any-return]

    async def ok(self, event: str, data: Any = None) -> Row:
        ack = await self.call(event, data)
        assert ack["ok"] is True, f"{event} failed: {ack}"
        return ack

    async def wait_for(
        self, predicate: Callable[[], Any], timeout: float = 10, what: str = "condition"
    ) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout}s waiting for {what}")
            await asyncio.sleep(0.01)

    def of(self, name: str, session_id: str | None = None) -> list[Row]:
        return [
            data for event, data in self.events
            if event == name and (session_id is None or data.get("session_id") == session_id)
        ]

    def messages(self, session_id: str) -> list[Row]:
        return [d["message"] for d in self.of("message", session_id)]

    async def new_session(self, **fields: Any) -> str:
        ack = await self.ok("create_session", fields)
        return str(ack["session"]["id"])

    async def send(self, session_id: str, content: str, client_msg_id: str | None = None) -> Row:
        return await self.ok(
            "send",
            {
                "session_id": session_id,
                "client_msg_id": client_msg_id or uuid.uuid4().hex,
                "content": content,
            },
        )

    async def wait_status(
        self, session_id: str, status: str, count: int = 1, timeout: float = 15
    ) -> list[Row]:
        """Wait until ``count`` assistant messages reached ``status`` live."""

        def done() -> list[Row] | None:
            found = {
                m["id"]: m for m in self.messages(session_id)
                if m["role"] == "assistant" and m["status"] == status
            }
            return list(found.values()) if len(found) >= count else None

        return await self.wait_for(done, timeout, what=f"{count} assistant message(s) {status}")

    def view(self, session_id: str, ack: Row, since: int = 0) -> SessionView:
        """Rebuild a view from a subscribe ack and the live events recorded after index
        ``since`` (the merge rule: snapshot, then buffered events with seq > head_seq)."""
        view = SessionView()
        for message in ack["messages"]:
            view.apply(message)
        view.last_seq = ack["head_seq"]
        for event, data in self.events[since:]:
            if data.get("session_id") != session_id:
                continue
            if event == "message" and data["message"]["seq"] > ack["head_seq"]:
                view.apply(data["message"])
                view.applied.append(data["message"]["seq"])
            elif event == "delta":
                assert view.apply_delta(data), f"delta gap: {data}"
        return view


class Follower:
    """Follows one session live the way PROTOCOL.md section 5 says a client must: merge by
    seq, keep a contiguous ``last_seq``, and subscribe again on ``resync`` or a gap."""

    GAP_WAIT = 1.0

    def __init__(self, client: Client, session_id: str) -> None:
        self.client = client
        self.session_id = session_id
        self.view = SessionView()
        self.resubscribes = 0
        self.resyncs = 0
        self._held: dict[int, Row] = {}
        self._buffer: list[tuple[str, Row]] | None = None
        self._gap_timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        for name in ("message", "delta", "resync"):
            client.sio.on(name, self._handler(name))

    def _handler(self, name: str) -> Callable[[Any], None]:
        def handle(data: Any) -> None:
            self.client.events.append((name, data))
            if data.get("session_id") != self.session_id:
                return
            if name == "resync":
                self.resyncs += 1
                self._spawn(self.subscribe())
            elif self._buffer is not None:
                self._buffer.append((name, data))
            else:
                self._live(name, data)

        return handle

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def subscribe(self) -> Row:
        self._buffer = []
        self.resubscribes += 1
        after = self.view.last_seq if self.view.messages or self.view.last_seq else None
        ack = await self.client.ok(
            "subscribe", {"session_id": self.session_id, "after_seq": after}
        )
        if ack["mode"] == "reset":
            self.view = SessionView()
        for message in ack["messages"]:
            self.view.apply(message)
        self.view.last_seq = max(self.view.last_seq, ack["head_seq"])
        buffered, self._buffer = self._buffer, None
        for name, data in buffered:
            self._live(name, data)
        self._advance()
        return ack

    def _live(self, name: str, data: Row) -> None:
        if name == "delta":
            if not self.view.apply_delta(data):
                self._spawn(self.subscribe())
            return
        message = data["message"]
        if message["seq"] <= self.view.last_seq:
            self.view.apply(message)  # harmless: upsert keeps the higher seq
            return
        self._held[message["seq"]] = message
        self._advance()
        if self._held and self._gap_timer is None:
            self._gap_timer = asyncio.get_running_loop().call_later(self.GAP_WAIT, self._gap)

    def _advance(self) -> None:
        while self.view.last_seq + 1 in self._held:
            message = self._held.pop(self.view.last_seq + 1)
            self.view.apply(message)
            self.view.applied.append(message["seq"])
            self.view.last_seq += 1
        for seq in [s for s in self._held if s <= self.view.last_seq]:
            self.view.apply(self._held.pop(seq))
        if not self._held and self._gap_timer is not None:
            self._gap_timer.cancel()
            self._gap_timer = None

    def _gap(self) -> None:
        self._gap_timer = None
        if self._held:
            self._spawn(self.subscribe())
