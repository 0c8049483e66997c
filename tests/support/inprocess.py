"""A Tether server in the test's own event loop: ``tether.app.Tether`` under uvicorn on port 0.

Faster than a subprocess and open to the test (``server.tether`` is the wired server, its log
records reach ``caplog``). Keep subprocesses (tests.support.server) for what needs a process of
its own: the CLI, SIGKILL, several nodes.

    async with serve_in_process(tmp_path / "data", rate_limit=1) as server:
        client = Client(server.url)
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn

from tests.support.wait import until
from tether.app import Tether
from tether.server import bind, prepare_database
from tether.settings import Settings

#: As tests.support.server.FAST, for the settings object.
FAST: dict[str, Any] = {"echo_delay": 0.02}


@dataclass
class InProcessServer:
    tether: Tether
    url: str
    data_dir: Path

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])


@contextlib.asynccontextmanager
async def serve_in_process(
    data_dir: Path, mount: Callable[[Tether], Any] | None = None, **settings: Any
) -> AsyncIterator[InProcessServer]:
    """Migrate the database, start the server, yield it; stop it (lifespan and all) after.
    ``mount`` makes the app uvicorn serves from the Tether (an app that mounts it under a
    prefix and runs its lifespan); by default the Tether itself."""
    config = Settings(**{**FAST, "host": "127.0.0.1", "port": 0, "data_dir": data_dir, **settings})
    config.logs_dir.mkdir(parents=True, exist_ok=True)
    await prepare_database(config)
    tether = Tether(config)
    sock = bind("127.0.0.1", 0)
    server = uvicorn.Server(uvicorn.Config(
        mount(tether) if mount else tether.asgi,
        log_config=None, log_level="warning", access_log=False,
        ws_ping_interval=None, ws_ping_timeout=None, lifespan="on", timeout_graceful_shutdown=5,
    ))
    serving = asyncio.get_running_loop().create_task(server.serve(sockets=[sock]))
    try:
        await until(lambda: server.started or serving.done(), 15, "the in-process server")
        if serving.done():
            serving.result()  # raises why it did not start
            raise RuntimeError("the in-process server stopped before it started")
        yield InProcessServer(tether, f"http://127.0.0.1:{sock.getsockname()[1]}", data_dir)
    finally:
        server.should_exit = True
        await asyncio.wait_for(serving, 15)
        sock.close()
