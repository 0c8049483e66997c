"""The silent-drop proxy really goes silent: no data, no FIN, no RST; new links still work."""

from __future__ import annotations

import asyncio
import contextlib

from tests.support.proxy import FaultProxy
from tests.support.wait import until


async def echo_server() -> asyncio.Server:
    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(1024):
            writer.write(data)
            await writer.drain()
        writer.close()

    return await asyncio.start_server(echo, "127.0.0.1", 0)


async def test_drop_is_silent_and_new_connections_still_relay() -> None:
    server = await echo_server()
    port = server.sockets[0].getsockname()[1]
    proxy = await FaultProxy("127.0.0.1", port).start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        writer.write(b"ping")
        assert await asyncio.wait_for(reader.read(4), 5) == b"ping"
        assert proxy.drop_all() == 1
        writer.write(b"lost")
        await writer.drain()
        # Nothing comes back, and the connection is not closed either (read would return b"").
        read = asyncio.ensure_future(reader.read(4))
        done, _ = await asyncio.wait({read}, timeout=0.5)
        assert not done, "a dropped link must stay silent, without data or FIN"
        read.cancel()
        assert not writer.is_closing()
        reader2, writer2 = await asyncio.open_connection("127.0.0.1", proxy.port)
        writer2.write(b"again")
        assert await asyncio.wait_for(reader2.read(5), 5) == b"again"
        writer.transport.abort()
        writer2.close()
    finally:
        await proxy.close()
        server.close()
        await server.wait_closed()


async def test_sever_resets_links_and_refuses_new_ones_until_restored() -> None:
    server = await echo_server()
    port = server.sockets[0].getsockname()[1]
    proxy = await FaultProxy("127.0.0.1", port).start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        writer.write(b"ping")
        assert await asyncio.wait_for(reader.read(4), 5) == b"ping"
        proxy.sever()
        with contextlib.suppress(ConnectionError):
            assert await asyncio.wait_for(reader.read(4), 5) == b""  # reset: the link is gone
        refused_reader, refused = await asyncio.open_connection("127.0.0.1", proxy.port)
        with contextlib.suppress(ConnectionError):
            assert await asyncio.wait_for(refused_reader.read(4), 5) == b""
        assert proxy.live == []
        proxy.restore()
        reader2, writer2 = await asyncio.open_connection("127.0.0.1", proxy.port)
        writer2.write(b"back")
        assert await asyncio.wait_for(reader2.read(4), 5) == b"back"
        for w in (writer, refused, writer2):
            w.transport.abort()
    finally:
        await proxy.close()
        server.close()
        await server.wait_closed()


async def test_an_ended_connection_is_closed_on_both_sides_and_not_live() -> None:
    server = await echo_server()
    port = server.sockets[0].getsockname()[1]
    proxy = await FaultProxy("127.0.0.1", port).start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        writer.write(b"bye")
        assert await asyncio.wait_for(reader.read(3), 5) == b"bye"
        writer.write_eof()  # the echo server closes when its input ends; the FIN is passed back
        assert await asyncio.wait_for(reader.read(1), 5) == b""
        await until(lambda: proxy.links[0].closed, 5, "the proxy to close the ended link")
        assert proxy.live == []
        assert proxy.drop_all() == 0
        writer.close()
    finally:
        await proxy.close()
        server.close()
        await server.wait_closed()
