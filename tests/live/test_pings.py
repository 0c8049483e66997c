"""Engine.IO liveness with pings on timers (tether.edge.pings): a client that answers stays,
pinged every interval; one that stops answering is closed after the timeout."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from engineio import packet as eio_packet
from engineio.async_socket import AsyncSocket

from tests.live.inprocess import serving
from tests.support.client import Client
from tether.app import Tether
from tether.server import prepare_database
from tether.settings import Settings


async def start(tmp_path: Path) -> Tether:
    # Whole seconds: Engine.IO's handshake rounds the interval down to one.
    settings = Settings(data_dir=tmp_path, host="127.0.0.1", port=0, ping_interval=1,
                        ping_timeout=1)
    await prepare_database(settings)
    return Tether(settings)


@contextlib.asynccontextmanager
async def one_client(
    tmp_path: Path, pong: Callable[[], bool]
) -> AsyncIterator[tuple[Client, AsyncSocket]]:
    """A client of a server that pings every second; each PONG the server receives calls
    ``pong()`` first, and reaches Engine.IO only if it returns True."""
    tether = await start(tmp_path)
    async with serving(tether) as url:
        client = Client(url)
        await client.connect()
        try:
            (sock,) = tether.sio.eio.sockets.values()
            receive = sock.receive

            async def watched(pkt: eio_packet.Packet) -> None:
                if pkt.packet_type != eio_packet.PONG or pong():
                    await receive(pkt)

            sock.receive = watched  # type: ignore[method-assign]
            yield client, sock
        finally:
            await client.close()


async def test_an_answering_client_is_pinged_every_interval_and_stays(tmp_path: Path) -> None:
    pongs: list[float] = []

    def answered() -> bool:
        pongs.append(time.monotonic())
        return True

    async with one_client(tmp_path, answered) as (client, sock):
        await asyncio.sleep(3.5)
        # One ping a second, each answered and the next one scheduled from the answer (at
        # least two in 3.5 s, on a loaded machine too), never two within an interval.
        assert len(pongs) >= 2
        assert all(b - a > 0.8 for a, b in itertools.pairwise(pongs))
        assert client.sio.connected and not sock.closed
        assert (await client.call("heartbeat", {}))["ok"] is True


async def test_a_client_that_stops_answering_is_closed(tmp_path: Path) -> None:
    async with one_client(tmp_path, lambda: False) as (client, sock):  # its PONGs are lost
        started = time.monotonic()
        await asyncio.wait_for(client.disconnected.wait(), 10)
        # At most one interval until the unanswered ping, then the timeout, then the
        # server's sweep (python-engineio checks about every interval).
        assert time.monotonic() - started < 1 + 1 + 3.0
        assert sock.closed
