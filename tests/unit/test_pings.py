"""Engine.IO pings on shared timers (tether.edge.pings): the same schedule as python-engineio's,
with no task and no timer per connection."""

from __future__ import annotations

import asyncio
import gc
import logging

from engineio import packet as eio_packet
from engineio.async_socket import AsyncSocket

from tether.edge.frames import text_frame
from tether.edge.pings import install_ping_timers, schedule_ping, wheel_of
from tether.edge.slim import SlimQueue


class FakeServer:
    """What an AsyncSocket reads of its server for pings."""

    ping_interval = 0.05
    ping_timeout = 1.0
    logger = logging.getLogger("test.pings")

    def create_queue(self) -> SlimQueue:
        return SlimQueue()


def queued(sock: AsyncSocket) -> list[int]:
    out = []
    while not sock.queue.empty():
        out.append(sock.queue.get_nowait().packet_type)
    return out


async def test_a_ping_goes_out_after_the_interval_without_a_task() -> None:
    sock = AsyncSocket(FakeServer(), "sid1")
    tasks = len(asyncio.all_tasks())
    schedule_ping(sock)
    assert sock.last_ping is None  # a ping is pending
    assert len(asyncio.all_tasks()) == tasks  # no task for it
    await asyncio.sleep(0.02)
    assert queued(sock) == []
    await asyncio.sleep(0.08)
    assert queued(sock) == [eio_packet.PING]
    assert sock.last_ping is not None  # what check_ping_timeout measures from
    assert await sock.check_ping_timeout()


async def test_no_second_ping_before_the_pong_and_none_once_closed() -> None:
    install_ping_timers()  # receive() below calls the installed one
    sock = AsyncSocket(FakeServer(), "sid2")
    schedule_ping(sock)
    schedule_ping(sock)  # the first is still pending: no second timer
    await asyncio.sleep(0.1)
    assert queued(sock) == [eio_packet.PING]
    await sock.receive(eio_packet.Packet(eio_packet.PONG))  # upstream's receive reschedules
    assert sock.last_ping is None
    sock.closed = True
    await asyncio.sleep(0.1)
    assert queued(sock) == []


async def test_installed_process_wide() -> None:
    install_ping_timers()
    assert AsyncSocket.schedule_ping is schedule_ping


class FakeFrames:
    """The ``TextFrames`` of a connection, as a direct write uses them."""

    plain = True
    writable = True

    def __init__(self) -> None:
        self.written: list[bytes] = []

    def write_frame(self, frame: bytes) -> None:
        self.written.append(frame)


async def test_sockets_due_together_share_one_timer_and_no_object_each() -> None:
    server = FakeServer()
    socks = [AsyncSocket(server, f"many{i}") for i in range(1000)]
    gc.collect()
    before = len(gc.get_objects())
    for sock in socks:
        schedule_ping(sock)
    # A timer per socket would be a handle (and its context and arguments) per socket.
    assert len(gc.get_objects()) - before < 50
    assert len(wheel_of(server)) == 1000
    await asyncio.sleep(0.1)
    assert all(queued(sock) == [eio_packet.PING] for sock in socks)
    assert len(wheel_of(server)) == 0


async def test_a_ping_for_a_parked_writer_is_written_not_queued() -> None:
    sock = AsyncSocket(FakeServer(), "parked")
    frames = FakeFrames()
    sock.tether_frames = frames  # what DirectWebSocket sets; tether_parked: what _poll sets
    sock.tether_parked = True
    schedule_ping(sock)
    await asyncio.sleep(0.1)
    assert frames.written == [text_frame(b"2")]
    assert queued(sock) == []
    assert sock.last_ping is not None
    sock.last_ping = 1.0  # answered: the next one may be scheduled
    sock.tether_parked = False  # the writer is busy: the ping must queue behind its packets
    schedule_ping(sock)
    await asyncio.sleep(0.1)
    assert queued(sock) == [eio_packet.PING]
    assert len(frames.written) == 1
