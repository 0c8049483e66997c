"""The statements of the hot paths (a send, a run's start and end), built once.

Building a SQLAlchemy statement and computing its cache key costs about 50 us, more than
executing a simple one on SQLite; a statement built once memoizes its cache key, so each call
costs only binding its parameters (``bindparam`` names are prefixed ``p_`` to stay clear of
column names). Statements that vary in shape, or run rarely, stay written where they are used.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Update, and_, bindparam, exists, or_, select, update

from tether.db.schema import messages, sessions
from tether.store.rows import _MESSAGE_COLUMNS, _SESSION_COLUMNS, STREAMING


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

#: End a streaming message (p_id, p_status, p_content, p_chunks, p_parts, p_error, p_seq,
#: p_now).
FINISH_MESSAGE = (
    update(messages)
    .where(messages.c.id == bindparam("p_id"), messages.c.status == STREAMING)
    .values(
        status=bindparam("p_status"),
        content=bindparam("p_content"),
        chunks=bindparam("p_chunks"),
        parts=bindparam("p_parts"),
        error=bindparam("p_error"),
        seq=bindparam("p_seq"),
        updated_at=bindparam("p_now"),
    )
    .returning(*_MESSAGE_COLUMNS)
)

_answers = messages.alias("answers")

#: A user message waits for an answer: one is wanted (not a message posted without ``respond``)
#: and none answers it yet, or a retry asked for another.
_WAITING = and_(
    messages.c.awaits_answer,
    or_(~exists().where(_answers.c.reply_to == messages.c.id), messages.c.answer_again),
)

#: The oldest user message of a session (p_session) waiting for an answer.
NEXT_UNANSWERED = (
    select(*_MESSAGE_COLUMNS)
    .where(
        messages.c.session_id == bindparam("p_session"),
        messages.c.role == "user",
        _WAITING,
    )
    .order_by(messages.c.position)
    .limit(1)
)

#: Every user message of every session waiting for an answer, by session and position.
UNANSWERED = (
    select(*_MESSAGE_COLUMNS)
    .where(
        messages.c.role == "user",
        _WAITING,
    )
    .order_by(messages.c.session_id, messages.c.position)
)

#: The agent's state kept with a session (p_session).
AGENT_STATE = select(sessions.c.agent_state).where(sessions.c.id == bindparam("p_session"))

#: Claim a session for a runner (p_session, p_runner, p_until, p_now) unless another runner
#: holds a live claim.
CLAIM = (
    update(sessions)
    .where(
        sessions.c.id == bindparam("p_session"),
        or_(
            sessions.c.runner.is_(None),
            sessions.c.runner == bindparam("p_runner"),
            sessions.c.runner_lease < bindparam("p_now"),
        ),
    )
    .values(runner=bindparam("p_runner"), runner_lease=bindparam("p_until"), running=True,
            updated_at=bindparam("p_now"))
    .returning(*_SESSION_COLUMNS)
)

#: Give up a runner's claim (p_session, p_runner, p_now). A claim and its release move
#: ``updated_at``: the ``running`` flag changes with it, so a client can tell which of two
#: states of a session is the later (a ``session`` event, a ``list_sessions`` row).
RELEASE = (
    update(sessions)
    .where(sessions.c.id == bindparam("p_session"), sessions.c.runner == bindparam("p_runner"))
    .values(runner=None, runner_lease=None, running=False, updated_at=bindparam("p_now"))
    .returning(*_SESSION_COLUMNS)
)
