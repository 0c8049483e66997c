"""A byte bound on each connection's send queue.

python-engineio gives every socket an unbounded ``asyncio.Queue`` of packets, drained by its
writer as fast as the client reads. A client that stops reading (a stalled phone, or on purpose)
makes it grow without end. :class:`SendQueue` counts the bytes waiting in it; :func:`offer` is
what the one place that queues broadcast packets (``tether.delivery``) calls: past the bound it
drops the packet and closes the connection. Nothing is lost for the client: it reconnects and
subscribes with ``after_seq``, which replays every change it missed.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from engineio import packet as eio_packet

log = logging.getLogger("tether.edge")

_dropping: set[asyncio.Task[None]] = set()

#: What a packet without text or bytes (a PING, NOOP, the close sentinel) is counted as.
SMALL = 16


def size_of(pkt: Any) -> int:
    data = getattr(pkt, "data", None)
    return len(data) + SMALL if isinstance(data, str | bytes) else SMALL


class SendQueue(asyncio.Queue[Any]):
    """An ``asyncio.Queue`` that keeps the size of what it holds in ``bytes``.

    ``_put`` and ``_get`` are the hooks asyncio's own ``LifoQueue`` and ``PriorityQueue``
    override; every way in and out of the queue goes through them.
    """

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit
        self.bytes = 0

    def _put(self, item: Any) -> None:
        self.bytes += size_of(item)
        super()._put(item)

    def _get(self) -> Any:
        item = super()._get()
        self.bytes -= size_of(item)
        return item


def bound_send_queues(eio: Any, limit: int) -> None:
    """Give every Engine.IO socket of ``eio`` created from now on a :class:`SendQueue`
    (through ``create_queue``, python-engineio's public factory of its queues)."""
    eio.create_queue = lambda *args, **kwargs: SendQueue(limit)


def offer(sock: Any, pkt: eio_packet.Packet) -> bool:
    """Queue ``pkt`` on the Engine.IO socket ``sock`` unless that takes its queue past the
    bound; then the packet is dropped, the connection closed, and False returned."""
    queue = sock.queue
    if not isinstance(queue, SendQueue) or queue.bytes + size_of(pkt) <= queue.limit:
        queue.put_nowait(pkt)
        return True
    if not sock.closing and not sock.closed:
        log.warning(
            "[SocketIO] slow client: %d bytes waiting to be sent; closing eio_sid=%s",
            queue.bytes, sock.sid,
        )
        task = asyncio.get_running_loop().create_task(_drop(sock))
        _dropping.add(task)
        task.add_done_callback(_dropping.discard)
    return False


async def _drop(sock: Any) -> None:
    # abort: sending a CLOSE packet would queue behind what the client does not read.
    await sock.close(wait=False, abort=True)
    sock.queue.put_nowait(None)  # ends the writer once it gets past what it is writing
