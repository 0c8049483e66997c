"""The listening socket: connections accepted on it get TCP_NODELAY on the standard asyncio loop
too (uvloop sets it on any TCP socket; asyncio only on sockets created as IPPROTO_TCP), so small
frames (acks, deltas) are not held back by Nagle's algorithm."""

from __future__ import annotations

import asyncio
import socket

from tether.server import bind


def test_connections_accepted_on_the_stock_asyncio_loop_have_nodelay() -> None:
    async def main() -> int:
        accepted: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        class Probe(asyncio.Protocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                sock = transport.get_extra_info("socket")
                accepted.set_result(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))

        listener = bind("127.0.0.1", 0)
        server = await asyncio.get_running_loop().create_server(Probe, sock=listener)
        try:
            _, writer = await asyncio.open_connection(*listener.getsockname()[:2])
            nodelay = await asyncio.wait_for(accepted, 5)
            writer.close()
            return nodelay
        finally:
            server.close()

    loop = asyncio.SelectorEventLoop()  # the standard loop, whatever policy is installed
    try:
        assert loop.run_until_complete(main()) != 0
    finally:
        loop.close()
