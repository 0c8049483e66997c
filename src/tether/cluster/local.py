"""The cluster of one process: everything in memory. A real implementation of the seam's
contract (the same suite runs over it and over Redis), not a stub."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from tether.cluster.base import CancelHandler, News, NewsListener
from tether.cluster.news import LocalNewsChannels
from tether.delivery import BroadcastManager
from tether.streams import LocalStreams


class LocalClients:
    """Which socket holds each (user, client_id), in this process."""

    def __init__(self) -> None:
        self._sids: dict[str, str] = {}

    async def claim(self, key: str, sid: str) -> str | None:
        previous = self._sids.get(key)
        self._sids[key] = sid
        return previous

    async def release(self, key: str, sid: str) -> None:
        if self._sids.get(key) == sid:  # a takeover has already moved it
            del self._sids[key]


class LocalCluster:
    """A single process: local delivery, streams, registry and news; cancel goes straight to
    this process's handler."""

    single_process = True

    def __init__(self) -> None:
        self.manager = BroadcastManager()
        self.streams = LocalStreams()
        self.clients = LocalClients()
        self._cancel: CancelHandler | None = None
        self._news = LocalNewsChannels()

    def news(self, name: str, listener: NewsListener) -> News:
        return self._news.news(name, listener)

    def probes(self) -> dict[str, Callable[[], Awaitable[object]]]:
        return {}

    def on_cancel(self, handler: CancelHandler) -> None:
        self._cancel = handler

    async def cancel(self, session_id: str) -> bool:
        return self._cancel is not None and await self._cancel(session_id)

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None
