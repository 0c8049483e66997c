"""A lean Socket.IO 5 / Engine.IO 4 client for load generation.

One ``asyncio.BufferedProtocol`` per connection and no task per connection, so one process can
hold thousands of connections and receive 100k+ events per second on one core:

* websockets' Sans-I/O ``ClientProtocol`` writes the HTTP upgrade request and validates the
  response (status 101, ``Sec-WebSocket-Accept``, no extensions), and nothing else;
* after that, server frames are parsed here, straight out of a receive buffer shared by all
  connections (the transport reads into it with ``recv_into``; asyncio's plain ``Protocol`` path
  allocates a 256 KiB bytes object per read, which glibc serves with mmap/munmap and which cost
  more than the parsing), and client frames are masked and written here;
* Engine.IO/Socket.IO packets go to ``_on_text`` and events to a plain callback.

Speaks just what the benchmarks need: the open packet, answering pings, CONNECT with auth, EVENT
with ack ids, ACK parsing, and (for socket.io's connection state recovery) the ``pid``/``offset``
pair. No binary packets, no polling, default namespace only, no permessage-deflate.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import socket
import struct
from collections.abc import Callable
from typing import Any, cast
from urllib.parse import urlsplit

import orjson
from websockets.client import ClientProtocol
from websockets.exceptions import InvalidMessage, ProtocolError
from websockets.protocol import State
from websockets.uri import parse_uri

try:
    from websockets.speedups import apply_mask  # C; what websockets itself uses when built
except ImportError:  # pragma: no cover
    from websockets.utils import apply_mask

EventHandler = Callable[["SioClient", str, Any], None]

# WebSocket states of a SioClient (``_ws``).
_CONNECTING = 0  # upgrade request sent; response bytes go to websockets' ClientProtocol
_OPEN = 1  # frames are parsed here
_CLOSING = 2  # we sent a close frame; still reading until the server's close
_DONE = 3  # close received, handshake refused or protocol error: incoming bytes are dropped
_REFUSED = 4  # a non-101 response, maybe with a body: websockets reads it and reports the error

_MAX_HEAD = 65536  # an HTTP response head longer than this is not a WebSocket upgrade
_HEAD16 = struct.Struct("!BBH").pack
_HEAD64 = struct.Struct("!BBQ").pack

#: One receive buffer for every connection: transports ``recv_into`` it and the protocol parses
#: it at once in ``buffer_updated``, copying out only the tail of a frame split across reads.
#: This relies on get_buffer() being followed by that same protocol's buffer_updated() before
#: any other get_buffer(), which holds for asyncio's selector loop and uvloop (checked anyway).
_RECV = bytearray(256 * 1024)
_RECV_VIEW = memoryview(_RECV)
_LENT: list[Any] = [None]


class ConnectRefused(Exception):
    """The server answered CONNECT with CONNECT_ERROR."""


class SioClient(asyncio.BufferedProtocol):
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
        self.proto: ClientProtocol | None = None  # the upgrade handshake only
        self.connected: asyncio.Future[None] | None = None
        self.closed: asyncio.Future[None] | None = None
        self._acks: dict[int, asyncio.Future[Any]] = {}
        self._ack_ids = itertools.count(1)
        self._ws = _CONNECTING
        self._pending = bytearray()  # received bytes not parsed yet (a partial frame or head)
        self._fragments: list[bytes] = []  # a fragmented message so far (empty: none)
        self._fragmented = 0  # its opcode
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
        if not self.is_open:
            return
        if self._ws == _OPEN:
            self._send_text("41")
            self._send_frame(0x88, b"")
            self._ws = _CLOSING
        elif self._ws == _CONNECTING:
            self.abort()
            return
        assert self.closed is not None
        try:
            await asyncio.wait_for(asyncio.shield(self.closed), 5)
        except TimeoutError:
            self.abort()

    # -- asyncio.BufferedProtocol ---------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # (uvloop's is no subclass)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._ws = _CONNECTING
        self._pending = bytearray()
        self._fragments = []
        self._fragmented = 0
        self.proto = ClientProtocol(parse_uri(self.ws_url), max_size=None)
        self.proto.send_request(self.proto.connect())
        self._flush()

    def get_buffer(self, sizehint: int) -> memoryview:
        _LENT[0] = self
        return _RECV_VIEW

    def buffer_updated(self, nbytes: int) -> None:
        if _LENT[0] is not self:
            raise RuntimeError("the shared receive buffer was lent to another connection")
        _LENT[0] = None
        self.data_received(_RECV, nbytes)

    def data_received(self, data: bytes | bytearray, end: int = -1) -> None:
        """Take ``data[:end]`` (all of it by default) from the network."""
        if end < 0:
            end = len(data)
        if self._ws != _OPEN and self._ws != _CLOSING:
            self._not_open(bytes(memoryview(data)[:end]))
            return
        pending = self._pending
        if pending:
            pending += memoryview(data)[:end]
            pos = self._frames(pending, 0, len(pending))
            if self._ws >= _DONE:
                pending.clear()
            else:
                del pending[:pos]
        else:
            pos = self._frames(data, 0, end)
            if pos < end and self._ws < _DONE:
                pending += memoryview(data)[pos:end]  # a frame continued in the next read

    def eof_received(self) -> bool | None:
        if self._ws == _CONNECTING or self._ws == _REFUSED:
            proto = self.proto
            if proto is not None:
                proto.receive_eof()
                if proto.handshake_exc is not None:
                    self._fail(proto.handshake_exc)
                self._flush()
        return None  # the transport closes itself

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

    # -- handshake ------------------------------------------------------------------------

    def _not_open(self, data: bytes) -> None:
        """Bytes before the upgrade completed, or after it failed or the server closed."""
        proto = self.proto
        if proto is None or self._ws == _DONE:
            return
        if self._ws == _REFUSED:
            proto.receive_data(data)
            self._handshake_outcome()
            return
        pending = self._pending
        pending += data
        head_end = pending.find(b"\r\n\r\n") + 4
        if head_end < 4:
            if len(pending) > _MAX_HEAD:
                self._ws = _DONE
                pending.clear()
                self._fail(InvalidMessage("did not receive a valid HTTP response"))
                self.abort()
            return
        if pending.startswith(b"HTTP/1.1 101 "):
            # A 101 has no body (RFC 9110 s. 15.2), so websockets reads exactly the head and
            # the bytes after it (frames the server sent at once) stay here for our parser.
            head = bytes(pending[:head_end])
            del pending[:head_end]
        else:
            head, self._ws = bytes(pending), _REFUSED  # websockets reads any body, then fails
            pending.clear()
        proto.receive_data(head)
        if not self._handshake_outcome():
            return
        self._ws = _OPEN
        if pending:
            rest = bytes(pending)
            pending.clear()
            self.data_received(rest)

    def _handshake_outcome(self) -> bool:
        """After feeding websockets: True once the upgrade is accepted; fails a refusal."""
        proto = self.proto
        assert proto is not None
        proto.events_received()  # the Response; what matters is the state it left
        if proto.handshake_exc is not None:
            self._ws = _DONE
            self._pending.clear()
            self._fail(proto.handshake_exc)
            self._flush()  # websockets ends the stream: the transport closes
            return False
        if proto.state is State.OPEN and self._ws == _CONNECTING:
            return True
        if proto.state is State.OPEN:  # cannot happen: a non-101 response never opens
            self._protocol_error("unexpected handshake outcome")
        return False

    # -- framing --------------------------------------------------------------------------

    def _frames(self, buf: bytes | bytearray, pos: int, end: int) -> int:
        """Handle each whole server frame in ``buf[pos:end]``; return where the rest starts."""
        fragments = self._fragments
        on_text = self._on_text
        while end - pos >= 2:
            b0 = buf[pos]
            size = buf[pos + 1]
            start = pos + 2
            if size >= 126:
                if size == 126:
                    if end - pos < 4:
                        break
                    size = buf[pos + 2] << 8 | buf[pos + 3]
                    start = pos + 4
                elif size == 127:
                    if end - pos < 10:
                        break
                    size = int.from_bytes(buf[pos + 2:pos + 10], "big")
                    start = pos + 10
                else:  # the mask bit: servers must not mask
                    self._protocol_error("masked frame from the server")
                    return end
            stop = start + size
            if stop > end:
                break
            if b0 == 0x81 and not fragments:  # a whole text message: nearly every frame
                on_text(buf[start:stop].decode())
            elif not self._frame(b0, bytes(buf[start:stop])):
                return end
            pos = stop
        return pos

    def _frame(self, b0: int, payload: bytes) -> bool:
        """Any frame but a whole text message; False once the rest of the input is dropped."""
        opcode = b0 & 0x0F
        fin = b0 & 0x80
        if b0 & 0x70:
            self._protocol_error("reserved bits set (no extension was negotiated)")
            return False
        if opcode >= 0x8:  # control frames: never fragmented, at most 125 bytes
            if not fin or len(payload) > 125:
                self._protocol_error("bad control frame")
                return False
            if opcode == 0x9:  # ping
                self._send_frame(0x8A, payload)
            elif opcode == 0x8:  # close: answer it (unless we started), then wait for EOF
                if self._ws == _OPEN:
                    self._send_frame(0x88, payload)
                self._ws = _DONE
                self._fragments.clear()
                return False
            elif opcode != 0xA:  # pong is ignored
                self._protocol_error(f"unknown opcode {opcode}")
                return False
        elif opcode == 0x0:  # continuation
            if not self._fragments:
                self._protocol_error("unexpected continuation frame")
                return False
            self._fragments.append(payload)
            if fin:
                message = b"".join(self._fragments)
                self._fragments.clear()
                if self._fragmented == 0x1:
                    self._on_text(message.decode())
        elif opcode == 0x1 or opcode == 0x2:  # text (binary messages are not used: dropped)
            if self._fragments:
                self._protocol_error("expected a continuation frame")
                return False
            if not fin:  # first fragment
                self._fragmented = opcode
                self._fragments.append(payload)
            elif opcode == 0x1:
                self._on_text(payload.decode())
        else:
            self._protocol_error(f"unknown opcode {opcode}")
            return False
        return True

    def _protocol_error(self, reason: str) -> None:
        self._ws = _DONE
        self._pending.clear()
        self._fragments.clear()
        self._fail(ProtocolError(reason))
        self.abort()

    def _fail(self, exc: BaseException) -> None:
        if self.connected is not None and not self.connected.done():
            self.connected.set_exception(exc)
            self.connected.exception()  # mark retrieved: connect() re-raises it via shield

    def _flush(self) -> None:
        """Write what websockets' handshake protocol has to send (b"": end the stream)."""
        proto, transport = self.proto, self.transport
        if proto is None or transport is None:
            return
        for chunk in proto.data_to_send():
            if chunk:
                transport.write(chunk)
            elif not transport.is_closing():
                transport.close()

    def _send_frame(self, b0: int, data: bytes) -> None:
        """Write one client frame (FIN and opcode in ``b0``), masked as RFC 6455 requires."""
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        size = len(data)
        if size < 126:
            head = bytes((b0, 0x80 | size))
        elif size < 65536:
            head = _HEAD16(b0, 0xFE, size)
        else:
            head = _HEAD64(b0, 0xFF, size)
        key = os.urandom(4)
        transport.write(head + key + apply_mask(data, key))

    def _send_text(self, text: str) -> None:
        if self._ws == _OPEN:
            self._send_frame(0x81, text.encode())

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
