"""A Tether served by uvicorn inside the test's own event loop, on port 0: for tests that hand
the server its parts (``Tether(settings, authenticate=..., cluster=...)``) or look at its tasks.
Subprocesses (tests.support.server) stay for the CLI, SIGKILL and several nodes."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator

import uvicorn

from tether.app import Tether


@contextlib.asynccontextmanager
async def serving(tether: Tether) -> AsyncIterator[str]:
    """Serve ``tether`` (its lifespan included) and yield its URL; shut it down after."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(tether, lifespan="on", log_level="warning",
                                           ws_ping_interval=None, ws_ping_timeout=None))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        async with asyncio.timeout(10):
            while not server.started:  # uvicorn offers only a flag
                if task.done():
                    task.result()  # startup failed: raise its error
                await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 15)
        sock.close()
