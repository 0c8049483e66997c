"""PostgreSQL's raw path (tether.store.pg_driver): the same values as Core both ways, the same
SQLAlchemy exceptions, a statement refused before it was sent retried on a fresh connection,
and one killed after it was sent never run again."""

from __future__ import annotations

import asyncio
import struct
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from sqlalchemy import bindparam, func, insert, select
from sqlalchemy.exc import IntegrityError, OperationalError

from tests.support.services import PG_ADMIN_URL
from tests.support.wait import until
from tether.accounts import Accounts
from tether.db.schema import messages, sessions, users
from tether.protocol import MessageStatus
from tether.store import Store, is_unavailable, utcnow
from tether.store.pg_driver import _not_sent, fetch

pytestmark = pytest.mark.postgres

#: Statements built once, as the store's are (compiled forms are kept per statement).
_SESSION = select(sessions).where(sessions.c.id == bindparam("p_session"))
_MESSAGES = (
    select(messages).where(messages.c.session_id == bindparam("p_session"))
    .order_by(messages.c.position)
)
_NEW_USER = insert(users)
_SLEEP = select(func.pg_sleep(bindparam("p_seconds")).label("slept"))


async def _backends(database: str, query_like: str = "%") -> list[int]:
    admin = await asyncpg.connect(PG_ADMIN_URL)
    try:
        rows = await admin.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND query LIKE $2"
            " AND pid <> pg_backend_pid()", database, query_like,
        )
        return [r["pid"] for r in rows]
    finally:
        await admin.close()


async def _terminate(pids: list[int]) -> None:
    admin = await asyncpg.connect(PG_ADMIN_URL)
    try:
        for pid in pids:
            await admin.execute("SELECT pg_terminate_backend($1)", pid)
    finally:
        await admin.close()


async def test_rows_read_raw_are_the_rows_core_reads(pg_store: tuple[Store, str]) -> None:
    store, _ = pg_store
    user = await Accounts(store.engine).ensure_user("alice")
    sid = str(uuid.uuid4())
    await store.create_session(user.id, sid, "t", "echo")
    sent = await store.add_user_message(user.id, sid, "c1", "héllo")
    assert sent is not None
    answer = await store.create_assistant_message(sid, sent[0]["id"])
    assert answer is not None
    parts = [{"type": "text", "text": "ünïcode", "n": 2**40, "ok": True, "none": None}]
    await store.finish_message(sid, answer["id"], MessageStatus.COMPLETE, "done", 3,
                               parts=parts)  # type: ignore[arg-type]
    for statement in (_SESSION, _MESSAGES):
        async with store.engine.connect() as conn:
            core = [dict(r._mapping) for r in await conn.execute(statement, {"p_session": sid})]
        raw = [r._mapping for r in await fetch(store.engine, statement, {"p_session": sid})]
        assert raw == core and raw
        for row in raw:  # tz-aware datetimes, real booleans, JSON as values
            assert all(v.tzinfo is not None for v in row.values() if isinstance(v, datetime))
    session = (await fetch(store.engine, _SESSION, {"p_session": sid}))[0]
    assert session.running is False and session.archived is False
    rows = await fetch(store.engine, _MESSAGES, {"p_session": sid})
    assert rows[1].parts == parts and rows[0].parts is None
    assert rows[0].content == "héllo" and rows[0].client_msg_id == "c1"


async def test_a_constraint_broken_raw_is_an_integrity_error(
    pg_store: tuple[Store, str],
) -> None:
    store, _ = pg_store
    row = {"id": str(uuid.uuid4()), "name": "bob", "created_at": datetime.now(UTC)}
    assert await fetch(store.engine, _NEW_USER, row) == []
    with pytest.raises(IntegrityError) as caught:
        await fetch(store.engine, _NEW_USER, {**row, "id": str(uuid.uuid4())})
    assert isinstance(caught.value.orig, asyncpg.UniqueViolationError)
    assert not is_unavailable(caught.value)
    assert await fetch(store.engine, _SESSION, {"p_session": "none"}) == []  # pool still fine


async def test_a_statement_killed_after_it_was_sent_is_not_run_again(
    pg_store: tuple[Store, str],
) -> None:
    store, database = pg_store
    running = asyncio.create_task(fetch(store.engine, _SLEEP, {"p_seconds": 30}))
    pids = await until(lambda: _backends(database, "%pg_sleep%"), what="the sleep running")
    await _terminate(pids)
    with pytest.raises(OperationalError) as caught:
        async with asyncio.timeout(10):  # a second attempt would sleep 30 s
            await running
    assert caught.value.connection_invalidated and is_unavailable(caught.value)
    assert await _backends(database, "%pg_sleep%") == []
    assert await fetch(store.engine, _SESSION, {"p_session": "none"}) == []


async def test_connections_killed_while_idle_for_a_short_while_are_replaced(
    pg_store: tuple[Store, str],
) -> None:
    """Idle for less than PING_AFTER_IDLE: no ping; the server's close is seen without one."""
    store, database = pg_store
    user = await Accounts(store.engine).ensure_user("alice")
    sid = str(uuid.uuid4())
    await store.create_session(user.id, sid, "t", "echo")
    for round_ in range(3):
        await asyncio.sleep(0.2)
        pids = await _backends(database)
        assert pids
        await _terminate(pids)

        async def gone(pids: list[int] = pids) -> bool:
            return not set(await _backends(database)) & set(pids)

        await until(gone, what="the terminated backends gone")
        sent = await store.add_user_message(user.id, sid, f"c{round_}", "hello")
        assert sent is not None and not sent[1]
        assert await store.next_unanswered(sid) is not None
        assert await store.head_seq(sid) == round_ + 1


async def test_connections_killed_just_before_use_are_replaced(
    pg_store: tuple[Store, str],
) -> None:
    """Killed and used at once: the connection may not be marked closed yet (the server's
    goodbye read, its socket not yet closed), and asyncpg refuses the statement before
    sending it; the raw path retries it on a fresh connection."""
    store, database = pg_store
    user = await Accounts(store.engine).ensure_user("alice")
    sid = str(uuid.uuid4())
    await store.create_session(user.id, sid, "t", "echo")
    for round_ in range(5):
        await _terminate(await _backends(database))
        sent = await store.add_user_message(user.id, sid, f"c{round_}", "hello")
        assert sent is not None and sent[0]["seq"] == round_ + 1
        await _terminate(await _backends(database))
        taken = await store.claim_session(sid, "runner", utcnow() + timedelta(seconds=30),
                                          queued=True)
        assert taken is not None and taken.question is not None
        assert await store.release_session(sid, "runner") is not None


class _GoodbyeServer:
    """Enough of PostgreSQL's wire protocol for asyncpg to connect; then an unasked
    ErrorResponse (as a terminated backend sends), the socket left open, and every byte the
    client sends afterwards kept."""

    def __init__(self) -> None:
        self.after_goodbye = bytearray()
        self.said_goodbye = asyncio.Event()
        self.writer: asyncio.StreamWriter | None = None

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        (length,) = struct.unpack("!i", await reader.readexactly(4))
        await reader.readexactly(length - 4)  # the startup message

        def message(kind: bytes, body: bytes) -> bytes:
            return kind + struct.pack("!i", len(body) + 4) + body

        out = message(b"R", struct.pack("!i", 0))
        for name, value in (("server_version", "16.0"), ("client_encoding", "UTF8"),
                            ("server_encoding", "UTF8"), ("DateStyle", "ISO, MDY"),
                            ("integer_datetimes", "on"), ("TimeZone", "UTC"),
                            ("standard_conforming_strings", "on")):
            out += message(b"S", f"{name}\0{value}\0".encode())
        out += message(b"K", struct.pack("!ii", 1234, 5678)) + message(b"Z", b"I")
        writer.write(out)
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.write(message(b"E", b"SFATAL\0VFATAL\0C57P01\0"
                             b"Mterminating connection due to administrator command\0\0"))
        await writer.drain()
        self.said_goodbye.set()
        while chunk := await reader.read(4096):
            self.after_goodbye += chunk


async def test_asyncpg_refuses_a_statement_before_sending_it_after_a_goodbye() -> None:
    """What _not_sent relies on (asyncpg 0.29-0.32): on a connection sent an ErrorResponse
    while idle, the next statement fails ``cannot switch to state`` and none of it is
    written; on a closed one, ``connection is closed``."""
    fake = _GoodbyeServer()
    server = await asyncio.start_server(fake.serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with asyncio.timeout(10):
            conn = await asyncpg.connect(host="127.0.0.1", port=port, user="u", ssl=False)
            await fake.said_goodbye.wait()
            await asyncio.sleep(0.05)  # the client reads it
            assert not conn.is_closed()
            with pytest.raises(asyncpg.InternalClientError) as refused:
                await conn.fetch("SELECT 1")
            assert _not_sent(refused.value)
            await asyncio.sleep(0.05)
            # No Parse or Query: at most asyncpg's own Terminate, as it closes the connection.
            assert bytes(fake.after_goodbye) in (b"", b"X\0\0\0\x04")
            conn.terminate()
            with pytest.raises(asyncpg.InterfaceError) as closed:
                await conn.fetch("SELECT 1")
            assert _not_sent(closed.value)
    finally:
        if fake.writer is not None:
            fake.writer.close()
        server.close()
        await server.wait_closed()
