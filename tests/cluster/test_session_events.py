"""A session's ``running`` flag as another node's clients see it, when Redis is away at the
moment it changes (issue 12 section 1, found by the fault test: a session left ``running``
with nothing running)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.cluster.conftest import PrivateRedis
from tests.support.client import Client
from tests.support.server import ServerProcess

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


def latest(client: Client, session_id: str) -> dict[str, Any] | None:
    found = [s["session"] for s in client.of("session") if s["session"]["id"] == session_id]
    return found[-1] if found else None


async def test_the_end_of_a_run_reaches_other_nodes_after_a_redis_restart(
    nodes: Callable[..., ServerProcess], clients: Callable[..., Client],
    private_redis: PrivateRedis,
) -> None:
    a = nodes(redis=private_redis.url, env={"TETHER_ECHO_DELAY": "0.1"})
    b = nodes(redis=private_redis.url)
    writer, watcher = clients(url=a.url), clients(url=b.url)
    await writer.connect()
    await watcher.connect()
    sid = await writer.new_session()
    await writer.ok("subscribe", {"session_id": sid})
    await writer.send(sid, " ".join(["word"] * 30))  # about three seconds of answer on A
    await watcher.wait_for(lambda: (s := latest(watcher, sid)) and s["running"],
                           what="node B's client sees the session running")
    private_redis.stop()
    await writer.wait_status(sid, "complete", timeout=20)
    await writer.wait_for(lambda: (s := latest(writer, sid)) and not s["running"],
                          what="node A's client sees it stop running")
    private_redis.start()
    await watcher.wait_for(lambda: (s := latest(watcher, sid)) and not s["running"], timeout=20,
                           what="node B's client sees it stop running once Redis is back")
