"""A byte bound on each connection's send queue.

python-engineio gives every socket an unbounded ``asyncio.Queue`` of packets, drained by its
writer as fast as the client reads. A client that stops reading (a stalled phone, or on purpose)
makes it grow without end, by broadcasts or by the acks of its own requests. :class:`SendQueue`,
installed through ``create_queue`` (python-engineio's public factory of its queues), is a
:class:`tether.edge.slim.SlimQueue` (an idle connection's queue holds no deque) that counts the
bytes waiting in it; a message that would take it past the bound is not queued, and the
connection is closed instead. Nothing is lost for the client: it reconnects and subscribes with
``after_seq``, which replays every change it missed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from engineio import packet as eio_packet

from tether.edge.slim import SlimQueue

log = logging.getLogger("tether.edge")

#: What a packet without text or bytes (a PING, NOOP, the close sentinel) is counted as.
SMALL = 16

_dropping: set[asyncio.Task[None]] = set()


def size_of(pkt: Any) -> int:
    data = getattr(pkt, "data", None)
    return len(data) + SMALL if isinstance(data, str | bytes) else SMALL


class SendQueue(SlimQueue):
    """A queue that keeps the size of what it holds in ``bytes`` and refuses a MESSAGE packet
    past ``limit`` (control packets and the close sentinel always go in).

    ``_put`` and ``_get`` are the hooks every item goes through (as in ``asyncio.Queue``);
    ``put_nowait`` is where ``put`` ends up.
    """

    __slots__ = ("_overflow", "bytes", "limit", "overflowed")

    def __init__(self, limit: int, overflow: Callable[[SendQueue], None]) -> None:
        super().__init__()
        self.limit = limit
        self.bytes = 0
        self.overflowed = False
        self._overflow = overflow

    def put_nowait(self, item: Any) -> None:
        if (
            getattr(item, "packet_type", None) == eio_packet.MESSAGE
            and self.bytes + size_of(item) > self.limit
        ):
            if not self.overflowed:
                self.overflowed = True
                self._overflow(self)
            return  # dropped: the connection is being closed
        super().put_nowait(item)

    def _put(self, item: Any) -> None:
        self.bytes += size_of(item)
        super()._put(item)

    def _get(self) -> Any:
        item = super()._get()
        self.bytes -= size_of(item)
        return item


def bound_send_queues(eio: Any, limit: int) -> None:
    """Give every Engine.IO socket of ``eio`` created from now on a :class:`SendQueue`."""

    def overflow(queue: SendQueue) -> None:
        # Rare: finding the queue's socket by looking is cheaper than tracking every socket.
        for sock in list(eio.sockets.values()):
            if sock.queue is queue and not sock.closing and not sock.closed:
                log.warning(
                    "[SocketIO] slow client: %d bytes waiting to be sent; closing eio_sid=%s",
                    queue.bytes, sock.sid,
                )
                task = asyncio.get_running_loop().create_task(_drop(sock))
                _dropping.add(task)
                task.add_done_callback(_dropping.discard)

    eio.create_queue = lambda *args, **kwargs: SendQueue(limit, overflow)


async def _drop(sock: Any) -> None:
    # abort: sending a CLOSE packet would queue behind what the client does not read.
    await sock.close(wait=False, abort=True)
    sock.queue.put_nowait(None)  # ends the writer once it gets past what it is writing
