"""News channels across nodes, carried on the cluster's control channel (the one cancels use,
so a node listens on one subscription whatever the number of channels): a message is
``{"news": name, "text": text}``, heard by every node subscribed when it is published, the
teller included. Pub/sub keeps nothing for a node that is not subscribed, so a node is
``listening`` only while its subscription is up, and each (re)subscription tells the listeners
to forget all."""

from __future__ import annotations

import logging
from typing import Any

import orjson

from tether.cluster.base import NewsListener
from tether.cluster.news import NewsListeners

log = logging.getLogger("tether.cluster")


class RedisNewsChannels:
    """This node's news channels; :class:`tether.cluster.redis.RedisCancels`'s listener calls
    :meth:`subscribed`, :meth:`unsubscribed` and :meth:`received`."""

    def __init__(self, redis: Any, channel: str) -> None:
        self.redis = redis
        self.channel = channel
        self.listening = False
        self._listeners = NewsListeners()

    def news(self, name: str, listener: NewsListener) -> RedisNews:
        self._listeners.add(name, listener)
        if self.listening:
            listener.forget_all()  # its listening starts now
        return RedisNews(self, name)

    async def tell(self, name: str, text: str) -> None:
        try:
            await self.redis.publish(self.channel, orjson.dumps({"news": name, "text": text}))
        except Exception as exc:
            log.warning("news channel %s: other nodes not told %r: %s", name, text, exc)

    def subscribed(self) -> None:
        self._listeners.forget_all()  # what was told while away is not replayed
        self.listening = True

    def unsubscribed(self) -> None:
        self.listening = False

    def received(self, data: dict[str, Any]) -> None:
        self._listeners.heard(str(data["news"]), str(data.get("text", "")))


class RedisNews:
    """One channel of :class:`RedisNewsChannels`."""

    def __init__(self, channels: RedisNewsChannels, name: str) -> None:
        self._channels = channels
        self.name = name

    @property
    def listening(self) -> bool:
        return self._channels.listening

    async def tell(self, text: str) -> None:
        await self._channels.tell(self.name, text)
