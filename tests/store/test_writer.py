"""The store's writer (tether.store.writer): group commit on SQLite, each member on its own;
the same contract on PostgreSQL, where every write is its own transaction."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import Connection

from tether.accounts import Accounts, User
from tether.db.engine import create_engine, is_sqlite
from tether.db.migrate import upgrade
from tether.db.schema import messages, sessions
from tether.store import StorageUnavailable, Store, is_unavailable
from tether.store.writer import Writer, writer_for


async def new_session(store: Store, user: User) -> str:
    session, _ = await store.create_session(user.id, None, "t", "echo")
    return str(session["id"])


def bump_of(sid: str) -> Callable[[Connection], int]:
    """A write that takes the session's next seq (and nothing else)."""

    def bump(conn: Connection) -> int:
        return int(conn.execute(
            sa.update(sessions).where(sessions.c.id == sid)
            .values(head_seq=sessions.c.head_seq + 1).returning(sessions.c.head_seq)
        ).scalar_one())

    return bump


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[Store]:
    """Groups are SQLite's: on PostgreSQL each write is its own transaction."""
    engine = create_engine(f"sqlite:///{tmp_path / 'groups.db'}")
    await upgrade(engine)
    store = Store(engine)
    yield store
    await store.close()


async def test_concurrent_sends_are_grouped_with_seqs_in_order_and_no_gap(
    store: Store, user: User
) -> None:
    one = await new_session(store, user)
    others = [await new_session(store, user) for _ in range(3)]
    per_session = 30

    async def send(sid: str, i: int) -> tuple[str, int, int]:
        stored = await store.add_user_message(user.id, sid, f"c{i}", f"m{i}")
        assert stored is not None and not stored[1]
        return sid, stored[0]["seq"], stored[0]["position"]

    jobs = [send(one, i) for i in range(per_session)]
    jobs += [send(sid, i) for sid in others for i in range(per_session)]
    results = await asyncio.gather(*jobs)
    for sid in [one, *others]:
        mine = [(seq, pos) for s, seq, pos in results if s == sid]
        assert sorted(seq for seq, _ in mine) == list(range(1, per_session + 1))
        assert sorted(pos for _, pos in mine) == list(range(1, per_session + 1))
        assert await store.head_seq(sid) == per_session
        assert await store.count_messages(sid) == per_session
    if is_sqlite(store.engine):
        # In one session, seqs follow the order in which sends were queued.
        assert [seq for s, seq, _ in results if s == one] == list(range(1, per_session + 1))
        assert writer_for(store.engine).largest_group > 1  # they really were grouped


@pytest.fixture
async def grouped(sqlite_store: Store) -> tuple[Store, User, str]:
    """A SQLite store, its user, and a new session of theirs."""
    user = await Accounts(sqlite_store.engine).ensure_user("groups")
    return sqlite_store, user, await new_session(sqlite_store, user)


async def test_a_failing_member_rolls_back_alone_and_raises_to_its_own_caller(
    grouped: tuple[Store, User, str],
) -> None:
    store, user, sid = grouped
    await store.add_user_message(user.id, sid, "first", "hello")
    writer: Writer = writer_for(store.engine)

    def bump_then_fail(conn: Connection) -> int:
        bump_of(sid)(conn)
        raise ValueError("this member is bad")

    before = writer.groups
    good1, bad, good2, mismatch = await asyncio.gather(
        writer.run(bump_of(sid)),
        writer.run(bump_then_fail),
        writer.run(bump_of(sid)),
        # A store method in the same group: a reused client_msg_id with other content.
        store.add_user_message(user.id, sid, "first", "other text"),
        return_exceptions=True,
    )
    assert writer.groups == before + 1 and writer.largest_group >= 4  # one group
    assert isinstance(bad, ValueError) and str(bad) == "this member is bad"
    assert type(mismatch).__name__ == "ContentMismatch"
    assert (good1, good2) == (2, 3)  # the bad member's seq was rolled back: no gap
    assert await store.head_seq(sid) == 3


async def test_a_failed_commit_fails_its_whole_group_and_the_writer_goes_on(
    grouped: tuple[Store, User, str],
) -> None:
    store, user, sid = grouped
    writer = writer_for(store.engine)

    def orphan(conn: Connection) -> None:
        # Foreign keys checked at COMMIT: the row passes its savepoint, the COMMIT fails.
        conn.exec_driver_sql("PRAGMA defer_foreign_keys=ON")
        conn.execute(sa.update(sessions).where(sessions.c.id == sid).values(user_id="nobody"))

    before = writer.groups
    results = await asyncio.gather(
        writer.run(bump_of(sid)), writer.run(orphan), writer.run(bump_of(sid)),
        return_exceptions=True,
    )
    assert writer.groups == before + 1
    assert all(isinstance(r, sa.exc.IntegrityError) for r in results), results
    assert await store.head_seq(sid) == 0  # nothing of the group was written
    assert await store.get_session(user.id, sid) is not None  # the owner is unchanged
    stored = await store.add_user_message(user.id, sid, "a", "after")  # the writer goes on
    assert stored is not None and stored[0]["seq"] == 1


async def test_close_commits_what_is_queued_then_refuses_clearly(database_url: str) -> None:
    engine = create_engine(database_url)
    await upgrade(engine)
    store = Store(engine)
    user = await Accounts(engine).ensure_user("closing")
    sid = await new_session(store, user)
    queued = [asyncio.create_task(store.add_user_message(user.id, sid, f"c{i}", f"m{i}"))
              for i in range(20)]
    await asyncio.sleep(0)  # every send is queued, the first group is under way
    await store.close()
    stored = [await task for task in queued]  # none was lost or failed by the close
    assert sorted(s[0]["seq"] for s in stored if s) == list(range(1, 21))
    with pytest.raises(StorageUnavailable) as refused:
        await store.add_user_message(user.id, sid, "late", "too late")
    assert is_unavailable(refused.value)  # answered `unavailable`, not `internal`
    again = Store(create_engine(database_url))  # the rows are there for the next process
    try:
        assert await again.head_seq(sid) == 20
    finally:
        await again.close()


def test_storage_unavailable_is_classified_unavailable() -> None:
    assert is_unavailable(StorageUnavailable("could not store the message"))


async def test_a_locked_database_is_unavailable_then_writes_go_on(tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    engine = create_engine(f"sqlite:///{path}", sqlite_busy_timeout=0.2)
    await upgrade(engine)
    store = Store(engine)
    try:
        user = await Accounts(engine).ensure_user("locked")
        sid = await new_session(store, user)
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # another process holds SQLite's write lock
        try:
            with pytest.raises(sa.exc.OperationalError) as busy:
                await store.add_user_message(user.id, sid, "c", "waits")
            assert is_unavailable(busy.value)
        finally:
            other.execute("ROLLBACK")
            other.close()
        stored = await store.add_user_message(user.id, sid, "c", "waits")
        assert stored is not None and stored[0]["seq"] == 1
    finally:
        await store.close()


async def test_writes_and_reads_of_the_store_see_each_other_at_once(
    store: Store, user: User
) -> None:
    """The writer's and the reader's connections are not the engine's: a committed send is
    visible to the next read of either, and to a plain engine read."""
    sid = await new_session(store, user)
    stored = await store.add_user_message(user.id, sid, str(uuid.uuid4()), "seen?")
    assert stored is not None
    waiting = await store.next_unanswered(sid)
    assert waiting is not None and waiting["id"] == stored[0]["id"]
    async with store.engine.connect() as conn:
        count = (await conn.execute(
            sa.select(sa.func.count()).where(messages.c.session_id == sid))).scalar()
    assert count == 1


async def test_a_send_repeated_concurrently_is_stored_once(store: Store, user: User) -> None:
    """The idempotent send under concurrency, on either path (SQLite's groups, PostgreSQL's
    one statement): one message, every repeat answered with it as a duplicate."""
    sid = await new_session(store, user)
    results = await asyncio.gather(
        *(store.add_user_message(user.id, sid, "same", "hello") for _ in range(10))
    )
    assert all(r is not None for r in results)
    stored = [r for r in results if r is not None]
    assert len({m["id"] for m, _ in stored}) == 1
    assert sorted(duplicate for _, duplicate in stored) == [False] + [True] * 9
    assert await store.head_seq(sid) == 1 and await store.count_messages(sid) == 1
