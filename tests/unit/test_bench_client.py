"""The benchmark client's own WebSocket framing (bench/client.py), without a server."""

from __future__ import annotations

import asyncio
from typing import Any

from bench.client import SioClient
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader
from websockets.utils import accept_key


class FakeTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.written = bytearray()
        self.closing = self.aborted = False

    def write(self, data: Any) -> None:
        self.written += data

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    def abort(self) -> None:
        self.closing = self.aborted = True


class Recorder(SioClient):
    """Keeps the texts handed to ``_on_text`` instead of acting on them."""

    def __init__(self) -> None:
        super().__init__("http://127.0.0.1:1/")
        self.texts: list[str] = []

    def _on_text(self, text: str) -> None:
        self.texts.append(text)


def server_frame(payload: bytes, opcode: int = 0x1, fin: bool = True) -> bytes:
    b0 = (0x80 if fin else 0) | opcode
    size = len(payload)
    if size < 126:
        head = bytes((b0, size))
    elif size < 65536:
        head = bytes((b0, 126)) + size.to_bytes(2, "big")
    else:
        head = bytes((b0, 127)) + size.to_bytes(8, "big")
    return head + payload


def client_frames(data: bytes | bytearray) -> list[Frame]:
    """Parse what the client wrote with websockets' own (server side) parser."""
    reader = StreamReader()
    reader.feed_data(bytes(data))
    frames = []
    while reader.buffer:
        parser = Frame.parse(reader.read_exact, mask=True)
        try:
            next(parser)
        except StopIteration as done:
            frames.append(done.value)
        else:
            raise AssertionError("an incomplete frame was written")
    return frames


def upgrade_response(client: SioClient, transport: FakeTransport) -> bytes:
    request = bytes(transport.written)
    transport.written.clear()
    key = next(line.split(b":", 1)[1].strip() for line in request.split(b"\r\n")
               if line.lower().startswith(b"sec-websocket-key:"))
    assert b"sec-websocket-extensions" not in request.lower()  # no permessage-deflate
    return (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + accept_key(key.decode()).encode() + b"\r\n\r\n")


def feed(client: SioClient, data: bytes) -> None:
    """One read the way asyncio's transport does it: into get_buffer(), then buffer_updated()."""
    buffer = client.get_buffer(-1)
    buffer[:len(data)] = data
    client.buffer_updated(len(data))


def opened(first: bytes = b"") -> tuple[Recorder, FakeTransport]:
    """A client past the upgrade; ``first`` arrives in the same read as the 101 response."""
    client, transport = Recorder(), FakeTransport()
    client.connection_made(transport)
    feed(client, upgrade_response(client, transport) + first)
    return client, transport


TEXTS = ["0{\"sid\":\"a\"}", "42[\"delta\",{\"text\":\"é\"}]", "x" * 300, "y" * 70_000, "2", ""]
STREAM = b"".join(server_frame(t.encode()) for t in TEXTS)


def test_frames_in_the_same_read_as_the_upgrade_response_are_kept() -> None:
    client, transport = opened(STREAM)
    assert client.texts == TEXTS
    assert not transport.aborted and not transport.written


def test_frames_split_anywhere_across_reads() -> None:
    for size in (1, 2, 3, 7, 125, 126, 4096, len(STREAM) - 1):
        client, _ = opened()
        for i in range(0, len(STREAM), size):
            feed(client, STREAM[i:i + size])
        assert client.texts == TEXTS, size
        assert not client._pending


def test_data_received_takes_bytes_too() -> None:
    client, _ = opened()
    client.data_received(STREAM[:5])
    client.data_received(STREAM[5:])
    assert client.texts == TEXTS


def test_fragmented_message_with_a_ping_in_between() -> None:
    stream = (server_frame(b"42[\"a\",", fin=False) + server_frame(b"ping!", opcode=0x9)
              + server_frame(b"\"b", opcode=0x0, fin=False)
              + server_frame(b"c\"]", opcode=0x0) + server_frame(b"pong", opcode=0xA)
              + server_frame(b"3"))
    for size in (1, 4, len(stream)):
        client, transport = opened()
        for i in range(0, len(stream), size):
            feed(client, stream[i:i + size])
        assert client.texts == ["42[\"a\",\"bc\"]", "3"]
        [pong] = client_frames(transport.written)
        assert (pong.opcode, pong.data, pong.fin) == (Opcode.PONG, b"ping!", True)


def test_binary_messages_are_dropped() -> None:
    stream = (server_frame(b"\x00\x01", opcode=0x2, fin=False)
              + server_frame(b"\x02", opcode=0x0) + server_frame(b"4"))
    client, transport = opened(stream)
    assert client.texts == ["4"] and not transport.aborted


def test_close_is_echoed_and_later_frames_dropped() -> None:
    close = server_frame(b"\x03\xe8bye", opcode=0x8)
    client, transport = opened(server_frame(b"1") + close + server_frame(b"2"))
    assert client.texts == ["1"]
    [echo] = client_frames(transport.written)
    assert (echo.opcode, echo.data) == (Opcode.CLOSE, b"\x03\xe8bye")
    feed(client, server_frame(b"3"))
    client._send_text("42[\"late\"]")
    assert client.texts == ["1"] and len(client_frames(transport.written)) == 1


def test_protocol_errors_drop_the_connection() -> None:
    masked = bytes((0x81, 0x81)) + b"\x00\x00\x00\x00" + b"a"
    unexpected_continuation = server_frame(b"a", opcode=0x0)
    reserved_bits = bytes((0xC1, 1)) + b"a"
    for bad in (masked, unexpected_continuation, reserved_bits):
        client, transport = opened(server_frame(b"1") + bad + server_frame(b"2"))
        assert client.texts == ["1"] and transport.aborted


def test_sent_text_frames_are_masked_with_the_right_length() -> None:
    client, transport = opened()
    texts = ["3", "4" * 125, "4" * 126, "é" * 40_000]
    for text in texts:
        client._send_text(text)
    frames = client_frames(transport.written)
    assert [bytes(f.data).decode() for f in frames] == texts
    assert all(f.opcode is Opcode.TEXT and f.fin for f in frames)
    assert transport.written[1] & 0x80  # the mask bit


async def test_a_refused_upgrade_fails_connect() -> None:
    client, transport = Recorder(), FakeTransport()
    client.connected = asyncio.get_running_loop().create_future()
    client.connection_made(transport)
    transport.written.clear()
    body = b"no such path"
    response = (b"HTTP/1.1 404 Not Found\r\nContent-Length: " + str(len(body)).encode()
                + b"\r\n\r\n")
    feed(client, response)
    assert not client.connected.done()  # websockets still reads the body
    feed(client, body)
    assert client.connected.done() and "404" in str(client.connected.exception())
    assert transport.closing and client.texts == []


async def test_a_bad_accept_key_fails_connect() -> None:
    client, transport = Recorder(), FakeTransport()
    client.connected = asyncio.get_running_loop().create_future()
    client.connection_made(transport)
    response = upgrade_response(client, transport).replace(b"Accept: ", b"Accept: x")
    feed(client, response + server_frame(b"0{}"))
    assert client.connected.done() and client.connected.exception() is not None
    assert transport.closing and client.texts == []
