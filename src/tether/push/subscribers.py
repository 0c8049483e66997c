"""Which users have a push subscription, remembered by each node and kept right on every node.

Most users have none, and every answer's end would otherwise start a task to find that out.
Each node remembers, per user, whether the database last said they have any; an answer whose
owner has none is then not even given a task. A change of a user's subscriptions (subscribe,
unsubscribe, a gone one deleted) on any node is told to every node, which forgets what it
remembered of that user, so a subscription made through one node is pushed to by every node
from its next answer on.

The news travels on a Redis channel when the deployment has one (``redis_url``; a node alone
needs none). Pub/sub delivers at most once, so nothing is believed while a node is not
listening, and everything is forgotten when it listens again (what it missed meanwhile is not
replayed); a read that raced with a change is not remembered. A node that could not publish a
change (Redis gone for it alone) is covered by :data:`BELIEVED_SECONDS`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, Protocol

import redis.asyncio

from tether.cache import Cache
from tether.cluster.fanout import RETRY_FIRST, RETRY_MAX
from tether.store import PushSubscriptionRow, Store
from tether.tasks import TaskOwner

log = logging.getLogger("tether.push")

#: The longest an answer from the database is believed without news: only a change whose news
#: was lost (its node could not publish) is seen this late.
BELIEVED_SECONDS = 300.0
#: Users remembered per node (least recently used go first).
USERS_REMEMBERED = 100_000


class SubscriptionNews(Protocol):
    """Tells every other node that a user's subscriptions changed, and this node theirs."""

    @property
    def listening(self) -> bool:
        """True while this node hears every other node's news."""

    async def publish(self, user_id: str) -> None:
        """Tell the other nodes (best effort: logged when it fails)."""

    def start(self, heard: SubscriptionListener) -> None:
        """Listen in the background: ``heard.changed_elsewhere(user_id)`` for each user another node
        tells of, ``heard.forget_all()`` each time listening (re)starts."""

    async def stop(self) -> None: ...


class SubscriptionListener(Protocol):
    def changed_elsewhere(self, user_id: str) -> None: ...

    def forget_all(self) -> None: ...


class LocalNews:
    """One node: nobody else to tell, and nothing to hear."""

    listening = True

    async def publish(self, user_id: str) -> None:
        return None

    def start(self, heard: SubscriptionListener) -> None:
        return None

    async def stop(self) -> None:
        return None


class RedisNews:
    """The news on the channel ``<prefix>:push-subscribers`` of the deployment's Redis."""

    def __init__(self, url: str, prefix: str) -> None:
        self.redis: Any = redis.asyncio.Redis.from_url(
            url, socket_timeout=5, socket_connect_timeout=5
        )
        self.channel = f"{prefix}:push-subscribers"
        self.listening = False
        self._tasks = TaskOwner("push-news")

    async def publish(self, user_id: str) -> None:
        try:
            await self.redis.publish(self.channel, user_id.encode())
        except Exception as exc:
            log.warning("push subscribers of user %s changed; other nodes not told: %s",
                        user_id, exc)

    def start(self, heard: SubscriptionListener) -> None:
        self._tasks.spawn(self._listen(heard), name="push-news")

    async def stop(self) -> None:
        await self._tasks.close()
        with contextlib.suppress(Exception):
            await self.redis.aclose()

    async def _listen(self, heard: SubscriptionListener) -> None:
        delay = RETRY_FIRST
        while True:
            try:
                async with self.redis.pubsub(ignore_subscribe_messages=True) as pubsub:
                    await pubsub.subscribe(self.channel)
                    heard.forget_all()  # what was missed while away is not replayed
                    self.listening = True
                    delay = RETRY_FIRST
                    async for message in pubsub.listen():
                        if isinstance(data := message.get("data"), bytes):
                            heard.changed_elsewhere(data.decode())
            except Exception as exc:
                log.warning("push news channel unavailable: %s", exc)
            finally:
                self.listening = False
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX)


class SubscribedUsers:
    """Per user, whether the database last said they have a push subscription (this node's
    memory, kept right by ``news``)."""

    def __init__(self, store: Store, news: SubscriptionNews | None = None) -> None:
        self.store = store
        self.news: SubscriptionNews = news if news is not None else LocalNews()
        self._known: Cache[str, bool] = Cache(USERS_REMEMBERED, ttl=BELIEVED_SECONDS)
        #: Counts every change heard: a read that started before one is not remembered.
        self._changes = 0

    def has_none(self, user_id: str) -> bool:
        """True only when the user is known to have no subscription (so: no push to try)."""
        return self._known.get(user_id) is False

    async def of(self, user_id: str) -> list[PushSubscriptionRow]:
        """The user's subscriptions, from the database; whether there are any is remembered."""
        before = self._changes
        subscriptions = await self.store.push_subscriptions_of(user_id)
        if self.news.listening and before == self._changes:
            self._known.put(user_id, bool(subscriptions))
        return subscriptions

    async def changed(self, user_id: str) -> None:
        """The user's subscriptions changed through this node: forget, and tell every node."""
        self.changed_elsewhere(user_id)
        await self.news.publish(user_id)

    def changed_elsewhere(self, user_id: str) -> None:
        self._changes += 1
        self._known.discard(user_id)

    def forget_all(self) -> None:
        self._changes += 1
        self._known.clear()

    def start(self) -> None:
        self.news.start(self)

    async def stop(self) -> None:
        await self.news.stop()


def news_for(redis_url: str | None, prefix: str) -> SubscriptionNews:
    """Redis news when the deployment shares a Redis, else none needed."""
    return RedisNews(redis_url, prefix) if redis_url else LocalNews()
