"""Run claims: which process answers a session, until when (see tether.runs).

A claim changes hands in one transaction with the end of every answer its previous holder left
``streaming``: whoever takes a session over (a new question arrived at a node while the old
holder's lease had run out, a sweep for expired leases, a restart) ends those answers
``interrupted``, exactly once, before anything else can happen in the session. A stale holder
that wakes up later finds its answer already ended and its claim gone; it never has to guess.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, select, update

from tether.db.schema import sessions
from tether.parts import Part, final_parts
from tether.protocol import MessageStatus
from tether.store import compiled, statements
from tether.store.messages import MessageQueries, end_answer, open_answer
from tether.store.rows import (
    _SESSION_COLUMNS,
    AgentState,
    MessageRow,
    SessionRow,
    _NothingToDo,
    message_out,
    parts_or_text,
    session_out,
    utcnow,
)

#: The error kept on an answer whose writer lost the session (it stopped, stalled or was cut off).
INTERRUPTED = "the server stopped while this answer was being written"


@dataclass(frozen=True, slots=True)
class Takeover:
    """A claim that changed: the session afterwards, and the answers the previous holder had
    left streaming, now ended ``interrupted`` (text so far kept) in the same transaction."""

    session: SessionRow
    interrupted: list[MessageRow]
    #: For a claim taken only while a question is queued: the first question of the queue,
    #: read in the claim's transaction.
    question: MessageRow | None = None
    #: Its answer, opened (``streaming``, empty) in the same transaction when the claim was
    #: asked to (``answer_id``, on SQLite); None: the claimer opens it.
    answer: MessageRow | None = None


#: What a worker's end of an answer did with the claim (see ClaimQueries.release_or_next):
#: the session after the claim was given up while nothing was queued, or else the queue's first
#: question, with the claim kept to answer it; (None, None): not held, and nothing queued.
IdleOrNext = tuple[SessionRow | None, MessageRow | None]


def _release_or_next(conn: Connection, params: dict[str, Any]) -> IdleOrNext:
    """release_or_next's statements in ``conn``'s transaction (SQLite)."""
    released = compiled.first(conn, statements.RELEASE_IDLE, params)
    if released is not None:
        return session_out(released), None
    question = compiled.first(conn, statements.NEXT_UNANSWERED, {"p_session": params["p_session"]})
    return None, None if question is None else message_out(question)


def _end_streaming(conn: Connection, session_id: str, claimed: Any) -> Takeover:
    """In ``conn``'s transaction, which has just updated the session row (``claimed``, as the
    update returned it): end every streaming answer of the session ``interrupted``, each a
    change with its own seq; the session after."""
    left = compiled.execute(conn, statements.STREAMING_IN, {"p_session": session_id})
    if not left:  # the usual case: the row the claim returned is the session after
        return Takeover(session_out(claimed), [])
    interrupted = [
        end_answer(
            conn, session_id, row.id, MessageStatus.INTERRUPTED, row.content, row.chunks,
            INTERRUPTED, None,
            parts_or_text(final_parts(message_out(row)["parts"], INTERRUPTED), row.content),
        )
        for row in left  # streaming, in the session whose row this transaction holds
    ]
    session = compiled.one(conn, statements.SESSION, {"p_session": session_id})
    return Takeover(session_out(session), interrupted)


def _opened_before(
    conn: Connection, session_id: str, runner: str, answer_id: str
) -> Takeover | None:
    """A claim retried with the ``answer_id`` of an attempt that committed (its caller never
    heard: an error after it, say while announcing it): the queue it claimed for is empty now,
    its question answered by that answer. The claim, question and answer again while the
    runner still holds the session and the answer streams (None otherwise), so the retry
    answers it instead of leaving it streaming until the lease's upkeep ends it."""
    found = compiled.first(conn, statements.OPENED_UNDER_CLAIM,
                           {"p_id": answer_id, "p_session": session_id, "p_runner": runner})
    if found is None:
        return None
    answer = message_out(found)
    question = compiled.first(conn, statements.MESSAGE, {"p_id": answer["reply_to"]})
    session = compiled.one(conn, statements.SESSION, {"p_session": session_id})
    return Takeover(session_out(session), [], None if question is None else message_out(question),
                    answer)


class _TakeOver:
    """A claim that must take an answer over (see claim_session)."""


_TAKE_OVER = _TakeOver()


class _Prefixed:
    """The columns of ``row`` named with ``prefix``, without it (for message_out)."""

    def __init__(self, row: Any, prefix: str) -> None:
        cut = len(prefix)
        self._mapping = {
            k[cut:]: v for k, v in row._mapping.items()
            if isinstance(k, str) and k.startswith(prefix)
        }


class ClaimQueries(MessageQueries):
    """Claims change hands through the store's writer (tether.store.writer): on SQLite a
    claim and its release are members of the writer's groups, not transactions of their own
    holding the write lock over several hand-offs each (and a worker's claim and release share
    theirs with its answer's start and end)."""

    async def claim_session(
        self, session_id: str, runner: str, until: datetime, *, queued: bool = False,
        answer_id: str | None = None,
    ) -> Takeover | None:
        """Make ``runner`` the session's runner until ``until``, unless another runner holds a
        live claim; None then. Any answer still streaming in the session is the previous
        holder's (a runner claims only when it runs nothing there), so it is ended
        ``interrupted`` in the claim's transaction.

        ``queued``: claim only while a question is queued (None when none is), and read the
        first one in the same transaction (``Takeover.question``): a worker's claim, one write
        instead of a read of the queue before it and another after. ``answer_id`` (with
        ``queued``): on SQLite, also open that question's answer in the same transaction
        (``Takeover.answer``, as create_assistant_message would), one member of the writer's
        group instead of two. PostgreSQL claims in one statement and leaves the answer to the
        claimer (``Takeover.answer`` None), whose create is idempotent by its id across a lost
        reply, where a claim retried after one would find the queue empty."""
        params = {"p_session": session_id, "p_runner": runner, "p_until": until, "p_now": utcnow()}
        if self._autocommit is not None:
            answer_id = None  # PostgreSQL: the claimer opens the answer (above)
        if queued and self._autocommit is not None:
            taken = await self._claim_queued_in_one_statement(params)
            if not isinstance(taken, _TakeOver):
                return taken
            # A previous holder left an answer streaming: the claim's transaction ends it.
        claim = statements.CLAIM_QUEUED if queued else statements.CLAIM

        def write(conn: Connection) -> Takeover | None:
            claimed = compiled.first(conn, claim, params)
            if claimed is None:
                if answer_id is None:
                    return None
                return _opened_before(conn, session_id, runner, answer_id)
            taken = _end_streaming(conn, session_id, claimed)
            if not queued:
                return taken
            found = compiled.first(conn, statements.NEXT_UNANSWERED, {"p_session": session_id})
            if found is None:
                return taken
            question = message_out(found)
            answer = None
            if answer_id is not None:
                answer = open_answer(conn, session_id, question["id"], runner, answer_id)
            return replace(taken, question=question, answer=answer)

        return await self._transact(write)

    async def _claim_queued_in_one_statement(
        self, params: dict[str, Any]
    ) -> Takeover | _TakeOver | None:
        """A worker's claim on PostgreSQL: one statement in autocommit, one round trip (not
        BEGIN, the claim, the streaming check, the queue read and COMMIT), which writes nothing
        on an empty queue; _TAKE_OVER when an answer left streaming needs the transaction."""
        assert self._autocommit is not None
        [row] = await self._one_statement(statements.CLAIM_QUEUED_IN_ONE_STATEMENT, params)
        if row.id is None:
            return _TAKE_OVER if row.takeover else None
        question = None
        if row.q_id is not None:
            question = message_out(_Prefixed(row, "q_"))
        return Takeover(session_out(row), [], question)

    async def renew_claims(self, runner: str, until: datetime) -> set[str]:
        """Extend every claim ``runner`` still holds; the ids of those sessions."""
        def write(conn: Connection) -> set[str]:
            rows = compiled.execute(
                conn, statements.RENEW, {"p_runner": runner, "p_until": until}
            )
            return {r[0] for r in rows}

        return await self._transact(write)

    async def release_session(
        self, session_id: str, runner: str, *, idle: bool = False
    ) -> SessionRow | None:
        """Give up ``runner``'s claim; the session (not ``running``), or None if not held.
        ``idle``: only while no question of the session is queued (None also when one is: the
        claim is kept, to answer it)."""
        release = statements.RELEASE_IDLE if idle else statements.RELEASE
        return await self._write_session(
            release, {"p_session": session_id, "p_runner": runner, "p_now": utcnow()}
        )

    async def release_or_next(
        self, session_id: str, runner: str
    ) -> tuple[SessionRow | None, MessageRow | None]:
        """A worker's end of an answer: give ``runner``'s claim up while nothing is queued
        (the session, not ``running``, and None), or else the queue's first question (None and
        it; the claim is kept to answer it), in one statement (PostgreSQL) or one transaction
        (SQLite) instead of a release that misses and a read. (None, None): not held, and
        nothing queued."""
        params = {"p_session": session_id, "p_runner": runner, "p_now": utcnow()}
        if self._autocommit is not None:
            [row] = await self._one_statement(statements.RELEASE_IDLE_OR_NEXT, params)
            if row.id is not None:
                return session_out(row), None
            return None, None if row.q_id is None else message_out(_Prefixed(row, "q_"))

        return await self._transact(lambda conn: _release_or_next(conn, params))

    async def end_and_release(
        self,
        session_id: str,
        message_id: str,
        status: MessageStatus,
        content: str,
        chunks: int,
        error: str | None,
        *,
        runner: str,
        parts: list[Part] | None,
        agent_state: AgentState | None = None,
        likely_queued: bool = False,
    ) -> tuple[MessageRow, IdleOrNext | None] | None:
        """A worker's end of an answer (as finish_message, fenced by ``runner``'s claim; None:
        fenced, nothing written) and what comes after it: on SQLite, in the same transaction,
        the agent's new state kept (``agent_state``) and release_or_next, one member of the
        writer's group instead of two or three (``likely_queued``: a question was sent
        meanwhile, so the queue is read before a release is tried). On PostgreSQL the end
        alone, one statement (as finish_message): the caller keeps the state and releases
        ((final, None)), so that a retry after a lost reply, which finds the answer ended,
        still does both."""
        if self._autocommit is not None:
            final = await self.finish_message(
                session_id, message_id, status, content, chunks, error, runner, parts
            )
            return None if final is None else (final, None)
        params = {"p_session": session_id, "p_runner": runner, "p_now": utcnow()}
        ending = parts_or_text(parts, content)

        def write(conn: Connection) -> tuple[MessageRow, IdleOrNext]:
            final = end_answer(
                conn, session_id, message_id, status, content, chunks, error, runner, ending
            )
            if agent_state is not None:
                compiled.first(conn, statements.SET_AGENT_STATE,
                               {"p_session": session_id, "p_state": agent_state.state})
            if likely_queued and (question := compiled.first(
                conn, statements.NEXT_UNANSWERED, {"p_session": session_id}
            )) is not None:
                return final, (None, message_out(question))
            return final, _release_or_next(conn, params)

        try:
            return await self._transact(write)
        except _NothingToDo:
            return None

    async def expired_claims(self) -> list[str]:
        """The sessions whose claim's lease has run out."""
        async with self._reads.connect() as conn:
            rows = (
                await conn.execute(
                    select(sessions.c.id).where(
                        sessions.c.runner.is_not(None), sessions.c.runner_lease < utcnow()
                    )
                )
            ).all()
        return [r[0] for r in rows]

    async def break_claim(self, session_id: str, *, force: bool = False) -> Takeover | None:
        """Clear a session's claim if it has expired (or, with ``force``, whatever it is), and
        end its holder's streaming answers ``interrupted`` in the same transaction; None when
        the claim was live (or there was none)."""
        condition = and_(sessions.c.id == session_id, sessions.c.runner.is_not(None))
        if not force:
            condition = and_(condition, sessions.c.runner_lease < utcnow())
        clear = (
            update(sessions)
            .where(condition)
            .values(runner=None, runner_lease=None, running=False, updated_at=utcnow())
            .returning(*_SESSION_COLUMNS)
        )

        def write(conn: Connection) -> Takeover | None:
            cleared = conn.execute(clear).first()
            return None if cleared is None else _end_streaming(conn, session_id, cleared)

        return await self._transact(write)

    async def claimed_sessions(self) -> list[str]:
        async with self._reads.connect() as conn:
            rows = (
                await conn.execute(select(sessions.c.id).where(sessions.c.runner.is_not(None)))
            ).all()
        return [r[0] for r in rows]
