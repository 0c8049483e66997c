"""One thread holding one SQLite connection, running whole transactions handed to it.

aiosqlite hands every DBAPI call (cursor, execute, fetch, close, BEGIN, COMMIT) to its thread
and back, several hand-offs per statement, each a wake-up of the event loop; a transaction run
here is one hand-off there and one back, however many statements it has. The connection is
pysqlite's, opened in the thread with the engine's own pragmas (tether.db.engine:
WAL, ``synchronous=NORMAL``, foreign keys, the busy timeout).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import weakref
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.ext.asyncio import AsyncEngine

from tether.db.engine import sqlite_thread_engine

T = TypeVar("T")


class SqliteThread:
    """Runs ``fn(connection)`` in one transaction in its own thread, one call at a time."""

    def __init__(self, engine: AsyncEngine, name: str) -> None:
        self._make_engine = sqlite_thread_engine(engine)
        self._name = name
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        # Touched only in the thread:
        self._sync_engine: Engine | None = None
        self._conn: Connection | None = None

    async def transaction(self, fn: Callable[[Connection], T]) -> T:
        """``fn``'s result once its transaction has committed; what it (or COMMIT) raised,
        after a rollback, otherwise."""
        if self._executor is None:
            self._executor = concurrent.futures.ThreadPoolExecutor(
                max_workers=1, thread_name_prefix=self._name
            )
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._run, fn)

    async def close(self) -> None:
        """Close the connection and end the thread (after what was handed to it)."""
        executor, self._executor = self._executor, None
        if executor is not None:
            await asyncio.get_running_loop().run_in_executor(executor, self._dispose)
            executor.shutdown(wait=True)

    def _run(self, fn: Callable[[Connection], T]) -> T:
        if self._conn is None or self._conn.invalidated:
            if self._conn is not None:
                self._conn.close()
            if self._sync_engine is None:
                self._sync_engine = self._make_engine()
            self._conn = self._sync_engine.connect()
        try:
            with self._conn.begin():
                return fn(self._conn)
        except BaseException:
            # A COMMIT that failed (a deferred constraint, SQLITE_BUSY, a full disk) leaves
            # SQLite's transaction open, and the next BEGIN would fail: end it here.
            dbapi = self._conn.connection.dbapi_connection
            if dbapi is not None and getattr(dbapi, "in_transaction", False):
                dbapi.rollback()
            raise

    def _dispose(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self._sync_engine is not None:
            self._sync_engine.dispose()
            self._sync_engine = None


_READERS: weakref.WeakKeyDictionary[AsyncEngine, SqliteThread] = weakref.WeakKeyDictionary()


def reader_for(engine: AsyncEngine) -> SqliteThread:
    """The thread that runs the store's hot reads on this SQLite engine (one per engine). In
    WAL mode a read transaction sees every commit made before it began and never waits for the
    writer."""
    reader = _READERS.get(engine)
    if reader is None:
        reader = _READERS[engine] = SqliteThread(engine, "tether-sqlite-reader")
    return reader


async def close_reader(engine: AsyncEngine) -> None:
    reader = _READERS.pop(engine, None)
    if reader is not None:
        await reader.close()
