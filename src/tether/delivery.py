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
  without a task per recipient. Events with callbacks take python-socketio's own path.
  ``tether.cluster.fanout.TrackedRedisManager`` stacks the Redis manager on top of it, so local
  delivery of what other nodes publish takes the same path.
- :func:`install_fast_writer`: python-engineio's socket writer waits for each packet with
  ``asyncio.wait_for(queue.get(), timeout)``. The replacement behaves the same (same batching
  of queued packets, ``[]`` on the close sentinel, ``QueueEmpty`` on timeout or cancel) but
  creates no task: a long-polling request waits under ``asyncio.timeout``, and the writer of a
  WebSocket waits with no timer at all. Its timeout is not needed there: the reader loop ends
  after the same silence and then puts the close sentinel on the queue, and a socket the server
  closes gets its CLOSE packet queued, after which the writer finds it closed and stops.
"""

from __future__ import annotations

import asyncio
from typing import Any

import socketio
from engineio import exceptions as eio_exceptions
from engineio import packet as eio_packet
from engineio.async_socket import AsyncSocket
from socketio import packet

#: python-engineio's own ``AsyncSocket.poll``, kept before :func:`install_fast_writer` replaces it
#: (tests/unit/test_upstream_shapes.py fingerprints it).
UPSTREAM_POLL = AsyncSocket.poll


class TextPacket(socketio.packet.Packet):  # type: ignore[misc]
    """A Socket.IO packet that never carries binary attachments."""

    uses_binary_events = False


class BroadcastManager(socketio.AsyncManager):  # type: ignore[misc]
    """``AsyncManager`` whose broadcasts cost one queue put per recipient."""

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
        if namespace not in self.rooms:
            return None
        if isinstance(data, tuple):
            args = [event, *data]  # tuples are several arguments, as in python-socketio
        elif data is not None:
            args = [event, data]
        else:
            args = [event]
        encoded = self.server.packet_class(packet.EVENT, namespace=namespace, data=args).encode()
        pkt = eio_packet.Packet(eio_packet.MESSAGE, encoded)
        skip = skip_sid if isinstance(skip_sid, list) else (skip_sid,)
        sockets = self.server.eio.sockets
        for sid, eio_sid in self.get_participants(namespace, room):
            if sid in skip:
                continue
            sock = sockets.get(eio_sid)
            if sock is not None and not sock.closed:
                sock.queue.put_nowait(pkt)
        return None


async def _poll(self: AsyncSocket) -> list[Any]:
    """``AsyncSocket.poll`` without a task per wait (see the module docstring)."""
    queue = self.queue
    try:
        if not queue.empty():
            first = queue.get_nowait()
        elif self.upgraded:  # the WebSocket writer: ended by the close sentinel
            if self.closed:
                return []  # closed by the server, everything queued is written: stop now
            first = await queue.get()
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
    """Make python-engineio's socket writer wait without ``wait_for`` (idempotent)."""
    AsyncSocket.poll = _poll
