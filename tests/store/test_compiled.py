"""tether.store.compiled against Core: every statement the store runs through it, on SQLite
(pysqlite, as the store's threads run it) and PostgreSQL (asyncpg raw, on the connection
SQLAlchemy opened), gives the same rows with the same Python values and types, and leaves the
same data; what it cannot do exactly is refused when it is built; a driver error arrives as
the same SQLAlchemy exception class."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import Connection, Engine, event
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tests.support.services import fresh_pg_database
from tether.db.engine import create_engine, sqlite_thread_engine
from tether.db.migrate import upgrade
from tether.db.schema import messages, metadata, sessions, users
from tether.store import compiled, statements
from tether.store.compiled import Compiled, Record, Refused
from tether.store.sqlite_thread import execute_plain

NOW = datetime(2026, 12, 2, 12, 30, 15, 123456, tzinfo=UTC)
LATER = NOW + timedelta(seconds=30)
PARTS = [{"id": "p1", "type": "text", "text": "café ☕"},
         {"id": "t1", "type": "tool", "input": {"n": 2**63 - 1, "ok": True, "none": None}}]


@dataclass(frozen=True)
class Case:
    """One statement with its parameters, and how many rows it gives on the test's data (so
    that no comparison is of two empty results by accident)."""

    name: str
    statement: Any
    params: dict[str, Any]
    rows: int


def _message(**values: Any) -> dict[str, Any]:
    return {"client_msg_id": None, "chunks": 0, "parts": None, "error": None, "reply_to": None,
            "answer_again": False, "awaits_answer": True, "queued": False,
            "created_at": NOW, "updated_at": NOW, **values}


def _seed(insert: Callable[[Any, list[dict[str, Any]]], None]) -> None:
    insert(users, [{"id": "u1", "name": f"u-{uuid.uuid4().hex[:8]}", "created_at": NOW}])
    base = {"user_id": "u1", "title": "t", "agent": "echo", "archived": False, "epoch": "e1",
            "created_at": NOW, "updated_at": NOW}
    insert(sessions, [
        {**base, "id": "s1", "head_seq": 3, "message_count": 3, "running": False,
         "agent_state": None, "runner": None, "runner_lease": None},
        {**base, "id": "s2", "head_seq": 1, "message_count": 1, "running": True,
         "agent_state": "state ☕", "runner": "r1", "runner_lease": LATER},
    ])
    insert(messages, [
        _message(id="m1", session_id="s1", position=1, seq=1, role="user", content="q?",
                 status="complete", client_msg_id="k1", queued=True),
        _message(id="m2", session_id="s1", position=2, seq=2, role="assistant", content="a",
                 status="streaming", chunks=1, parts=PARTS, reply_to="m1"),
        _message(id="m3", session_id="s1", position=3, seq=3, role="assistant", content="b",
                 status="error", error="boom", reply_to="m1"),
        _message(id="m4", session_id="s2", position=1, seq=1, role="user", content="q2",
                 status="complete", client_msg_id="k2", queued=True),
    ])


def _new_message(**values: Any) -> dict[str, Any]:
    """What messages.insert_new passes to INSERT_MESSAGE."""
    return {"id": "m9", "client_msg_id": None, "reply_to": None, "queued": True,
            "role": "user", "content": "new", "status": "complete", "session_id": "s1",
            "seq": 4, "position": 4, "chunks": 0, "created_at": LATER, "updated_at": LATER,
            **values}


def _ending(message_id: str, **values: Any) -> dict[str, Any]:
    return {"p_id": message_id, "p_status": "complete", "p_content": "done", "p_chunks": 2,
            "p_error": None, "p_parts": PARTS, "p_seq": 9, "p_now": LATER, **values}


def _seq(
    session: str, user: str | None, runner: str | None, new: bool
) -> tuple[Any, dict[str, Any]]:
    statement, params = statements.next_seq(session, user_id=user, runner=runner, new_message=new)
    return statement, params | {"p_now": LATER}


def common_cases() -> list[Case]:
    claim = {"p_session": "s1", "p_runner": "r2", "p_until": LATER, "p_now": LATER}
    return [
        Case("next_seq by user", *_seq("s1", "u1", None, True), 1),
        Case("next_seq by another user", *_seq("s1", "u2", None, True), 0),
        Case("next_seq by runner, new", *_seq("s2", None, "r1", True), 1),
        Case("next_seq by runner", *_seq("s2", None, "r1", False), 1),
        Case("next_seq, runner not holding", *_seq("s2", None, "r9", False), 0),
        Case("next_seq, new", *_seq("s1", None, None, True), 1),
        Case("next_seq", *_seq("s1", None, None, False), 1),
        Case("by client_msg_id", statements.BY_CLIENT_MSG_ID,
             {"p_session": "s1", "p_client_msg_id": "k1", "p_user": "u1"}, 1),
        Case("by client_msg_id, none", statements.BY_CLIENT_MSG_ID,
             {"p_session": "s1", "p_client_msg_id": "k9", "p_user": "u1"}, 0),
        Case("insert a user message", statements.INSERT_MESSAGE,
             _new_message(client_msg_id="k9"), 1),
        Case("insert a posted message (no answer awaited)", statements.INSERT_MESSAGE,
             _new_message(client_msg_id="k8", awaits_answer=False, queued=False), 1),
        Case("insert an answer", statements.INSERT_MESSAGE,
             _new_message(role="assistant", content="", status="streaming", reply_to="m1",
                          queued=False), 1),
        Case("finish with parts", statements.FINISH_MESSAGE, _ending("m2"), 1),
        Case("finish plain, with an error", statements.FINISH_MESSAGE,
             _ending("m2", p_parts=None, p_error="stopped", p_status="interrupted"), 1),
        Case("finish, not streaming", statements.FINISH_MESSAGE, _ending("m3"), 0),
        Case("answered", statements.ANSWERED, {"p_id": "m1"}, 0),
        Case("next unanswered", statements.NEXT_UNANSWERED, {"p_session": "s1"}, 1),
        Case("next unanswered, none", statements.NEXT_UNANSWERED, {"p_session": "s9"}, 0),
        Case("streaming in", statements.STREAMING_IN, {"p_session": "s1"}, 1),
        Case("session", statements.SESSION, {"p_session": "s2"}, 1),
        Case("owner", statements.OWNER, {"p_session": "s1"}, 1),
        Case("recent", statements.RECENT, {"p_session": "s1", "p_limit": 2}, 2),
        Case("changed since", statements.CHANGED_SINCE, {"p_session": "s1", "p_after": 2}, 2),
        Case("agent state", statements.AGENT_STATE, {"p_session": "s2"}, 1),
        Case("turn inputs", statements.TURN_INPUTS, {"p_session": "s1", "p_up_to": 3}, 4),
        Case("turn inputs, no session", statements.TURN_INPUTS,
             {"p_session": "s9", "p_up_to": 3}, 0),
        Case("claim", statements.CLAIM, claim, 1),
        Case("claim while queued", statements.CLAIM_QUEUED, claim, 1),
        Case("claim held by another", statements.CLAIM, claim | {"p_session": "s2"}, 0),
        Case("renew", statements.RENEW, {"p_runner": "r1", "p_until": LATER}, 1),
        Case("release", statements.RELEASE,
             {"p_session": "s2", "p_runner": "r1", "p_now": LATER}, 1),
        Case("release idle, a question queued", statements.RELEASE_IDLE,
             {"p_session": "s2", "p_runner": "r1", "p_now": LATER}, 0),
        Case("set agent state", statements.SET_AGENT_STATE,
             {"p_session": "s1", "p_state": "new state"}, 1),
    ]


def postgres_cases() -> list[Case]:
    """The PostgreSQL paths' one-statement writes (branch pgfast runs them compiled)."""
    held = {"p_session": "s2", "p_runner": "r1", "p_now": LATER}
    return [
        Case("send in one statement", statements.SEND_IN_ONE_STATEMENT,
             {"p_session": "s1", "p_user": "u1", "p_client_msg_id": "k9", "p_id": "m9",
              "p_content": "new", "p_now": LATER}, 1),
        Case("send in one statement, duplicate", statements.SEND_IN_ONE_STATEMENT,
             {"p_session": "s1", "p_user": "u1", "p_client_msg_id": "k1", "p_id": "m9",
              "p_content": "q?", "p_now": LATER}, 1),
        Case("answer in one statement", statements.ANSWER_IN_ONE_STATEMENT[False],
             {"p_session": "s1", "p_now": LATER, "p_id": "m9", "p_reply_to": "m1"}, 1),
        Case("answer in one statement, by runner", statements.ANSWER_IN_ONE_STATEMENT[True],
             held | {"p_id": "m9", "p_reply_to": "m4"}, 1),
        Case("finish in one statement", statements.FINISH_IN_ONE_STATEMENT,
             {k: v for k, v in _ending("m2").items() if k != "p_seq"}
             | {"p_session": "s1", "p_runner": "r1"}, 0),
        Case("claim queued in one statement", statements.CLAIM_QUEUED_IN_ONE_STATEMENT,
             {"p_session": "s1", "p_runner": "r2", "p_until": LATER, "p_now": LATER}, 1),
        Case("release idle or next", statements.RELEASE_IDLE_OR_NEXT, held, 1),
    ]


def _same(core: list[Any], ours: list[Any], expected: int) -> None:
    assert len(core) == expected, "the case's data does not give the rows it means to test"
    assert [tuple(r) for r in ours] == [tuple(r) for r in core]
    assert [[type(v) for v in r] for r in ours] == [[type(v) for v in r] for r in core]
    for c, o in zip(core, ours, strict=True):
        assert o._mapping == dict(c._mapping)
        for name in c._mapping:
            assert getattr(o, name) == getattr(c, name)


# SQLite -------------------------------------------------------------------------------------


@pytest.fixture
def sqlite_conn(tmp_path: Path) -> Iterator[Connection]:
    """A connection as the store's SQLite threads open it, on a migrated database with the
    test's data, in an open transaction (rolled back after)."""
    import asyncio

    engine = create_engine(f"sqlite:///{tmp_path / 'compiled.db'}")
    asyncio.run(upgrade(engine))
    sync = sqlite_thread_engine(engine, begin="BEGIN")()
    with sync.begin() as conn:
        _seed(lambda table, rows: [conn.execute(table.insert(), row) for row in rows] and None)
    with sync.connect() as conn, conn.begin() as tx:
        yield conn
        tx.rollback()
    sync.dispose()
    asyncio.run(engine.dispose())


def _tables(conn: Connection) -> list[list[tuple[Any, ...]]]:
    return [[tuple(r) for r in conn.execute(sa.select(t).order_by(t.c.id))]
            for t in (sessions, messages)]


@pytest.mark.parametrize("case", common_cases(), ids=lambda c: c.name)
def test_sqlite_rows_and_writes_are_cores(sqlite_conn: Connection, case: Case) -> None:
    conn = sqlite_conn
    execute_plain(conn, "SAVEPOINT core")
    result = conn.execute(case.statement, case.params)
    core = result.all() if result.returns_rows else []
    core_tables = _tables(conn)
    execute_plain(conn, "ROLLBACK TO core")
    ours = compiled.execute(conn, case.statement, case.params)
    assert all(isinstance(r, Record) for r in ours)
    _same(core, ours, case.rows)
    assert _tables(conn) == core_tables
    execute_plain(conn, "RELEASE core")


def test_sqlite_first_one_and_scalar(sqlite_conn: Connection) -> None:
    conn = sqlite_conn
    params = {"p_session": "s1"}
    assert compiled.first(conn, statements.NEXT_UNANSWERED, params) == (
        conn.execute(statements.NEXT_UNANSWERED, params).first()
    )
    assert compiled.first(conn, statements.NEXT_UNANSWERED, {"p_session": "s9"}) is None
    assert compiled.one(conn, statements.SESSION, params).id == "s1"
    with pytest.raises(sa.exc.NoResultFound):
        compiled.one(conn, statements.SESSION, {"p_session": "s9"})
    recent = {"p_session": "s1", "p_limit": 3}
    with pytest.raises(sa.exc.MultipleResultsFound):
        compiled.one(conn, statements.RECENT, recent)
    assert compiled.scalar(conn, statements.AGENT_STATE, {"p_session": "s2"}) == "state ☕"


def test_sqlite_checkpoints_executemany_writes_what_core_writes(sqlite_conn: Connection) -> None:
    conn = sqlite_conn
    items = [{"m_id": "m2", "m_content": "a b", "m_chunks": 2, "m_parts": PARTS,
              "m_now": LATER},
             {"m_id": "m3", "m_content": "not streaming", "m_chunks": 5, "m_parts": None,
              "m_now": LATER}]
    execute_plain(conn, "SAVEPOINT core")
    conn.execute(statements.CHECKPOINT, items)
    core_tables = _tables(conn)
    execute_plain(conn, "ROLLBACK TO core")
    before = _tables(conn)
    compiled.executemany(conn, statements.CHECKPOINT, items)
    after = _tables(conn)
    assert after == core_tables
    assert after != before
    execute_plain(conn, "RELEASE core")


def test_sqlite_statement_listeners_see_each_execution(sqlite_conn: Connection) -> None:
    seen: list[tuple[str, Any, bool]] = []

    def record(_c: Any, _cur: Any, sql: str, params: Any, _ctx: Any, many: bool) -> None:
        seen.append((sql, params, many))

    elements: list[tuple[Any, Any]] = []

    def given(_c: Any, element: Any, multiparams: Any, params: Any, _opts: Any) -> None:
        elements.append((element, multiparams or params))

    event.listen(Engine, "before_cursor_execute", record)
    event.listen(Engine, "before_execute", given)
    try:
        compiled.execute(sqlite_conn, statements.SESSION, {"p_session": "s1"})
    finally:
        event.remove(Engine, "before_cursor_execute", record)
        event.remove(Engine, "before_execute", given)
    sql = Compiled.for_statement(statements.SESSION, sqlite_conn.dialect).sql
    assert seen == [(sql, ["s1"], False)]
    assert elements == [(statements.SESSION, {"p_session": "s1"})]


def _core_error(conn: Connection, statement: Any, params: dict[str, Any]) -> type[BaseException]:
    execute_plain(conn, "SAVEPOINT e")
    try:
        with pytest.raises(Exception) as caught:
            conn.execute(statement, params)
    finally:
        execute_plain(conn, "ROLLBACK TO e")
        execute_plain(conn, "RELEASE e")
    return caught.type


@pytest.mark.parametrize(("statement", "params", "expected"), [
    (statements.INSERT_MESSAGE, _new_message(id="m1"), sa.exc.IntegrityError),
    (statements.INSERT_MESSAGE, _new_message(queued="yes"), sa.exc.StatementError),
    (statements.NEXT_UNANSWERED, {}, sa.exc.StatementError),
    (sa.select(sa.table("no_such_table", sa.column("x"))), {}, sa.exc.OperationalError),
], ids=["duplicate id", "not a boolean", "a parameter missing", "no such table"])
def test_sqlite_errors_arrive_as_cores(
    sqlite_conn: Connection, statement: Any, params: dict[str, Any], expected: type
) -> None:
    conn = sqlite_conn
    assert _core_error(conn, statement, params) is expected
    execute_plain(conn, "SAVEPOINT e")
    with pytest.raises(expected) as caught:
        compiled.execute(conn, statement, params)
    assert type(caught.value) is expected
    execute_plain(conn, "ROLLBACK TO e")
    assert _tables(conn)[1][0][0] == "m1", "the transaction goes on after the error"


# Refused at build ----------------------------------------------------------------------------


_callable_default = sa.Table(
    "callable_default", sa.MetaData(), sa.Column("id", sa.String, primary_key=True),
    sa.Column("stamp", sa.String, default=lambda: "now"),
)


@pytest.mark.parametrize("statement", [
    sa.select(messages.c.id).where(messages.c.id.in_(sa.bindparam("ids", expanding=True))),
    sa.select(messages.c.id).where(messages.c.id.in_(["a", "b"])),
    _callable_default.insert(),
    sa.select(sa.func.count().label("count")),
    sa.select(messages.c.id, sessions.c.id).join(sessions, sessions.c.id == messages.c.session_id),
], ids=["expanding IN", "IN a list", "callable default", "a tuple's name", "a name twice"])
@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_what_it_cannot_do_exactly_is_refused_when_built(statement: Any, dialect: str) -> None:
    with pytest.raises(Refused):
        Compiled.for_statement(statement, _dialect(dialect), frozenset({"id"}))


def _dialect(name: str) -> sa.Dialect:
    from sqlalchemy.dialects import postgresql, sqlite

    return sqlite.pysqlite.dialect() if name == "sqlite" else postgresql.asyncpg.dialect()


def test_compiled_is_built_once_per_statement_dialect_and_keys() -> None:
    dialect = _dialect("sqlite")
    keys = frozenset(_new_message())
    first = Compiled.for_statement(statements.INSERT_MESSAGE, dialect, keys)
    assert Compiled.for_statement(statements.INSERT_MESSAGE, dialect, keys) is first
    other = Compiled.for_statement(statements.INSERT_MESSAGE, dialect, keys | {"error"})
    assert other is not first and "error" in other.sql and "error" not in first.sql.split(
        "RETURNING")[0]
    select_one = Compiled.for_statement(statements.SESSION, dialect, frozenset({"x"}))
    assert Compiled.for_statement(statements.SESSION, dialect) is select_one


def test_a_record_reads_as_a_row() -> None:
    built = Compiled.for_statement(statements.OWNER, _dialect("sqlite"))
    (row,) = built.rows([("u1",)])
    assert row == ("u1",) and row[0] == "u1" and row.user_id == "u1"
    assert row._mapping == {"user_id": "u1"}
    with pytest.raises(AttributeError):
        row.nothing  # noqa: B018


# PostgreSQL --------------------------------------------------------------------------------


@pytest.fixture
async def pg_engine() -> AsyncIterator[AsyncEngine]:
    async with fresh_pg_database() as url:
        engine = create_engine(url)
        await upgrade(engine)
        async with engine.begin() as conn:
            def insert(table: Any, rows: list[dict[str, Any]]) -> None:
                for row in rows:
                    conn.sync_connection.execute(table.insert(), row)  # type: ignore[union-attr]

            await conn.run_sync(lambda _c: _seed(insert))
        yield engine
        await engine.dispose()


async def _pg_tables(conn: AsyncConnection) -> list[list[tuple[Any, ...]]]:
    return [[tuple(r) for r in await conn.execute(sa.select(t).order_by(t.c.id))]
            for t in (sessions, messages)]


@pytest.mark.postgres
async def test_postgresql_sql_args_and_rows_are_cores(pg_engine: AsyncEngine) -> None:
    async with pg_engine.connect() as conn, conn.begin():
        raw = (await conn.get_raw_connection()).driver_connection
        assert raw is not None
        for case in common_cases() + postgres_cases():
            built = Compiled.for_statement(
                case.statement, conn.dialect, compiled.keys_for(case.statement, case.params)
            )
            await conn.exec_driver_sql("SAVEPOINT core")
            result = await conn.execute(case.statement, case.params)
            core = result.all() if result.returns_rows else []
            core_tables = await _pg_tables(conn)
            await conn.exec_driver_sql("ROLLBACK TO SAVEPOINT core")
            ours = built.rows(await raw.fetch(built.sql, *built.args(case.params)))
            try:
                _same(core, ours, case.rows)
                assert await _pg_tables(conn) == core_tables
            except AssertionError as exc:
                raise AssertionError(f"{case.name}: {exc}") from exc
            await conn.exec_driver_sql("ROLLBACK TO SAVEPOINT core")


@pytest.mark.postgres
async def test_postgresql_execute_falls_back_to_core(pg_engine: AsyncEngine) -> None:
    async with pg_engine.connect() as conn:
        rows = await conn.run_sync(
            lambda sync: compiled.execute(sync, statements.SESSION, {"p_session": "s2"})
        )
    assert [type(r) for r in rows] == [sa.Row] and rows[0].title == "t"


def test_the_schema_is_the_migrated_one() -> None:
    """The test's data is written to every column: a column added to the schema without a
    value here would leave part of a row untested."""
    seeded: dict[str, set[str]] = {}
    _seed(lambda table, rows: seeded.setdefault(table.name, set(rows[0])) and None)
    for table in (users, sessions, messages):
        assert seeded[table.name] == set(metadata.tables[table.name].c.keys())
