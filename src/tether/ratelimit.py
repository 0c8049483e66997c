"""A token bucket: ``rate`` requests per second on average, ``burst`` at once. Pure."""

from __future__ import annotations


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
