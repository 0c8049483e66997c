"""One contract, two implementations: every test here runs over the local cluster (one process)
and over the Redis cluster (against the real Redis), as Django Channels does for its layers.

A *member* is one process of a deployment: the local cluster has exactly one (asking for another
gives the same), the Redis one as many as the test makes, sharing one key prefix.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
import socketio

from tests.cluster.conftest import PrivateRedis
from tests.support.services import REDIS_URL, require
from tests.support.wait import until
from tether.agents import events
from tether.cluster import Cluster, LocalCluster, News
from tether.streams import LiveStream

Members = Callable[[], Awaitable[Cluster]]


@pytest.fixture(params=["local", pytest.param("redis", marks=pytest.mark.redis)])
async def member(request: pytest.FixtureRequest) -> AsyncIterator[Members]:
    made: list[Cluster] = []
    if request.param == "redis":
        require("Redis", "127.0.0.1", 6379)
        from tether.cluster.redis import RedisCluster

        prefix = f"t{uuid.uuid4().hex[:10]}"

        def build() -> Cluster:
            return RedisCluster(REDIS_URL, prefix)
    else:
        only = LocalCluster()

        def build() -> Cluster:
            return only

    async def make() -> Cluster:
        cluster = build()
        if cluster not in made:
            await cluster.start()
            made.append(cluster)
        return cluster

    yield make
    for cluster in made:
        await cluster.stop()


async def test_the_manager_is_python_socketios(member: Members) -> None:
    cluster = await member()
    assert isinstance(cluster.manager, socketio.AsyncManager)


async def test_a_client_id_is_held_by_one_socket_at_a_time(member: Members) -> None:
    a, b = await member(), await member()
    key = f"user:{uuid.uuid4().hex}"
    assert await a.clients.claim(key, "sid-1") is None
    assert await b.clients.claim(key, "sid-2") == "sid-1"  # the takeover: sid-1 must go
    await a.clients.release(key, "sid-1")  # the old socket's disconnect: no longer the holder
    assert await a.clients.claim(key, "sid-3") == "sid-2"
    await b.clients.release(key, "sid-3")
    assert await a.clients.claim(key, "sid-4") is None


async def test_live_text_published_by_one_member_is_seen_by_every_member(
    member: Members,
) -> None:
    writer, reader = await member(), await member()
    message_id = str(uuid.uuid4())
    stream: LiveStream = writer.streams.open("session", message_id)
    for piece in ("Echo:", " hello"):
        stream.add_text(piece)
        taken = stream.take_chunk()
        assert taken is not None
        await writer.streams.published([(stream, *taken)])
    expected = {
        message_id: ("Echo: hello", 2, [{"id": "t0", "type": "text", "text": "Echo: hello"}])
    }
    assert await writer.streams.snapshot([message_id, "other"]) == expected
    assert await reader.streams.snapshot([message_id]) == expected
    writer.streams.close(message_id)

    async def forgotten() -> None:  # by every member, soon (the Redis keys go in a task)
        # Polls: Redis has no event to await for a key's deletion.
        while await reader.streams.snapshot([message_id]) or await writer.streams.snapshot(  # noqa: ASYNC110
            [message_id]
        ):
            await asyncio.sleep(0.01)

    await asyncio.wait_for(forgotten(), 5)


async def test_live_parts_published_by_one_member_are_seen_by_every_member(
    member: Members,
) -> None:
    writer, reader = await member(), await member()
    message_id = str(uuid.uuid4())
    stream: LiveStream = writer.streams.open("session", message_id)
    steps: list[list[object]] = [
        [events.Reasoning("think"), events.ToolCall("c1", "search")],
        [events.ToolInput("c1", '{"q": '), events.ToolInput("c1", '"x"}')],
        [events.ToolInputDone("c1"), events.Status("searching"), "Found it."],
    ]
    for step in steps:
        for event in step:
            stream.add_event(event)  # type: ignore[arg-type]
        taken = stream.take_chunk()
        assert taken is not None
        await writer.streams.published([(stream, *taken)])
        # After every chunk, both members' snapshots are exactly the writer's live parts.
        expected = {message_id: (stream.text, stream.chunks, stream.parts)}
        assert await writer.streams.snapshot([message_id]) == expected
        assert await reader.streams.snapshot([message_id]) == expected
    assert [p["type"] for p in stream.parts] == ["reasoning", "tool", "status", "text"]
    assert stream.parts[1]["input"] == {"q": "x"}
    assert stream.parts[1]["state"] == "input-available"
    assert stream.text == "Found it."
    writer.streams.close(message_id)


async def test_cancel_reaches_the_member_running_the_session(member: Members) -> None:
    runner, asker = await member(), await member()
    asked: list[str] = []

    async def runs_here(session_id: str) -> bool:
        asked.append(session_id)
        return session_id == "running"

    async def runs_nothing(session_id: str) -> bool:
        return False

    runner.on_cancel(runs_here)
    if asker is not runner:
        asker.on_cancel(runs_nothing)
    assert await asyncio.wait_for(asker.cancel("running"), 7) is True
    assert "running" in asked
    # Nobody runs it: every member says no, and the answer comes at once, not at a timeout.
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await asker.cancel("idle") is False
    assert loop.time() - started < 1.0


async def test_a_slow_cancel_does_not_hold_up_other_cancels(member: Members) -> None:
    runner, asker = await member(), await member()
    release = asyncio.Event()

    async def handler(session_id: str) -> bool:
        if session_id == "slow":
            await release.wait()
        return True

    runner.on_cancel(handler)
    if asker is not runner:
        asker.on_cancel(handler)
    slow = asyncio.ensure_future(asker.cancel("slow"))
    assert await asyncio.wait_for(asker.cancel("fast"), 3) is True
    release.set()
    assert await asyncio.wait_for(slow, 7) is True


class Listener:
    """A news listener that keeps what it hears, and counts the starts of listening."""

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.forgotten = 0

    def heard(self, text: str) -> None:
        self.texts.append(text)

    def forget_all(self) -> None:
        self.forgotten += 1


async def test_news_told_by_one_member_is_heard_by_every_member(member: Members) -> None:
    teller, other = await member(), await member()
    channel = f"c{uuid.uuid4().hex[:8]}"
    here, there, elsewhere = Listener(), Listener(), Listener()
    news_here = teller.news(channel, here)
    news_there = other.news(channel, there)
    other.news(f"{channel}-other", elsewhere)  # another channel: hears none of it
    await until(lambda: news_here.listening and news_there.listening, 10, "listening")
    assert (here.forgotten, there.forgotten) == (1, 1)  # listening started: reported once
    await news_here.tell("u1")
    await news_there.tell("u2")
    # Every listener hears every message once, the teller's own included, in the order told.
    await until(lambda: len(here.texts) >= 2 and len(there.texts) >= 2, 10, "both heard")
    assert here.texts == ["u1", "u2"] and there.texts == ["u1", "u2"]
    assert elsewhere.texts == []


async def test_probes_pass_while_the_services_are_up(member: Members) -> None:
    cluster = await member()
    for name, check in cluster.probes().items():
        await asyncio.wait_for(check(), 2), name


async def test_stop_leaves_no_task_behind(member: Members) -> None:
    before = asyncio.all_tasks()
    cluster = await member()
    stream = cluster.streams.open("session", str(uuid.uuid4()))
    stream.add_text("x")
    taken = stream.take_chunk()
    assert taken is not None
    await cluster.streams.published([(stream, *taken)])
    cluster.streams.close(stream.message_id)
    cluster.on_cancel(lambda session_id: asyncio.sleep(0, False))
    await cluster.cancel("nothing")
    await cluster.stop()
    left = [t for t in asyncio.all_tasks() - before if t is not asyncio.current_task()]
    assert not [t for t in left if not t.done()], left


@pytest.mark.redis
async def test_a_cancel_while_redis_is_away_is_unavailable(private_redis: PrivateRedis) -> None:
    from tether.cluster.redis import RedisCluster
    from tether.store import is_unavailable

    cluster = RedisCluster(private_redis.url, f"t{uuid.uuid4().hex[:10]}")
    await cluster.start()
    try:
        private_redis.stop()
        with pytest.raises(Exception) as raised:
            await asyncio.wait_for(cluster.cancel("running"), 15)
        assert is_unavailable(raised.value), raised.value  # the ack says `unavailable`
    finally:
        await cluster.stop()


@contextlib.asynccontextmanager
async def news_member(url: str, prefix: str) -> AsyncIterator[tuple[News, Listener]]:
    """A Redis member, started, with the channel ``news`` opened before its start (so its
    listening starts with the subscription), once it listens."""
    from tether.cluster.redis import RedisCluster

    cluster = RedisCluster(url, prefix)
    listener = Listener()
    news = cluster.news("news", listener)
    await cluster.start()
    try:
        await until(lambda: news.listening, 10, "listening")
        assert listener.forgotten == 1
        yield news, listener
    finally:
        await cluster.stop()


@pytest.mark.redis
async def test_news_is_not_believed_while_redis_is_away_and_forgotten_when_back(
    private_redis: PrivateRedis,
) -> None:
    url, prefix = private_redis.url, f"t{uuid.uuid4().hex[:10]}"
    async with news_member(url, prefix) as (news, listener), \
            news_member(url, prefix) as (other_news, _):
        private_redis.stop()
        await until(lambda: not news.listening, 10, "not listening once Redis is gone")
        await other_news.tell("lost")  # not raised: logged
        private_redis.start()
        await until(lambda: news.listening and other_news.listening, 20, "listening again")
        assert listener.forgotten == 2  # what was missed is not replayed: forget all
        await other_news.tell("u1")
        await until(lambda: listener.texts == ["u1"], 10, "heard after the gap")


@pytest.mark.redis
async def test_news_is_forgotten_when_the_subscription_is_cut_and_made_again(
    private_redis: PrivateRedis,
) -> None:
    # Redis stays up; only the node's pub/sub connection is cut (CLIENT KILL): what was told
    # before it subscribes again is lost, so the new subscription must be reported.
    import redis.asyncio

    admin = redis.asyncio.Redis.from_url(private_redis.url)
    try:
        async with news_member(private_redis.url, f"t{uuid.uuid4().hex[:10]}") as (news, listener):
            assert await admin.client_kill_filter(_type="pubsub") >= 1
            await until(lambda: listener.forgotten >= 2 and news.listening, 20,
                        "subscribed again")
            await news.tell("u1")
            await until(lambda: listener.texts == ["u1"], 10, "heard after the cut")
    finally:
        await admin.aclose()
