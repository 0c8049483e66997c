"""PostgreSQL's pool checkouts: each connection's liveness checked before it is handed out,
and a raw asyncpg connection taken from the same pool without SQLAlchemy's async layer.

A ping per checkout (one round trip, about 95 us of CPU through Core against 44 without it)
was the storage path's largest single cost once a send became a few one-statement writes.
Through Core (``AsyncConnection``: the store's transactions and most reads) every checkout is
still pinged: a statement there fails where it fails, with no retry, and a connection whose
backend was just terminated is not always marked closed yet (the server's goodbye arrives some
milliseconds before its socket closes, and asyncpg only fails the next statement meanwhile).
The raw checkout (``raw_connection``, for the store's one-statement writes and reads in
autocommit) pings only a connection that may be dead: one idle in the pool for longer than
``PING_AFTER_IDLE`` (the deaths that close nothing: a network cut, a host gone). A connection
closed already is replaced by either; the raw path's caller retries on a fresh connection a
statement that failed before it was sent (tether.store.pg_driver).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from contextvars import ContextVar
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.exc import InvalidatePoolError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import PoolProxiedConnection
from sqlalchemy.util import greenlet_spawn

#: Seconds a pooled connection may have been idle and still be handed out without a ping.
PING_AFTER_IDLE = 2.0

#: ``record.info`` key: when the connection went back to the pool.
_IDLE_SINCE = "tether_idle_since"

#: True while ``raw_connection`` checks a connection out (a context variable: the checkout may
#: wait for a free connection, and other tasks check out meanwhile).
_RAW_CHECKOUT: ContextVar[bool] = ContextVar("tether_raw_checkout", default=False)


def watch_checkouts(engine: Engine) -> None:
    """Check each pooled connection on checkout (module docstring), so service resumes by
    itself after a PostgreSQL restart.

    SQLAlchemy's own ``pool_pre_ping`` on asyncpg pings inside a transaction (BEGIN, ``;``,
    ROLLBACK: three round trips, for pgbouncer's transaction mode, which Tether does not use).
    A dead connection found here invalidates the pool's older connections, as
    ``pool_pre_ping`` does (a restart killed them all), and the pool opens a new one."""

    @event.listens_for(engine, "checkin")
    def _checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        if dbapi_connection.driver_connection.is_closed():
            raise InvalidatePoolError("the connection was closed by the server")
        if _RAW_CHECKOUT.get():
            idle_since = record.info.get(_IDLE_SINCE)  # None: opened just now
            if idle_since is None or time.monotonic() - idle_since <= PING_AFTER_IDLE:
                return
        try:
            dbapi_connection.run_async(lambda driver: driver.fetchrow(";"))
        except Exception as exc:
            raise InvalidatePoolError(f"the connection failed its ping: {exc!r}") from exc


@contextlib.asynccontextmanager
async def raw_connection(engine: AsyncEngine) -> AsyncIterator[PoolProxiedConnection]:
    """A connection of ``engine``'s pool for the driver's own use (``.driver_connection`` is
    an ``asyncpg.Connection``, checked as ``watch_checkouts`` does), returned to the pool
    afterwards. It counts against the pool's size like any checkout: no connections beyond
    the pool's.

    The caller runs statements on it in autocommit (asyncpg's own mode: no BEGIN) and leaves
    no transaction open. A connection that failed with a connection error is invalidated
    (``invalidate``) by the caller, not returned."""
    proxied = await _checkout(engine)
    try:
        yield proxied
    finally:
        if proxied.is_valid:
            await _give_back(engine, proxied)


async def _checkout(engine: AsyncEngine) -> PoolProxiedConnection:
    # In a greenlet, as AsyncConnection checks out (the pool may wait for a free connection,
    # open one, or ping this one), without the rest of AsyncConnection: about 14 us of CPU
    # against 44.
    token = _RAW_CHECKOUT.set(True)
    try:
        return await greenlet_spawn(engine.sync_engine.pool.connect)
    finally:
        _RAW_CHECKOUT.reset(token)


async def _give_back(engine: AsyncEngine, proxied: PoolProxiedConnection) -> None:
    pool: Any = engine.sync_engine.pool
    if pool.checkedin() < pool.size():
        proxied.close()  # kept: no I/O (no transaction to roll back in autocommit)
    else:
        await greenlet_spawn(proxied.close)  # an overflow connection: closed, which awaits
