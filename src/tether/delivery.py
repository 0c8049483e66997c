"""Cheaper delivery of one event to many sockets, inside python-socketio's own layering.

A busy Tether node sends the same small event (a ``delta``, a ``message``) to every follower of a
session, tens of thousands of times a second. python-socketio already encodes a broadcast once,
but then pays per recipient for an asyncio task, and python-engineio's per-socket writer pays
per packet for a ``wait_for`` (itself a task and a timer). Profiles of the fan-out benchmark put
about half of the server's time there (docs/performance.md). Three narrow changes remove it:

- :class:`TextPacket`, given to ``AsyncServer(serializer=...)``: Tether never sends binary
  attachments, so packets skip python-socketio's recursive walk of every payload looking for
  ``bytes`` (the same switch its msgpack packet class uses).
- :class:`BroadcastManager`, the client manager: an event without an ack callback is encoded
  once and the one Engine.IO packet is put straight on each recipient's send queue, in order,
  without a task per recipient. Events with callbacks take python-socketio's own path. It also
  keeps the rooms each socket is in, so a disconnect leaves those instead of python-socketio's
  scan of every room of the namespace for each one (quadratic in a reconnect storm: 1,000
  sockets dropping among 1,300 rooms).
  ``tether.cluster.fanout.TrackedRedisManager`` stacks the Redis manager on top of it, so local
  delivery of what other nodes publish takes the same path.
- :func:`install_fast_writer`: python-engineio's socket writer waits for each packet with
  ``asyncio.wait_for(queue.get(), timeout)``. The replacement behaves the same (same batching
  of queued packets, ``[]`` on the close sentinel, ``QueueEmpty`` on timeout or cancel) but
  creates no task: a long-polling request waits under ``asyncio.timeout``, and the writer of a
  WebSocket waits with no timer at all. Its timeout is not needed there: the reader loop ends
  after the same silence and then puts the close sentinel on the queue, and a socket the server
  closes gets its CLOSE packet queued, after which the writer finds it closed and stops.
- Direct writes (:class:`DirectWebSocket`): under ``tether serve`` each WebSocket connection
  offers a ``tether.edge.frames.TextFrames`` in its ASGI scope. The writer then sends through
  it (no ASGI message, middleware or websockets framing per packet), and a broadcast that finds
  a recipient's writer idle (parked on an empty queue) and its transport writable writes the
  frame itself, at the end of the loop's current pass (``tether.edge.frames.Cork``: a
  connection's frames of one pass go out in one ``write``): no queue, no wake-up of the writer
  task, and one frame built for every recipient without a WebSocket extension. Anything else
  (a queue not empty, a writer busy or waiting for the transport, long polling, another ASGI
  server) takes the queue, so the order of a connection's packets is the order they were
  emitted, and the send-queue bound (tether.edge.sendqueue) still holds: a direct write
  happens only below the transport's high-water mark.
"""

from __future__ import annotations

import asyncio
from typing import Any

import socketio
from engineio import exceptions as eio_exceptions
from engineio import packet as eio_packet
from engineio.async_drivers import asgi as eio_asgi
from engineio.async_socket import AsyncSocket
from socketio import packet

from tether.edge.frames import EXTENSION, TextFrames, direct_frames, text_frame
from tether.ordering import HOLD, SessionOrder
from tether.protocol import Event

#: python-engineio's own ``AsyncSocket.poll``, kept before :func:`install_fast_writer` replaces it
#: (tests/unit/test_upstream_shapes.py fingerprints it).
UPSTREAM_POLL = AsyncSocket.poll
#: python-engineio's own ASGI WebSocket wrapper, kept before :func:`install_fast_writer`
#: replaces it.
UPSTREAM_WEBSOCKET = eio_asgi.WebSocket


class DirectWebSocket(eio_asgi.WebSocket):  # type: ignore[misc]
    """python-engineio's ASGI WebSocket, sending text through the connection's
    ``TextFrames`` when the server offers them (the ASGI path otherwise)."""

    frames: TextFrames | None = None

    async def __call__(self, environ: dict[str, Any]) -> Any:
        extensions = environ["asgi.scope"].get("extensions") or {}
        frames = extensions.get(EXTENSION)
        if isinstance(frames, TextFrames):
            self.frames = frames
            sock = getattr(self.handler, "__self__", None)  # the AsyncSocket it serves
            if isinstance(sock, AsyncSocket):
                sock.tether_frames = frames
        return await super().__call__(environ)

    async def send(self, message: str | bytes) -> None:
        frames = self.frames
        if frames is not None and isinstance(message, str):
            await frames.send_text(message)
        else:
            await super().send(message)


class TextPacket(socketio.packet.Packet):  # type: ignore[misc]
    """A Socket.IO packet that never carries binary attachments."""

    uses_binary_events = False


#: The events delivered in a session's seq order (tether.ordering).
_ORDERED = frozenset({Event.MESSAGE, Event.DELTA})
#: One local delivery: event, data, namespace, room, skip_sid.
_Emit = tuple[str, Any, str, Any, Any]


class BroadcastManager(socketio.AsyncManager):  # type: ignore[misc]
    """``AsyncManager`` whose broadcasts cost one queue put per recipient, and whose session
    events go out in seq order (tether.ordering)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._order: SessionOrder[_Emit] = SessionOrder()
        self._hold_timers: dict[str, asyncio.TimerHandle] = {}
        #: (namespace, sid) -> the rooms that sid is in (its sid room and None included).
        self._rooms_of: dict[tuple[str, str], set[Any]] = {}

    def basic_enter_room(
        self, sid: str, namespace: str, room: Any, eio_sid: str | None = None
    ) -> None:
        super().basic_enter_room(sid, namespace, room, eio_sid)
        self._rooms_of.setdefault((namespace, sid), set()).add(room)

    def basic_leave_room(self, sid: str, namespace: str, room: Any) -> None:
        super().basic_leave_room(sid, namespace, room)
        rooms = self._rooms_of.get((namespace, sid))
        if rooms is not None:
            rooms.discard(room)
            if not rooms:
                del self._rooms_of[(namespace, sid)]

    def basic_disconnect(self, sid: str, namespace: str, **kwargs: Any) -> None:
        """python-socketio's ``BaseManager.basic_disconnect`` (5.18.1, fingerprinted in
        tests/unit/test_upstream_shapes.py), leaving only the rooms the sid is in."""
        rooms = self._rooms_of.pop((namespace, sid), set())
        if namespace not in self.rooms:
            return
        for room in rooms:
            socketio.AsyncManager.basic_leave_room(self, sid, namespace, room)
        if sid in self.callbacks:
            del self.callbacks[sid]
        for pending in (self.pending_connect, self.pending_disconnect):
            if namespace in pending and sid in pending[namespace]:
                pending[namespace].remove(sid)
                if len(pending[namespace]) == 0:
                    del pending[namespace]

    async def emit(
        self,
        event: str,
        data: Any,
        namespace: str,
        room: Any = None,
        skip_sid: Any = None,
        callback: Any = None,
        to: Any = None,
        **kwargs: Any,
    ) -> None:
        if callback is not None:
            return await super().emit(  # type: ignore[no-any-return]
                event, data, namespace, room=room, skip_sid=skip_sid, callback=callback,
                to=to, **kwargs,
            )
        room = to or room
        if event in _ORDERED and isinstance(data, dict) and "session_id" in data:
            self._in_order(str(data["session_id"]), event, data, namespace, room, skip_sid)
        else:
            self._deliver(event, data, namespace, room, skip_sid)
        return None

    def _in_order(
        self, session_id: str, event: str, data: Any, namespace: str, room: Any, skip_sid: Any
    ) -> None:
        """A session's ``message`` and ``delta`` events go out in seq order (tether.ordering)."""
        order = self._order
        item: _Emit = (event, data, namespace, room, skip_sid)
        try:
            if event == Event.MESSAGE:
                message = data["message"]
                ready = order.message(session_id, int(message["seq"]), message["id"], item)
            else:
                ready = order.delta(session_id, data["message_id"], item)
        except (KeyError, TypeError, ValueError):
            ready = [item]  # not a session change: nothing to order it by
        for args in ready:
            self._deliver(*args)
        timer = self._hold_timers.get(session_id)
        if order.waiting(session_id):
            if timer is None:
                loop = asyncio.get_running_loop()
                self._hold_timers[session_id] = loop.call_later(HOLD, self._release, session_id)
        elif timer is not None:
            del self._hold_timers[session_id]
            timer.cancel()

    def _release(self, session_id: str) -> None:
        self._hold_timers.pop(session_id, None)
        for args in self._order.expire(session_id):
            self._deliver(*args)

    def _deliver(self, event: str, data: Any, namespace: str, room: Any, skip_sid: Any) -> None:
        """Send one event to the room's sockets on this node, encoded once."""
        if namespace not in self.rooms:
            return
        if isinstance(data, tuple):
            args = [event, *data]  # tuples are several arguments, as in python-socketio
        elif data is not None:
            args = [event, data]
        else:
            args = [event]
        encoded = self.server.packet_class(packet.EVENT, namespace=namespace, data=args).encode()
        pkt = eio_packet.Packet(eio_packet.MESSAGE, encoded)
        text: str | None = None  # the Engine.IO packet as sent, and its frame: built once
        frame: bytes | None = None
        skip = skip_sid if isinstance(skip_sid, list) else (skip_sid,)
        sockets = self.server.eio.sockets
        for sid, eio_sid in self.get_participants(namespace, room):
            if sid in skip:
                continue
            sock = sockets.get(eio_sid)
            if sock is None or sock.closed:
                continue
            frames = direct_frames(sock)
            if frames is None:
                sock.queue.put_nowait(pkt)
                continue
            if text is None:
                text = pkt.encode()
            if frames.plain:
                if frame is None:
                    frame = text_frame(text.encode())
                frames.write_frame(frame)
            else:
                frames.write_text(text)


async def _poll(self: AsyncSocket) -> list[Any]:
    """``AsyncSocket.poll`` without a task per wait (see the module docstring)."""
    queue = self.queue
    try:
        if not queue.empty():
            first = queue.get_nowait()
        elif self.upgraded:  # the WebSocket writer: ended by the close sentinel
            if self.closed:
                return []  # closed by the server, everything queued is written: stop now
            self.tether_parked = True  # broadcasts may write while it waits
            try:
                first = await queue.get()
            finally:
                self.tether_parked = False
        else:
            async with asyncio.timeout(self.server.ping_interval + self.server.ping_timeout):
                first = await queue.get()
        queue.task_done()
    except (TimeoutError, asyncio.CancelledError):
        raise eio_exceptions.QueueEmpty() from None
    if first is None:
        return []
    packets = [first]
    while not queue.empty():
        pkt = queue.get_nowait()
        queue.task_done()
        if pkt is None:
            queue.put_nowait(None)  # leave the close sentinel for the next poll
            break
        packets.append(pkt)
    return packets


def install_fast_writer() -> None:
    """Make python-engineio's socket writer wait without ``wait_for``, and its ASGI WebSocket
    write through ``TextFrames`` where offered (process-wide, idempotent)."""
    AsyncSocket.poll = _poll
    eio_asgi._async["websocket"] = DirectWebSocket
