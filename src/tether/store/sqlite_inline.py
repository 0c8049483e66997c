"""SQLite transactions run on the event loop's own thread; a lock met hands them to a thread.

In WAL mode with ``synchronous=NORMAL`` a small transaction is tens of microseconds of CPU and
no fsync (its COMMIT appends to the WAL), less than handing it to a thread and back
(run_in_executor, the thread's wake-up, ``call_soon_threadsafe``, the loop's self-pipe, GIL
hand-overs). So the store runs its transactions here, synchronously, on a pysqlite connection
of their own opened with ``busy_timeout=0``: the event loop never waits on a lock. A
transaction that meets one (another connection holds SQLite's write lock: another Tether
process on the same file, a migration, the accounts' engine) is rolled back at once and run
again by a ``SqliteThread``, which waits with the normal busy timeout.

A write begins with ``BEGIN IMMEDIATE``: the write lock is taken (or found taken) at BEGIN,
before any of the transaction's statements ran, so the fallback never redoes work. The
connection's automatic checkpoints are off (a checkpoint fsyncs the database file): the
writer runs them in its thread (tether.store.checkpoints).

``TETHER_SQLITE_INLINE=true`` (tether.settings) turns it on; it is off by default: measured
(docs/performance.md, branch ``inline``), it costs about two thirds of the threads' CPU per
send at a given offered rate, but more per send where the server saturates its core, and a
single busy thread gets a smaller share of a core shared with other processes than the
loop and its SQLite threads together.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
from typing import Protocol, TypeVar

from sqlalchemy import Connection
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from tether.db.engine import sqlite_thread_engine
from tether.store.sqlite_thread import LazyConnection, SqliteThread, run_transaction

T = TypeVar("T")

#: SQLite's primary result codes for "another connection holds a lock".
SQLITE_BUSY = 5
SQLITE_LOCKED = 6


class Transactions(Protocol):
    """What runs the store's SQLite transactions: ``fn(connection)`` in one transaction."""

    async def transaction(self, fn: Callable[[Connection], T]) -> T: ...

    async def close(self) -> None: ...


def is_locked(exc: BaseException) -> bool:
    """Whether ``exc`` is SQLite's "database is locked" (SQLITE_BUSY or SQLITE_LOCKED, any
    extended code)."""
    original = getattr(exc, "orig", exc)
    code = getattr(original, "sqlite_errorcode", None)
    return isinstance(code, int) and code & 0xFF in (SQLITE_BUSY, SQLITE_LOCKED)


class InlineSqlite:
    """One pysqlite connection used on the event loop's thread for the store's reads and
    writes alike (one per engine, see inline_for): a transaction runs there to its end
    without yielding to the loop, so two never interleave, and a read after the process's own
    write finds SQLite's page cache as that write left it (a second connection would drop its
    whole cache whenever the other one has written)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._conn = LazyConnection(sqlite_thread_engine(
            engine, busy_timeout=0, begin=None, wal_autocheckpoint=0,
            # Closed in a thread (see close), not on the loop.
            any_thread=True,
        ))
        #: Transactions handed to a fallback because of a lock (for tests and diagnostics).
        self.fallbacks = 0

    async def transaction(
        self, fn: Callable[[Connection], T], fallback: SqliteThread, *, for_write: bool
    ) -> T:
        """``fn``'s result once its transaction has committed; what it (or COMMIT) raised,
        after a rollback, otherwise. A write begins ``IMMEDIATE``. Runs to its end without
        yielding to the loop, unless it meets a lock: then ``fallback`` runs it."""
        try:
            return run_transaction(
                self._conn.get(), fn, "BEGIN IMMEDIATE" if for_write else "BEGIN"
            )
        except OperationalError as exc:
            if not is_locked(exc):
                raise
        # Rolled back: nothing of it stands. A write met the lock at its BEGIN IMMEDIATE; a
        # read meets one only in WAL's rare cases (another connection recovering the WAL).
        self.fallbacks += 1
        return await fallback.transaction(fn)

    async def close(self) -> None:
        """Close the connection in a thread (the last connection to a file to close
        checkpoints its WAL, an fsync)."""
        if self._conn.opened:
            await asyncio.to_thread(self._conn.dispose)


class InlineReader:
    """The store's reads, inline; those that meet a lock in the reader thread."""

    def __init__(self, inline: InlineSqlite, thread: SqliteThread) -> None:
        self._inline = inline
        self._thread = thread

    async def transaction(self, fn: Callable[[Connection], T]) -> T:
        return await self._inline.transaction(fn, self._thread, for_write=False)

    async def close(self) -> None:
        await self._thread.close()


_INLINE: weakref.WeakKeyDictionary[AsyncEngine, InlineSqlite] = weakref.WeakKeyDictionary()


def inline_for(engine: AsyncEngine) -> InlineSqlite:
    """The engine's inline connection (one per engine: its reader's and its writer's)."""
    inline = _INLINE.get(engine)
    if inline is None:
        inline = _INLINE[engine] = InlineSqlite(engine)
    return inline


async def close_inline(engine: AsyncEngine) -> None:
    inline = _INLINE.pop(engine, None)
    if inline is not None:
        await inline.close()


def inline_default() -> bool:
    """``TETHER_SQLITE_INLINE`` (tether.settings), for a store not told otherwise."""
    from tether.settings import Settings

    return Settings().sqlite_inline


_READERS: weakref.WeakKeyDictionary[AsyncEngine, Transactions] = weakref.WeakKeyDictionary()


def reader_for(engine: AsyncEngine, inline: bool) -> Transactions:
    """What runs the store's hot reads on this SQLite engine (one per engine): inline, or the
    reader thread. In WAL mode a read transaction sees every commit made before it began and
    never waits for the writer."""
    reader = _READERS.get(engine)
    if reader is None:
        thread = SqliteThread(engine, "tether-sqlite-reader")
        reader = InlineReader(inline_for(engine), thread) if inline else thread
        _READERS[engine] = reader
    return reader


async def close_reader(engine: AsyncEngine) -> None:
    reader = _READERS.pop(engine, None)
    if reader is not None:
        await reader.close()

