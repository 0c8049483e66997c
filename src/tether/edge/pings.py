"""Engine.IO pings on a timer per connection instead of a sleeping task.

python-engineio schedules each connection's next PING by starting a background task that sleeps
``ping_interval`` and then sends it: an idle connection spends most of its life holding that task,
its coroutine, the sleep's future and its timer (about 1 KiB as tracemalloc counts). The
replacement of ``AsyncSocket.schedule_ping`` installed here keeps the same rule (a new ping only
once the previous one was answered, none for a socket closing or closed, ``last_ping`` set when
it goes out, which is what the ping-timeout check reads) with a ``call_later`` timer only. The
PING goes on the socket's queue as ``AsyncSocket.send`` would put it: its ping-timeout check
cannot fail for a ping stamped the moment before, so it is not repeated.
"""

from __future__ import annotations

import asyncio
import time

from engineio import packet as eio_packet
from engineio.async_socket import AsyncSocket

#: python-engineio's own ``AsyncSocket.schedule_ping``, kept before :func:`install_ping_timers`
#: replaces it (tests/unit/test_upstream_shapes.py fingerprints it and ``_send_ping``).
UPSTREAM_SCHEDULE_PING = AsyncSocket.schedule_ping


def _ping_due(sock: AsyncSocket) -> None:
    if not sock.closing and not sock.closed:
        sock.last_ping = time.time()
        sock.queue.put_nowait(eio_packet.Packet(eio_packet.PING))
        sock.server.logger.info("%s: Sending packet PING data None", sock.sid)


def schedule_ping(self: AsyncSocket) -> None:
    """``AsyncSocket.schedule_ping`` with a timer (see the module docstring)."""
    if self.last_ping:  # only once the previous ping was answered (or at the start)
        self.last_ping = None
        asyncio.get_running_loop().call_later(self.server.ping_interval, _ping_due, self)


def install_ping_timers() -> None:
    """Make every Engine.IO socket schedule its pings on a timer (process-wide, idempotent)."""
    AsyncSocket.schedule_ping = schedule_ping
