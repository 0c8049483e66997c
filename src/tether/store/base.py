"""The store's engine, its write transactions, and taking the next seq."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tether.cache import Cache
from tether.db.engine import is_sqlite
from tether.db.schema import sessions
from tether.store import statements
from tether.store.rows import _SESSION_COLUMNS, SessionRow, session_out, utcnow

#: Session owners kept in memory (about 150 bytes each).
SESSION_OWNERS_CACHED = 100_000


class StoreBase:
    """What every part of the store shares: the engine, write transactions, the next seq."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        #: session id -> owner's user id. A session's owner is set when it is created and never
        #: changes, and sessions are never deleted, so an owner once read stays true on every
        #: node; only unknown sessions (which may be created later) are asked again.
        self._owners: Cache[str, str] = Cache(SESSION_OWNERS_CACHED)
        # SQLite has one writer at a time; queueing writers here instead of in SQLite's busy
        # loop keeps latency fair. PostgreSQL serialises per session on the row lock.
        self._write_lock: asyncio.Lock | None = asyncio.Lock() if is_sqlite(engine) else None

    async def close(self) -> None:
        await self.engine.dispose()

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    @contextlib.asynccontextmanager
    async def _write(self) -> AsyncIterator[AsyncConnection]:
        if self._write_lock is None:
            async with self.engine.begin() as conn:
                yield conn
            return
        async with self._write_lock, self.engine.begin() as conn:
            yield conn

    @staticmethod
    async def _next_seq(
        conn: AsyncConnection,
        session_id: str,
        *,
        user_id: str | None = None,
        runner: str | None = None,
        new_message: bool,
    ) -> tuple[int, int] | None:
        """Take the session's next seq (and next position for a new message) in ``conn``'s
        transaction; None when there is no such session (of that user, claimed by that
        runner)."""
        params: dict[str, Any] = {"p_session": session_id, "p_now": utcnow()}
        if user_id is not None:
            params["p_user"] = user_id
        if runner is not None:
            params["p_runner"] = runner
        statement = statements.NEXT_SEQ[(user_id is not None, runner is not None, new_message)]
        row = (await conn.execute(statement, params)).first()
        return None if row is None else (row[0], row[1])

    async def _write_session(self, statement: Any, params: dict[str, Any]) -> SessionRow | None:
        """One prebuilt statement returning a session row (tether.store.statements)."""
        async with self._write() as conn:
            row = (await conn.execute(statement, params)).first()
        return None if row is None else session_out(row)

    async def _update_session(self, condition: Any, **values: Any) -> SessionRow | None:
        """One UPDATE of a session row; the session afterwards, or None when none matched."""
        async with self._write() as conn:
            row = (
                await conn.execute(
                    update(sessions).where(condition).values(**values).returning(*_SESSION_COLUMNS)
                )
            ).first()
        return None if row is None else session_out(row)
