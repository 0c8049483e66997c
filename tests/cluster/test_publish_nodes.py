"""The publish API with several nodes (PostgreSQL + Redis): a post on node A reaches a follower
on node B, over HTTP and from Python, whole and streamed, and a posted question is answered."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.cluster.conftest import CLUSTER_ENV
from tests.support.client import Client
from tests.support.inprocess import InProcessServer, serve_in_process
from tests.support.server import ServerProcess, start_server

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


@dataclass
class TwoNodes:
    a: InProcessServer  # in the test's loop, so its publish API is at hand
    b: ServerProcess


@pytest.fixture
async def two_nodes(tmp_path: Path, pg_url: str, redis_url: str) -> AsyncIterator[TwoNodes]:
    prefix = f"t{uuid.uuid4().hex[:10]}"
    async with serve_in_process(
        tmp_path / "a", database_url=pg_url, redis_url=redis_url, redis_prefix=prefix,
        lease_seconds=2,
    ) as a:
        b = await asyncio.to_thread(start_server, tmp_path / "b", {
            **CLUSTER_ENV, "TETHER_DATABASE_URL": pg_url, "TETHER_REDIS_URL": redis_url,
            "TETHER_REDIS_PREFIX": prefix,
        })
        try:
            yield TwoNodes(a, b)
        finally:
            await asyncio.to_thread(b.stop)


@pytest.fixture
async def follower_on_b(two_nodes: TwoNodes) -> AsyncIterator[tuple[Client, str]]:
    client = Client(two_nodes.b.url)
    await client.connect()
    sid = await client.new_session()
    await client.ok("subscribe", {"session_id": sid})
    yield client, sid
    await client.close()


async def test_a_post_over_http_on_node_a_reaches_a_follower_on_node_b(
    two_nodes: TwoNodes, follower_on_b: tuple[Client, str]
) -> None:
    follower, sid = follower_on_b
    async with httpx.AsyncClient(base_url=two_nodes.a.url, timeout=10) as http:
        posted = await http.post(f"/api/sessions/{sid}/messages",
                                 json={"content": "across nodes", "role": "assistant"})
    assert posted.status_code == 201, posted.text
    [live] = await follower.wait_for(lambda: follower.messages(sid), what="the post on B")
    assert live["id"] == posted.json()["message"]["id"] and live["content"] == "across nodes"
    asked = await two_nodes.a.tether.post(sid, "answer me", respond=True)
    done = await follower.wait_status(sid, "complete", count=2, timeout=30)
    answers = [m for m in done if m["reply_to"] == asked["id"]]
    assert [m["content"] for m in answers] == ["Echo: answer me"]


async def test_a_streamed_post_on_node_a_streams_to_a_follower_on_node_b(
    two_nodes: TwoNodes, follower_on_b: tuple[Client, str]
) -> None:
    follower, sid = follower_on_b
    words = [f"w{n} " for n in range(20)]
    async with two_nodes.a.tether.stream(sid) as answer:
        for word in words:
            await answer.write(word)
            await asyncio.sleep(0.03)
    [done] = await follower.wait_status(sid, "complete", timeout=30)
    assert done["id"] == answer.message_id and done["content"] == "".join(words)
    deltas = [d for d in follower.of("delta", sid) if d["message_id"] == answer.message_id]
    assert len(deltas) >= 2 and "".join(d["text"] for d in deltas) == "".join(words)
