"""Limits on what one client address or one user can hold: failed sign-ins per address, and per
user open connections, sessions and request rate. Each is a setting (tether.settings).

Connections and the request rate are counted in this process (with several nodes, each node
allows the limit); sessions are counted in the database, so that limit holds across nodes (up to
a few sessions created at the same instant).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from tether.cache import Cache
from tether.db.schema import sessions
from tether.ratelimit import TokenBucket
from tether.settings import Settings

#: How many addresses (or users) keep a bucket; the least recently seen are forgotten first.
TRACKED = 10_000


class AuthAttempts:
    """Failed authentications per client address: ``burst`` at once, then ``per_minute``. While
    an address has none left, every attempt from it is refused, a right token too."""

    def __init__(
        self, burst: int, per_minute: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.burst = burst
        self.rate = per_minute / 60
        self.clock = clock
        self._failures: Cache[str, TokenBucket] = Cache(TRACKED)

    def allowed(self, address: str) -> bool:
        bucket = self._failures.get(address)
        return bucket is None or bucket.has(self.clock())

    def failed(self, address: str) -> None:
        now = self.clock()
        bucket = self._failures.get(address)
        if bucket is None:
            bucket = TokenBucket(self.rate, self.burst, now)
            self._failures.put(address, bucket)
        bucket.take(now)


class UserQuotas:
    """Per-user limits: open connections and request rate in this process, sessions stored."""

    def __init__(
        self, settings: Settings, engine: AsyncEngine, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.clock = clock
        self.open: Counter[str] = Counter()
        self._rates: Cache[str, TokenBucket] = Cache(TRACKED)

    def at_limit(self, user_id: str) -> bool:
        """Whether the user holds as many connections here as allowed."""
        return self.open[user_id] >= self.settings.max_connections_per_user

    def connect(self, user_id: str) -> None:
        self.open[user_id] += 1

    def disconnect(self, user_id: str) -> None:
        self.open[user_id] -= 1
        if self.open[user_id] <= 0:
            del self.open[user_id]

    def request(self, user_id: str) -> bool:
        """Spend one of the user's requests (shared by all their sockets on this node)."""
        now = self.clock()
        bucket = self._rates.get(user_id)
        if bucket is None:
            bucket = TokenBucket(self.settings.user_rate_limit, self.settings.user_rate_burst, now)
            self._rates.put(user_id, bucket)
        return bucket.take(now)

    async def may_create_session(self, user_id: str) -> bool:
        query = select(func.count()).select_from(sessions).where(sessions.c.user_id == user_id)
        async with self.engine.connect() as conn:
            count = (await conn.execute(query)).scalar_one()
        return int(count) < self.settings.max_sessions_per_user
