"""The store's writer: whole write transactions, queued and committed in groups (SQLite).

A write is a synchronous function of a SQLAlchemy ``Connection`` that runs a transaction's
statements (taking a seq, inserting, updating). On SQLite, writes queued while a group commits
go together in the next group: one transaction in the writer's own thread
(tether.store.sqlite_thread), each write in its own savepoint, so a write that raises rolls back
alone and raises to its own caller while the others commit. Every caller is answered after the
group's COMMIT, so an acknowledged write is as durable as before; a COMMIT that fails fails
every write of its group. SQLite has one writer at a time anyway: a group costs one hand-off to
the thread and one COMMIT, where each write used to cost several hand-offs per statement.

With ``TETHER_SQLITE_INLINE=true`` the group runs on the event loop's thread instead
(tether.store.sqlite_inline; a lock held by another connection hands it to the writer's
thread, which waits for it) and the WAL is checkpointed in that thread
(tether.store.checkpoints); by default every group runs in the thread. Grouping still pays
inline: one COMMIT (a write to the WAL) for the writes queued during one turn of the loop.

On PostgreSQL each write is its own transaction on its own pooled connection (``run_sync``),
side by side: one connection running every group was measured slower there (its round trips
add up, where separate connections overlap them), and row locks already serialise per session.
"""

from __future__ import annotations

import asyncio
import functools
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from tether.db.engine import is_sqlite
from tether.store.checkpoints import Checkpointed, WalCheckpoints, passive_checkpoint
from tether.store.rows import StorageUnavailable
from tether.store.sqlite_inline import InlineSqlite, inline_for
from tether.store.sqlite_thread import SqliteThread, execute_plain

T = TypeVar("T")

#: A write transaction's statements, run with the group's connection.
Write = Callable[[Connection], Any]

#: Most writes in one group (a group holds SQLite's write lock while it runs).
MAX_GROUP = 64


@dataclass(slots=True)
class _Queued:
    write: Write
    future: asyncio.Future[Any] = field(repr=False)


def run_group(conn: Connection, writes: list[Write]) -> list[tuple[bool, Any]]:
    """Run ``writes`` in ``conn``'s open transaction, each in its own savepoint; (ok, result or
    exception) for each."""
    # Plain SQL on the DBAPI connection, not begin_nested(): SQLAlchemy compiled each
    # SAVEPOINT / RELEASE anew (about 8 % of the server's samples under the persistence
    # benchmark), and even its exec_driver_sql costs 15 us a pair where pysqlite's costs 2.
    outcomes: list[tuple[bool, Any]] = []
    for write in writes:
        execute_plain(conn, "SAVEPOINT member")
        try:
            result = write(conn)
        except Exception as exc:
            execute_plain(conn, "ROLLBACK TO member")
            execute_plain(conn, "RELEASE member")
            outcomes.append((False, exc))
        else:
            execute_plain(conn, "RELEASE member")
            outcomes.append((True, result))
    return outcomes


class Writer:
    """One per database engine (see writer_for): queues write transactions and commits them in
    groups, one group at a time."""

    def __init__(self, engine: AsyncEngine, inline: bool = True) -> None:
        # Weakly: the registry (writer_for) must not keep the engine alive.
        self._engine = weakref.ref(engine)
        #: Held while a group runs. On SQLite the store's other writes (those still written as
        #: ``async with _write()``) take it too, so they queue here and not in SQLite's busy loop.
        self.lock = asyncio.Lock()
        self._pending: list[_Queued] = []
        self._drainer: asyncio.Task[None] | None = None
        self._closed = False
        self._sqlite = is_sqlite(engine)
        self._thread: SqliteThread | None = None
        #: On SQLite: groups run on the loop's thread (inline), the thread only for a lock
        #: met and for checkpoints; see tether.store.sqlite_inline.
        self.inline: InlineSqlite | None = None
        self.checkpoints: WalCheckpoints | None = None
        if self._sqlite and inline:
            self._thread = SqliteThread(engine, "tether-sqlite-writer", begin="BEGIN IMMEDIATE")
            self.inline = inline_for(engine)
            self.checkpoints = WalCheckpoints(self._checkpoint)
        #: Groups committed (or failed) so far, and the most writes one of them held: for
        #: tests and diagnostics.
        self.groups = 0
        self.largest_group = 0

    def check_open(self) -> None:
        """Raise StorageUnavailable once the writer is closed (for writes that bypass it)."""
        if self._closed:
            raise StorageUnavailable("the store is closed")

    async def run(self, write: Callable[[Connection], T]) -> T:
        """Run ``write`` as one member of the next group; its result once the group has
        committed, or the exception it (or the group's COMMIT) raised."""
        self.check_open()
        if not self._sqlite:
            async with self._live_engine().begin() as conn:
                return await conn.run_sync(write)
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._pending.append(_Queued(write, future))
        if self._drainer is None:
            self._drainer = asyncio.create_task(self._drain(), name="store-writer")
        return await future

    async def close(self) -> None:
        """Commit what is queued, then refuse new writes (StorageUnavailable) and let the
        thread and its connection go."""
        self._closed = True
        if self._drainer is not None:
            await asyncio.shield(self._drainer)
        if self.checkpoints is not None:
            await self.checkpoints.close()
        if self._thread is not None:
            await self._thread.close()
            self._thread = None
        engine = self._engine()
        if engine is not None:
            _WRITERS.pop(engine, None)

    def _live_engine(self) -> AsyncEngine:
        engine = self._engine()
        if engine is None:  # its stores hold it: a write after they are gone has no caller
            raise StorageUnavailable("the store's engine is gone")
        return engine

    # -- the group loop ---------------------------------------------------------------------

    async def _drain(self) -> None:
        group: list[_Queued] = []
        try:
            while self._pending:
                group, self._pending = self._pending[:MAX_GROUP], self._pending[MAX_GROUP:]
                writes = [q.write for q in group]
                self.groups += 1
                self.largest_group = max(self.largest_group, len(group))
                async with self.lock:
                    try:
                        outcomes = await self._commit(writes)
                    except Exception as exc:  # the COMMIT (or BEGIN) failed: the whole group
                        outcomes = [(False, exc)] * len(group)
                for queued, (ok, value) in zip(group, outcomes, strict=True):
                    if queued.future.done():  # its caller was cancelled; the write stands
                        continue
                    if ok:
                        queued.future.set_result(value)
                    else:
                        queued.future.set_exception(value)
                group = []
        finally:
            self._drainer = None
            # Only when cancelled (the loop is stopping) is anyone left: they get a clear
            # answer; the group that was in flight may or may not have committed.
            for queued in group + self._pending:
                if not queued.future.done():
                    queued.future.set_exception(StorageUnavailable("the store's writer stopped"))
            self._pending = []

    async def _commit(self, writes: list[Write]) -> list[tuple[bool, Any]]:
        """One transaction for ``writes``. A lone write needs no savepoint: its transaction is
        its own, and what it raises (or its COMMIT) is its outcome."""
        if len(writes) == 1:
            try:
                return [(True, await self._transaction(writes[0]))]
            except Exception as exc:
                return [(False, exc)]
        outcomes: list[tuple[bool, Any]] = await self._transaction(
            functools.partial(run_group, writes=writes)
        )
        return outcomes

    async def _transaction(self, write: Write) -> Any:
        if self.inline is not None:
            assert self.checkpoints is not None and self._thread is not None
            result = await self.inline.transaction(write, self._thread, for_write=True)
            self.checkpoints.committed()
            return result
        if self._thread is None:
            self._thread = SqliteThread(self._live_engine(), "tether-sqlite-writer")
        return await self._thread.transaction(write)

    async def _checkpoint(self, paused: bool) -> Checkpointed:
        """A PASSIVE checkpoint in the writer's thread; ``paused``: with no group committing
        meanwhile (the groups wait for the lock, reads go on)."""
        assert self._thread is not None
        if not paused:
            return await self._thread.outside_transaction(passive_checkpoint)
        async with self.lock:
            return await self._thread.outside_transaction(passive_checkpoint)


_WRITERS: weakref.WeakKeyDictionary[AsyncEngine, Writer] = weakref.WeakKeyDictionary()


def writer_for(engine: AsyncEngine, inline: bool = True) -> Writer:
    """The engine's writer: one per database engine, however many stores share it, so every
    write of a process to one SQLite file goes through one connection. ``inline`` is for the
    first call, which makes it."""
    writer = _WRITERS.get(engine)
    if writer is None:
        writer = _WRITERS[engine] = Writer(engine, inline)
    return writer
