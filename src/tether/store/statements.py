"""The statements of the hot paths (a send, a run's start and end), built once.

Building a SQLAlchemy statement and computing its cache key costs about 50 us, more than
executing a simple one on SQLite; a statement built once memoizes its cache key, so each call
costs only binding its parameters (``bindparam`` names are prefixed ``p_`` to stay clear of
column names). Statements that vary in shape, or run rarely, stay written where they are used.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    ColumnElement,
    CompoundSelect,
    Select,
    Update,
    and_,
    bindparam,
    exists,
    false,
    func,
    literal,
    null,
    or_,
    select,
    true,
    update,
)

from tether.db.schema import messages, sessions
from tether.protocol import MessageStatus
from tether.store.rows import _MESSAGE_COLUMNS, _SESSION_COLUMNS, STREAMING, utcnow


def _next_seq(*, by_user: bool, by_runner: bool, new_message: bool) -> Update:
    values: dict[str, Any] = {"head_seq": sessions.c.head_seq + 1, "updated_at": bindparam("p_now")}
    if new_message:
        values["message_count"] = sessions.c.message_count + 1
    condition: ColumnElement[bool] = sessions.c.id == bindparam("p_session")
    if by_user:
        condition = and_(condition, sessions.c.user_id == bindparam("p_user"))
    if by_runner:
        condition = and_(condition, sessions.c.runner == bindparam("p_runner"))
    return (
        update(sessions)
        .where(condition)
        .values(**values)
        .returning(sessions.c.head_seq, sessions.c.message_count)
    )


#: Take a session's next seq (and position, for a new message): keyed by (by_user, by_runner,
#: new_message). Parameters: p_session, p_now, and p_user / p_runner where used. Only the
#: variants that are written: a user's message (by_user), a run's new answer and its end fenced
#: by the runner's claim (by_runner), and either without a runner.
NEXT_SEQ = {
    (by_user, by_runner, new): _next_seq(by_user=by_user, by_runner=by_runner, new_message=new)
    for by_user, by_runner, new in (
        (True, False, True),
        (False, True, True),
        (False, True, False),
        (False, False, True),
        (False, False, False),
    )
}



def next_seq(
    session_id: str, *, user_id: str | None, runner: str | None, new_message: bool
) -> tuple[Update, dict[str, Any]]:
    """The statement and parameters that take a session's next seq (and next position, for a
    new message), by that user / while that runner holds the claim when given."""
    params: dict[str, Any] = {"p_session": session_id, "p_now": utcnow()}
    if user_id is not None:
        params["p_user"] = user_id
    if runner is not None:
        params["p_runner"] = runner
    return NEXT_SEQ[(user_id is not None, runner is not None, new_message)], params


#: The user message already stored under a client_msg_id (p_session, p_user, p_client_msg_id).
BY_CLIENT_MSG_ID = (
    select(*_MESSAGE_COLUMNS)
    .join(sessions, sessions.c.id == messages.c.session_id)
    .where(
        messages.c.session_id == bindparam("p_session"),
        messages.c.client_msg_id == bindparam("p_client_msg_id"),
        sessions.c.user_id == bindparam("p_user"),
    )
)

#: A new message row; every column is a parameter of the same name.
INSERT_MESSAGE = messages.insert().returning(*_MESSAGE_COLUMNS)

#: What ending a message writes, but its seq (p_status, p_content, p_chunks, p_parts, p_error,
#: p_now).
_ENDING: dict[str, Any] = {
    name: bindparam(f"p_{name}") for name in ("status", "content", "chunks", "parts", "error")
} | {"updated_at": bindparam("p_now")}

#: End a streaming message (p_id, p_seq and those of _ENDING).
FINISH_MESSAGE = (
    update(messages)
    .where(messages.c.id == bindparam("p_id"), messages.c.status == STREAMING)
    .values(**_ENDING, seq=bindparam("p_seq"))
    .returning(*_MESSAGE_COLUMNS)
)

#: Keep the agent's state with a session (p_session, p_state).
SET_AGENT_STATE = (
    update(sessions)
    .where(sessions.c.id == bindparam("p_session"))
    .values(agent_state=bindparam("p_state"))
    .returning(*_SESSION_COLUMNS)
)

#: A question answered (again) (p_id): out of the queue, and a retry asked for no more than
#: that answer.
ANSWERED = (
    update(messages)
    .where(messages.c.id == bindparam("p_id"))
    .values(answer_again=False, queued=False)
)

#: Keep a streaming message's text so far (executemany: m_id, m_content, m_chunks, m_parts,
#: m_now); a message no longer streaming is left as it is.
CHECKPOINT = (
    update(messages)
    .where(messages.c.id == bindparam("m_id"), messages.c.status == STREAMING)
    .values(content=bindparam("m_content"), chunks=bindparam("m_chunks"),
            parts=bindparam("m_parts"), updated_at=bindparam("m_now"))
)

#: The oldest user message of a session (p_session) waiting for an answer: one lookup in the
#: partial index over what is queued (``ix_messages_queued``), whatever the session's length.
NEXT_UNANSWERED = (
    select(*_MESSAGE_COLUMNS)
    .where(messages.c.session_id == bindparam("p_session"), messages.c.queued)
    .order_by(messages.c.position)
    .limit(1)
)

#: An answer still streaming in a session a runner holds (p_id, p_session, p_runner).
OPENED_UNDER_CLAIM = (
    select(*_MESSAGE_COLUMNS)
    .join(sessions, sessions.c.id == messages.c.session_id)
    .where(
        messages.c.id == bindparam("p_id"),
        messages.c.session_id == bindparam("p_session"),
        messages.c.status == STREAMING,
        sessions.c.runner == bindparam("p_runner"),
    )
)

#: A message by id (p_id).
MESSAGE = select(*_MESSAGE_COLUMNS).where(messages.c.id == bindparam("p_id"))

#: A session's answers still streaming, by position (p_session): a claim's check for what a
#: previous holder left.
STREAMING_IN = (
    select(*_MESSAGE_COLUMNS)
    .where(messages.c.session_id == bindparam("p_session"), messages.c.status == STREAMING)
    .order_by(messages.c.position)
)

#: Every user message of every session waiting for an answer, by session and position.
UNANSWERED = (
    select(*_MESSAGE_COLUMNS)
    .where(messages.c.queued)
    .order_by(messages.c.session_id, messages.c.position)
)

#: A session's owner (p_session).
OWNER = select(sessions.c.user_id).where(sessions.c.id == bindparam("p_session"))

#: A session row (p_session).
SESSION = select(*_SESSION_COLUMNS).where(sessions.c.id == bindparam("p_session"))

#: A session's latest messages by position, newest first (p_session, p_limit).
RECENT = (
    select(*_MESSAGE_COLUMNS)
    .where(messages.c.session_id == bindparam("p_session"))
    .order_by(messages.c.position.desc())
    .limit(bindparam("p_limit"))
)

#: A session's messages changed after a seq, and those still streaming, by seq (p_session,
#: p_after).
CHANGED_SINCE = (
    select(*_MESSAGE_COLUMNS)
    .where(
        messages.c.session_id == bindparam("p_session"),
        or_(messages.c.seq > bindparam("p_after"), messages.c.status == STREAMING),
    )
    .order_by(messages.c.seq)
)

#: The agent's state kept with a session (p_session).
AGENT_STATE = select(sessions.c.agent_state).where(sessions.c.id == bindparam("p_session"))


def _turn_inputs() -> CompoundSelect[Any]:
    """What an agent's turn reads, in one statement: the agent's state kept with the session
    (the row of ``part`` 0, at position 0, its ``content``; none when there is no such
    session), then the conversation up to a position (``part`` 1, by position). Parameters:
    p_session, p_up_to."""
    conversation = select(
        literal(1).label("part"), messages.c.position, messages.c.role, messages.c.content
    ).where(
        messages.c.session_id == bindparam("p_session"),
        messages.c.position <= bindparam("p_up_to"),
    )
    state = select(
        literal(0), literal(0), null(), sessions.c.agent_state
    ).where(sessions.c.id == bindparam("p_session"))
    inputs = conversation.union_all(state)
    # By position alone (the state's row is position 0, before every message): a merge of
    # the index's order and one row, where ordering by ``part`` first is a sort of them all.
    return inputs.order_by(inputs.selected_columns.position)


#: See _turn_inputs.
TURN_INPUTS = _turn_inputs()

def _claimable() -> ColumnElement[bool]:
    """The session is free for the runner: nobody else holds a live claim."""
    return or_(
        sessions.c.runner.is_(None),
        sessions.c.runner == bindparam("p_runner"),
        sessions.c.runner_lease < bindparam("p_now"),
    )


def _queued_in_session() -> ColumnElement[bool]:
    return exists().where(messages.c.session_id == bindparam("p_session"), messages.c.queued)


def _streaming_in_session() -> ColumnElement[bool]:
    return exists().where(
        messages.c.session_id == bindparam("p_session"), messages.c.status == STREAMING
    )


def _claim(*, queued: bool, none_streaming: bool = False) -> Update:
    condition = and_(sessions.c.id == bindparam("p_session"), _claimable())
    if queued:
        condition = and_(condition, _queued_in_session())
    if none_streaming:
        # "None streaming" is true of the statement's snapshot. A message created since (an
        # expired holder's answer, committed while this UPDATE waited for the session row)
        # bumped message_count, and PostgreSQL re-checks the row's new version against the
        # count the snapshot saw: no claim then, rather than one with that answer streaming.
        seen = (
            select(sessions.c.message_count)
            .where(sessions.c.id == bindparam("p_session"))
            .scalar_subquery()
        )
        condition = and_(condition, ~_streaming_in_session(), sessions.c.message_count == seen)
    return (
        update(sessions)
        .where(condition)
        .values(runner=bindparam("p_runner"), runner_lease=bindparam("p_until"), running=True,
                updated_at=bindparam("p_now"))
        .returning(*_SESSION_COLUMNS)
    )


#: Claim a session for a runner (p_session, p_runner, p_until, p_now) unless another runner
#: holds a live claim.
CLAIM = _claim(queued=False)

#: CLAIM, only while a question of the session is queued: a worker's claim, so that finding
#: the queue empty costs no read before it.
CLAIM_QUEUED = _claim(queued=True)



def _claim_queued_in_one_statement() -> Select[Any]:
    """CLAIM_QUEUED and the queue's first question in one statement (PostgreSQL, one round
    trip in autocommit), for a session with no answer left streaming: always one row, the
    claimed session's columns and the question's (prefixed ``q_``), both NULL when nothing was
    claimed; ``takeover`` true when the claim was not taken only because a previous holder
    left an answer streaming (the claim's transaction must end it: claim that way).

    On an empty queue (or a session held by another runner) nothing is written: the UPDATE's
    conditions on other rows are one-time filters, so no row is locked and no transaction id
    is taken. The question is read in the statement's snapshot, the one its queue condition
    was checked in, so a claimed session comes with its question."""
    claimed = _claim(queued=True, none_streaming=True).cte("claimed")
    question = NEXT_UNANSWERED.subquery("question")
    takeover = and_(
        _queued_in_session(),
        _streaming_in_session(),
        exists().where(sessions.c.id == bindparam("p_session"), _claimable()),
    )
    base = select(literal(1).label("one")).subquery("base")
    return select(
        *claimed.c, *(c.label(f"q_{c.name}") for c in question.c), takeover.label("takeover")
    ).select_from(
        base.outerjoin(claimed, true()).outerjoin(question, claimed.c.id.is_not(None))
    )


#: See _claim_queued_in_one_statement (p_session, p_runner, p_until, p_now).
CLAIM_QUEUED_IN_ONE_STATEMENT = _claim_queued_in_one_statement()

#: Extend every claim a runner holds (p_runner, p_until); the ids of those sessions.
RENEW = (
    update(sessions)
    .where(sessions.c.runner == bindparam("p_runner"))
    .values(runner_lease=bindparam("p_until"))
    .returning(sessions.c.id)
)

def _release(*, idle: bool) -> Update:
    condition = and_(
        sessions.c.id == bindparam("p_session"), sessions.c.runner == bindparam("p_runner")
    )
    if idle:
        condition = and_(condition, ~exists().where(
            messages.c.session_id == bindparam("p_session"), messages.c.queued
        ))
    return (
        update(sessions)
        .where(condition)
        .values(runner=None, runner_lease=None, running=False, updated_at=bindparam("p_now"))
        .returning(*_SESSION_COLUMNS)
    )


#: Give up a runner's claim (p_session, p_runner, p_now). A claim and its release move
#: ``updated_at``: the ``running`` flag changes with it, so a client can tell which of two
#: states of a session is the later (a ``session`` event, a ``list_sessions`` row).
RELEASE = _release(idle=False)

#: RELEASE, only while no question of the session is queued: the worker's "anything more?"
#: and its release in one statement, so a question sent meanwhile (on any node, whose own
#: claim failed while this one held) is never left without a runner.
RELEASE_IDLE = _release(idle=True)


def _release_idle_or_next() -> Select[Any]:
    """RELEASE_IDLE, and when it releases nothing, the queue's first question, in one
    statement (PostgreSQL, one round trip in autocommit): always one row, the released
    session's columns or NULLs, and the question's (prefixed ``q_``) or NULLs. The question is
    read in the snapshot the release's "nothing queued" was checked in, so a release that
    missed because a question is queued comes with it. Parameters: p_session, p_runner,
    p_now."""
    released = RELEASE_IDLE.cte("released")
    question = NEXT_UNANSWERED.subquery("question")
    base = select(literal(1).label("one")).subquery("base")
    return select(*released.c, *(c.label(f"q_{c.name}") for c in question.c)).select_from(
        base.outerjoin(released, true()).outerjoin(question, released.c.id.is_(None))
    )


#: See _release_idle_or_next.
RELEASE_IDLE_OR_NEXT = _release_idle_or_next()


def _send_in_one_statement() -> CompoundSelect[Any]:
    """A user message stored in one statement (PostgreSQL: data-modifying CTEs), one round
    trip in autocommit: the message already stored under its client_msg_id (``duplicate``
    true), or, when there is none, a new one at the session's next seq and position (taken by
    that user). No row: no such session of that user. Parameters: p_session, p_user,
    p_client_msg_id, p_id, p_content, p_now."""
    found = BY_CLIENT_MSG_ID.cte("found")
    taken = (
        update(sessions)
        .where(
            sessions.c.id == bindparam("p_session"),
            sessions.c.user_id == bindparam("p_user"),
            ~exists(select(found.c.id)),
        )
        .values(head_seq=sessions.c.head_seq + 1, message_count=sessions.c.message_count + 1,
                updated_at=bindparam("p_now"))
        .returning(sessions.c.head_seq, sessions.c.message_count)
        .cte("taken")
    )
    now = bindparam("p_now", type_=messages.c.created_at.type)
    inserted = (
        messages.insert()
        .from_select(
            ["id", "session_id", "position", "seq", "role", "content", "status",
             "client_msg_id", "chunks", "answer_again", "queued", "created_at", "updated_at"],
            select(
                bindparam("p_id", type_=messages.c.id.type),
                bindparam("p_session", type_=messages.c.session_id.type),
                taken.c.message_count, taken.c.head_seq,
                literal("user", messages.c.role.type),
                bindparam("p_content", type_=messages.c.content.type),
                literal(str(MessageStatus.COMPLETE), messages.c.status.type),
                bindparam("p_client_msg_id", type_=messages.c.client_msg_id.type),
                literal(0), false(), true(), now, now,
            ),
            include_defaults=False,
        )
        .returning(*_MESSAGE_COLUMNS)
        .cte("inserted")
    )
    return select(*inserted.c, false().label("duplicate")).union_all(
        select(*found.c, true().label("duplicate"))
    )


#: See _send_in_one_statement.
SEND_IN_ONE_STATEMENT = _send_in_one_statement()


def _answer_in_one_statement(by_runner: bool) -> Select[Any]:
    """A new, empty ``streaming`` assistant message in one statement (PostgreSQL), at the
    session's next seq and position (while the runner holds the claim, with ``by_runner``),
    its question marked answered (out of the queue); no row when there is no such session (or
    claim). Parameters: p_session, p_now, p_runner (by_runner), p_id, p_reply_to."""
    taken = NEXT_SEQ[(False, by_runner, True)].cte("taken")
    now = bindparam("p_now", type_=messages.c.created_at.type)
    reply_to = bindparam("p_reply_to", type_=messages.c.reply_to.type)
    inserted = (
        messages.insert()
        .from_select(
            ["id", "session_id", "position", "seq", "role", "content", "status",
             "client_msg_id", "chunks", "reply_to", "answer_again", "created_at", "updated_at"],
            select(
                bindparam("p_id", type_=messages.c.id.type),
                bindparam("p_session", type_=messages.c.session_id.type),
                taken.c.message_count, taken.c.head_seq,
                literal("assistant", messages.c.role.type), literal("", messages.c.content.type),
                literal(str(STREAMING), messages.c.status.type),
                null(), literal(0), reply_to, false(), now, now,
            ),
            include_defaults=False,
        )
        .returning(*_MESSAGE_COLUMNS)
        .cte("inserted")
    )
    answered = (
        update(messages)
        .where(messages.c.id == reply_to, exists(select(taken.c.head_seq)))
        .values(answer_again=False, queued=False)
        .returning(messages.c.id)
        .cte("answered")
    )
    # Referenced, so that it is rendered (PostgreSQL runs a data-modifying CTE either way).
    marked = select(func.count()).select_from(answered).scalar_subquery().label("answered")
    return select(*inserted.c, marked)


#: See _answer_in_one_statement, by by_runner.
ANSWER_IN_ONE_STATEMENT = {by: _answer_in_one_statement(by) for by in (False, True)}


def _finish_in_one_statement() -> Update:
    """A streaming message ended in one statement (PostgreSQL), fenced by the runner's claim:
    the session's next seq is taken only while the message is still streaming and the runner
    holds the claim, and the message ends at that seq; no row (nothing written) otherwise.
    Parameters: those of FINISH_MESSAGE but p_seq, and p_session, p_runner.

    No seq is taken in vain: whoever else ends a message under a claim changes the session's
    runner in the same transaction, and this statement waits for the session row's lock
    before it checks the runner again (READ COMMITTED re-reads a row updated meanwhile)."""
    target = (
        select(messages.c.id)
        .where(messages.c.id == bindparam("p_id"), messages.c.status == STREAMING)
        .cte("target")
    )
    taken = (
        update(sessions)
        .where(
            sessions.c.id == bindparam("p_session"),
            sessions.c.runner == bindparam("p_runner"),
            exists(select(target.c.id)),
        )
        .values(head_seq=sessions.c.head_seq + 1, updated_at=bindparam("p_now"))
        .returning(sessions.c.id, sessions.c.head_seq)
        .cte("taken")
    )
    return (
        update(messages)
        .where(
            messages.c.id == bindparam("p_id"),
            messages.c.status == STREAMING,
            messages.c.session_id == taken.c.id,
        )
        .values(**_ENDING, seq=taken.c.head_seq)
        .returning(*_MESSAGE_COLUMNS)
    )


#: See _finish_in_one_statement.
FINISH_IN_ONE_STATEMENT = _finish_in_one_statement()
