"""The pinned WebSocket reader (tether.edge.reader) against python-engineio's own: the same
behaviour on a fake WebSocket (messages, silence, size, binary, the client's close), with no
task per received message."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import engineio
import pytest
from engineio import packet as eio_packet
from engineio.async_socket import AsyncSocket

from tether.edge import reader

CLOSED = object()  # what FakeWebSocket.wait raises OSError for (a websocket.disconnect)


class FakeWebSocket:
    """python-engineio's ASGI WebSocket as the handler uses it: ``wait`` returns what the test
    feeds, ``send`` and ``close`` are recorded."""

    def __init__(self) -> None:
        self.incoming: asyncio.Queue[Any] = asyncio.Queue()
        self.sent: list[Any] = []
        self.closed = False

    async def wait(self) -> Any:
        data = await self.incoming.get()
        if data is CLOSED:
            raise OSError()
        return data

    async def send(self, message: Any) -> None:
        self.sent.append(message)

    async def close(self) -> None:
        self.closed = True


Handler = Callable[[AsyncSocket, Any], Any]
HANDLERS = [pytest.param(reader.UPSTREAM_WEBSOCKET_HANDLER, id="upstream"),
            pytest.param(reader._websocket_handler, id="pinned")]


def open_socket(
    received: list[Any], reasons: list[str], limit: float = 0.2, **options: Any
) -> AsyncSocket:
    """A socket of a real Engine.IO server whose ``message`` and ``disconnect`` handlers record
    what they get; pings every ``limit / 2`` s, waited for ``limit / 2`` s."""
    server = engineio.AsyncServer(
        async_mode="asgi", ping_interval=limit / 2, ping_timeout=limit / 2,
        monitor_clients=False, async_handlers=False, **options,
    )

    async def message(sid: str, data: Any) -> None:
        received.append(data)

    async def disconnect(sid: str, reason: str) -> None:
        reasons.append(reason)

    server.on("message", message)
    server.on("disconnect", disconnect)
    sock = AsyncSocket(server, "sid1")
    server.sockets["sid1"] = sock
    return sock


@pytest.mark.parametrize("handler", HANDLERS)
async def test_messages_text_and_binary_reach_the_server_until_the_client_closes(
    handler: Handler,
) -> None:
    received: list[Any] = []
    reasons: list[str] = []
    sock = open_socket(received, reasons)
    ws = FakeWebSocket()
    run = asyncio.ensure_future(handler(sock, ws))
    for data in ("4hello", b"binary", "4again"):  # a binary message is its payload
        ws.incoming.put_nowait(data)
    await asyncio.sleep(0.05)
    assert received == ["hello", b"binary", "again"]
    ws.incoming.put_nowait(CLOSED)
    await asyncio.wait_for(run, 5)
    assert sock.closed and ws.closed
    assert reasons == [sock.server.reason.TRANSPORT_CLOSE]


@pytest.mark.parametrize("handler", HANDLERS)
async def test_a_silent_client_is_given_up_after_ping_interval_plus_timeout(
    handler: Handler,
) -> None:
    reasons: list[str] = []
    sock = open_socket([], reasons, limit=0.2)
    ws = FakeWebSocket()
    run = asyncio.ensure_future(handler(sock, ws))
    await asyncio.sleep(0.1)
    assert not run.done()
    await asyncio.wait_for(run, 5)  # never returns if nothing keeps the limit
    assert sock.closed and ws.closed
    assert reasons == [sock.server.reason.TRANSPORT_CLOSE]
    assert not run.cancelled()


@pytest.mark.parametrize("handler", HANDLERS)
async def test_a_client_that_keeps_talking_is_kept_past_the_limit(handler: Handler) -> None:
    received: list[Any] = []
    sock = open_socket(received, [], limit=0.2)
    ws = FakeWebSocket()
    run = asyncio.ensure_future(handler(sock, ws))
    for i in range(12):  # 0.6 s, three limits
        ws.incoming.put_nowait(f"4m{i}")
        await asyncio.sleep(0.05)
    assert not run.done() and not sock.closed
    assert len(received) == 12
    ws.incoming.put_nowait(CLOSED)
    await asyncio.wait_for(run, 5)


@pytest.mark.parametrize("handler", HANDLERS)
async def test_a_message_over_the_size_limit_ends_the_connection(handler: Handler) -> None:
    received: list[Any] = []
    sock = open_socket(received, [], max_http_buffer_size=10)
    ws = FakeWebSocket()
    run = asyncio.ensure_future(handler(sock, ws))
    ws.incoming.put_nowait("4short")
    ws.incoming.put_nowait("4" + "x" * 20)
    await asyncio.wait_for(run, 5)
    assert received == ["short"] and sock.closed


async def test_the_task_waiting_for_the_reader_is_not_left_cancelled() -> None:
    sock = open_socket([], [], limit=0.2)
    ws = FakeWebSocket()

    async def serve() -> int:
        await reader._websocket_handler(sock, ws)
        await asyncio.sleep(0)  # a cancel still pending would raise here
        task = asyncio.current_task()
        assert task is not None
        return task.cancelling()

    assert await asyncio.wait_for(serve(), 5) == 0


@pytest.mark.parametrize(("handler", "per_message"), [
    pytest.param(reader.UPSTREAM_WEBSOCKET_HANDLER, 1, id="upstream"),
    pytest.param(reader._websocket_handler, 0, id="pinned"),
])
async def test_no_task_is_made_per_message_received(handler: Handler, per_message: int) -> None:
    sock = open_socket([], [], limit=60)
    ws = FakeWebSocket()
    loop = asyncio.get_running_loop()
    made: list[str] = []

    def count(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> asyncio.Task[Any]:
        made.append(coro.__qualname__)
        return asyncio.Task(coro, loop=loop, **kwargs)

    run = asyncio.ensure_future(handler(sock, ws))
    await asyncio.sleep(0.01)  # the handler waits for its first message, the writer for a packet
    loop.set_task_factory(count)
    try:
        for _ in range(10):
            ws.incoming.put_nowait(eio_packet.Packet(eio_packet.NOOP).encode())
            await asyncio.sleep(0.001)
    finally:
        loop.set_task_factory(None)
    assert len(made) == 10 * per_message, made
    ws.incoming.put_nowait(CLOSED)
    await asyncio.wait_for(run, 5)
