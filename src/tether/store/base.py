"""The store's engine, its write transactions, and taking the next seq."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

from sqlalchemy import Connection, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tether.cache import Cache
from tether.db.engine import is_sqlite
from tether.db.schema import sessions
from tether.store import compiled, pg_driver
from tether.store.rows import _SESSION_COLUMNS, SessionRow, session_out
from tether.store.sqlite_inline import close_inline, close_reader, inline_default, reader_for
from tether.store.writer import writer_for

T = TypeVar("T")

#: Session owners kept in memory (about 150 bytes each).
SESSION_OWNERS_CACHED = 100_000


class StoreBase:
    """What every part of the store shares: the engine, write transactions, the next seq."""

    def __init__(self, engine: AsyncEngine, *, sqlite_inline: bool | None = None) -> None:
        """``sqlite_inline``: run SQLite transactions on the event loop's thread
        (tether.store.sqlite_inline); None takes ``TETHER_SQLITE_INLINE`` (off by default). The
        first store of an engine decides for every store of it."""
        self.engine = engine
        #: session id -> owner's user id. A session's owner is set when it is created and never
        #: changes, and sessions are never deleted, so an owner once read stays true on every
        #: node; only unknown sessions (which may be created later) are asked again.
        self._owners: Cache[str, str] = Cache(SESSION_OWNERS_CACHED)
        #: The hot writes go through the engine's writer (tether.store.writer): whole
        #: transactions, committed in groups.
        inline = inline_default() if sqlite_inline is None else sqlite_inline
        self._writer = writer_for(engine, inline)
        self._reader = reader_for(engine, inline) if is_sqlite(engine) else None
        #: PostgreSQL: the same pool, each statement its own transaction (for the statements
        #: that do a whole write alone, tether.store.statements.SEND_IN_ONE_STATEMENT).
        self._autocommit: AsyncEngine | None = (
            None if is_sqlite(engine) else engine.execution_options(isolation_level="AUTOCOMMIT")
        )
        #: What the reads run on. On PostgreSQL in autocommit: under READ COMMITTED every
        #: statement sees its own snapshot whether or not it runs in a transaction, so a read's
        #: BEGIN and ROLLBACK were two round trips that bought nothing.
        self._reads: AsyncEngine = self._autocommit or engine
        # SQLite has one writer at a time; queueing writers here instead of in SQLite's busy
        # loop keeps latency fair (the writer's groups hold the same lock). PostgreSQL
        # serialises per session on the row lock.
        self._write_lock: asyncio.Lock | None = self._writer.lock if is_sqlite(engine) else None

    async def close(self) -> None:
        await self._writer.close()
        await close_reader(self.engine)
        await close_inline(self.engine)
        await self.engine.dispose()

    async def ping(self) -> None:
        async with self._reads.connect() as conn:
            await conn.execute(text("SELECT 1"))

    @contextlib.asynccontextmanager
    async def _write(self) -> AsyncIterator[AsyncConnection]:
        if self._write_lock is None:
            async with self.engine.begin() as conn:
                yield conn
            return
        async with self._write_lock, self.engine.begin() as conn:
            yield conn

    async def _transact(self, write: Callable[[Connection], T]) -> T:
        """Run ``write`` (a whole transaction's statements) through the writer: on SQLite
        committed with whatever other writes are queued; answered after the COMMIT."""
        return await self._writer.run(write)

    async def _read(self, read: Callable[[Connection], T]) -> T:
        """Run ``read`` (a read transaction's statements): on SQLite inline, or in the reader
        thread, one hand-off for all of them."""
        if self._reader is not None:
            return await self._reader.transaction(read)
        async with self._reads.connect() as conn:
            return await conn.run_sync(read)

    async def _one_statement(self, statement: Any, params: dict[str, Any]) -> list[Any]:
        """PostgreSQL: ``statement`` (built once: tether.store.statements) alone in autocommit
        on the pool's raw asyncpg connection (tether.store.pg_driver), one round trip; as
        atomic, and as durable once it returns, as a transaction of its own. Its rows."""
        self._writer.check_open()
        return await pg_driver.fetch(self.engine, statement, params)

    async def _write_session(
        self, statement: Any, params: dict[str, Any], *, built_once: bool = True
    ) -> SessionRow | None:
        """One statement returning a session row: through the writer on SQLite; on
        PostgreSQL alone in autocommit, one round trip (not BEGIN, the statement and COMMIT),
        as atomic and as durable once it returns. ``built_once``: a statement of
        tether.store.statements, run compiled (tether.store.compiled; on PostgreSQL on the
        raw connection, tether.store.pg_driver); False for one built per call, which runs on
        Core (compiling it would cost more than Core's cache)."""
        if self._autocommit is not None and built_once:
            rows = await self._one_statement(statement, params)
            return session_out(rows[0]) if rows else None
        if self._autocommit is not None:
            self._writer.check_open()
            async with self._autocommit.connect() as conn:
                found = (await conn.execute(statement, params)).first()
            return None if found is None else session_out(found)

        def write(conn: Connection) -> SessionRow | None:
            if built_once:
                row = compiled.first(conn, statement, params)
            else:
                row = conn.execute(statement, params).first()
            return None if row is None else session_out(row)

        return await self._transact(write)

    async def _update_session(self, condition: Any, **values: Any) -> SessionRow | None:
        """One UPDATE of a session row; the session afterwards, or None when none matched."""
        return await self._write_session(
            update(sessions).where(condition).values(**values).returning(*_SESSION_COLUMNS), {},
            built_once=False,
        )
