"""Raw clients for the edge tests: hand-written HTTP requests and an Engine.IO WebSocket, so a
test controls every byte (a Host header, a half-sent request, a binary frame)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import orjson
from websockets.asyncio.client import ClientConnection, connect

from tests.support.server import ServerProcess


async def raw_request(port: int, request: bytes, timeout: float = 10) -> bytes:
    """Send ``request`` as is and return everything the server sends until it closes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), timeout)
    finally:
        writer.close()


async def response_head(port: int, request: bytes, timeout: float = 10) -> bytes:
    """Send ``request`` and return the response's status line and headers."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        return await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
    finally:
        writer.close()


def get(path: str, host: str, extra: str = "") -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n{extra}\r\n".encode()


def status_of(response: bytes) -> int:
    return int(response.split(b" ", 2)[1])


async def closed_within(reader: asyncio.StreamReader, timeout: float) -> bool:
    """True when the server closes the connection within ``timeout`` seconds."""
    try:
        while await asyncio.wait_for(reader.read(65536), timeout):
            pass
    except TimeoutError:
        return False
    return True


async def engineio_socket(port: int) -> ClientConnection:
    """An Engine.IO v4 WebSocket past its OPEN packet (not yet joined to the namespace)."""
    ws = await connect(f"ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket",
                       max_size=None, open_timeout=10)
    opened = await asyncio.wait_for(ws.recv(), 10)
    assert isinstance(opened, str) and opened.startswith("0{"), opened
    return ws


async def join(ws: ClientConnection, client_id: str) -> None:
    """Send Socket.IO CONNECT (local mode: no token) and wait for its acceptance and hello."""
    await ws.send("40" + orjson.dumps({"client_id": client_id}).decode())
    seen: list[str] = []
    while not any(m.startswith('42["hello"') for m in seen):
        message = await asyncio.wait_for(ws.recv(), 10)
        assert isinstance(message, str)
        if message == "2":
            await ws.send("3")
        seen.append(message)
    assert any(m.startswith("40{") for m in seen), seen


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


async def wait_log(server: ServerProcess, found: Callable[[str], bool], timeout: float) -> str:
    """The server's log once ``found(log)`` holds; AssertionError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        text = server.log()
        if found(text):
            return text
        if time.monotonic() > deadline:
            raise AssertionError(f"not in the log within {timeout}s:\n{text[-3000:]}")
        await asyncio.sleep(0.1)
