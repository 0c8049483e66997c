"""One thread holding one SQLite connection, running whole transactions handed to it.

aiosqlite hands every DBAPI call (cursor, execute, fetch, close, BEGIN, COMMIT) to its thread
and back, several hand-offs per statement, each a wake-up of the event loop; a transaction run
here is one hand-off there and one back, however many statements it has. The connection is
pysqlite's, opened in the thread with the engine's own pragmas (tether.db.engine:
WAL, ``synchronous=NORMAL``, foreign keys, the busy timeout).

With inline transactions on (tether.store.sqlite_inline, ``TETHER_SQLITE_INLINE=true``)
this thread runs only what must not run on the event loop: a transaction that met another
connection's lock (it waits here, with the busy timeout) and the WAL's checkpoints
(tether.store.checkpoints).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import sqlite3
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from tether.db.engine import sqlite_thread_engine

T = TypeVar("T")


class LazyConnection:
    """A synchronous engine's one connection, opened on first use and again after it was
    invalidated."""

    def __init__(self, make_engine: Callable[[], Engine]) -> None:
        self._make_engine = make_engine
        self._sync_engine: Engine | None = None
        self._conn: Connection | None = None

    def get(self) -> Connection:
        if self._conn is None or self._conn.invalidated:
            if self._conn is not None:
                self._conn.close()
            if self._sync_engine is None:
                self._sync_engine = self._make_engine()
            self._conn = self._sync_engine.connect()
        return self._conn

    @property
    def opened(self) -> bool:
        return self._sync_engine is not None

    def dispose(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self._sync_engine is not None:
            self._sync_engine.dispose()
            self._sync_engine = None


class SqliteThread:
    """Runs ``fn(connection)`` in one transaction in its own thread, one call at a time."""

    def __init__(self, engine: AsyncEngine, name: str, begin: str = "BEGIN") -> None:
        self._name = name
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        # Touched only in the thread:
        self._begin = begin
        self._conn = LazyConnection(sqlite_thread_engine(engine, begin=None))

    async def transaction(self, fn: Callable[[Connection], T]) -> T:
        """``fn``'s result once its transaction has committed; what it (or COMMIT) raised,
        after a rollback, otherwise."""
        return await self.call(lambda: run_transaction(self._conn.get(), fn, self._begin))

    async def outside_transaction(self, fn: Callable[[Any], T]) -> T:
        """``fn(dbapi_connection)`` in the thread, with no transaction open (a checkpoint
        needs none)."""
        return await self.call(lambda: fn(self._conn.get().connection.dbapi_connection))

    async def call(self, fn: Callable[[], T]) -> T:
        """``fn()`` in the thread, after what was handed to it before."""
        if self._executor is None:
            self._executor = concurrent.futures.ThreadPoolExecutor(
                max_workers=1, thread_name_prefix=self._name
            )
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    async def close(self) -> None:
        """Close the connection and end the thread (after what was handed to it)."""
        executor, self._executor = self._executor, None
        if executor is not None:
            await asyncio.get_running_loop().run_in_executor(executor, self._conn.dispose)
            executor.shutdown(wait=True)


def execute_plain(conn: Connection, statement: str) -> None:
    """Run a statement without parameters or rows (BEGIN, SAVEPOINT) on ``conn``'s pysqlite
    connection itself: SQLAlchemy's ``exec_driver_sql`` costs 6-7 us more for each. What it
    raises is wrapped as SQLAlchemy would (an ``OperationalError`` for a lock)."""
    dbapi = conn.connection.dbapi_connection
    assert dbapi is not None
    try:
        dbapi.execute(statement)
    except sqlite3.Error as exc:
        raise DBAPIError.instance(statement, None, exc, sqlite3.Error) from exc


def run_transaction(
    conn: Connection, fn: Callable[[Connection], T], begin: str | None = None
) -> T:
    """``fn(conn)`` in one transaction of ``conn``: its result once committed; what it (or
    BEGIN, or COMMIT) raised, after a rollback, otherwise. ``begin``: the statement that
    starts it, for an engine that emits none itself (tether.db.engine.configure_sqlite)."""
    try:
        with conn.begin():
            if begin is not None:
                execute_plain(conn, begin)
            return fn(conn)
    except BaseException:
        # A COMMIT that failed (a deferred constraint, SQLITE_BUSY, a full disk) leaves
        # SQLite's transaction open, and the next BEGIN would fail: end it here.
        dbapi = conn.connection.dbapi_connection
        if dbapi is not None and getattr(dbapi, "in_transaction", False):
            dbapi.rollback()
        raise
