"""Messages: user messages once per client_msg_id, streaming answers, and the reads of
subscribe and history."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import Connection, func, select, update
from sqlalchemy.exc import IntegrityError

from tether.db.schema import messages, sessions
from tether.ids import new_message_id
from tether.parts import Part, final_parts
from tether.protocol import MessageStatus
from tether.recovery import Mode, decide
from tether.store import compiled, statements
from tether.store.base import StoreBase
from tether.store.rows import (
    _MESSAGE_COLUMNS,
    STREAMING,
    Checkpoint,
    ContentMismatch,
    MessageRow,
    Snapshot,
    StillStreaming,
    StorageUnavailable,
    _NothingToDo,
    message_out,
    parts_or_text,
    session_out,
    utcnow,
)


def find_by_client_msg_id(
    conn: Connection, user_id: str, session_id: str, client_msg_id: str
) -> MessageRow | None:
    """The message stored in the user's session under ``client_msg_id``, if any."""
    row = compiled.first(
        conn, statements.BY_CLIENT_MSG_ID,
        {"p_session": session_id, "p_client_msg_id": client_msg_id, "p_user": user_id},
    )
    return None if row is None else message_out(row)


def insert_new(
    conn: Connection,
    session_id: str,
    *,
    user_id: str | None = None,
    runner: str | None = None,
    **values: Any,
) -> MessageRow | None:
    """A new message in ``conn``'s transaction, at the session's next seq and position (taken
    by that user, or while that runner holds the claim); None when there is no such session.
    A user message that awaits an answer is queued."""
    taken = compiled.first(conn, *statements.next_seq(
        session_id, user_id=user_id, runner=runner, new_message=True
    ))
    if taken is None:
        return None
    now = utcnow()
    row = compiled.one(
        conn, statements.INSERT_MESSAGE,
        {"id": new_message_id(), "client_msg_id": None, "reply_to": None,
         "queued": values["role"] == "user" and values.get("awaits_answer", True), **values,
         "session_id": session_id, "seq": taken[0], "position": taken[1], "chunks": 0,
         "created_at": now, "updated_at": now},
    )
    return message_out(row)


def open_answer(
    conn: Connection, session_id: str, reply_to: str | None, runner: str | None, answer_id: str
) -> MessageRow | None:
    """A new, empty ``streaming`` assistant message ``answer_id`` in ``conn``'s transaction,
    replying to ``reply_to`` (marked answered: out of the queue); with ``runner``, only while
    that runner holds the session's claim. None when there is no such session (or claim)."""
    row = insert_new(
        conn, session_id, runner=runner, role="assistant", content="",
        status=STREAMING, reply_to=reply_to, id=answer_id,
    )
    if row is not None and reply_to is not None:
        # Answered (again): a retry asked for no more than this one.
        compiled.execute(conn, statements.ANSWERED, {"p_id": reply_to})
    return row


def end_answer(
    conn: Connection,
    session_id: str,
    message_id: str,
    status: MessageStatus,
    content: str,
    chunks: int,
    error: str | None,
    runner: str | None,
    parts: list[Part] | None,
) -> MessageRow:
    """End a streaming message at the session's next seq in ``conn``'s transaction (with
    ``runner``, only while that runner holds the claim). Raises _NothingToDo when it is not
    streaming any more or the claim is gone: in a savepoint or a transaction of its own, that
    rolls the seq back."""
    taken = compiled.first(conn, *statements.next_seq(
        session_id, user_id=None, runner=runner, new_message=False
    ))
    if taken is None:
        raise _NothingToDo
    row = compiled.first(
        conn, statements.FINISH_MESSAGE,
        {
            "p_id": message_id, "p_status": status, "p_content": content,
            "p_chunks": chunks, "p_error": error, "p_seq": taken[0], "p_parts": parts,
            "p_now": utcnow(),
        },
    )
    if row is None:
        raise _NothingToDo
    return message_out(row)


def _one_message(conn: Connection, message_id: str) -> MessageRow | None:
    row = compiled.first(conn, statements.MESSAGE, {"p_id": message_id})
    return None if row is None else message_out(row)


def _recent(conn: Connection, session_id: str, limit: int) -> list[MessageRow]:
    rows = compiled.execute(conn, statements.RECENT, {"p_session": session_id, "p_limit": limit})
    return [message_out(r) for r in reversed(rows)]


def _changed_since(conn: Connection, session_id: str, after_seq: int) -> list[MessageRow]:
    rows = compiled.execute(
        conn, statements.CHANGED_SINCE, {"p_session": session_id, "p_after": after_seq}
    )
    return [message_out(r) for r in rows]


class MessageQueries(StoreBase):
    async def add_user_message(
        self, user_id: str, session_id: str, client_msg_id: str, content: str
    ) -> tuple[MessageRow, bool] | None:
        """Store a user message once per client_msg_id: (message, duplicate), or None when the
        session is not the user's. Raises ContentMismatch for a reused id with other content."""

        def write(conn: Connection) -> tuple[MessageRow, bool] | None:
            found = find_by_client_msg_id(conn, user_id, session_id, client_msg_id)
            if found is not None:
                if found["content"] != content:
                    raise ContentMismatch(client_msg_id)
                return found, True
            row = insert_new(
                conn, session_id, user_id=user_id, role="user", content=content,
                status=MessageStatus.COMPLETE, client_msg_id=client_msg_id,
            )
            return None if row is None else (row, False)

        if self._autocommit is not None:
            return await self._once_per_id(
                lambda: self._send_in_one_statement(user_id, session_id, client_msg_id, content)
            )
        return await self._once_per_id(lambda: self._transact(write))

    @staticmethod
    async def _once_per_id(
        store: Callable[[], Awaitable[tuple[MessageRow, bool] | None]],
    ) -> tuple[MessageRow, bool] | None:
        """``store()``, once more when it fails on the unique client_msg_id: the same id was
        stored concurrently, and the second try finds it."""
        for _attempt in range(2):
            try:
                return await store()
            except IntegrityError:
                continue
        raise StorageUnavailable("could not store the message")

    async def _send_in_one_statement(
        self, user_id: str, session_id: str, client_msg_id: str, content: str
    ) -> tuple[MessageRow, bool] | None:
        """add_user_message on PostgreSQL: one statement in autocommit, one round trip (not
        BEGIN, three statements and COMMIT); as atomic, and as durable once it returns."""
        found = await self._one_statement(statements.SEND_IN_ONE_STATEMENT, {
            "p_session": session_id, "p_user": user_id, "p_client_msg_id": client_msg_id,
            "p_id": new_message_id(), "p_content": content, "p_now": utcnow(),
        })
        row = found[0] if found else None
        if row is None:
            return None
        message = message_out(row)
        if row.duplicate and message["content"] != content:
            raise ContentMismatch(client_msg_id)
        return message, bool(row.duplicate)

    async def create_assistant_message(
        self, session_id: str, reply_to: str | None, runner: str | None = None,
        message_id: str | None = None,
    ) -> MessageRow | None:
        """A new, empty ``streaming`` assistant message (a change: it takes a seq). With
        ``runner``, only while that runner holds the session's claim (else None).

        ``message_id`` makes the creation idempotent: a retry whose first attempt committed
        but lost the reply (a connection cut after COMMIT) finds that message again instead of
        answering the question twice (None when it is no longer streaming: ended by whoever
        took the session over)."""
        try:
            return await self._create_assistant(session_id, reply_to, runner, message_id)
        except IntegrityError:
            found = None if message_id is None else await self.message_by_id(message_id)
            if found is None:
                raise
            return found if found["status"] == STREAMING else None

    async def message_by_id(self, message_id: str) -> MessageRow | None:
        return await self._read(lambda conn: _one_message(conn, message_id))

    async def _create_assistant(
        self, session_id: str, reply_to: str | None, runner: str | None, message_id: str | None
    ) -> MessageRow | None:
        new_id = message_id or new_message_id()
        if self._autocommit is not None:  # PostgreSQL: one statement, one round trip
            params = {"p_session": session_id, "p_now": utcnow(), "p_id": new_id,
                      "p_reply_to": reply_to}
            if runner is not None:
                params["p_runner"] = runner
            rows = await self._one_statement(
                statements.ANSWER_IN_ONE_STATEMENT[runner is not None], params
            )
            return message_out(rows[0]) if rows else None

        return await self._transact(
            lambda conn: open_answer(conn, session_id, reply_to, runner, new_id)
        )

    async def request_retry(self, session_id: str, message_id: str) -> bool | None:
        """Ask for a new answer to the question the assistant message ``message_id`` answered:
        the question is queued again (see ``answer_again``) and the old answer is kept. True when
        queued (or already queued); False when a newer answer to that question exists already,
        so a repeated retry of the same answer regenerates once. None: no such assistant message
        in the session. Raises StillStreaming while that answer is being written."""
        async with self._write() as conn:
            answer = (
                await conn.execute(
                    select(messages.c.status, messages.c.reply_to, messages.c.position).where(
                        messages.c.id == message_id,
                        messages.c.session_id == session_id,
                        messages.c.role == "assistant",
                    )
                )
            ).first()
            if answer is None or answer.reply_to is None:
                return None
            if answer.status == STREAMING:
                raise StillStreaming(message_id)
            newer = (
                await conn.execute(
                    select(messages.c.id).where(
                        messages.c.reply_to == answer.reply_to,
                        messages.c.position > answer.position,
                    ).limit(1)
                )
            ).first()
            if newer is not None:
                return False
            await conn.execute(
                update(messages)
                .where(messages.c.id == answer.reply_to)
                .values(answer_again=True, queued=messages.c.awaits_answer)
            )
        return True

    async def checkpoint(
        self, message_id: str, content: str, chunks: int, parts: list[Part] | None = None
    ) -> bool:
        """Keep a streaming message's text and parts so far (not a change: no seq). False when
        the message is no longer streaming."""
        return not await self.checkpoint_many([(message_id, content, chunks, parts)])

    async def checkpoint_many(self, items: list[Checkpoint]) -> set[str]:
        """Checkpoint several streaming messages, ``(id, text so far, chunks, parts)`` each, in
        one transaction; the ids among them that are no longer streaming (left unwritten)."""
        if not items:
            return set()
        ids = [item[0] for item in items]
        now = utcnow()

        def write(conn: Connection) -> set[str]:
            compiled.executemany(
                conn, statements.CHECKPOINT,
                [{"m_id": i, "m_content": c, "m_chunks": n, "m_parts": parts_or_text(p, c),
                  "m_now": now} for i, c, n, p in items],
            )
            rows = conn.execute(
                select(messages.c.id).where(
                    messages.c.id.in_(ids), messages.c.status == STREAMING
                )
            )
            return {row[0] for row in rows}

        return set(ids) - await self._transact(write)

    async def finish_message(
        self,
        session_id: str,
        message_id: str,
        status: MessageStatus,
        content: str,
        chunks: int,
        error: str | None = None,
        runner: str | None = None,
        parts: list[Part] | None = None,
    ) -> MessageRow | None:
        """End a streaming message (a change: it takes a seq). None when it was not streaming
        any more (someone else ended it), or, with ``runner``, when that runner no longer holds
        the session's claim (it is fenced): nothing is written then. ``parts`` None: the
        message has no structure (one text part, ``content``)."""
        try:
            return await self._finish(
                session_id, message_id, status, content, chunks, error, runner,
                parts_or_text(parts, content),
            )
        except _NothingToDo:
            return None

    async def _finish(
        self,
        session_id: str,
        message_id: str,
        status: MessageStatus,
        content: str,
        chunks: int,
        error: str | None,
        runner: str | None = None,
        parts: list[Part] | None = None,
    ) -> MessageRow:
        if self._autocommit is not None and runner is not None:
            # PostgreSQL, fenced by a claim: one statement, one round trip (not BEGIN, two
            # statements and COMMIT).
            rows = await self._one_statement(statements.FINISH_IN_ONE_STATEMENT, {
                "p_session": session_id, "p_runner": runner, "p_id": message_id,
                "p_status": status, "p_content": content, "p_chunks": chunks,
                "p_error": error, "p_parts": parts, "p_now": utcnow(),
            })
            found = rows[0] if rows else None
            if found is None:
                raise _NothingToDo
            return message_out(found)

        return await self._transact(lambda conn: end_answer(
            conn, session_id, message_id, status, content, chunks, error, runner, parts
        ))

    async def streaming_messages(self) -> list[MessageRow]:
        async with self._reads.connect() as conn:
            rows = (
                await conn.execute(
                    select(*_MESSAGE_COLUMNS)
                    .where(messages.c.status == STREAMING)
                    .order_by(messages.c.session_id, messages.c.position)
                )
            ).all()
        return [message_out(r) for r in rows]

    async def interrupt(self, message: MessageRow) -> MessageRow | None:
        """Mark a streaming message ``interrupted``, keeping its checkpointed text and parts
        (those left unfinished end as tether.parts.final_parts says)."""
        error = "the server stopped while this answer was being written"
        return await self.finish_message(
            message["session_id"],
            message["id"],
            MessageStatus.INTERRUPTED,
            message["content"],
            message["chunks"],
            error,
            parts=final_parts(message["parts"], error),
        )

    async def unanswered(self) -> list[MessageRow]:
        """User messages that no assistant message answers yet (queued when a process died)."""
        async with self._reads.connect() as conn:
            rows = (await conn.execute(statements.UNANSWERED)).all()
        return [message_out(r) for r in rows]

    async def head_seq(self, session_id: str) -> int:
        async with self._reads.connect() as conn:
            value = (
                await conn.execute(select(sessions.c.head_seq).where(sessions.c.id == session_id))
            ).scalar()
        return int(value or 0)

    async def recent(self, session_id: str, limit: int) -> list[MessageRow]:
        """The latest ``limit`` messages by position, oldest first."""
        return await self._read(lambda conn: _recent(conn, session_id, limit))

    async def changed_since(self, session_id: str, after_seq: int) -> list[MessageRow]:
        """Every message changed after ``after_seq``, plus every one still streaming, by seq."""
        return await self._read(lambda conn: _changed_since(conn, session_id, after_seq))

    async def snapshot(
        self,
        session_id: str,
        after_seq: int | None,
        limit: int,
        max_resume: int,
        epoch: str | None = None,
    ) -> Snapshot | None:
        """What a subscribe at ``after_seq`` (seen in ``epoch``, when the client says) is sent
        (tether.recovery decides the mode), in one read transaction; None when there is no
        such session.

        The session row, and with it the head, is read before the messages, so every change
        up to the head is in them (later ones may be too: merging them is idempotent)."""

        def read(conn: Connection) -> Snapshot | None:
            row = compiled.first(conn, statements.SESSION, {"p_session": session_id})
            if row is None:
                return None
            session = session_out(row)
            mode = decide(
                after_seq,
                session["head_seq"],
                max_resume,
                client_epoch=epoch,
                epoch=session["epoch"],
            )
            if mode is Mode.RESUME:
                assert after_seq is not None
                rows = _changed_since(conn, session_id, after_seq)
            else:
                rows = _recent(conn, session_id, limit)
            return Snapshot(session, mode, rows)

        return await self._read(read)

    async def history(
        self, session_id: str, before_position: int, limit: int
    ) -> tuple[list[MessageRow], bool]:
        """Up to ``limit`` messages before ``before_position``, oldest first, and has_more."""
        async with self._reads.connect() as conn:
            rows = (
                await conn.execute(
                    select(*_MESSAGE_COLUMNS)
                    .where(
                        messages.c.session_id == session_id,
                        messages.c.position < before_position,
                    )
                    .order_by(messages.c.position.desc())
                    .limit(limit + 1)
                )
            ).all()
        return [message_out(r) for r in reversed(rows[:limit])], len(rows) > limit

    async def turn_inputs(
        self, session_id: str, up_to_position: int | None
    ) -> tuple[list[tuple[str, str]], str | None]:
        """What an agent's turn is made of, in one statement: the conversation up to a position
        (none without a position) and the agent's state kept with the session."""

        if self._autocommit is not None:  # PostgreSQL: on the raw connection
            return await self._turn_inputs_in_one_statement(session_id, up_to_position)

        def read(conn: Connection) -> tuple[list[tuple[str, str]], str | None]:
            if up_to_position is None:
                state = compiled.scalar(conn, statements.AGENT_STATE, {"p_session": session_id})
                return [], state
            rows = compiled.execute(
                conn, statements.TURN_INPUTS, {"p_session": session_id, "p_up_to": up_to_position}
            )
            if not rows or rows[0].part != 0:  # no such session
                return [(r.role, r.content) for r in rows], None
            return [(r.role, r.content) for r in rows[1:]], rows[0].content

        return await self._read(read)

    async def _turn_inputs_in_one_statement(
        self, session_id: str, up_to_position: int | None
    ) -> tuple[list[tuple[str, str]], str | None]:
        if up_to_position is None:
            rows = await self._one_statement(statements.AGENT_STATE, {"p_session": session_id})
            return [], rows[0][0] if rows else None
        rows = await self._one_statement(
            statements.TURN_INPUTS, {"p_session": session_id, "p_up_to": up_to_position}
        )
        if not rows or rows[0].part != 0:  # no such session
            return [(r.role, r.content) for r in rows], None
        return [(r.role, r.content) for r in rows[1:]], rows[0].content

    async def count_messages(self, session_id: str) -> int:
        async with self._reads.connect() as conn:
            value = (
                await conn.execute(select(func.count()).where(messages.c.session_id == session_id))
            ).scalar()
        return int(value or 0)

    async def streaming_in(self, session_id: str) -> list[MessageRow]:
        async with self._reads.connect() as conn:
            rows = (
                await conn.execute(
                    select(*_MESSAGE_COLUMNS).where(
                        messages.c.session_id == session_id, messages.c.status == STREAMING
                    )
                )
            ).all()
        return [message_out(r) for r in rows]

    async def next_unanswered(self, session_id: str) -> MessageRow | None:
        """The oldest user message of the session waiting for an answer (``queued``)."""

        if self._autocommit is not None:  # PostgreSQL: on the raw connection
            rows = await self._one_statement(statements.NEXT_UNANSWERED, {"p_session": session_id})
            return message_out(rows[0]) if rows else None

        def read(conn: Connection) -> MessageRow | None:
            row = compiled.first(conn, statements.NEXT_UNANSWERED, {"p_session": session_id})
            return None if row is None else message_out(row)

        return await self._read(read)
