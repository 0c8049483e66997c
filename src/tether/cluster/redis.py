"""The cluster of several nodes sharing a Redis: python-socketio's Redis fan-out (with repair),
live stream text mirrored to Redis, a shared client_id registry, and, on one control channel,
cancel by request and reply and the news channels (tether.cluster.redis_news)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import redis.asyncio
import redis.exceptions
from tenacity import AsyncRetrying, retry_if_exception_type

from tether.cluster.base import CancelHandler, News, NewsListener
from tether.cluster.fanout import TrackedRedisManager, backoff
from tether.cluster.names import RedisNames
from tether.cluster.redis_news import RedisNewsChannels
from tether.cluster.redis_streams import RedisStreams
from tether.tasks import TaskOwner

log = logging.getLogger("tether.cluster")

#: The longest a cancel waits for the node running the session (whose handler waits at most
#: about 5 s for the run to end).
CANCEL_REPLY_WAIT = 6.0
#: How long a starting node waits for its control channel subscription.
START_WAIT = 5.0

_RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end"


class RedisClients:
    """The client_id registry shared by every node, so a takeover works across nodes."""

    def __init__(self, redis: Any, names: RedisNames, ttl: int = 86_400) -> None:
        self.redis = redis
        self.names = names
        self.ttl = ttl

    async def claim(self, key: str, sid: str) -> str | None:
        try:
            previous = await self.redis.set(self.names.client(key), sid, ex=self.ttl, get=True)
        except Exception as exc:
            log.warning("client registry unavailable: %s", exc)
            return None
        if previous is None:
            return None
        return previous.decode() if isinstance(previous, bytes) else str(previous)

    async def release(self, key: str, sid: str) -> None:
        with contextlib.suppress(Exception):
            await self.redis.eval(_RELEASE, 1, self.names.client(key), sid)


class _PendingCancel:
    """A cancel request waiting for the nodes' replies."""

    def __init__(self, receivers: int) -> None:
        self.receivers = receivers
        self.replies = 0
        self.done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()

    def reply(self, cancelled: bool) -> None:
        self.replies += 1
        if not self.done.done() and (cancelled or self.replies >= self.receivers):
            self.done.set_result(cancelled)


class RedisCancels:
    """Cancel across nodes: a request (with a reply id) goes to every node's handler on the
    control channel; every node replies whether it cancelled. The requester is done at the
    first yes, or once every node that received the request (Redis's PUBLISH says how many)
    said no, or after :data:`CANCEL_REPLY_WAIT`. Its listener also carries ``news``'s
    messages, and tells it when the subscription is up and when it is lost."""

    def __init__(self, redis: Any, names: RedisNames, news: RedisNewsChannels) -> None:
        self.redis = redis
        self.channel = names.control_channel
        self.news = news
        self._handler: CancelHandler | None = None
        self._pending: dict[str, _PendingCancel] = {}
        self._tasks = TaskOwner("cancels")
        self._subscribed = asyncio.Event()

    def on_cancel(self, handler: CancelHandler) -> None:
        self._handler = handler

    async def cancel(self, session_id: str) -> bool:
        reply_to = uuid.uuid4().hex
        request = orjson.dumps({"cancel": session_id, "reply_to": reply_to})
        # Registered before publishing: a reply may arrive before PUBLISH returns, and until
        # it does the number of receivers is unknown (so: more than any reply count).
        pending = self._pending[reply_to] = _PendingCancel(receivers=1 << 30)
        try:
            try:
                pending.receivers = int(await self.redis.publish(self.channel, request))
            except redis.exceptions.RedisError as exc:
                # The broker is down: the request answers ``unavailable`` and the client retries.
                raise ConnectionError(f"Redis unavailable: {exc}") from exc
            if pending.replies >= pending.receivers and not pending.done.done():
                pending.done.set_result(False)
            if pending.receivers == 0:
                return False
            async with asyncio.timeout(CANCEL_REPLY_WAIT):
                return await pending.done
        except TimeoutError:
            log.warning("cancel of session %s: no node answered in time", session_id)
            return False
        finally:
            self._pending.pop(reply_to, None)

    async def start(self) -> None:
        self._tasks.spawn(self._listen(), name="control")
        # Subscribed before serving, so this node hears its own first requests; a Redis that
        # is away at start does not keep the node from serving (the listener goes on trying).
        try:
            async with asyncio.timeout(START_WAIT):
                await self._subscribed.wait()
        except TimeoutError:
            log.warning("control channel not subscribed yet; cancel across nodes waits for Redis")

    async def stop(self) -> None:
        await self._tasks.close()

    async def _subscribe(self) -> Any:
        pubsub = self.redis.pubsub()
        try:
            await pubsub.subscribe(self.channel)
        except Exception:
            with contextlib.suppress(Exception):
                await pubsub.aclose()
            raise
        return pubsub

    async def _listen(self) -> None:
        while True:
            pubsub: Any = await AsyncRetrying(
                wait=backoff(), retry=retry_if_exception_type(Exception),
                before_sleep=lambda state: log.warning(
                    "control channel unavailable: %s", state.outcome and state.outcome.exception()
                ),
            )(self._subscribe)
            self._subscribed.set()
            try:
                async for message in pubsub.listen():
                    if message["type"] == "message":
                        self._received(orjson.loads(message["data"]))
                    elif message["type"] == "subscribe":
                        # Redis's confirmation: from here on every publish reaches this node
                        # (SUBSCRIBE sent is not yet SUBSCRIBE done: news told in between
                        # would be missed while believed heard).
                        self.news.subscribed()
            except Exception as exc:
                log.warning("control channel lost: %s", exc)
            finally:
                self.news.unsubscribed()
                with contextlib.suppress(Exception):
                    await pubsub.aclose()

    def _received(self, data: dict[str, Any]) -> None:
        if "news" in data:
            self.news.received(data)
        elif "reply" in data:
            pending = self._pending.get(str(data["reply"]))
            if pending is not None:
                pending.reply(bool(data.get("cancelled")))
        elif "cancel" in data and self._handler is not None:
            # In a task: a handler waits up to seconds for its run to end, and the listener
            # must go on reading (replies to this node's own requests among others).
            self._tasks.spawn(
                self._answer(str(data["cancel"]), str(data.get("reply_to", ""))), name="cancel"
            )

    async def _answer(self, session_id: str, reply_to: str) -> None:
        assert self._handler is not None
        cancelled = await self._handler(session_id)
        if reply_to:
            reply = orjson.dumps({"reply": reply_to, "cancelled": cancelled})
            await self.redis.publish(self.channel, reply)


class RedisCluster:
    """Several nodes sharing one Redis (every name under ``prefix``)."""

    single_process = False

    def __init__(self, url: str, prefix: str) -> None:
        names = RedisNames(prefix)
        self.redis = redis.asyncio.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
        self.manager = TrackedRedisManager(url, names.socketio_channel, self.redis.ping)
        self.streams = RedisStreams(self.redis, names)
        self.clients = RedisClients(self.redis, names)
        self.news_channels = RedisNewsChannels(self.redis, names.control_channel)
        self.cancels = RedisCancels(self.redis, names, self.news_channels)

    def news(self, name: str, listener: NewsListener) -> News:
        return self.news_channels.news(name, listener)

    def probes(self) -> dict[str, Callable[[], Awaitable[object]]]:
        return {"redis": self.redis.ping}

    def on_cancel(self, handler: CancelHandler) -> None:
        self.cancels.on_cancel(handler)

    async def cancel(self, session_id: str) -> bool:
        return await self.cancels.cancel(session_id)

    async def start(self) -> None:
        await self.cancels.start()

    async def stop(self) -> None:
        await self.cancels.stop()
        await self.manager.stop()
        await self.streams.stop()
        await self.redis.aclose()
