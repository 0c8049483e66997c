"""A test client written from PROTOCOL.md only: python-socketio's AsyncClient plus the merge rule
of section 5 (the reference in tether.merge, shared with the benchmark and checked against the
browser's merge.js), with a timeout on every wait."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import socketio

from tests.support.wait import until
from tether import merge

Row = dict[str, Any]


@dataclass
class SessionView(merge.View):
    """One session as a client sees it, kept by the reference merge rule (tether.merge)."""

    #: Every seq by which live events advanced ``last_seq``, in arrival order.
    applied: list[int] = field(default_factory=list)

    def ordered(self) -> list[Row]:
        return merge.ordered_messages(self)


class Client:
    """A protocol client; ``events`` records every server event in arrival order."""

    def __init__(
        self, url: str, client_id: str | None = None, token: str | None = None,
        headers: dict[str, str] | None = None, socketio_path: str = "socket.io",
    ) -> None:
        self.url = url
        #: Request headers of the handshake (an app's cookie), and where the socket is mounted.
        self.headers = headers or {}
        self.socketio_path = socketio_path
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
            self.url, auth=auth, transports=transports or ["websocket"], wait_timeout=10,
            headers=dict(self.headers), socketio_path=self.socketio_path,
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
        return await until(predicate, timeout, what)

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
        ``since`` (rule 3: the snapshot, then the buffered events with seq > head_seq)."""
        view = SessionView(session_id)
        buffered: list[merge.Buffered] = [
            ("message" if event == "message" else "delta", data)
            for event, data in self.events[since:]
            if event in ("message", "delta") and data.get("session_id") == session_id
        ]
        assert not merge.apply_subscribe_ack(view, ack, buffered), "delta gap after the snapshot"
        view.applied.extend(range(ack["head_seq"] + 1, view.last_seq + 1))
        return view


class Follower:
    """Follows one session live the way PROTOCOL.md section 5 says a client must: merge by
    seq, keep a contiguous ``last_seq``, and subscribe again on ``resync`` or a gap."""

    GAP_WAIT = 1.0

    def __init__(self, client: Client, session_id: str) -> None:
        self.client = client
        self.session_id = session_id
        self.view = SessionView(session_id)
        self.resubscribes = 0
        self.resyncs = 0
        self._buffer: list[merge.Buffered] | None = None
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
                self._buffer.append(("message" if name == "message" else "delta", data))
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
            self.view = SessionView(self.session_id)
        buffered, self._buffer = self._buffer, None
        if merge.apply_subscribe_ack(self.view, ack, buffered):
            self._spawn(self.subscribe())
        self.view.applied.extend(range(ack["head_seq"] + 1, self.view.last_seq + 1))
        self._watch_gap()
        return ack

    def _live(self, name: str, data: Row) -> None:
        if name == "delta":
            if merge.apply_delta(self.view, data) == "gap":
                self._spawn(self.subscribe())
            return
        before = self.view.last_seq
        merge.apply_live_message(self.view, data["message"])
        self.view.applied.extend(range(before + 1, self.view.last_seq + 1))
        self._watch_gap()

    def _watch_gap(self) -> None:
        """A gap (held messages) that does not fill within GAP_WAIT means subscribe again."""
        if self.view.held and self._gap_timer is None:
            self._gap_timer = asyncio.get_running_loop().call_later(self.GAP_WAIT, self._gap)
        elif not self.view.held and self._gap_timer is not None:
            self._gap_timer.cancel()
            self._gap_timer = None

    def _gap(self) -> None:
        self._gap_timer = None
        if self.view.held:
            self._spawn(self.subscribe())
