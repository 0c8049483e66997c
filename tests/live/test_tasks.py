"""Every background task of the server has an owner that cancels or awaits it at shutdown.

The server runs in this process so the test can look at its tasks; its cluster is the real
local one, with a hook that holds ``hello`` on its way out.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from tests.live.inprocess import serving
from tests.support.client import Client
from tether.app import Tether
from tether.cluster import LocalCluster
from tether.delivery import BroadcastManager
from tether.server import prepare_database
from tether.settings import Settings


class HeldHello(BroadcastManager):  # type: ignore[misc]
    """Local delivery whose ``hello`` waits until released (the hook)."""

    def __init__(self) -> None:
        super().__init__()
        self.release = asyncio.Event()
        self.sending: asyncio.Future[asyncio.Task[Any]] = (
            asyncio.get_running_loop().create_future()
        )

    async def emit(self, event: str, data: Any, namespace: str, **kwargs: Any) -> None:
        if event == "hello":
            task = asyncio.current_task()
            assert task is not None
            self.sending.set_result(task)
            await self.release.wait()
        await super().emit(event, data, namespace, **kwargs)


async def test_work_after_a_connect_is_cancelled_at_shutdown(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, host="127.0.0.1", port=0)
    await prepare_database(settings)
    cluster = LocalCluster()
    cluster.manager = manager = HeldHello()
    async with serving(Tether(settings, cluster=cluster)) as url:
        client = Client(url)
        await client.connect(wait_hello=False)
        hello = await asyncio.wait_for(manager.sending, 10)  # the connect's follow-up work
        await client.close()
    assert hello.done(), "the hello task outlived the server"
    assert hello.cancelled()
