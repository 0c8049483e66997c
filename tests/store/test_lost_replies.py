"""A write that committed but whose reply was lost (PostgreSQL's connection cut after COMMIT)
is retried; the retry must find what the first attempt wrote, not write it again (issue 12
section 1, found by the fault test: a doubled answer to one question)."""

from __future__ import annotations

from datetime import datetime

from tests.store.test_run_streams import (
    CountingStore,
    RecordingBus,
    WordsAgent,
    answer_all,
    final_answers,
    manager,
    sessions_with_a_question,
)
from tether.accounts import User
from tether.parts import Part
from tether.protocol import MessageStatus
from tether.store import AgentState, IdleOrNext, MessageRow, Store, Takeover

LOST = "connection reset by peer (the reply to COMMIT was lost)"


class LostCreateReply(CountingStore):
    """The first answer is created (committed), then its reply is lost: the reply to the
    claim that opened it (SQLite) or to its own creation (PostgreSQL)."""

    lost = 0

    def _lose_first(self) -> None:
        if not self.lost:
            self.lost += 1
            raise ConnectionResetError(LOST)

    async def claim_session(
        self, session_id: str, runner: str, until: datetime, *, queued: bool = False,
        answer_id: str | None = None,
    ) -> Takeover | None:
        taken = await super().claim_session(
            session_id, runner, until, queued=queued, answer_id=answer_id
        )
        if taken is not None and taken.answer is not None:
            self._lose_first()
        return taken

    async def create_assistant_message(
        self, session_id: str, reply_to: str | None, runner: str | None = None,
        message_id: str | None = None,
    ) -> MessageRow | None:
        given = {} if message_id is None else {"message_id": message_id}
        created = await super().create_assistant_message(session_id, reply_to, runner, **given)
        self._lose_first()
        return created


class LostFinishReply(CountingStore):
    """The first answer's final write commits, then its reply is lost (the write that also
    releases the claim, SQLite, or the end alone, PostgreSQL)."""

    lost = 0

    async def end_and_release(
        self, session_id: str, message_id: str, status: MessageStatus, content: str,
        chunks: int, error: str | None, *, runner: str, parts: list[Part] | None,
        agent_state: AgentState | None = None, likely_queued: bool = False,
    ) -> tuple[MessageRow, IdleOrNext | None] | None:
        ended = await super().end_and_release(
            session_id, message_id, status, content, chunks, error, runner=runner,
            parts=parts, agent_state=agent_state, likely_queued=likely_queued,
        )
        if not self.lost:
            self.lost += 1
            raise ConnectionResetError(LOST)
        return ended


async def test_a_lost_reply_to_an_answers_creation_does_not_answer_twice(
    store: Store, user: User
) -> None:
    """Before the fix the retry created a second answer; the first stayed ``streaming``."""
    bus = RecordingBus()
    runs = manager(store, WordsAgent(5, 0.01), bus, kind=LostCreateReply, delta_interval=0.01)
    [sid] = await sessions_with_a_question(store, user, 1)
    await answer_all(runs, store, sid)
    assert isinstance(runs.store, LostCreateReply) and runs.store.lost == 1
    [answer] = await final_answers(store, sid)
    assert (answer["status"], answer["content"]) == ("complete", "w0 w1 w2 w3 w4 ")
    assert await store.head_seq(sid) == 3  # question, answer created, answer ended: no more
    published = {m["id"] for kind, m in bus.events if kind == "message" and m["role"] != "user"}
    assert published == {answer["id"]}


async def test_a_lost_reply_to_an_answers_end_keeps_the_queue_going(
    store: Store, user: User
) -> None:
    """Before the fix the retry found the message ended, took it for a takeover, dropped the
    final event and stopped: the next question was never answered."""
    bus = RecordingBus()
    runs = manager(store, WordsAgent(3, 0.01), bus, kind=LostFinishReply, delta_interval=0.01)
    [sid] = await sessions_with_a_question(store, user, 1)
    await store.add_user_message(user.id, sid, "c2", "and another")
    await answer_all(runs, store, sid)
    assert isinstance(runs.store, LostFinishReply) and runs.store.lost == 1
    first, second = await final_answers(store, sid)
    assert [first["status"], second["status"]] == ["complete", "complete"]
    finals = [m["id"] for kind, m in bus.events if kind == "message" and m["status"] == "complete"
              and m["role"] == "assistant"]
    assert finals == [first["id"], second["id"]]  # the first answer's end was published too
    session = await store.session_by_id(sid)
    assert session is not None and session["running"] is False
