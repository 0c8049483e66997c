"""tether.push.subscribers: who has a push subscription, remembered per node and forgotten on
every change; and an answer whose owner has none gets no push task."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.push.pushservice import LocalPushService
from tests.support.client import Client
from tests.support.inprocess import serve_in_process
from tests.support.services import REDIS_URL, require
from tests.support.wait import until
from tether.app import Tether
from tether.cluster import NewsListener
from tether.push.subscribers import CHANNEL, SubscribedUsers
from tether.settings import Settings
from tether.store import PushSubscriptionRow

ROW = PushSubscriptionRow("p1", "u1", "https://push.example/1", "k", "a", None)


class Subscriptions:
    """The store's ``push_subscriptions_of``, with a hook to hold a read until released."""

    def __init__(self) -> None:
        self.rows: dict[str, list[PushSubscriptionRow]] = {}
        self.reads = 0
        self.hold: asyncio.Event | None = None

    async def push_subscriptions_of(self, user_id: str) -> list[PushSubscriptionRow]:
        self.reads += 1
        rows = list(self.rows.get(user_id, []))
        if self.hold is not None:
            await self.hold.wait()
        return rows


class News:
    """A cluster's news channels as a node hears them: ``listening`` set by the test; what was
    told, kept; ``heard``, the listener (to play another node's news to it)."""

    def __init__(self, listening: bool = True) -> None:
        self.listening = listening
        self.published: list[str] = []
        self.heard: Any = None

    def news(self, name: str, listener: NewsListener) -> News:
        assert name == CHANNEL
        self.heard = listener
        return self

    async def tell(self, text: str) -> None:
        self.published.append(text)


def users(news: News | None = None) -> tuple[SubscribedUsers, Subscriptions, News]:
    store, news = Subscriptions(), news or News()
    return SubscribedUsers(store, news), store, news  # type: ignore[arg-type]


async def test_none_is_remembered_until_a_change_here_or_on_another_node() -> None:
    known, store, news = users()
    assert not known.has_none("u1")  # never read: not known
    assert await known.of("u1") == []
    assert known.has_none("u1")
    store.rows["u1"] = [ROW]
    await known.changed("u1")  # subscribed through this node: forgotten, and told
    assert news.published == ["u1"]
    assert not known.has_none("u1")
    assert await known.of("u1") == [ROW]
    assert not known.has_none("u1")

    store.rows["u1"] = []
    await known.of("u1")  # remembered: has one (stale now, but that only costs a task)
    news.heard.changed_elsewhere("u1")  # another node's news
    assert await known.of("u1") == [] and known.has_none("u1")
    news.heard.forget_all()  # listening again after a gap: everything forgotten
    assert not known.has_none("u1")


async def test_a_read_that_raced_with_a_change_is_not_remembered() -> None:
    known, store, _news = users()
    store.hold = asyncio.Event()
    read = asyncio.create_task(known.of("u1"))  # reads "none"...
    await until(lambda: store.reads == 1, 5, "the read started")
    known.changed_elsewhere("u1")  # ...while the user subscribes through another node
    store.hold.set()
    assert await read == []
    assert not known.has_none("u1"), "the stale 'none' must not stick"


async def test_nothing_is_remembered_while_the_news_is_not_heard() -> None:
    known, _store, news = users(News(listening=False))
    await known.of("u1")
    assert not known.has_none("u1")
    news.listening = True
    await known.of("u1")
    assert known.has_none("u1")


async def test_an_answer_whose_owner_has_no_subscription_gets_no_push_task(
    tmp_path: Path, push_service: LocalPushService
) -> None:
    async with serve_in_process(
        tmp_path / "data", push_allow_http=True, push_allow_private=True, push_timeout=1.0
    ) as server:
        client = Client(server.url)
        await client.connect()
        try:
            sender = server.tether.push.sender
            session_id = await client.new_session()
            await client.ok("subscribe", {"session_id": session_id})
            await client.send(session_id, "one")
            await client.wait_status(session_id, "complete", 1)
            await until(lambda: sender.subscribers.has_none(client_owner(server, session_id)),
                        10, "'none' remembered")
            assert "none" not in sender.counts  # the first end's task asked the database
            await client.send(session_id, "two")
            await client.wait_status(session_id, "complete", 2)
            assert sender.counts.get("none") == 1  # the second was given no task ("none")

            sub = push_service.subscription()
            await client.ok("push_subscribe", sub.json())  # forgotten at once
            await client.send(session_id, "three")
            await client.wait_status(session_id, "complete", 3)
            [push] = await until(lambda: push_service.to(sub), 10, "the push")
            assert push.payload["body"] == "Echo: three"
            assert sender.counts.get("none") == 1
        finally:
            await client.close()


def client_owner(server: Any, session_id: str) -> str:
    owner = server.tether.store.cached_owner(session_id)
    assert owner is not None
    return str(owner)


@pytest.mark.redis
async def test_redis_news_make_every_other_node_forget() -> None:
    require("Redis", "127.0.0.1", 6379)
    from tether.cluster.redis import RedisCluster

    prefix = f"t{uuid.uuid4().hex[:10]}"
    clusters = [RedisCluster(REDIS_URL, prefix), RedisCluster(REDIS_URL, prefix)]
    here, there = Subscriptions(), Subscriptions()
    this_node = SubscribedUsers(here, clusters[0])  # type: ignore[arg-type]
    other_node = SubscribedUsers(there, clusters[1])  # type: ignore[arg-type]
    for cluster in clusters:
        await cluster.start()
    try:
        await until(lambda: this_node.news.listening and other_node.news.listening, 10,
                    "both listening")
        await other_node.of("u1")
        assert other_node.has_none("u1")
        await this_node.changed("u1")  # subscribed through this node
        await until(lambda: not other_node.has_none("u1"), 10, "the other node forgot")
    finally:
        for cluster in clusters:
            await cluster.stop()


@pytest.mark.redis
async def test_an_app_given_its_own_cluster_hears_the_news_on_it(tmp_path: Path) -> None:
    # The app passes cluster= in code and sets no redis_url: the news still travels, on that
    # cluster (no Redis client of the push side's own).
    require("Redis", "127.0.0.1", 6379)
    from tether.cluster.redis import RedisCluster

    prefix = f"t{uuid.uuid4().hex[:10]}"
    app = Tether(Settings(data_dir=tmp_path, redis_url=None),
                 cluster=RedisCluster(REDIS_URL, prefix))
    other = RedisCluster(REDIS_URL, prefix)
    other_node = SubscribedUsers(Subscriptions(), other)  # type: ignore[arg-type]
    known = app.push.subscribers
    known.store = Subscriptions()  # type: ignore[assignment]
    await app.cluster.start()
    await other.start()
    try:
        await until(lambda: known.news.listening, 10, "the app's node listening")
        await known.of("u1")
        assert known.has_none("u1")
        await other_node.changed("u1")  # subscribed through the other node
        await until(lambda: not known.has_none("u1"), 10, "the app's node forgot")
    finally:
        await other.stop()
        await app.cluster.stop()
