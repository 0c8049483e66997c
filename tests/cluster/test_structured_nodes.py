"""Structured answers across two nodes (PostgreSQL + Redis): clients on the node that does not
run the answer get their snapshots from Redis and end with exactly the watcher's parts, and so
do clients dropped silently on one node that come back on the other."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

from tests.live.inprocess import serving
from tests.live.test_structured import Gated, registry, watch_everyone
from tests.live.test_structured_drop import PROXIED, drop_and_reconnect
from tether.app import Tether
from tether.server import prepare_database
from tether.settings import Settings


async def on_two_nodes(
    tmp_path: Path, pg_url: str, redis_url: str,
    scenario: Callable[[str, str, Gated], Awaitable[object]],
) -> None:
    """Run ``scenario(url_a, url_b, gated)`` on two nodes of one database and one Redis."""
    prefix = f"t{uuid.uuid4().hex[:10]}"
    gated = Gated()

    def node(name: str) -> Tether:
        data = tmp_path / name
        data.mkdir()
        settings = Settings(
            data_dir=data, host="127.0.0.1", port=0, database_url=pg_url,
            redis_url=redis_url, redis_prefix=prefix, allowed_hosts=PROXIED,
        )
        return Tether(settings, agents=registry(gated))

    first, second = node("a"), node("b")
    await prepare_database(first.settings)
    async with contextlib.AsyncExitStack() as stack:
        url_a = await stack.enter_async_context(serving(first))
        url_b = await stack.enter_async_context(serving(second))
        await scenario(url_a, url_b, gated)


async def test_structured_answer_resumes_exactly_on_another_node(
    tmp_path: Path, pg_url: str, redis_url: str
) -> None:
    await on_two_nodes(tmp_path, pg_url, redis_url, watch_everyone)


async def test_clients_dropped_on_one_node_resume_on_the_other_with_the_watchers_parts(
    tmp_path: Path, pg_url: str, redis_url: str
) -> None:
    async def scenario(url_a: str, url_b: str, gated: Gated) -> None:
        await drop_and_reconnect(url_a, url_b, url_a, gated)

    await on_two_nodes(tmp_path, pg_url, redis_url, scenario)
