"""The store's contract, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import asyncio
import uuid

import pytest
import sqlalchemy as sa

from tether.accounts import Accounts, User
from tether.db.engine import create_engine
from tether.db.migrate import upgrade
from tether.db.schema import users
from tether.protocol import MessageStatus
from tether.recovery import Mode
from tether.store import (
    ContentMismatch,
    MessageRow,
    SessionRow,
    SessionTaken,
    Snapshot,
    StillStreaming,
    Store,
    utcnow,
)


async def new_session(store: Store, user: User) -> str:
    session, created = await store.create_session(user.id, None, "t", "echo")
    assert created
    return str(session["id"])


async def test_create_session_is_idempotent_by_id_and_owned(store: Store, user: User) -> None:
    sid = str(uuid.uuid4())
    first, created = await store.create_session(user.id, sid, "one", "echo")
    again, created_again = await store.create_session(user.id, sid, "other", "echo")
    assert created and not created_again
    assert again == first and again["title"] == "one"
    bob = await Accounts(store.engine).ensure_user("bob")
    with pytest.raises(SessionTaken):
        await store.create_session(bob.id, sid, "mine", "echo")
    assert await store.get_session(bob.id, sid) is None


async def test_seq_is_gap_free_under_concurrent_writers(store: Store, user: User) -> None:
    sid = await new_session(store, user)
    writers = 40

    async def user_message(i: int) -> None:
        stored = await store.add_user_message(user.id, sid, f"c{i}", f"m{i}")
        assert stored is not None and not stored[1]

    async def assistant_message() -> None:
        created = await store.create_assistant_message(sid, None)
        assert created is not None
        await store.finish_message(sid, created["id"], "complete", "done", 1)

    await asyncio.gather(
        *(user_message(i) for i in range(writers)), *(assistant_message() for _ in range(10))
    )
    head = await store.head_seq(sid)
    # 40 user messages + 10 assistant messages created + 10 finished: 60 changes.
    assert head == writers + 20
    rows = await store.changed_since(sid, 0)
    assert len(rows) == writers + 10
    positions = sorted(r["position"] for r in rows)
    assert positions == list(range(1, writers + 11))
    seqs = [r["seq"] for r in rows]
    assert len(set(seqs)) == len(seqs) and max(seqs) == head


async def test_client_msg_id_is_stored_once(store: Store, user: User) -> None:
    sid = await new_session(store, user)
    results = await asyncio.gather(
        *(store.add_user_message(user.id, sid, "same", "hello") for _ in range(8))
    )
    assert all(r is not None for r in results)
    fresh = [r for r in results if r is not None and not r[1]]
    assert len(fresh) == 1
    ids = {r[0]["id"] for r in results if r is not None}
    assert len(ids) == 1
    assert await store.count_messages(sid) == 1
    assert await store.head_seq(sid) == 1
    with pytest.raises(ContentMismatch):
        await store.add_user_message(user.id, sid, "same", "different")
    assert await store.head_seq(sid) == 1


async def test_other_users_session_is_not_found(store: Store, user: User) -> None:
    sid = await new_session(store, user)
    bob = await Accounts(store.engine).ensure_user("bob")
    assert await store.add_user_message(bob.id, sid, "c", "x") is None
    assert await store.update_session(bob.id, sid, "stolen", None) is None
    assert await store.head_seq(sid) == 0


async def test_checkpoint_keeps_text_without_a_seq_and_interrupt_takes_one(
    store: Store, user: User
) -> None:
    sid = await new_session(store, user)
    assistant = await store.create_assistant_message(sid, None)
    assert assistant is not None and assistant["status"] == "streaming"
    assert await store.checkpoint(assistant["id"], "Echo: partial", 2)
    assert await store.head_seq(sid) == 1
    [left] = await store.streaming_messages()
    assert (left["content"], left["chunks"], left["seq"]) == ("Echo: partial", 2, 1)
    ended = await store.interrupt(left)
    assert ended is not None
    assert (ended["status"], ended["content"], ended["seq"]) == ("interrupted", "Echo: partial", 2)
    assert await store.streaming_messages() == []
    # Fenced: a stale writer can neither checkpoint nor finish an ended message.
    assert not await store.checkpoint(assistant["id"], "late", 9)
    assert await store.finish_message(sid, assistant["id"], "complete", "late", 9) is None
    assert await store.head_seq(sid) == 2
    [row] = await store.changed_since(sid, 0)
    assert row["content"] == "Echo: partial"


async def test_changed_since_recent_and_history(store: Store, user: User) -> None:
    sid = await new_session(store, user)
    for i in range(1, 8):
        await store.add_user_message(user.id, sid, f"c{i}", f"m{i}")
    streaming = await store.create_assistant_message(sid, None)
    assert streaming is not None
    since = await store.changed_since(sid, 5)
    assert [m["content"] for m in since] == ["m6", "m7", ""]
    # A streaming message comes back whatever its seq.
    await store.add_user_message(user.id, sid, "c9", "m9")
    assert [m["seq"] for m in await store.changed_since(sid, 8)] == [8, 9]
    assert [m["position"] for m in await store.recent(sid, 3)] == [7, 8, 9]
    page, more = await store.history(sid, 7, 4)
    assert [m["position"] for m in page] == [3, 4, 5, 6] and more
    page, more = await store.history(sid, 3, 4)
    assert [m["position"] for m in page] == [1, 2] and not more


async def test_list_sessions_pages_by_activity(store: Store, user: User) -> None:
    ids = [await new_session(store, user) for _ in range(5)]
    await store.add_user_message(user.id, ids[0], "c", "bump")  # most recent activity now
    first, more = await store.list_sessions(user.id, 2, None)
    assert [s["id"] for s in first] == [ids[0], ids[4]] and more
    rest, more = await store.list_sessions(user.id, 10, first[-1]["updated_at"])
    assert [s["id"] for s in rest] == [ids[3], ids[2], ids[1]] and not more


async def test_list_sessions_carries_the_start_of_the_latest_message(
    store: Store, user: User
) -> None:
    empty, chatty = await new_session(store, user), await new_session(store, user)
    await store.add_user_message(user.id, chatty, "q", "the question")
    answer = await store.create_assistant_message(chatty, None)
    assert answer is not None
    await store.finish_message(chatty, answer["id"], "complete", "x" * 500, 1)
    listed = {s["id"]: s["preview"] for s in (await store.list_sessions(user.id, 10, None))[0]}
    assert listed == {empty: "", chatty: "x" * 120}


async def test_a_retry_queues_the_question_again_once(store: Store, user: User) -> None:
    sid = await new_session(store, user)
    stored = await store.add_user_message(user.id, sid, "q", "question")
    assert stored is not None
    question = stored[0]
    first = await store.create_assistant_message(sid, question["id"])
    assert first is not None
    with pytest.raises(StillStreaming):
        await store.request_retry(sid, first["id"])
    await store.finish_message(sid, first["id"], "failed", "", 0, "boom")
    assert await store.next_unanswered(sid) is None
    assert await store.request_retry(sid, first["id"]) is True
    assert await store.request_retry(sid, first["id"]) is True  # already queued: still once
    waiting = await store.next_unanswered(sid)
    assert waiting is not None and waiting["id"] == question["id"]
    second = await store.create_assistant_message(sid, question["id"])
    assert second is not None and second["reply_to"] == question["id"]
    assert await store.next_unanswered(sid) is None, "the new answer took the retry"
    assert await store.request_retry(sid, first["id"]) is False, "a newer answer exists"
    assert await store.request_retry(sid, question["id"]) is None, "not an answer"


async def test_unanswered_user_messages(store: Store, user: User) -> None:
    sid = await new_session(store, user)
    answered = await store.add_user_message(user.id, sid, "a", "answered")
    waiting = await store.add_user_message(user.id, sid, "b", "waiting")
    assert answered is not None and waiting is not None
    await store.create_assistant_message(sid, answered[0]["id"])
    assert [m["id"] for m in await store.unanswered()] == [waiting[0]["id"]]


async def test_snapshot_reads_the_head_and_the_modes_messages(store: Store, user: User) -> None:
    assert await store.snapshot(str(uuid.uuid4()), None, 15, 1000) is None
    sid = await new_session(store, user)
    empty = await store.snapshot(sid, None, 15, 1000)
    assert empty is not None
    assert (empty.mode, empty.head_seq, empty.messages) == (Mode.RECENT, 0, [])
    for i in range(1, 8):
        await store.add_user_message(user.id, sid, f"c{i}", f"m{i}")
    streaming = await store.create_assistant_message(sid, None)  # seq 8, position 8
    assert streaming is not None
    await store.add_user_message(user.id, sid, "c9", "m9")  # seq 9, position 9

    recent = await store.snapshot(sid, None, 3, 1000)
    assert recent is not None and recent.mode is Mode.RECENT
    assert recent.session == await store.get_session(user.id, sid)
    assert recent.head_seq == recent.session["head_seq"] == await store.head_seq(sid) == 9
    assert recent.messages == await store.recent(sid, 3)
    assert [m["position"] for m in recent.messages] == [7, 8, 9]

    resume = await store.snapshot(sid, 8, 3, 1000)
    assert resume is not None and resume.mode is Mode.RESUME and resume.head_seq == 9
    assert resume.messages == await store.changed_since(sid, 8)
    assert [m["seq"] for m in resume.messages] == [8, 9]  # the streaming one, whatever its seq
    caught_up = await store.snapshot(sid, 9, 3, 1000)
    assert caught_up is not None and caught_up.mode is Mode.RESUME
    assert [m["status"] for m in caught_up.messages] == ["streaming"]

    ahead = await store.snapshot(sid, 10, 2, 1000)
    too_far = await store.snapshot(sid, 2, 2, 5)  # 7 changes since, at most 5 replayed
    for reset in (ahead, too_far):
        assert reset is not None and reset.mode is Mode.RESET
        assert reset.messages == await store.recent(sid, 2)


async def test_snapshot_has_every_change_up_to_its_head_under_writers(
    store: Store, user: User
) -> None:
    sid = await new_session(store, user)
    stop = asyncio.Event()

    async def write() -> None:
        i = 0
        while not stop.is_set():
            i += 1
            await store.add_user_message(user.id, sid, f"c{i}", f"m{i}")
            answer = await store.create_assistant_message(sid, None)
            assert answer is not None
            await store.finish_message(sid, answer["id"], "complete", f"a{i}", 1)

    async def read() -> list[Snapshot]:
        taken: list[Snapshot] = []
        # At least 30 reads, and on until the writes have moved the head (the first write may
        # take longer than 30 reads on a loaded machine: the store's threads open their
        # connections on first use); the timeout keeps it bounded.
        async with asyncio.timeout(20):
            while len(taken) < 30 or len({s.head_seq for s in taken}) < 2:
                snapshot = await store.snapshot(sid, 0, 15, 10**6)
                assert snapshot is not None
                taken.append(snapshot)
                await asyncio.sleep(0)
        return taken

    writer = asyncio.create_task(write())
    try:
        snapshots = await read()
    finally:
        stop.set()
        await writer
    assert len({s.head_seq for s in snapshots}) > 1, "the reads never overlapped a write"
    stored = await store.changed_since(sid, 0)
    for snapshot in snapshots:
        assert snapshot.mode is Mode.RESUME
        head = snapshot.head_seq
        seqs = [m["seq"] for m in snapshot.messages]
        assert seqs == sorted(seqs)
        # Every change up to the head is in it: the message that took the head's seq (or its
        # newer state), and every message not changed since.
        assert max(seqs, default=0) >= head
        unchanged = {m["id"] for m in stored if m["seq"] <= head}
        assert unchanged <= {m["id"] for m in snapshot.messages}


async def test_snapshot_is_a_reset_in_another_epoch(store: Store, user: User) -> None:
    sid = await new_session(store, user)
    for i in range(1, 4):
        await store.add_user_message(user.id, sid, f"c{i}", f"m{i}")
    session = await store.get_session(user.id, sid)
    assert session is not None
    epoch = session["epoch"]
    same = await store.snapshot(sid, 2, 15, 1000, epoch)
    assert same is not None and same.mode is Mode.RESUME and same.session["epoch"] == epoch
    other = await store.snapshot(sid, 2, 2, 1000, "not-" + epoch)
    assert other is not None and other.mode is Mode.RESET
    assert other.messages == await store.recent(sid, 2)


async def test_epochs_are_per_session_and_renewed_on_demand(store: Store, user: User) -> None:
    ids = [await new_session(store, user) for _ in range(3)]

    async def epochs() -> dict[str, str]:
        listed, _ = await store.list_sessions(user.id, 10, None)
        return {s["id"]: s["epoch"] for s in listed}

    before = await epochs()
    assert len(set(before.values())) == 3  # random per session, not one per database
    assert await store.renew_epochs([ids[0]]) == 1
    after_one = await epochs()
    assert after_one[ids[0]] != before[ids[0]]
    assert {i: after_one[i] for i in ids[1:]} == {i: before[i] for i in ids[1:]}
    assert await store.renew_epochs() == 3
    after_all = await epochs()
    assert all(after_all[i] not in (before[i], after_one[i]) for i in ids)
    assert await store.head_seq(ids[0]) == 0  # not a change: it takes no seq


async def test_migration_gives_existing_sessions_their_own_epochs(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        await upgrade(engine, "0002")
        now = utcnow()
        async with engine.begin() as conn:
            await conn.execute(users.insert().values(id="u", name="old", created_at=now))
            await conn.execute(
                sa.text(
                    "INSERT INTO sessions (id, user_id, title, agent, head_seq, message_count,"
                    " running, archived, created_at, updated_at)"
                    " VALUES (:id, 'u', 't', 'echo', 4, 4, false, false, :now, :now)"
                ),
                [{"id": "s1", "now": now}, {"id": "s2", "now": now}],
            )
        await upgrade(engine)
        store = Store(engine)
        listed, _ = await store.list_sessions("u", 10, None)
        epochs = [s["epoch"] for s in listed]
        assert len(epochs) == 2 and all(epochs) and epochs[0] != epochs[1]
        assert [s["head_seq"] for s in listed] == [4, 4]
    finally:
        await engine.dispose()


async def test_rows_have_exactly_the_fields_their_types_declare(store: Store, user: User) -> None:
    """mypy checks every read of a row against MessageRow / SessionRow; this checks that the
    rows the store builds really have those fields (message_out and session_out read Any)."""
    sid = await new_session(store, user)
    stored = await store.add_user_message(user.id, sid, "c", "hello")
    assert stored is not None
    snapshot = await store.snapshot(sid, None, 15, 1000)
    assert snapshot is not None
    assert set(snapshot.session) == SessionRow.__required_keys__
    [message] = snapshot.messages
    assert set(message) == set(stored[0]) == MessageRow.__required_keys__
    assert message["status"] == MessageStatus.COMPLETE


async def test_new_messages_get_time_ordered_ids(store: Store, user: User) -> None:
    """Messages are keyed by version 7 UUIDs (tether.ids), so their key index grows at its
    end; the ids of later messages never sort before earlier ones' times."""
    sid = await new_session(store, user)
    made: list[str] = []
    for i in range(3):
        added = await store.add_user_message(user.id, sid, f"c{i}", f"question {i}")
        assert added is not None
        answer = await store.create_assistant_message(sid, added[0]["id"])
        assert answer is not None
        made += [added[0]["id"], answer["id"]]
        await asyncio.sleep(0.002)
    parsed = [uuid.UUID(m) for m in made]
    assert all(p.version == 7 and str(p) == m for p, m in zip(parsed, made, strict=True))
    stamps = [p.int >> 80 for p in parsed]
    assert stamps == sorted(stamps) and stamps[0] < stamps[-1]
