"""Raw clients for the edge tests: hand-written HTTP requests and an Engine.IO WebSocket, so a
test controls every byte (a Host header, a half-sent request, a binary frame)."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.uri import parse_uri

from tests.support.server import ServerProcess, start_server


def server_with(env: dict[str, str], scope: str = "module") -> Any:
    """A fixture: a ``tether serve`` with ``env``, shared by the module (or per test)."""

    @pytest.fixture(scope=scope)
    def fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
        proc = start_server(tmp_path_factory.mktemp("edge"), env)
        yield proc
        proc.stop()

    return fixture


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


async def join(ws: ClientConnection | StallingWebSocket, client_id: str) -> None:
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


class StallingWebSocket:
    """A WebSocket client that reads only when asked to: websockets' sans-I/O protocol over a
    plain socket with a small receive buffer, so that once the test stops calling ``recv``
    nothing reads at all (the asyncio client keeps reading into its own buffer)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 protocol: ClientProtocol) -> None:
        self.reader, self.writer, self.protocol = reader, writer, protocol
        self.pending: list[str] = []

    @classmethod
    async def open(cls, port: int, path: str) -> StallingWebSocket:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
        reader, writer = await asyncio.open_connection(sock=sock, limit=1 << 16)
        protocol = ClientProtocol(parse_uri(f"ws://127.0.0.1:{port}{path}"), max_size=None)
        protocol.send_request(protocol.connect())
        self = cls(reader, writer, protocol)
        await self._flush()
        while not any(isinstance(e, Response) for e in await self._read()):
            assert protocol.handshake_exc is None, protocol.handshake_exc
        return self

    async def _flush(self) -> None:
        for data in self.protocol.data_to_send():
            self.writer.write(data)
        await self.writer.drain()

    async def _read(self) -> list[object]:
        data = await asyncio.wait_for(self.reader.read(65536), 10)
        if data:
            self.protocol.receive_data(data)
        else:
            self.protocol.receive_eof()
        events = list(self.protocol.events_received())
        self.pending += [e.data.decode() for e in events
                         if isinstance(e, Frame) and e.opcode is Opcode.TEXT]
        await self._flush()  # pongs, close frames
        return events

    async def send(self, text: str) -> None:
        self.protocol.send_text(text.encode())
        await self._flush()

    async def recv(self) -> str:
        while not self.pending:
            await self._read()
        return self.pending.pop(0)

    @property
    def local_port(self) -> int:
        return int(self.writer.get_extra_info("sockname")[1])

    def abort(self) -> None:
        self.writer.transport.abort()


def server_side_open(server_port: int, client_port: int) -> bool:
    """Whether the server still holds the TCP connection from ``client_port`` (Linux)."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for row in Path(table).read_text().splitlines()[1:]:
            local, remote, state = row.split()[1:4]
            if (int(local.rsplit(":", 1)[1], 16) == server_port
                    and int(remote.rsplit(":", 1)[1], 16) == client_port
                    and state != "07"):  # 07: CLOSE
                return True
    return False
