from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from tests.agents.chat_server import ChatServer


@pytest.fixture
async def chat_server() -> AsyncIterator[ChatServer]:
    """A fake Chat Completions server on 127.0.0.1, port 0, closed after the test."""
    fake = ChatServer()
    server = await asyncio.start_server(fake.handle, "127.0.0.1", 0)
    fake.port = server.sockets[0].getsockname()[1]
    yield fake
    fake.release.set()
    server.close()
    for writer in list(fake.writers):
        writer.transport.abort()
    await asyncio.wait_for(server.wait_closed(), 5)
