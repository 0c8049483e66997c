"""A token bucket: ``rate`` requests per second on average, ``burst`` at once; and one per key."""

from __future__ import annotations

import time
from collections import OrderedDict


class TokenBucket:
    __slots__ = ("burst", "rate", "stamp", "tokens")

    def __init__(self, rate: float, burst: int, now: float) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.tokens = float(burst)
        self.stamp = now

    def take(self, now: float) -> bool:
        """Spend one token if there is one."""
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False

    def has(self, now: float) -> bool:
        """Whether ``take`` would succeed now (spends nothing)."""
        return min(self.burst, self.tokens + (now - self.stamp) * self.rate) >= 1.0

class RateLimits:
    """One :class:`TokenBucket` per key (a user id), for at most ``max_keys`` keys: the least
    recently used key's bucket is forgotten first (it would be full again by then anyway)."""

    def __init__(self, rate: float, burst: int, max_keys: int = 10_000) -> None:
        self.rate = rate
        self.burst = burst
        self.max_keys = max_keys
        self.buckets: OrderedDict[str, TokenBucket] = OrderedDict()

    def take(self, key: str, now: float | None = None) -> bool:
        """Spend one token of ``key``'s bucket if there is one."""
        now = time.monotonic() if now is None else now
        bucket = self.buckets.get(key)
        if bucket is None:
            bucket = self.buckets[key] = TokenBucket(self.rate, self.burst, now)
            if len(self.buckets) > self.max_keys:
                self.buckets.popitem(last=False)
        else:
            self.buckets.move_to_end(key)
        return bucket.take(now)
