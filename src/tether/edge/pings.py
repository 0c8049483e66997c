"""Engine.IO pings from one shared timer per moment instead of a sleeping task per connection.

python-engineio schedules each connection's next PING by starting a background task that sleeps
``ping_interval`` and then sends it: an idle connection spends most of its life holding that task,
its coroutine, the sleep's future and its timer (about 1 KiB as tracemalloc counts). The
replacement of ``AsyncSocket.schedule_ping`` installed here keeps the same rule (a new ping only
once the previous one was answered, none for a socket closing or closed, ``last_ping`` set when
it goes out, which is what the ping-timeout check reads) and puts the socket in a
:class:`SocketWheel` bucket: one loop timer per bucket of :data:`RESOLUTION` seconds, shared by
every socket due then.
The PING goes on the socket's queue as ``AsyncSocket.send`` would put it (its ping-timeout check
cannot fail for a ping stamped the moment before, so it is not repeated), or, when the socket's
WebSocket writer is parked on an empty queue, is written the way a broadcast is
(``tether.delivery``): the writer then does not wake, and keeps the objects it waits with.

Why a shared timer, and why a parked writer is not woken: what an idle connection renews every
ping interval is, to CPython's garbage collector, a batch of new objects replacing old ones (a
timer handle, its C timer, a context copy and an argument tuple for a timer per connection; the
writer's wait for its next packet, a packet and its list when the PING wakes it). A free of an
old object counts against a new allocation, so a wave of pings grows the youngest generation by
that many objects per connection without triggering a collection; the collection that finally
comes, and the older ones it sets off, walk them all with the loop stopped (docs/performance.md,
"Idle: heartbeat p99 at 5,000"). A bucket's list holds its sockets without a tracked object each.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable

from engineio import packet as eio_packet
from engineio.async_socket import AsyncSocket

from tether.edge.frames import direct_frames, text_frame

#: python-engineio's own ``AsyncSocket.schedule_ping``, kept before :func:`install_ping_timers`
#: replaces it (tests/unit/test_upstream_shapes.py fingerprints it and ``_send_ping``).
UPSTREAM_SCHEDULE_PING = AsyncSocket.schedule_ping

#: The PING packet (one for every socket: packets are not changed once made), its text and its
#: WebSocket frame.
_PING = eio_packet.Packet(eio_packet.PING)
_PING_TEXT = _PING.encode()
_PING_FRAME = text_frame(_PING_TEXT.encode())

#: How late a ping may go out, at most, so that sockets due close together share one timer
#: (a tenth of the interval when that is shorter). The client waits ``ping_interval +
#: ping_timeout`` for a ping: a tenth of a second of that is nothing.
RESOLUTION = 0.1


def advertised_ping_interval(seconds: float) -> tuple[float, float]:
    """``AsyncServer(ping_interval=...)`` for pings every ``seconds``: the interval and a grace
    period that makes the handshake's ``pingInterval`` a whole number of seconds no shorter.

    python-engineio (4.15.1) writes ``int(ping_interval + grace) * 1000`` into the OPEN packet:
    the seconds are truncated before they become milliseconds, so 0.5 s was advertised as 0 ms
    and 2.5 s as 2,000 ms, and a client that waits ``pingInterval + pingTimeout`` for a ping
    could give up before one was due. The grace period is used nowhere else there: the pings
    still go out every ``seconds``, and a client waits at most a second longer than it must
    (tests/live/test_requests.py reads the handshake of a real server)."""
    return seconds, math.ceil(seconds) - seconds


class SocketWheel:
    """Sockets waiting for something due on one event loop, in buckets of ``resolution``
    seconds: each bucket has one ``call_at`` timer, at its end (never before a socket's due
    time, at most ``resolution`` after it), which calls ``due(sock)`` for each of its sockets.
    A socket in a bucket costs a slot in the bucket's list, not a tracked object of its own."""

    __slots__ = ("_buckets", "due", "loop", "resolution")

    def __init__(
        self, loop: asyncio.AbstractEventLoop, resolution: float,
        due: Callable[[AsyncSocket], None],
    ) -> None:
        self.loop = loop
        self.resolution = resolution
        self.due = due
        self._buckets: dict[int, list[AsyncSocket]] = {}

    def add(self, sock: AsyncSocket, delay: float) -> None:
        """Call ``due(sock)`` in ``delay`` seconds (up to ``resolution`` later)."""
        slot = math.ceil((self.loop.time() + delay) / self.resolution)
        bucket = self._buckets.get(slot)
        if bucket is None:
            bucket = self._buckets[slot] = []
            self.loop.call_at(slot * self.resolution, self._due, slot)
        bucket.append(sock)

    def __len__(self) -> int:
        """How many sockets wait."""
        return sum(len(b) for b in self._buckets.values())

    def _due(self, slot: int) -> None:
        due = self.due
        for sock in self._buckets.pop(slot):
            due(sock)


def _ping_due(sock: AsyncSocket) -> None:
    if not sock.closing and not sock.closed:
        sock.last_ping = time.time()
        frames = direct_frames(sock)
        if frames is None:
            sock.queue.put_nowait(_PING)
        elif frames.plain:
            frames.write_frame(_PING_FRAME)
        else:
            frames.write_text(_PING_TEXT)
        sock.server.logger.info("%s: Sending packet PING data None", sock.sid)


def server_wheel(
    server: object, name: str, resolution: float, due: Callable[[AsyncSocket], None]
) -> SocketWheel:
    """The wheel kept as ``name`` on an Engine.IO server for the running loop (made on first
    use; a server used on a new loop, as tests may do, gets a new one)."""
    loop = asyncio.get_running_loop()
    wheel: SocketWheel | None = server.__dict__.get(name)
    if wheel is None or wheel.loop is not loop:
        wheel = SocketWheel(loop, resolution, due)
        server.__dict__[name] = wheel
    return wheel


def wheel_of(server: object) -> SocketWheel:
    """The ping wheel of an Engine.IO server on the running loop."""
    interval: float = server.ping_interval  # type: ignore[attr-defined]
    return server_wheel(server, "tether_ping_wheel", min(RESOLUTION, interval / 10), _ping_due)


def schedule_ping(self: AsyncSocket) -> None:
    """``AsyncSocket.schedule_ping`` with a shared timer (see the module docstring)."""
    if self.last_ping:  # only once the previous ping was answered (or at the start)
        self.last_ping = None
        wheel_of(self.server).add(self, self.server.ping_interval)


def install_ping_timers() -> None:
    """Make every Engine.IO socket schedule its pings on a timer (process-wide, idempotent)."""
    AsyncSocket.schedule_ping = schedule_ping
