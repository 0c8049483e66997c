"""SQLite transactions on the event loop's thread (tether.store.sqlite_inline): a lock held
elsewhere hands the transaction to a thread and never blocks the loop; the WAL is checkpointed
off the loop and starts over; TETHER_SQLITE_INLINE=false runs everything in threads."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import Connection

from tether.accounts import Accounts, User
from tether.db.engine import create_engine
from tether.db.migrate import upgrade
from tether.db.schema import sessions
from tether.store import Store
from tether.store.sqlite_inline import inline_for, is_locked
from tether.store.writer import writer_for


@pytest.fixture
async def path(tmp_path: Path) -> Path:
    return tmp_path / "inline.db"


@pytest.fixture
async def inline_store(path: Path) -> AsyncIterator[Store]:
    engine = create_engine(f"sqlite:///{path}", sqlite_busy_timeout=10)
    await upgrade(engine)
    store = Store(engine, sqlite_inline=True)
    yield store
    await store.close()


async def new_session(store: Store, name: str) -> tuple[User, str]:
    user = await Accounts(store.engine).ensure_user(name)
    session, _ = await store.create_session(user.id, None, "t", "echo")
    return user, str(session["id"])


def wal_pages(path: Path) -> int:
    """The WAL's pages now, asked through a connection of its own (this checkpoints too)."""
    other = sqlite3.connect(path, isolation_level=None)
    try:
        return int(other.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[1])
    finally:
        other.close()


async def until(condition: object, what: str) -> None:
    """Turn the loop until ``condition()`` holds (at most 2,000 turns or 5 s)."""
    async with asyncio.timeout(5):
        for _ in range(2000):
            if condition():  # type: ignore[operator]
                return
            await asyncio.sleep(0.001)
    raise AssertionError(f"never: {what}")


async def test_transactions_run_on_the_loops_thread_with_no_busy_wait_and_no_autocheckpoint(
    inline_store: Store,
) -> None:
    _user, sid = await new_session(inline_store, "here")
    loop_thread = threading.get_ident()

    def pragmas(conn: Connection) -> tuple[int, int, int]:
        return (
            threading.get_ident(),
            int(conn.exec_driver_sql("PRAGMA busy_timeout").scalar_one()),
            int(conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar_one()),
        )

    assert await inline_store._read(pragmas) == (loop_thread, 0, 0)
    assert await inline_store._transact(pragmas) == (loop_thread, 0, 0)
    stored = await inline_store.add_user_message(_user.id, sid, "c", "hello")
    assert stored is not None and await inline_store.head_seq(sid) == 1


async def test_a_write_that_meets_another_connections_lock_commits_through_the_thread(
    inline_store: Store, path: Path,
) -> None:
    """Another process holds SQLite's write lock: the send waits in the writer's thread (the
    loop goes on: a read is answered meanwhile), and commits once the lock is let go."""
    user, sid = await new_session(inline_store, "blocked")
    inline = inline_for(inline_store.engine)
    before = inline.fallbacks
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        send = asyncio.create_task(inline_store.add_user_message(user.id, sid, "c1", "waits"))
        await until(lambda: inline.fallbacks > before, "the send fell back to the thread")
        # The loop is not blocked: a read runs (inline) while the send waits for the lock.
        assert await inline_store.head_seq(sid) == 0
        assert await inline_store.get_session(user.id, sid) is not None
        assert not send.done()
        other.execute("ROLLBACK")
    finally:
        other.close()
    stored = await asyncio.wait_for(send, 10)
    assert stored is not None and stored[0]["seq"] == 1 and not stored[1]
    assert inline.fallbacks == before + 1
    # and the next write is inline again
    again = await inline_store.add_user_message(user.id, sid, "c2", "inline")
    assert again is not None and again[0]["seq"] == 2 and inline.fallbacks == before + 1


async def test_a_group_that_meets_a_lock_keeps_its_members_apart(
    inline_store: Store, path: Path,
) -> None:
    """A group handed to the thread keeps the group's semantics: a failing member rolls back
    alone and raises to its own caller, the others commit."""
    user, sid = await new_session(inline_store, "grouped")
    writer = writer_for(inline_store.engine)

    def fail(conn: Connection) -> None:
        conn.execute(sa.update(sessions).where(sessions.c.id == sid)
                     .values(head_seq=sessions.c.head_seq + 100))
        raise ValueError("bad member")

    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        jobs = asyncio.gather(
            inline_store.add_user_message(user.id, sid, "a", "one"),
            writer.run(fail),
            inline_store.add_user_message(user.id, sid, "b", "two"),
            return_exceptions=True,
        )
        inline = inline_for(inline_store.engine)
        await until(lambda: inline.fallbacks > 0, "the group fell back to the thread")
        other.execute("ROLLBACK")
    finally:
        other.close()
    first, bad, second = await asyncio.wait_for(jobs, 10)
    assert isinstance(bad, ValueError)
    assert not isinstance(first, BaseException) and not isinstance(second, BaseException)
    assert first is not None and second is not None
    assert sorted([first[0]["seq"], second[0]["seq"]]) == [1, 2]
    assert await inline_store.head_seq(sid) == 2


async def test_a_read_that_meets_a_lock_is_answered_from_the_thread(
    inline_store: Store,
) -> None:
    """WAL reads meet a lock only in rare cases (another connection recovering the WAL), so
    the read raises what pysqlite raises then, as SQLAlchemy wraps it, on the loop's thread:
    it is run again, whole, in the reader's thread."""
    user, sid = await new_session(inline_store, "reader")
    await inline_store.add_user_message(user.id, sid, "c", "hello")
    inline = inline_for(inline_store.engine)
    before = inline.fallbacks
    loop_thread = threading.get_ident()
    ran_in: list[int] = []

    def read(conn: Connection) -> int:
        ran_in.append(threading.get_ident())
        seq = int(conn.execute(
            sa.select(sessions.c.head_seq).where(sessions.c.id == sid)).scalar_one())
        if threading.get_ident() == loop_thread:
            locked = sqlite3.OperationalError("database is locked")
            locked.sqlite_errorcode = sqlite3.SQLITE_BUSY  # type: ignore[attr-defined]
            raise sa.exc.OperationalError("SELECT", {}, locked)
        return seq

    assert await inline_store._read(read) == 1
    assert len(ran_in) == 2 and ran_in[0] == loop_thread and ran_in[1] != loop_thread
    assert inline.fallbacks == before + 1
    assert await inline_store.head_seq(sid) == 1  # the connection is fine afterwards


def test_only_lock_errors_fall_back() -> None:
    locked = sqlite3.OperationalError("database is locked")
    locked.sqlite_errorcode = sqlite3.SQLITE_BUSY  # type: ignore[attr-defined]
    snapshot = sqlite3.OperationalError("database is locked")
    snapshot.sqlite_errorcode = sqlite3.SQLITE_BUSY | (2 << 8)  # type: ignore[attr-defined]
    other = sqlite3.OperationalError("no such table: x")
    other.sqlite_errorcode = sqlite3.SQLITE_ERROR  # type: ignore[attr-defined]
    assert is_locked(sa.exc.OperationalError("BEGIN", {}, locked))
    assert is_locked(snapshot)
    assert not is_locked(sa.exc.OperationalError("SELECT", {}, other))
    assert not is_locked(ValueError("database is locked"))


async def test_a_checkpoint_lets_the_wal_start_over(inline_store: Store, path: Path) -> None:
    user, sid = await new_session(inline_store, "wal")
    writer = writer_for(inline_store.engine)
    checkpoints = writer.checkpoints
    assert checkpoints is not None
    checkpoints.commits = 10**9  # none by itself in this test
    for i in range(60):
        await inline_store.add_user_message(user.id, sid, f"c{i}", "x" * 500)
    await checkpoints.wait()
    checkpoints.start()
    await checkpoints.wait()
    assert checkpoints.last is not None and checkpoints.last.wal_pages >= 60
    assert checkpoints.last.copied_pages == checkpoints.last.wal_pages
    await inline_store.add_user_message(user.id, sid, "after", "one more")
    # The write after a complete checkpoint started the WAL over: it holds that write only.
    assert wal_pages(path) < checkpoints.last.wal_pages / 4
    assert await inline_store.count_messages(sid) == 61


async def test_steady_writes_do_not_grow_the_wal_without_bound(
    inline_store: Store, path: Path,
) -> None:
    """Writes go on while every checkpoint runs (a passive one never catches up with them):
    the paused second pass still lets the WAL start over."""
    user, sid = await new_session(inline_store, "steady")
    checkpoints = writer_for(inline_store.engine).checkpoints
    assert checkpoints is not None
    checkpoints.commits, checkpoints.limit_pages = 10, 30
    pages_per_write = 0
    for i in range(400):
        await inline_store.add_user_message(user.id, sid, f"c{i}", "y" * 500)
        if i == 3:
            pages_per_write = max(1, wal_pages(path) // 4)
    await checkpoints.wait()
    assert checkpoints.runs >= 10
    # Without checkpoints the WAL would hold every write's pages (400 writes' worth).
    assert wal_pages(path) < 30 * pages_per_write
    assert await inline_store.count_messages(sid) == 400


@contextlib.asynccontextmanager
async def store_from_environment(path: Path) -> AsyncIterator[Store]:
    """A store on a migrated file at ``path`` that TETHER_SQLITE_INLINE decides for."""
    engine = create_engine(f"sqlite:///{path}")
    await upgrade(engine)
    store = Store(engine)
    try:
        yield store
    finally:
        await store.close()


async def test_the_setting_turns_inline_transactions_off(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TETHER_SQLITE_INLINE", "false")
    async with store_from_environment(path) as store:
        engine = store.engine
        assert writer_for(engine).inline is None and writer_for(engine).checkpoints is None
        loop_thread = threading.get_ident()

        def where(conn: Connection) -> tuple[int, int]:
            timeout = int(conn.exec_driver_sql("PRAGMA busy_timeout").scalar_one())
            return threading.get_ident(), timeout

        read_in, read_timeout = await store._read(where)
        write_in, write_timeout = await store._transact(where)
        assert loop_thread not in (read_in, write_in)
        assert read_timeout == write_timeout == 5000  # the engine's busy timeout
        user, sid = await new_session(store, "threads")
        stored = await store.add_user_message(user.id, sid, "c", "in a thread")
        assert stored is not None and await store.head_seq(sid) == 1


async def test_the_setting_turns_inline_transactions_on(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TETHER_SQLITE_INLINE", "true")
    async with store_from_environment(path) as store:
        engine = store.engine
        assert writer_for(engine).inline is not None
        assert await store._read(lambda _conn: threading.get_ident()) == threading.get_ident()


async def test_the_setting_is_off_by_default(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TETHER_SQLITE_INLINE", raising=False)
    async with store_from_environment(path) as store:
        engine = store.engine
        assert writer_for(engine).inline is None


@pytest.mark.parametrize("inline", [True, False])
async def test_the_apps_settings_reach_its_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, inline: bool
) -> None:
    """Settings given in code (not the environment) decide for the Tether's own store."""
    from tether.app import Tether
    from tether.settings import Settings

    monkeypatch.setenv("TETHER_SQLITE_INLINE", "false" if inline else "true")  # overruled
    app = Tether(Settings(data_dir=tmp_path, redis_url=None, sqlite_inline=inline))
    try:
        assert (writer_for(app.store.engine).inline is not None) is inline
    finally:
        await app.store.close()
