"""What a connection keeps of the request that opened it (tether.edge.environ)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.live.inprocess import serving
from tests.support.client import Client
from tether.accounts import User
from tether.app import Tether
from tether.auth import Handshake
from tether.server import prepare_database
from tether.settings import Settings


@pytest.mark.parametrize("transport", ["websocket", "polling"])
async def test_the_open_request_keeps_its_headers_but_not_its_body_reader(
    tmp_path: Path, transport: str
) -> None:
    # Short pings: a closed long-polling client leaves a GET that waits for them at shutdown.
    settings = Settings(data_dir=tmp_path, host="127.0.0.1", port=0, ping_interval=1,
                        ping_timeout=1)
    await prepare_database(settings)
    seen: list[str | None] = []

    async def authenticate(handshake: Handshake) -> User:
        seen.append(handshake.header("x-probe"))
        return User(id="u-environ", name="environ")

    tether = Tether(settings, authenticate=authenticate)
    async with serving(tether) as url:
        client = Client(url, headers={"X-Probe": "probe-1"})
        await client.connect(transports=[transport])
        try:
            environs = list(tether.sio.environ.values())
            assert len(environs) == 1
            environ = environs[0]
            # Dropped: a reader of a body nobody reads, of a class made for each request.
            assert "wsgi.input" not in environ
            # Kept: what an application reads through sio.get_environ().
            assert environ["asgi.scope"]["type"] in ("http", "websocket")
            assert seen == ["probe-1"]
            assert environ.get("HTTP_X_PROBE") == "probe-1"
            assert (await asyncio.wait_for(client.call("heartbeat", {}), 10))["ok"] is True
        finally:
            await client.close()
