"""A chunked request body that never ends: how far a server reads before it refuses it."""

from __future__ import annotations

import asyncio


async def post_endless_chunks(port: int, path: str, headers: str = "",
                              most: int = 50_000_000) -> tuple[bytes, int]:
    """POST an endless chunked body to ``path`` on 127.0.0.1 (``headers``: extra header lines,
    each ending ``\\r\\n``) until the server answers, stops reading, or ``most`` bytes went;
    (the response's status line and headers, bytes written)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{headers}"
        "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
    )
    chunk = b"%x\r\n%s\r\n" % (65536, b"x" * 65536)
    response = asyncio.ensure_future(reader.readuntil(b"\r\n\r\n"))
    written = 0
    try:
        while not response.done() and written < most:
            writer.write(chunk)
            await asyncio.wait_for(writer.drain(), 2)  # a timeout: the server stopped reading
            written += 65536
    except (ConnectionError, TimeoutError):
        pass
    try:
        return await asyncio.wait_for(response, 10), written
    finally:
        writer.transport.abort()
