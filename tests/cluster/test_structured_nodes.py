"""Structured answers across two nodes (PostgreSQL + Redis): clients on the node that does not
run the answer get their snapshots from Redis and end with exactly the watcher's parts."""

from __future__ import annotations

import contextlib
import uuid
from pathlib import Path

from tests.live.inprocess import serving
from tests.live.test_structured import Gated, registry, watch_everyone
from tether.app import Tether
from tether.server import prepare_database
from tether.settings import Settings


async def test_structured_answer_resumes_exactly_on_another_node(
    tmp_path: Path, pg_url: str, redis_url: str
) -> None:
    prefix = f"t{uuid.uuid4().hex[:10]}"
    gated = Gated()

    def node(name: str) -> Tether:
        data = tmp_path / name
        data.mkdir()
        settings = Settings(
            data_dir=data, host="127.0.0.1", port=0, database_url=pg_url,
            redis_url=redis_url, redis_prefix=prefix,
        )
        return Tether(settings, agents=registry(gated))

    first, second = node("a"), node("b")
    await prepare_database(first.settings)
    async with contextlib.AsyncExitStack() as stack:
        url_a = await stack.enter_async_context(serving(first))
        url_b = await stack.enter_async_context(serving(second))
        await watch_everyone(url_a, url_b, gated)
