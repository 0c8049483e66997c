"""The store's hot statements compiled once by SQLAlchemy, run on the driver itself.

A Core ``conn.execute`` of a statement built once still costs 30-50 us of Python per call on
SQLite (the cache lookup, an execution context, parameter processing, a ``CursorResult``,
``Row`` objects), two to five times the driver's own work (docs/performance.md, "the statement
cost floor"). The statements stay Core elements compiled by SQLAlchemy's compiler; what is
done once here instead of per call is everything the compiled form fixes: the SQL text, the
order of its parameters, their bind processors and embedded values, the defaults an INSERT
takes, and the result columns' processors and names.

The interface (``pgfast`` builds PostgreSQL's path on it; keep it stable):

- ``Compiled.for_statement(statement, dialect, keys=None) -> Compiled``: cached per
  statement (by identity: for statements built once, as in tether.store.statements), dialect
  and, for an INSERT or UPDATE, the parameter names given (``keys``: they decide which
  columns it writes, as Core's ``column_keys``). Raises ``Refused`` for what it cannot run
  exactly as Core would (expanding IN, a callable default, a sequence, post-compile
  parameters, result names a ``Record`` cannot carry).
- ``Compiled.sql``: the SQL text, in the dialect's paramstyle.
- ``Compiled.args(params) -> list``: the positional arguments for ``params`` (bind
  processors applied, embedded values and scalar defaults filled in); a missing required
  parameter raises ``sqlalchemy.exc.InvalidRequestError``, as Core's does.
- ``Compiled.rows(raw_rows) -> list[Record]``: the driver's rows with the result processors
  applied.
- ``keys_for(statement, params)``: the ``keys`` to pass for one execution with ``params``.
- ``Record``: a tuple with what the store uses of SQLAlchemy's ``Row``: index, attribute
  access by column name, ``_mapping``.
- ``execute(conn, statement, params) -> list[Record]``, ``first``, ``one``, ``executemany``:
  on a synchronous ``Connection`` inside its open transaction. On SQLite on pysqlite's
  connection itself, its errors wrapped as Core wraps them (``IntegrityError``,
  ``OperationalError``, ``StatementError`` for a bad value); on any other dialect through
  ``conn.execute``. Listeners of ``before_cursor_execute`` / ``after_cursor_execute`` are
  called as Core calls them (the statement counters of bench/ and tests/ use them).
"""

from __future__ import annotations

import sqlite3
import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

from sqlalchemy import Connection, Delete, Insert, Update
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError, InvalidRequestError, MultipleResultsFound, NoResultFound
from sqlalchemy.sql import ClauseElement, Executable

Params = Mapping[str, Any]


class Refused(Exception):
    """The statement has a part Compiled cannot run exactly as Core would: run it on Core."""


class Record(tuple[Any, ...]):
    """A result row: a tuple, its columns also by name (``row.id``) and as ``row._mapping``,
    as the store reads SQLAlchemy's ``Row``. Each ``Compiled`` has its own subclass, which
    knows its names."""

    __slots__ = ()
    _keys: ClassVar[tuple[str, ...]] = ()
    _index: ClassVar[dict[str, int]] = {}

    def __getattr__(self, name: str) -> Any:
        try:
            return self[self._index[name]]
        except KeyError:
            raise AttributeError(name) from None

    @property
    def _mapping(self) -> dict[str, Any]:
        return dict(zip(self._keys, self, strict=True))

    def _asdict(self) -> dict[str, Any]:
        return self._mapping


#: Compiled statements kept per dialect (the store has a few dozen; a statement built per call
#: would each add one, and empty the cache when it is full).
MAX_CACHED = 512

#: Not given: a parameter that must come from the caller.
_REQUIRED: Any = object()

_Processor = Callable[[Any], Any]


class Compiled:
    """One statement compiled for one dialect (and one set of parameter names, for an INSERT
    or UPDATE): its SQL, how to make its arguments, how to read its rows."""

    __slots__ = ("__weakref__", "_binds", "_record", "_row_processors", "keys", "sql", "statement")

    def __init__(
        self, statement: ClauseElement, dialect: Dialect, keys: frozenset[str] | None = None
    ) -> None:
        #: Kept, so that the cache's key (its id) stays its own.
        self.statement = statement
        compiled: Any = statement.compile(
            dialect=dialect, column_keys=sorted(keys) if keys is not None else None
        )
        if compiled.literal_execute_params or compiled.post_compile_params:
            raise Refused("post-compile parameters (expanding IN, literal_execute)")
        if compiled.escaped_bind_names:
            raise Refused("bind names that need escaping")
        if compiled.positiontup is None:
            raise Refused(f"paramstyle {dialect.paramstyle!r} is not positional")
        prefetch: dict[str, Any] = {}
        for column in [*compiled.insert_prefetch, *compiled.update_prefetch]:
            default = column.default if column in compiled.insert_prefetch else column.onupdate
            if default is None or not default.is_scalar:
                raise Refused(f"the default of {column} is not a scalar value")
            prefetch[column.key] = default.arg
        if getattr(compiled, "postfetch_lastrowid", False):
            raise Refused("lastrowid")
        self.sql: str = compiled.string
        self.keys = keys
        binds: list[tuple[str, _Processor | None, Any]] = []
        for name in compiled.positiontup:
            bind = compiled.binds[name]
            if bind.expanding or bind.callable is not None:
                raise Refused(f"parameter {name!r} is expanding or callable")
            if name in prefetch:
                fixed = prefetch[name]
            else:
                fixed = _REQUIRED if bind.required else bind.value
            processor = bind.type.dialect_impl(dialect).bind_processor(dialect)
            binds.append((name, processor, fixed))
        self._binds = tuple(binds)
        columns = _result_columns(statement)
        names = tuple(columns.keys())
        if any(getattr(column, "key", key) != key for key, column in columns.items()):
            # Core's Row names such columns by what they are (two "id"s), the collection
            # by a deduplicated key ("id_1"): which one a caller meant is not known here.
            raise Refused("result columns share a name")
        for name in names:
            if not name.isidentifier() or name.startswith("_") or hasattr(tuple, name):
                raise Refused(f"result column {name!r} cannot be a Record attribute")
        if len(set(names)) != len(names):
            raise Refused("result columns share a name")
        self._row_processors = tuple(
            (i, processor)
            for i, column in enumerate(columns)
            if (processor := column.type.dialect_impl(dialect).result_processor(dialect, None))
            is not None
        )
        self._record: type[Record] = type(
            "Record", (Record,), {"__slots__": (), "_keys": names,
                                  "_index": {n: i for i, n in enumerate(names)}}
        )

    @classmethod
    def for_statement(
        cls, statement: ClauseElement, dialect: Dialect, keys: frozenset[str] | None = None
    ) -> Compiled:
        """The statement compiled for ``dialect`` (once: cached by the statement's identity,
        so for statements built once). ``keys``: the parameter names an INSERT or UPDATE is
        executed with (the columns it writes), ignored for other statements."""
        if not isinstance(statement, Insert | Update):
            keys = None
        per_dialect = _CACHE.get(dialect)
        if per_dialect is None:
            per_dialect = _CACHE[dialect] = {}
        key = (id(statement), keys)
        found = per_dialect.get(key)
        if found is None or found.statement is not statement:
            if len(per_dialect) >= MAX_CACHED:
                # A statement built per call passed here by mistake: forget, not grow.
                per_dialect.clear()
            found = per_dialect[key] = cls(statement, dialect, keys)
        return found

    def args(self, params: Params) -> list[Any]:
        """The positional arguments of one execution with ``params``."""
        out: list[Any] = []
        for name, processor, fixed in self._binds:
            if fixed is _REQUIRED:
                try:
                    value = params[name]
                except KeyError:
                    raise InvalidRequestError(
                        f"A value is required for bind parameter {name!r}"
                    ) from None
            else:
                value = params.get(name, fixed)
            out.append(value if processor is None else processor(value))
        return out

    def rows(self, raw_rows: Sequence[Sequence[Any]]) -> list[Record]:
        """The driver's rows as Records, with the result columns' processors applied."""
        record = self._record
        processors = self._row_processors
        if not processors:
            return [record(raw) for raw in raw_rows]
        out: list[Record] = []
        for raw in raw_rows:
            values = list(raw)
            for i, processor in processors:
                values[i] = processor(values[i])
            out.append(record(values))
        return out

    @property
    def names(self) -> tuple[str, ...]:
        """The result columns' names, in order."""
        return self._record._keys


def _result_columns(statement: ClauseElement) -> Any:
    if isinstance(statement, Insert | Update | Delete):
        return statement.exported_columns
    columns = getattr(statement, "selected_columns", None)
    if columns is None:
        raise Refused(f"no result columns known for {type(statement).__name__}")
    return columns


_CACHE: weakref.WeakKeyDictionary[Dialect, dict[tuple[int, frozenset[str] | None], Compiled]] = (
    weakref.WeakKeyDictionary()
)


def keys_for(statement: ClauseElement, params: Params) -> frozenset[str] | None:
    """The ``keys`` of ``Compiled.for_statement`` for one execution with ``params``: their
    names for an INSERT or UPDATE (which columns it writes, as Core decides), else None."""
    return frozenset(params) if isinstance(statement, Insert | Update) else None


def execute(conn: Connection, statement: Executable, params: Params) -> list[Any]:
    """``statement`` with ``params`` in ``conn``'s open transaction: its rows (Records on
    SQLite, SQLAlchemy's Rows elsewhere)."""
    if conn.dialect.name != "sqlite":
        return list(conn.execute(statement, params))
    assert isinstance(statement, ClauseElement)
    compiled = Compiled.for_statement(statement, conn.dialect, keys_for(statement, params))
    dbapi: Any = conn.connection.dbapi_connection
    try:
        args = compiled.args(params)
        if _observed(conn):
            cursor = dbapi.cursor()
            _run_observed(conn, cursor, statement, compiled.sql, params, args, many=False)
        else:
            cursor = dbapi.execute(compiled.sql, args)
        raw = cursor.fetchall()
    except Exception as exc:
        raise DBAPIError.instance(compiled.sql, params, exc, sqlite3.Error) from exc
    return compiled.rows(raw)


def _observed(conn: Connection) -> bool:
    """Whether anything listens to executions on ``conn`` (bench/ and tests/ count
    statements so); a listener added to ``Engine`` itself is seen too."""
    dispatch = conn.dispatch
    return bool(
        dispatch.before_execute or dispatch.before_cursor_execute or dispatch.after_cursor_execute
    )


def _run_observed(
    conn: Connection, cursor: Any, statement: ClauseElement, sql: str, params: Any, args: Any,
    *, many: bool,
) -> None:
    """Execute with the listeners called as Core calls them (their return values, for
    ``retval=True`` listeners, are not used: nothing here registers such)."""
    dispatch = conn.dispatch
    if dispatch.before_execute:
        multiparams, single = (params, {}) if many else ([], params)
        dispatch.before_execute(conn, statement, multiparams, single, {})
    if dispatch.before_cursor_execute:
        dispatch.before_cursor_execute(conn, cursor, sql, args, None, many)
    if many:
        cursor.executemany(sql, args)
    else:
        cursor.execute(sql, args)
    if dispatch.after_cursor_execute:
        dispatch.after_cursor_execute(conn, cursor, sql, args, None, many)


def executemany(conn: Connection, statement: Executable, params: Sequence[Params]) -> None:
    """``statement`` once per item of ``params`` (a statement without RETURNING; every item
    with the same names), in ``conn``'s open transaction."""
    if not params:
        return
    if conn.dialect.name != "sqlite":
        conn.execute(statement, list(params))
        return
    if isinstance(statement, Insert):
        raise Refused("an executemany INSERT is Core's (insertmanyvalues)")
    assert isinstance(statement, ClauseElement)
    compiled = Compiled.for_statement(statement, conn.dialect, keys_for(statement, params[0]))
    if compiled.names:
        raise Refused("executemany with RETURNING")
    dbapi: Any = conn.connection.dbapi_connection
    try:
        rows = [compiled.args(p) for p in params]
        cursor = dbapi.cursor()
        if _observed(conn):
            _run_observed(conn, cursor, statement, compiled.sql, list(params), rows, many=True)
        else:
            cursor.executemany(compiled.sql, rows)
    except Exception as exc:
        raise DBAPIError.instance(compiled.sql, list(params), exc, sqlite3.Error) from exc


def first(conn: Connection, statement: Executable, params: Params) -> Any | None:
    """The first row of ``execute``, or None."""
    rows = execute(conn, statement, params)
    return rows[0] if rows else None


def one(conn: Connection, statement: Executable, params: Params) -> Any:
    """The one row of ``execute``; ``NoResultFound`` or ``MultipleResultsFound`` otherwise,
    as Core's ``Result.one``."""
    rows = execute(conn, statement, params)
    if len(rows) != 1:
        if not rows:
            raise NoResultFound("No row was found when one was required")
        raise MultipleResultsFound("Multiple rows were found when exactly one was required")
    return rows[0]


def scalar(conn: Connection, statement: Executable, params: Params) -> Any:
    """The first column of the first row, or None (Core's ``Result.scalar``)."""
    row = first(conn, statement, params)
    return None if row is None else row[0]
