"""News channels (:meth:`tether.cluster.base.Cluster.news`): who listens to which channel on
this member, and the in-process channels of a single process. The Redis cluster carries the
same channels on its control channel (tether.cluster.redis_news)."""

from __future__ import annotations

import logging

from tether.cluster.base import NewsListener

log = logging.getLogger("tether.cluster")


class NewsListeners:
    """This member's listeners, by channel name; what one of them raises is logged and keeps
    the others (and the member's listener task) going."""

    def __init__(self) -> None:
        self._by_name: dict[str, list[NewsListener]] = {}

    def add(self, name: str, listener: NewsListener) -> None:
        self._by_name.setdefault(name, []).append(listener)

    def heard(self, name: str, text: str) -> None:
        for listener in list(self._by_name.get(name, ())):
            try:
                listener.heard(text)
            except Exception:
                log.exception("news channel %s: a listener failed", name)

    def forget_all(self) -> None:
        for name, listeners in list(self._by_name.items()):
            for listener in list(listeners):
                try:
                    listener.forget_all()
                except Exception:
                    log.exception("news channel %s: a listener failed", name)


class LocalNews:
    """A channel within one process: always listening; a message is heard before
    :meth:`tell` returns."""

    listening = True

    def __init__(self, listeners: NewsListeners, name: str) -> None:
        self._listeners = listeners
        self.name = name

    async def tell(self, text: str) -> None:
        self._listeners.heard(self.name, text)


class LocalNewsChannels:
    """The news channels of a process alone (its only member)."""

    def __init__(self) -> None:
        self._listeners = NewsListeners()

    def news(self, name: str, listener: NewsListener) -> LocalNews:
        self._listeners.add(name, listener)
        listener.forget_all()  # listening starts now
        return LocalNews(self._listeners, name)
