"""The queue of questions (``messages.queued``): what it holds, on SQLite and PostgreSQL, agrees
with what the queue was before the column (a user message awaiting an answer, with none yet or
a retry asking for another), from every write that changes it and after the migration that
backfills it; and its read is an index lookup, not a scan of the session."""

from __future__ import annotations

import asyncio
import re
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from tests.store.test_run_streams import (
    RecordingBus,
    WordsAgent,
    manager,
    sessions_with_a_question,
    wait_answered,
    wait_until_idle,
)
from tether.accounts import User
from tether.db.engine import create_engine, is_sqlite
from tether.db.migrate import upgrade
from tether.db.schema import sessions, users
from tether.store import MessageRow, Store, utcnow
from tether.store import statements as queries
from tether.store.writer import writer_for

#: The queue as it was read before ``queued`` (migration 0008's backfill says the same).
WAITING_BEFORE = sa.text(
    "SELECT id FROM messages WHERE role = 'user' AND awaits_answer"
    " AND (answer_again OR NOT EXISTS"
    " (SELECT 1 FROM messages AS answers WHERE answers.reply_to = messages.id))"
    " ORDER BY session_id, position"
)

#: A test of PostgreSQL's own interleavings (SQLite serialises every write in one writer).
POSTGRES_ONLY = pytest.mark.parametrize(
    "database_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)


async def _waiting_before(store: Store) -> list[str]:
    async with store.engine.connect() as conn:
        return [r[0] for r in await conn.execute(WAITING_BEFORE)]


async def _ask(store: Store, user: User, sid: str, key: str) -> str:
    stored = await store.add_user_message(user.id, sid, key, key)
    assert stored is not None
    return stored[0]["id"]


async def _answer(store: Store, sid: str, question: str, status: str) -> str:
    answer = await store.create_assistant_message(sid, question)
    assert answer is not None
    if status != "streaming":
        await store.finish_message(sid, answer["id"], status, "a", 1)  # type: ignore[arg-type]
    return answer["id"]


async def test_the_queue_is_what_it_was_before_the_column(store: Store, user: User) -> None:
    session, _ = await store.create_session(user.id, None, "t", "echo")
    sid = session["id"]
    complete = await _ask(store, user, sid, "complete")
    first = await _answer(store, sid, complete, "complete")
    failed = await _ask(store, user, sid, "failed")
    await _answer(store, sid, failed, "failed")
    interrupted = await _ask(store, user, sid, "interrupted")
    await _answer(store, sid, interrupted, "streaming")
    taken = await store.claim_session(sid, "other-node", utcnow())  # ends it interrupted
    assert taken is not None and len(taken.interrupted) == 1
    posted = await store.post_message(user.id, sid, "user", "no respond", "k1", awaits_answer=False)
    assert posted is not None
    asked = await store.post_message(user.id, sid, "user", "respond", "k2", awaits_answer=True)
    assert asked is not None
    said = await store.post_message(user.id, sid, "assistant", "said", "k3", awaits_answer=False)
    assert said is not None
    waiting = await _ask(store, user, sid, "waiting")
    assert await store.request_retry(sid, first) is True  # `complete` is queued again

    expected = [complete, asked[0]["id"], waiting]
    assert await _waiting_before(store) == expected
    assert [m["id"] for m in await store.unanswered()] == expected
    next_up = await store.next_unanswered(sid)
    assert next_up is not None and next_up["id"] == complete

    await _answer(store, sid, complete, "complete")  # the retry's answer takes it out
    assert await store.request_retry(sid, first) is False  # a newer answer exists
    assert await _waiting_before(store) == expected[1:]
    assert [m["id"] for m in await store.unanswered()] == expected[1:]


async def test_a_retry_of_a_post_without_respond_does_not_queue_it(
    store: Store, user: User
) -> None:
    """The queue wants ``awaits_answer``, also when a retry asks again (as before)."""
    session, _ = await store.create_session(user.id, None, "t", "echo")
    sid = session["id"]
    posted = await store.post_message(user.id, sid, "user", "no respond", "k", awaits_answer=False)
    assert posted is not None
    answer = await _answer(store, sid, posted[0]["id"], "complete")
    assert await store.request_retry(sid, answer) is True
    assert await _waiting_before(store) == []
    assert await store.next_unanswered(sid) is None


async def test_the_migration_queues_exactly_what_waited(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        await upgrade(engine, "0007")
        now = utcnow()
        row = (
            "INSERT INTO messages (id, session_id, position, seq, role, content, status, chunks,"
            " reply_to, answer_again, awaits_answer, created_at, updated_at) VALUES"
            " (:id, 's', :pos, :pos, :role, '', 'complete', 0, :reply_to, :again, :awaits,"
            " :now, :now)"
        )

        def message(pos: int, role: str, reply_to: str | None = None, *, again: bool = False,
                    awaits: bool = True) -> dict[str, object]:
            return {"id": f"m{pos}", "pos": pos, "role": role, "reply_to": reply_to,
                    "again": again, "awaits": awaits, "now": now}

        async with engine.begin() as conn:
            await conn.execute(users.insert().values(id="u", name="old", created_at=now))
            await conn.execute(sa.text(
                "INSERT INTO sessions (id, user_id, title, agent, head_seq, message_count,"
                " running, archived, epoch, created_at, updated_at)"
                " VALUES ('s', 'u', 't', 'echo', 7, 7, false, false, 'e', :now, :now)"
            ), {"now": now})
            await conn.execute(sa.text(row), [
                message(1, "user"),  # answered
                message(2, "assistant", "m1"),
                message(3, "user", again=True),  # answered, a retry asks again
                message(4, "assistant", "m3"),
                message(5, "user", awaits=False),  # posted without respond
                message(6, "user"),  # waiting
                message(7, "assistant"),  # published, answers nothing
            ])
        await upgrade(engine)
        store = Store(engine)
        assert [m["id"] for m in await store.unanswered()] == ["m3", "m6"]
        assert await _waiting_before(store) == ["m3", "m6"]
    finally:
        await engine.dispose()


async def test_the_next_question_is_read_from_the_queue_index(store: Store) -> None:
    """The read does not scan the session's messages: its plan uses ``ix_messages_queued``
    (the cost in the session's length is measured in docs/performance.md)."""
    read = queries.NEXT_UNANSWERED.params(p_session="s")
    async with store.engine.connect() as conn:
        sql = str(read.compile(conn.sync_engine, compile_kwargs={"literal_binds": True}))
        if is_sqlite(store.engine):
            plan = [str(r[-1]) for r in await conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}")]
        else:
            # An empty table is scanned whatever its indexes: ask what it would use.
            await conn.exec_driver_sql("SET enable_seqscan = off")
            plan = [str(r[0]) for r in await conn.exec_driver_sql(f"EXPLAIN {sql}")]
    assert any("ix_messages_queued" in line for line in plan), plan


async def test_a_workers_claim_holds_only_while_a_question_is_queued(
    store: Store, user: User
) -> None:
    session, _ = await store.create_session(user.id, None, "t", "echo")
    sid = session["id"]
    until = utcnow() + timedelta(seconds=10)
    assert await store.claim_session(sid, "a", until, queued=True) is None
    assert await store.claimed_sessions() == [], "an empty queue is not claimed"
    first = await _ask(store, user, sid, "first")
    taken = await store.claim_session(sid, "a", until, queued=True)
    assert taken is not None and taken.session["running"]
    assert taken.question is not None and taken.question["id"] == first
    assert await store.claim_session(sid, "b", until, queued=True) is None, "a holds it"
    answer = await store.create_assistant_message(sid, first, "a")
    assert answer is not None
    second = await _ask(store, user, sid, "second")  # sent meanwhile
    await store.finish_message(sid, answer["id"], "complete", "a", 1, runner="a")
    assert await store.release_session(sid, "a", idle=True) is None, "second is queued"
    assert await store.claimed_sessions() == [sid]
    await _answer(store, sid, second, "complete")
    released = await store.release_session(sid, "a", idle=True)
    assert released is not None and not released["running"]
    assert await store.claimed_sessions() == []
    assert await store.release_session(sid, "a", idle=True) is None, "not held any more"


#: What reading the queue's next question says (statements.NEXT_UNANSWERED).
_NEXT_QUESTION = re.compile(r"messages\.queued( = 1)? ORDER BY messages\.position")


def _is_release(statement: str) -> bool:
    """RELEASE_IDLE, alone or (PostgreSQL) in RELEASE_IDLE_OR_NEXT."""
    return statement.startswith("WITH released") or (
        statement.startswith("UPDATE sessions") and "NOT (EXISTS" in statement
    )


async def _second_question_during_a_run(
    store: Store, user: User, statements: list[str], *, from_here: bool
) -> list[str]:
    """A run of a first question, a second sent while it streams (woken here with
    ``from_here``, else as from another node whose claim fails), both answered: the
    statements the run ran until the claim is given up."""
    hold = asyncio.Event()
    bus = RecordingBus()
    runs = manager(store, WordsAgent(4, 0.0, hold), bus, runner_id="a")
    [sid] = await sessions_with_a_question(store, user, 1)
    try:
        runs.wake(sid)
        async with asyncio.timeout(10):
            while sid not in runs.running:  # noqa: ASYNC110 - the run starts in its own time
                await asyncio.sleep(0.01)
        await _ask(store, user, sid, "second")
        if from_here:
            runs.wake(sid)
        else:
            before = len(statements)
            assert await store.claim_session(sid, "b", utcnow(), queued=True) is None
            del statements[before:]  # this test's own claim (the held run reads no queue)
        hold.set()
        async with asyncio.timeout(10):
            while await store.claimed_sessions():  # noqa: ASYNC110 - polled, as above
                await asyncio.sleep(0.01)
        await wait_until_idle(runs)
        seen = list(statements)
        await wait_answered(store, [sid], timeout=0.5)  # nothing is left queued or streaming
    finally:
        await runs.shutdown()
    finals = [m for kind, m in bus.events
              if kind == "message" and m["role"] == "assistant" and m["status"] == "complete"]
    assert len(finals) == 2
    return seen


async def test_a_question_sent_while_another_runner_holds_the_claim_is_answered(
    store: Store, user: User, statements: list[str]
) -> None:
    """As from another node: its worker's claim fails while this run holds the session, and
    nobody wakes this process's worker; the run's release sees the question and answers it.
    The queue is read once per run, in its claim's transaction (the release asks again in
    the same statement that gives the claim up)."""
    seen = await _second_question_during_a_run(store, user, statements, from_here=False)
    # The claim reads the first question (PostgreSQL: in the claim's statement); the second
    # comes with the idle release that missed (PostgreSQL: in its statement, SQLite: read in
    # its transaction); the last release gives the claim up.
    releases = [s for s in seen if _is_release(s)]
    assert len(releases) == 2, releases
    queue_reads = [s for s in seen
                   if _NEXT_QUESTION.search(" ".join(s.split())) and not _is_release(s)]
    assert len(queue_reads) == (2 if is_sqlite(store.engine) else 1), queue_reads


async def test_a_question_sent_here_during_a_run_is_read_before_the_release(
    store: Store, user: User, statements: list[str]
) -> None:
    """Its wake tells the worker it is likely queued: the queue is read first, and the claim
    is given up (one conditional release) only after the last answer."""
    seen = await _second_question_during_a_run(store, user, statements, from_here=True)
    # RELEASE_IDLE, alone or (PostgreSQL) in the statement that also reads the queue.
    releases = [s for s in seen if _is_release(s)]
    assert len(releases) == 1, releases


# PostgreSQL only: SQLite's writes, this claim's included, share one writer anyway.
@POSTGRES_ONLY
async def test_a_workers_claim_on_an_empty_queue_writes_nothing(
    store: Store, user: User
) -> None:
    """No transaction and no row lock (PostgreSQL: one statement in autocommit): while another
    transaction holds the session row, finding the queue empty does not wait for it."""
    session, _ = await store.create_session(user.id, None, "t", "echo")
    sid = session["id"]
    began: list[object] = []

    def begin(conn: sa.Connection) -> None:
        if conn.get_execution_options().get("isolation_level") != "AUTOCOMMIT":
            began.append(conn)

    async with store.engine.connect() as holder:
        await holder.execute(
            sa.select(sessions.c.id).where(sessions.c.id == sid).with_for_update()
        )
        sa.event.listen(sa.Engine, "begin", begin)
        try:
            async with asyncio.timeout(10):  # a claim waiting for the row lock would hang
                taken = await store.claim_session(sid, "a", utcnow(), queued=True)
        finally:
            sa.event.remove(sa.Engine, "begin", begin)
        await holder.rollback()
    assert taken is None
    assert began == [], "no transaction"
    assert await store.claimed_sessions() == []


#: A test of SQLite's writer groups (on PostgreSQL each write is a statement of its own).
SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@SQLITE_ONLY
async def test_a_workers_answer_is_two_writes_its_claim_opens_it_and_its_end_releases(
    store: Store, user: User
) -> None:
    """Not four (the claim, the answer's creation, its end, the release): each of those was a
    member of the writer's groups, with its savepoint and its future, per send."""
    writer = writer_for(store.engine)
    bus = RecordingBus()
    runs = manager(store, WordsAgent(3, 0.0), bus, checkpoint_interval=60.0)
    [sid] = await sessions_with_a_question(store, user, 1)
    before = writer.groups
    try:
        runs.wake(sid)
        await wait_answered(store, [sid])
        async with asyncio.timeout(10):
            while await store.claimed_sessions():  # noqa: ASYNC110 - polled
                await asyncio.sleep(0.01)
        await wait_until_idle(runs)
    finally:
        await runs.shutdown()
    assert writer.groups == before + 2
    [answer] = [m for m in await store.changed_since(sid, 0) if m["role"] == "assistant"]
    assert (answer["status"], answer["content"]) == ("complete", "w0 w1 w2 ")
    session = await store.session_by_id(sid)
    assert session is not None and not session["running"] and session["head_seq"] == 3
    announced = [m["running"] for kind, m in bus.events if kind == "session"]
    assert announced == [True, False]  # claimed, then released: both told


async def test_a_workers_claim_takes_over_an_answer_left_streaming(
    store: Store, user: User
) -> None:
    """A queued question in a session whose holder's lease ran out with its answer streaming:
    the worker's claim ends that answer ``interrupted`` in the claim's transaction and comes
    with the question (PostgreSQL: the one-statement claim leaves it to the transaction)."""
    session, _ = await store.create_session(user.id, None, "t", "echo")
    sid = session["id"]
    first = await _ask(store, user, sid, "first")
    assert await store.claim_session(sid, "a", utcnow() - timedelta(seconds=1)) is not None
    left = await store.create_assistant_message(sid, first, "a")
    assert left is not None
    second = await _ask(store, user, sid, "second")
    head = await store.head_seq(sid)

    taken = await store.claim_session(sid, "b", utcnow() + timedelta(seconds=10), queued=True)
    assert taken is not None and taken.session["running"]
    assert [m["id"] for m in taken.interrupted] == [left["id"]]
    assert taken.interrupted[0]["status"] == "interrupted"
    assert taken.question is not None and taken.question["id"] == second
    assert taken.session["head_seq"] == head + 1
    assert await store.streaming_in(sid) == []


async def _answering(store: Store, user: User, until: datetime) -> tuple[str, MessageRow]:
    """A session whose first question runner "a" (claim until ``until``) is answering."""
    session, _ = await store.create_session(user.id, None, "t", "echo")
    sid = session["id"]
    first = await _ask(store, user, sid, "first")
    assert await store.claim_session(sid, "a", until) is not None
    answer = await store.create_assistant_message(sid, first, "a")
    assert answer is not None
    return sid, answer


async def test_a_workers_claim_held_by_a_live_runner_with_an_answer_streaming_fails(
    store: Store, user: User
) -> None:
    sid, streaming = await _answering(store, user, utcnow() + timedelta(seconds=30))
    await _ask(store, user, sid, "second")
    head = await store.head_seq(sid)

    assert await store.claim_session(sid, "b", utcnow(), queued=True) is None
    assert [m["id"] for m in await store.streaming_in(sid)] == [streaming["id"]]
    assert await store.head_seq(sid) == head


# PostgreSQL only: SQLite's writes are serialised by one writer: no such interleaving.
@POSTGRES_ONLY
async def test_a_workers_claim_racing_an_expired_holders_new_answer_leaves_none_streaming(
    store: Store, user: User
) -> None:
    """The holder's lease ran out, but it still creates an answer (fenced only by the claim):
    a worker's claim that waited for that write's row lock either takes the answer over
    (ends it) or does not claim; never holds the session with another's answer streaming."""
    session, _ = await store.create_session(user.id, None, "t", "echo")
    sid = session["id"]
    first = await _ask(store, user, sid, "first")
    second = await _ask(store, user, sid, "second")
    assert await store.claim_session(sid, "a", utcnow() - timedelta(seconds=1)) is not None
    params = {"p_session": sid, "p_now": utcnow(), "p_runner": "a", "p_id": "late-answer",
              "p_reply_to": first}
    async with store.engine.connect() as holder:
        await holder.begin()
        await holder.execute(queries.ANSWER_IN_ONE_STATEMENT[True], params)  # not committed
        claim = asyncio.create_task(
            store.claim_session(sid, "b", utcnow() + timedelta(seconds=30), queued=True)
        )
        # Autocommit: pg_stat_activity is read once per transaction, then kept.
        watching = store.engine.execution_options(isolation_level="AUTOCOMMIT")
        async with watching.connect() as watcher, asyncio.timeout(10):
            while not (await watcher.execute(sa.text(  # noqa: ASYNC110 - the claim's own time
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock'"
            ))).scalar():
                await asyncio.sleep(0.01)
        await holder.commit()
    async with asyncio.timeout(10):
        taken = await claim
    streaming = [m["id"] for m in await store.streaming_in(sid)]
    if taken is None:
        assert streaming == ["late-answer"]
        taken = await store.claim_session(sid, "b", utcnow(), queued=True)
        assert taken is not None, "the next claim takes it over"
    else:
        assert streaming == []
    assert [m["id"] for m in taken.interrupted] == ["late-answer"]
    assert taken.question is not None and taken.question["id"] == second
    assert await store.streaming_in(sid) == []


async def test_a_workers_release_gives_the_claim_up_or_reads_the_next_question(
    store: Store, user: User
) -> None:
    sid, answer = await _answering(store, user, utcnow() + timedelta(seconds=10))
    second = await _ask(store, user, sid, "second")
    await store.finish_message(sid, answer["id"], "complete", "a", 1, runner="a")

    not_held, queued = await store.release_or_next(sid, "b")  # not b's to give up
    assert not_held is None and queued is not None and queued["id"] == second
    released, question = await store.release_or_next(sid, "a")
    assert released is None and question is not None and question["id"] == second
    assert await store.claimed_sessions() == [sid], "kept, to answer it"
    await _answer(store, sid, second, "complete")
    released, question = await store.release_or_next(sid, "a")
    assert question is None and released is not None and not released["running"]
    assert await store.claimed_sessions() == []
    assert await store.release_or_next(sid, "a") == (None, None), "not held, nothing queued"
