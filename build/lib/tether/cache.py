"""A small in-process cache: bounded, least recently used first out, optionally expiring.

It keeps what the database already said so a hot path (a connection's auth, a subscribe's
ownership check) does not ask again. Only facts safe to reuse go in: see each caller for why
staleness is acceptable there. No I/O; single event loop, no locking.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

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
        self._entries: OrderedDict[K, tuple[V, float]] = OrderedDict()

    def get(self, key: K) -> V | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        value, expires = entry
        if self.ttl is not None and self.clock() >= expires:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return value

    def put(self, key: K, value: V) -> None:
        expires = self.clock() + self.ttl if self.ttl is not None else 0.0
        self._entries[key] = (value, expires)
        self._entries.move_to_end(key)
        while len(self._entries) > self.maxsize:
            self._entries.popitem(last=False)

    def discard(self, key: K) -> None:
        self._entries.pop(key, None)

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
