"""PostgreSQL's one-statement writes and reads on the raw asyncpg connection.

The store's hot statements on PostgreSQL each do a whole write (or read) alone in autocommit:
a send, a claim, an answer's start and end, a release. Through SQLAlchemy Core's
``AsyncConnection`` each cost about 250 us of CPU (the async adapter, greenlet switches,
result processing) where asyncpg itself costs about 45, and its checkout another 44-95. Here
the statement is compiled once by SQLAlchemy (tether.store.compiled) and run on the pool's own
connection (tether.db.checkout.raw_connection): the same SQL, the same values both ways (the
bind and result processors of the compiled statement; the JSON codec SQLAlchemy's dialect set
on the connection), and the same SQLAlchemy exception classes for the store's callers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql import ClauseElement

from tether.db.checkout import raw_connection
from tether.store.compiled import Compiled, Record, keys_for


async def fetch(
    engine: AsyncEngine, statement: ClauseElement, params: Mapping[str, Any]
) -> list[Record]:
    """Run ``statement`` (built once: compiled forms are kept per statement) with ``params``
    alone in autocommit on a connection of ``engine``'s pool; its rows (``Record``: by index,
    by attribute, ``_mapping``).

    A statement that failed before it was sent (its connection found dead: closed, or failed
    by a server that has just terminated it and not yet closed its socket) is run once more on
    a fresh connection; one that failed after it was sent is never run again (it may have
    been written): the caller gets the error. Errors are SQLAlchemy's, as through Core:
    ``IntegrityError`` for a constraint, ``OperationalError`` (``connection_invalidated``)
    for a lost connection, ``InterfaceError`` for the driver's own. The engine's
    ``before_execute`` and ``before_cursor_execute`` listeners are called as Core calls them,
    with no Connection (None): the statement counters of bench/ and tests/ see these too."""
    compiled = Compiled.for_statement(statement, engine.dialect, keys_for(statement, params))
    args = compiled.args(params)
    dispatch = engine.sync_engine.dispatch
    for attempt in (1, 2):
        if dispatch.before_execute:
            dispatch.before_execute(None, statement, (), params, {})
        if dispatch.before_cursor_execute:
            dispatch.before_cursor_execute(None, None, compiled.sql, args, None, False)
        async with raw_connection(engine) as proxied:
            conn = proxied.driver_connection
            assert conn is not None
            try:
                raw = await conn.fetch(compiled.sql, *args)
            except BaseException as error:
                if not isinstance(error, asyncpg.PostgresError) or _lost(error, conn):
                    # Lost, cancelled mid-statement, or a driver fault: the connection's state
                    # is unknown, so it is not given to anyone else.
                    proxied.invalidate()
                if attempt == 1 and (_not_sent(error) or _lost_while_preparing(error, conn)):
                    continue
                if isinstance(error, Exception):
                    raise _translated(error, compiled.sql, args, conn) from error
                raise
        return compiled.rows(raw)
    raise AssertionError("unreachable: the second attempt returns or raises")


def _not_sent(error: BaseException) -> bool:
    """Whether asyncpg refused the statement before writing any of it: a connection closed
    already (``InterfaceError: connection is closed``), or one whose protocol is still
    consuming an error it was sent unasked (a backend terminated while the connection was
    idle: its goodbye arrives before its socket closes, and asyncpg refuses to start the next
    operation, ``cannot switch to state ...``). asyncpg raises both from its state checks,
    before any I/O (tests/store/test_pg_driver.py guards that with real terminations)."""
    if isinstance(error, asyncpg.InternalClientError):
        return str(error).startswith("cannot switch to state")
    if isinstance(error, asyncpg.InterfaceError):
        return str(error) == "connection is closed"
    return False


def _lost_while_preparing(error: BaseException, conn: Any) -> bool:
    """Whether the connection was lost while asyncpg was preparing the statement (its first
    use on that connection: Parse and Describe, which execute nothing), as when a backend
    terminated a moment before is used before its goodbye is read. Nothing ran, so it is as
    safe to run again as a statement never sent. Told by asyncpg's own frame
    (``Connection._get_statement``, asyncpg pinned below 0.33) in the traceback; a loss
    during the execution itself is never retried."""
    if not _lost(error, conn):
        return False
    frame = error.__traceback__
    while frame is not None:
        if frame.tb_frame.f_code.co_name == "_get_statement":
            return True
        frame = frame.tb_next
    return False


def _lost(error: BaseException, conn: Any) -> bool:
    return (
        isinstance(error, asyncpg.PostgresConnectionError | asyncpg.AdminShutdownError
                   | OSError | TimeoutError)
        or conn.is_closed()
    )


def _translated(
    error: Exception, sql: str, args: Sequence[Any], conn: Any
) -> sa_exc.DBAPIError:
    """``error`` as the SQLAlchemy exception Core raises for it (as the asyncpg dialect maps
    asyncpg's classes: constraint, syntax or access, other server errors, the driver's)."""
    lost = _lost(error, conn)
    kind: type[sa_exc.DBAPIError]
    if isinstance(error, asyncpg.IntegrityConstraintViolationError):
        kind = sa_exc.IntegrityError
    elif lost:
        kind = sa_exc.OperationalError
    elif isinstance(error, asyncpg.DataError):
        kind = sa_exc.DataError
    elif isinstance(error, asyncpg.SyntaxOrAccessError):
        kind = sa_exc.ProgrammingError
    elif isinstance(error, asyncpg.InternalServerError):
        kind = sa_exc.InternalError
    elif isinstance(error, asyncpg.PostgresError):
        kind = sa_exc.DBAPIError
    else:
        kind = sa_exc.InterfaceError
    return kind(sql, tuple(args), error, connection_invalidated=lost)
