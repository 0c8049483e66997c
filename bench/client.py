"""A lean Socket.IO 5 / Engine.IO 4 client for load generation, on websockets' Sans-I/O core.

One ``asyncio.Protocol`` per connection and no task per connection: frames are parsed by
``websockets.client.ClientProtocol`` straight from ``data_received`` and events are handed to a
plain callback, so one process can hold thousands of connections and receive tens of thousands
of events per second. Speaks just what the benchmarks need: the open packet, answering pings,
CONNECT with auth, EVENT with ack ids, ACK parsing, and (for socket.io's connection state
recovery) the ``pid``/``offset`` pair. No binary packets, no polling, default namespace only.
"""

from __future__ import annotations

import asyncio
import itertools
import socket
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import orjson
from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.uri import parse_uri

EventHandler = Callable[["SioClient", str, Any], None]


class ConnectRefused(Exception):
    """The server answered CONNECT with CONNECT_ERROR."""


class SioClient(asyncio.Protocol):
    """One Socket.IO connection. ``on_event(client, name, data)`` gets every server event."""

    def __init__(self, url: str, auth: dict[str, Any] | None = None,
                 on_event: EventHandler | None = None, *, recovery: bool = False) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.ws_url = f"ws://{self.host}:{self.port}/socket.io/?EIO=4&transport=websocket"
        self.auth = dict(auth or {})
        self.on_event = on_event
        #: When set, gets each EVENT packet's raw text instead of ``on_event`` (cheap counting).
        self.on_raw: Callable[[SioClient, str], None] | None = None
        self.on_close: Callable[[SioClient], None] | None = None
        self.recovery = recovery  # track socket.io's pid/offset and send them on reconnect
        self.pid: str | None = None
        self.offset: str | None = None
        self.recovered = False
        self.sid: str | None = None
        self.transport: asyncio.Transport | None = None
        self.proto: ClientProtocol | None = None
        self.connected: asyncio.Future[None] | None = None
        self.closed: asyncio.Future[None] | None = None
        self._acks: dict[int, asyncio.Future[Any]] = {}
        self._ack_ids = itertools.count(1)
        self._fragments: list[bytes] = []
        self.user: Any = None  # scenario-owned state

    # -- public ---------------------------------------------------------------------------

    async def connect(self, timeout: float = 30.0) -> None:
        """Open TCP, upgrade to WebSocket, and complete the Socket.IO CONNECT."""
        if self.closed is not None and not self.closed.done():
            await self.closed  # the previous connection's connection_lost must run first
        loop = asyncio.get_running_loop()
        self.connected = loop.create_future()
        self.closed = loop.create_future()
        self._acks = {}
        self.recovered = False
        await asyncio.wait_for(
            loop.create_connection(lambda: self, self.host, self.port), timeout
        )
        await asyncio.wait_for(asyncio.shield(self.connected), timeout)

    @property
    def is_open(self) -> bool:
        return self.closed is not None and not self.closed.done()

    def emit(self, event: str, data: Any = None) -> None:
        self._send_sio("2", "", [event] if data is None else [event, data])

    def call(self, event: str, data: Any = None) -> asyncio.Future[Any]:
        """Emit with an ack id; the future resolves to the ack's first argument."""
        ack_id = next(self._ack_ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if not self.is_open:
            future.set_exception(ConnectionError("not connected"))
            return future
        self._acks[ack_id] = future
        self._send_sio("2", str(ack_id), [event] if data is None else [event, data])
        return future

    async def request(self, event: str, data: Any = None, timeout: float = 30.0) -> Any:
        return await asyncio.wait_for(self.call(event, data), timeout)

    def abort(self) -> None:
        """Drop the TCP connection at once (RST, no close handshake): a lost network."""
        if self.transport is not None and not self.transport.is_closing():
            sock = self.transport.get_extra_info("socket")
            if sock is not None:
                linger_zero = b"\x01\x00\x00\x00\x00\x00\x00\x00"
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger_zero)
            self.transport.abort()

    async def close(self) -> None:
        """Socket.IO DISCONNECT, then a WebSocket close."""
        if self.is_open and self.proto is not None:
            self._send_text("41")
            self.proto.send_close()
            self._flush()
            assert self.closed is not None
            try:
                await asyncio.wait_for(asyncio.shield(self.closed), 5)
            except TimeoutError:
                self.abort()

    # -- asyncio.Protocol -----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.proto = ClientProtocol(parse_uri(self.ws_url), max_size=None)
        self.proto.send_request(self.proto.connect())
        self._flush()

    def data_received(self, data: bytes) -> None:
        proto = self.proto
        assert proto is not None
        proto.receive_data(data)
        for event in proto.events_received():
            if type(event) is Frame:
                op = event.opcode
                if op is Opcode.TEXT or op is Opcode.CONT:
                    if event.fin and not self._fragments:
                        self._on_text(event.data.decode())
                    else:
                        self._fragments.append(event.data)
                        if event.fin:
                            text = b"".join(self._fragments).decode()
                            self._fragments.clear()
                            self._on_text(text)
            elif isinstance(event, Response):
                if proto.handshake_exc is not None:
                    self._fail(proto.handshake_exc)
        self._flush()

    def eof_received(self) -> bool | None:
        if self.proto is not None:
            self.proto.receive_eof()
            self._flush()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        error = exc or ConnectionError("connection closed")
        self._fail(error)
        for future in self._acks.values():
            if not future.done():
                future.set_exception(ConnectionError("connection lost"))
        self._acks.clear()
        if self.closed is not None and not self.closed.done():
            self.closed.set_result(None)
        if self.on_close is not None:
            self.on_close(self)

    # -- framing --------------------------------------------------------------------------

    def _fail(self, exc: BaseException) -> None:
        if self.connected is not None and not self.connected.done():
            self.connected.set_exception(exc)
            self.connected.exception()  # mark retrieved: connect() re-raises it via shield

    def _flush(self) -> None:
        proto, transport = self.proto, self.transport
        if proto is None or transport is None:
            return
        for chunk in proto.data_to_send():
            if chunk:
                transport.write(chunk)
            elif not transport.is_closing():
                transport.close()

    def _send_text(self, text: str) -> None:
        if self.proto is None or self.transport is None or self.transport.is_closing():
            return
        self.proto.send_text(text.encode())
        self._flush()

    def _send_sio(self, kind: str, ack: str, args: list[Any]) -> None:
        self._send_text("4" + kind + ack + orjson.dumps(args).decode())

    def _on_text(self, text: str) -> None:
        kind = text[0]
        if kind == "4":  # Engine.IO message: a Socket.IO packet
            sio = text[1]
            if sio == "2":  # EVENT, maybe with an ack id we do not answer
                if self.on_raw is not None:
                    self.on_raw(self, text)
                    return
                i = 2
                while text[i] != "[":
                    i += 1
                args = orjson.loads(text[i:])
                if self.pid is not None and len(args) > 2 and type(args[-1]) is str:
                    self.offset = args.pop()
                if self.on_event is not None:
                    self.on_event(self, args[0], args[1] if len(args) > 1 else None)
            elif sio == "3":  # ACK
                i = 2
                while text[i].isdigit():
                    i += 1
                future = self._acks.pop(int(text[2:i]), None)
                if future is not None and not future.done():
                    args = orjson.loads(text[i:])
                    future.set_result(args[0] if args else None)
            elif sio == "0":  # CONNECT accepted
                info = orjson.loads(text[2:]) if len(text) > 2 else {}
                self.sid = info.get("sid")
                if self.recovery and info.get("pid"):
                    self.recovered = self.pid == info["pid"]
                    self.pid = info["pid"]
                if self.connected is not None and not self.connected.done():
                    self.connected.set_result(None)
            elif sio == "4":  # CONNECT_ERROR
                info = orjson.loads(text[2:]) if len(text) > 2 else {}
                self._fail(ConnectRefused(info.get("message", str(info))))
                self.abort()
            elif sio == "1":  # server DISCONNECT
                self.abort()
        elif kind == "2":  # Engine.IO ping: answer pong
            self._send_text("3")
        elif kind == "0":  # Engine.IO open: now Socket.IO CONNECT
            auth = dict(self.auth)
            if self.recovery and self.pid is not None and self.offset is not None:
                auth["pid"], auth["offset"] = self.pid, self.offset
            self._send_text("40" + orjson.dumps(auth).decode())
        elif kind == "1":  # Engine.IO close
            self.abort()


async def connect_many(clients: list[SioClient], concurrency: int = 200,
                       timeout: float = 60.0) -> None:
    """Connect every client, at most ``concurrency`` handshakes in flight."""
    gate = asyncio.Semaphore(concurrency)

    async def one(client: SioClient) -> None:
        async with gate:
            await client.connect(timeout)

    await asyncio.gather(*(one(c) for c in clients))


async def gather_limited(coros: list[Any], concurrency: int = 200) -> list[Any]:
    gate = asyncio.Semaphore(concurrency)

    async def one(coro: Any) -> Any:
        async with gate:
            return await coro

    return await asyncio.gather(*(one(c) for c in coros))
