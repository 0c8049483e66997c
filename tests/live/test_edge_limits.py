"""Resource limits at the edge: binary packets, sessions that never join, slow requests,
connections per address, a subscriber that stops reading, and who may read /metrics."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import orjson
from websockets.exceptions import ConnectionClosed

from tests.live.edge_support import (
    StallingWebSocket,
    closed_within,
    engineio_socket,
    get,
    join,
    raw_request,
    rss_bytes,
    server_side_open,
    server_with,
    status_of,
    wait_log,
)
from tests.support.client import Client
from tests.support.server import ServerProcess

LIMITS = {
    "TETHER_CONNECT_TIMEOUT": "1",
    "TETHER_HEADER_TIMEOUT": "1",
    "TETHER_BODY_TIMEOUT": "1",
    "TETHER_SEND_QUEUE_BYTES": "262144",
    "TETHER_ECHO_DELAY": "0",
    "TETHER_METRICS_TOKEN": "metrics-secret",
    "TETHER_RATE_LIMIT": "1000",
    "TETHER_RATE_BURST": "1000",
    "TETHER_SEND_TIMEOUT": "2",
}


limited = server_with(LIMITS)


async def test_binary_attachments_drop_the_connection_before_memory_grows(
    limited: ServerProcess,
) -> None:
    ws = await engineio_socket(limited.port)
    await join(ws, f"bin-{uuid.uuid4().hex[:8]}")
    before = rss_bytes(limited.proc.pid)
    frame = b"\x00" * 900_000  # under Engine.IO's 1 MB frame limit: only the count is unbounded
    sent = 0
    try:
        await ws.send('451000000-["send",{"session_id":"x","content":'
                      '{"_placeholder":true,"num":0}}]')
        for _ in range(100):
            await ws.send(frame)
            sent += 1
        await asyncio.wait_for(ws.wait_closed(), 10)
    except ConnectionClosed:
        pass
    assert ws.close_code is not None, "the connection is still open"
    grown = rss_bytes(limited.proc.pid) - before
    assert grown < 30_000_000, f"server grew by {grown} bytes after {sent} frames"
    await wait_log(limited, lambda log: "binary packet refused" in log, 5)


async def test_a_websocket_that_never_joins_is_closed(limited: ServerProcess) -> None:
    ws = await engineio_socket(limited.port)
    try:
        async with asyncio.timeout(8):
            async for message in ws:  # answers pings, never sends CONNECT
                if message == "2":
                    await ws.send("3")
    except ConnectionClosed:
        pass
    assert ws.close_code is not None


async def test_a_polling_session_that_never_joins_is_closed(limited: ServerProcess) -> None:
    async with httpx.AsyncClient(base_url=limited.url, timeout=5) as http:
        opened = await http.get("/socket.io/?EIO=4&transport=polling")
        sid = orjson.loads(opened.text[1:])["sid"]
        await wait_log(limited, lambda log: f"eio_sid={sid}" in log, 5)
        gone = await http.get(f"/socket.io/?EIO=4&transport=polling&sid={sid}")
    assert gone.status_code == 400


async def test_joined_connections_are_not_closed(limited: ServerProcess) -> None:
    client = Client(limited.url)
    try:
        await client.connect()
        await asyncio.wait_for(client.disconnected.wait(), 2.5)
    except TimeoutError:
        pass
    finally:
        assert not client.disconnected.is_set()
        await client.close()


async def test_slow_headers_and_slow_bodies_are_cut_off(limited: ServerProcess) -> None:
    host = f"127.0.0.1:{limited.port}"
    for partial in (
        f"GET /healthz HTTP/1.1\r\nHost: {host}\r\n".encode(),  # headers never finish
        b"",  # nothing at all
        f"POST /api/client-logs HTTP/1.1\r\nHost: {host}\r\nContent-Length: 1000\r\n\r\n{{"
        .encode(),  # a body that never finishes
    ):
        reader, writer = await asyncio.open_connection("127.0.0.1", limited.port)
        writer.write(partial)
        assert await closed_within(reader, 4), partial
        writer.close()


async def test_a_websocket_subscriber_that_stops_reading_is_dropped(
    limited: ServerProcess,
) -> None:
    writer = Client(limited.url)
    await writer.connect()
    session_id = await writer.new_session()
    client_id = f"stalled-{uuid.uuid4().hex[:8]}"
    ws = await StallingWebSocket.open(limited.port, "/socket.io/?EIO=4&transport=websocket")
    try:
        assert (await ws.recv()).startswith("0{")
        await join(ws, client_id)
        await ws.send('421["subscribe",' + orjson.dumps({"session_id": session_id}).decode()
                      + "]")
        while not (await ws.recv()).startswith("431"):
            pass
        # From here on nothing reads: the kernel's buffers fill (a few MB), then the queue.
        for n in range(250):  # about 20 MB of events
            await writer.ok("send", {"session_id": session_id, "client_msg_id": f"m{n}",
                                     "content": "word " * 6000})
            if f"disconnect user=local client_id={client_id}" in limited.log():
                break
        log = await wait_log(
            limited, lambda text: f"disconnect user=local client_id={client_id}" in text, 20
        )
        assert "slow client" in log
        # ...and the TCP connection itself goes, though the client never reads again.
        deadline = asyncio.get_running_loop().time() + 20
        while server_side_open(limited.port, ws.local_port):
            assert asyncio.get_running_loop().time() < deadline, "the server kept the socket"
            await asyncio.sleep(0.2)
    finally:
        ws.abort()
        await writer.close()


async def test_a_polling_subscriber_that_stops_reading_is_dropped(limited: ServerProcess) -> None:
    # Engine.IO's polling transport: a client that stops asking for its packets is the purest
    # never-reading client (no kernel buffer in between); everything waits in its send queue.
    writer = Client(limited.url)
    await writer.connect()
    session_id = await writer.new_session()
    client_id = f"stalled-{uuid.uuid4().hex[:8]}"
    async with httpx.AsyncClient(base_url=limited.url, timeout=10) as http:
        opened = await http.get("/socket.io/?EIO=4&transport=polling")
        path = f"/socket.io/?EIO=4&transport=polling&sid={orjson.loads(opened.text[1:])['sid']}"

        async def post(packet: str) -> None:
            assert (await http.post(path, content=packet)).text.lower() == "ok"

        async def until(prefix: str) -> None:
            while not any(p.startswith(prefix) for p in (await http.get(path)).text.split("\x1e")):
                pass

        await post("40" + orjson.dumps({"client_id": client_id}).decode())
        await until('42["hello"')
        await post('421["subscribe",' + orjson.dumps({"session_id": session_id}).decode() + "]")
        await until("431")
        try:
            for n in range(30):  # about 3 MB of events for the stalled client
                await writer.ok("send", {"session_id": session_id, "client_msg_id": f"m{n}",
                                         "content": "word " * 6000})
            log = await wait_log(
                limited, lambda text: f"disconnect user=local client_id={client_id}" in text, 20
            )
            assert "slow client" in log
            gone = await http.get(path)
            assert gone.status_code == 400
        finally:
            await writer.close()


async def test_a_client_that_floods_requests_and_reads_no_acks_is_dropped(
    limited: ServerProcess,
) -> None:
    writer = Client(limited.url)
    await writer.connect()
    session_id = await writer.new_session()
    for n in range(4):
        await writer.ok("send", {"session_id": session_id, "client_msg_id": f"m{n}",
                                 "content": "word " * 6000})
    await writer.close()
    client_id = f"flooder-{uuid.uuid4().hex[:8]}"
    async with httpx.AsyncClient(base_url=limited.url, timeout=10) as http:
        opened = await http.get("/socket.io/?EIO=4&transport=polling")
        path = f"/socket.io/?EIO=4&transport=polling&sid={orjson.loads(opened.text[1:])['sid']}"
        assert (await http.post(path, content="40" + orjson.dumps(
            {"client_id": client_id}).decode())).status_code == 200
        subscribe = orjson.dumps({"session_id": session_id, "limit": 15}).decode()
        for n in range(10):  # each ack holds the 4 long messages: about 120 KB
            answer = await http.post(path, content=f'42{n}["subscribe",{subscribe}]')
            if answer.status_code != 200:
                break
        log = await wait_log(
            limited, lambda text: f"disconnect user=local client_id={client_id}" in text, 10
        )
    assert "slow client" in log


async def test_metrics_with_a_token_need_it(limited: ServerProcess) -> None:
    async with httpx.AsyncClient(base_url=limited.url, timeout=10) as http:
        assert (await http.get("/metrics")).status_code == 401
        for token in (b"nope", "métrics".encode("latin-1")):
            wrong = await http.get("/metrics", headers={"Authorization": b"Bearer " + token})
            assert wrong.status_code == 401, token
        right = await http.get("/metrics", headers={"Authorization": "Bearer metrics-secret"})
    assert right.status_code == 200 and "tether_connections" in right.text


capped = server_with({"TETHER_MAX_CONNECTIONS_PER_ADDRESS": "4"}, scope="function")


async def test_connections_per_address_are_capped(capped: ServerProcess) -> None:
    host = f"127.0.0.1:{capped.port}"
    idle = [await asyncio.open_connection("127.0.0.1", capped.port) for _ in range(4)]
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", capped.port)
        refused = await asyncio.wait_for(reader.read(), 10)  # answered before any request
        writer.close()
        assert status_of(refused) == 429, refused[:200]
        _, first = idle.pop()
        first.close()
        await first.wait_closed()
        await asyncio.sleep(0)  # the server sees the close
        for _ in range(50):
            answer = await raw_request(capped.port, get("/healthz", host))
            if status_of(answer) == 200:
                break
            await asyncio.sleep(0.05)
        assert status_of(answer) == 200
    finally:
        for _, writer in idle:
            writer.close()
