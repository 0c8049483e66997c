"""WebSocket text messages written straight to the connection's transport.

Every event Tether sends on a WebSocket used to take the ASGI path: python-engineio's writer task
woke for it, built a ``websocket.send`` message, which went through the middleware to uvicorn's
protocol, which had the websockets library frame it and wrote it. For a one-token ``delta`` that
was most of the cost of delivering it (docs/performance.md). :class:`FramedWebSocketProtocol`, the
WebSocket protocol ``tether serve`` gives uvicorn (``uvicorn.Config(ws=...)`` takes a protocol
class), offers the application a :class:`TextFrames` for its connection, as the ASGI extension
:data:`EXTENSION` in the connection's scope; ``tether.delivery`` writes through it when it is
there, and takes the ASGI path when it is not (Tether mounted in another server).

A message is framed here only when the connection negotiated no extension (a text frame from the
server is two to ten header bytes and the payload, never masked); with permessage-deflate (what
browsers ask for) the websockets library frames and compresses it as before, only without the
ASGI layers. Flow control is uvicorn's: :attr:`TextFrames.writable` is false while the transport's
buffer is over its high-water mark, and whoever writes then waits (or queues) instead.
"""

from __future__ import annotations

import asyncio
import logging
import struct
from typing import Any

from uvicorn.protocols.utils import ClientDisconnected
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.protocol import State

from tether.edge.slim import SlimEvent, SlimQueue

log = logging.getLogger("tether.edge")

#: The scope extension holding the connection's :class:`TextFrames`.
EXTENSION = "tether.websocket.text_frames"

_TEXT = 0x81  # FIN and the text opcode


def text_frame(payload: bytes) -> bytes:
    """One unmasked, unfragmented WebSocket text frame (RFC 6455 section 5.2) of ``payload``."""
    size = len(payload)
    if size < 126:
        return bytes((_TEXT, size)) + payload
    if size < 65536:
        return struct.pack("!BBH", _TEXT, 126, size) + payload
    return struct.pack("!BBQ", _TEXT, 127, size) + payload


class Cork:
    """The frames broadcasts gave each connection during one pass of the event loop, written
    at its end in one ``write`` per connection.

    A write to a socket is a system call, and on loopback the kernel's whole TCP path runs in
    it: at fan-out that is most of a delivery's cost (docs/performance.md). Events to the same
    connection often come out in the same pass of the loop (an answer's end and its session
    going idle, several runs' deltas to a user's sockets), and a connection's frames wait only
    until the callbacks already due have run, never for a timer. One per event loop."""

    __slots__ = ("_dirty", "_loop")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._dirty: list[TextFrames] = []

    def add(self, frames: TextFrames) -> None:
        """``frames`` holds its first corked frame of this pass: flush it at the pass's end."""
        if not self._dirty:
            self._loop.call_soon(self.flush)
        self._dirty.append(frames)

    def flush(self) -> None:
        dirty, self._dirty = self._dirty, []
        for frames in dirty:
            try:
                frames.flush()
            except Exception:  # one connection's transport never keeps the others' frames
                log.exception("corked frames could not be written")


_corks: dict[asyncio.AbstractEventLoop, Cork] = {}


def cork_of(loop: asyncio.AbstractEventLoop) -> Cork:
    """The loop's :class:`Cork` (made on first use; a closed loop's is dropped then)."""
    cork = _corks.get(loop)
    if cork is None:
        for old in [old for old in _corks if old.is_closed()]:
            del _corks[old]
        cork = _corks[loop] = Cork(loop)
    return cork


class TextFrames:
    """Writes text messages on one WebSocket connection of :class:`FramedWebSocketProtocol`."""

    __slots__ = ("_cork", "_corked", "_protocol", "plain")

    def __init__(self, protocol: WebSocketsSansIOProtocol) -> None:
        self._protocol = protocol
        #: No extension negotiated: a frame built once may be written to every such connection.
        self.plain = not protocol.conn.extensions
        #: Frames waiting for the end of this pass of the loop (:class:`Cork`), or None.
        self._corked: list[bytes] | None = None
        self._cork: Cork | None = None

    @property
    def open(self) -> bool:
        """Accepted, neither side has closed it, and the transport is not closing."""
        p = self._protocol
        return (
            p.handshake_complete and not p.close_sent and not p.disconnected
            and p.conn.state is State.OPEN and not p.transport.is_closing()
        )

    @property
    def writable(self) -> bool:
        """Open, and the transport's buffer is under its high-water mark (checked for every
        recipient of every broadcast: attribute reads only, cheapest first)."""
        p = self._protocol
        return (
            p.writable.is_set() and not p.close_sent and not p.disconnected
            and p.handshake_complete and not p.transport.is_closing()
            and p.conn.state is State.OPEN
        )

    def write_frame(self, frame: bytes) -> None:
        """Write a frame built by :func:`text_frame` (only on a :attr:`plain` connection) at the
        end of this pass of the event loop, with the connection's other frames of the pass
        (the caller checked :attr:`writable`)."""
        corked = self._corked
        if corked is not None:
            corked.append(frame)
            return
        self._corked = [frame]
        cork = self._cork
        if cork is None:
            cork = self._cork = cork_of(asyncio.get_running_loop())
        cork.add(self)

    def flush(self) -> None:
        """Write the corked frames now, in one ``write`` (dropped if the connection closed
        meanwhile: nothing may follow a close frame)."""
        corked, self._corked = self._corked, None
        if corked and self.open:
            self._protocol.transport.write(corked[0] if len(corked) == 1 else b"".join(corked))

    def write_text(self, text: str) -> None:
        """Write one text message now (the caller checked :attr:`writable`), after any frames
        still corked, so the connection's messages keep their order."""
        p = self._protocol
        if self._corked is not None:
            self.flush()
        if self.plain:
            p.transport.write(text_frame(text.encode()))
        else:
            p.conn.send_text(text.encode())
            p.transport.write(b"".join(p.conn.data_to_send()))

    async def send_text(self, text: str) -> None:
        """Write one text message once the transport takes more; raises uvicorn's
        ``ClientDisconnected`` when the connection is closed (as its ASGI ``send`` does)."""
        p = self._protocol
        if not p.writable.is_set():
            await p.writable.wait()
        if not self.open:
            raise ClientDisconnected()
        self.write_text(text)


class FramedWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's websockets-sansio protocol that puts a :class:`TextFrames` in the scope, and
    lets go of the handshake's request and response (their header objects, about 3 KiB) once
    the connection is accepted: nothing reads them after that.

    Its receive queue and ``writable`` event are :mod:`tether.edge.slim`'s (uvicorn calls only
    ``put_nowait``, ``get`` and ``empty`` on the one, ``set``, ``clear`` and ``wait`` on the
    other): about 3.8 KiB less per connection."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.queue = SlimQueue()  # type: ignore[assignment]
        writable = SlimEvent()
        writable.set()
        self.writable = writable  # type: ignore[assignment]

    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        scope = getattr(self, "scope", None)
        if scope is not None and not self.close_sent:  # the handshake was not refused
            scope["extensions"][EXTENSION] = TextFrames(self)

    async def send(self, message: Any) -> None:
        await super().send(message)
        if self.handshake_complete and self.__dict__.get("response") is not None:
            del self.request, self.response


def direct_frames(sock: Any) -> TextFrames | None:
    """The frames to write a packet for Engine.IO socket ``sock`` with now, or None to queue
    it: its WebSocket writer is parked on an empty queue (nothing of it is in flight) and the
    transport takes more. ``tether.delivery`` keeps both marks on the socket: its
    ``tether_frames`` (this connection's :class:`TextFrames`) and ``tether_parked`` (its
    writer waits on the queue)."""
    state = sock.__dict__
    frames: TextFrames | None = state.get("tether_frames")
    # A parked writer's queue may hold a packet it has not been woken for yet: check both.
    if frames is not None and state.get("tether_parked") and not sock.queue.qsize() and (
        frames.writable
    ):
        return frames
    return None
