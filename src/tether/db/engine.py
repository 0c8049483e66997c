"""Creating the async engine: URL normalisation and SQLite's pragmas."""

from __future__ import annotations

import json
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Engine, StaticPool, event
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from tether.db.checkout import watch_checkouts


class BadDatabaseURL(ValueError):
    """The database URL cannot be used."""


def async_url(url: str) -> str:
    """Map ``sqlite:///`` and ``postgresql://`` to their async drivers; keep explicit drivers."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise BadDatabaseURL(f"cannot parse database URL {url!r}") from None
    backend, _, driver = parsed.drivername.partition("+")
    if backend == "sqlite":
        if driver not in ("", "aiosqlite"):
            raise BadDatabaseURL(f"unsupported SQLite driver {driver!r}: use sqlite:///path")
        if not parsed.database or parsed.database == ":memory:":
            raise BadDatabaseURL("an SQLite URL needs a file path: sqlite:///path/to/tether.db")
        return parsed.set(drivername="sqlite+aiosqlite").render_as_string(hide_password=False)
    if backend in ("postgresql", "postgres"):
        if driver not in ("", "asyncpg"):
            raise BadDatabaseURL(f"unsupported PostgreSQL driver {driver!r}: use postgresql://")
        return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)
    raise BadDatabaseURL(f"unsupported database {backend!r}: use sqlite:///path or postgresql://")


def check_sqlite_directory(url: str) -> None:
    """Fail early, with a clear reason, when an SQLite file's directory does not exist
    (aiosqlite would fail later from its own thread, noisily)."""
    parsed = make_url(async_url(url))
    if parsed.drivername.startswith("sqlite") and parsed.database:
        directory = Path(parsed.database).expanduser().resolve().parent
        if not directory.is_dir():
            raise BadDatabaseURL(f"cannot open the database: no directory {directory}")


def describe_error(exc: BaseException) -> str:
    """One line for a database error (SQLAlchemy's own text spans several)."""
    original = getattr(exc, "orig", None)
    if original is not None:
        exc = original
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def is_sqlite(engine: AsyncEngine) -> bool:
    return engine.dialect.name == "sqlite"


def create_engine(url: str, *, sqlite_busy_timeout: float = 5.0, **kwargs: Any) -> AsyncEngine:
    """An async engine for ``url``; SQLite runs in WAL mode with our own BEGIN (see below)."""
    target = async_url(url)
    if not target.startswith("sqlite"):
        kwargs.setdefault("connect_args", {"timeout": 5, "command_timeout": 30})
        # Enough connections for a loaded node's concurrent sends, reads and runs: past
        # pool_size a connection returned is closed, and the next one costs a new backend.
        kwargs.setdefault("pool_size", POOL_SIZE)
        kwargs.setdefault("max_overflow", POOL_OVERFLOW)
    kwargs.setdefault("json_serializer", column_json)
    kwargs.setdefault("json_deserializer", column_value)
    engine = create_async_engine(target, **kwargs)
    if is_sqlite(engine):
        configure_sqlite(engine.sync_engine, sqlite_busy_timeout)
        _BUSY_TIMEOUTS[engine.sync_engine] = sqlite_busy_timeout
    elif not kwargs.get("pool_pre_ping"):
        watch_checkouts(engine.sync_engine)
    return engine


def column_json(value: Any) -> str:
    """A JSON column's value as text (``messages.parts``): orjson, several times faster than
    the standard library and valid JSON for it (non-ASCII kept as UTF-8, not escaped). What
    orjson refuses (a key that is not a str, an int beyond 64 bits) is written as before, by
    the standard library. NaN and infinities become ``null`` (the standard library's ``NaN``
    is not JSON: PostgreSQL's json type refuses it)."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return json.dumps(value)


def column_value(text: str) -> Any:
    """A JSON column's text read back, by the standard library: orjson reads an int beyond 64
    bits as a float and refuses ``NaN`` and lone surrogate escapes (which older rows may
    hold), and telling such texts apart costs about what orjson would save. ``null``, what a
    plain answer's parts column holds, is read without a parser."""
    if text == "null":
        return None
    return json.loads(text)


#: PostgreSQL's pool: connections kept, and opened beyond them under a burst.
POOL_SIZE = 20
POOL_OVERFLOW = 10


#: The busy timeout each SQLite engine was made with (for sqlite_writer_engine).
_BUSY_TIMEOUTS: weakref.WeakKeyDictionary[Engine, float] = weakref.WeakKeyDictionary()


def sqlite_thread_engine(
    engine: AsyncEngine, *, busy_timeout: float | None = None, begin: str | None = "BEGIN",
    wal_autocheckpoint: int | None = None, any_thread: bool = False,
) -> Callable[[], Engine]:
    """What makes a synchronous (pysqlite) engine on ``engine``'s SQLite file with the same
    pragmas, for the store's own connections (tether.store.sqlite_thread,
    tether.store.sqlite_inline); it keeps no reference to ``engine``. ``busy_timeout``
    overrides the engine's, ``begin`` is the statement every transaction starts with (None:
    its caller runs its own after ``Connection.begin()``),
    ``wal_autocheckpoint`` (0: none) overrides SQLite's 1,000 pages, and ``any_thread`` lets
    another thread than the one that opened it use (or close) the connection."""
    url = engine.url.set(drivername="sqlite+pysqlite")
    timeout = _BUSY_TIMEOUTS.get(engine.sync_engine, 5.0) if busy_timeout is None else busy_timeout
    connect_args = {"check_same_thread": False} if any_thread else {}

    def make() -> Engine:
        sync = create_sync_engine(url, poolclass=StaticPool, connect_args=connect_args,
                                  json_serializer=column_json, json_deserializer=column_value)
        configure_sqlite(sync, timeout, begin=begin, wal_autocheckpoint=wal_autocheckpoint)
        return sync

    return make


#: The most bytes a WAL file keeps once a checkpoint has let it start over (SQLite truncates
#: it to this when it restarts the log; without a limit it keeps its largest size).
WAL_SIZE_LIMIT = 64 * 1024 * 1024


def configure_sqlite(
    engine: Engine, busy_timeout: float, *, begin: str | None = "BEGIN",
    wal_autocheckpoint: int | None = None,
) -> None:
    """WAL, ``synchronous=NORMAL``, foreign keys, the busy timeout, the WAL's size limit, and
    our own BEGIN (``begin``; None: the caller's) on every connection of a (synchronous)
    SQLite engine."""
    # The sqlite3 module's own transaction handling defers BEGIN until the first DML statement
    # and breaks RETURNING and SAVEPOINT; SQLAlchemy's documented recipe turns it off and emits
    # BEGIN itself, so every transaction really is one.
    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
        cursor.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
        if wal_autocheckpoint is not None:
            cursor.execute(f"PRAGMA wal_autocheckpoint={int(wal_autocheckpoint)}")
        cursor.close()

    if begin is not None:
        statement = begin

        @event.listens_for(engine, "begin")
        def _begin(conn: Any) -> None:
            conn.exec_driver_sql(statement)
