"""The fault proxy: a silent drop really goes silent (no data, no FIN, no RST) while new links
still work; a cut resets links and refuses new ones until restored; a pause holds everything
until resumed; an ended link is closed."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.support.proxy import FaultProxy
from tests.support.wait import until

Conn = tuple[asyncio.StreamReader, asyncio.StreamWriter]


@pytest.fixture
async def proxy() -> AsyncIterator[FaultProxy]:
    """A proxy in front of an echo server."""

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(1024):
            writer.write(data)
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    proxy = await FaultProxy("127.0.0.1", server.sockets[0].getsockname()[1]).start()
    try:
        yield proxy
    finally:
        await proxy.close()
        server.close()
        await server.wait_closed()


async def echoed(proxy: FaultProxy, data: bytes) -> Conn:
    """A new connection through the proxy that has echoed ``data`` back."""
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
    writer.write(data)
    assert await asyncio.wait_for(reader.read(len(data)), 5) == data
    return reader, writer


async def nothing_within(reader: asyncio.StreamReader, seconds: float, why: str) -> Any:
    """Assert that nothing (no data, no end of stream) arrives for ``seconds``; returns the
    read still pending."""
    read = asyncio.ensure_future(reader.read(4))
    done, _ = await asyncio.wait({read}, timeout=seconds)
    assert not done, why
    return read


async def test_drop_is_silent_and_new_connections_still_relay(proxy: FaultProxy) -> None:
    reader, writer = await echoed(proxy, b"ping")
    assert proxy.drop_all() == 1
    writer.write(b"lost")
    await writer.drain()
    # Nothing comes back, and the connection is not closed either (read would return b"").
    read = await nothing_within(reader, 0.5, "a dropped link must stay silent, without data or FIN")
    read.cancel()
    assert not writer.is_closing()
    _, writer2 = await echoed(proxy, b"again")
    writer.transport.abort()
    writer2.close()


async def test_sever_resets_links_and_refuses_new_ones_until_restored(proxy: FaultProxy) -> None:
    reader, writer = await echoed(proxy, b"ping")
    proxy.sever()
    with contextlib.suppress(ConnectionError):
        assert await asyncio.wait_for(reader.read(4), 5) == b""  # reset: the link is gone
    refused_reader, refused = await asyncio.open_connection("127.0.0.1", proxy.port)
    with contextlib.suppress(ConnectionError):
        assert await asyncio.wait_for(refused_reader.read(4), 5) == b""
    assert proxy.live == []
    proxy.restore()
    _, writer2 = await echoed(proxy, b"back")
    for w in (writer, refused, writer2):
        w.transport.abort()


async def test_an_ended_connection_is_closed_on_both_sides_and_not_live(
    proxy: FaultProxy,
) -> None:
    reader, writer = await echoed(proxy, b"bye")
    writer.write_eof()  # the echo server closes when its input ends; the FIN is passed back
    assert await asyncio.wait_for(reader.read(1), 5) == b""
    await until(lambda: proxy.links[0].closed, 5, "the proxy to close the ended link")
    assert proxy.live == []
    assert proxy.drop_all() == 0
    writer.close()


async def test_pause_holds_everything_until_resumed(proxy: FaultProxy) -> None:
    reader, writer = await echoed(proxy, b"ping")
    proxy.pause()
    writer.write(b"held")
    await writer.drain()
    read = await nothing_within(reader, 0.3, "nothing is relayed while paused")
    proxy.resume()
    assert await asyncio.wait_for(read, 5) == b"held"  # delayed, not lost
    writer.close()
