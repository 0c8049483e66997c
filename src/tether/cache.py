"""A small in-process cache: bounded, least recently used first out, optionally expiring.

It keeps what the database already said so a hot path (a connection's auth, a subscribe's
ownership check) does not ask again. Only facts safe to reuse go in: see each caller for why
staleness is acceptable there. No I/O; single event loop, no locking.

The bookkeeping is cachetools' (``LRUCache``, or ``TTLCache`` when entries expire); this class
only gives the callers a small typed surface (``get`` / ``put`` / ``discard``) in which a miss
and an expired entry both read as ``None``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Generic, TypeVar

from cachetools import LRUCache, TTLCache

K = TypeVar("K")
V = TypeVar("V")


class Cache(Generic[K, V]):
    """At most ``maxsize`` entries; with ``ttl`` (seconds of ``clock``), an entry is served
    for that long after it was put, then forgotten."""

    def __init__(
        self,
        maxsize: int,
        ttl: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        self.maxsize = maxsize
        self.ttl = ttl
        self.clock = clock
        self._entries: LRUCache[K, V] | TTLCache[K, V] = (
            LRUCache(maxsize) if ttl is None else TTLCache(maxsize, ttl, timer=clock)
        )

    def get(self, key: K) -> V | None:
        value = self._entries.get(key)
        if value is None and isinstance(self._entries, TTLCache):
            self._entries.expire()  # drop what has expired, so len() counts live entries only
        return value

    def put(self, key: K, value: V) -> None:
        self._entries[key] = value

    def discard(self, key: K) -> None:
        self._entries.pop(key, None)

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
