"""Chat storage: sessions and messages behind one interface, in SQLAlchemy Core.

Every change to a session takes the session's next ``seq`` in the transaction that writes it
(``UPDATE sessions SET head_seq = head_seq + 1 ... RETURNING``), so seqs are gap-free and never
diverge from the rows. Streamed text is not a change: checkpoints rewrite a streaming message's
text without taking a seq.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, exists, func, or_, select, text, update
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tether.db.engine import is_sqlite
from tether.db.schema import messages, sessions

Row = dict[str, Any]

STREAMING = "streaming"
DEFAULT_TITLE = "New chat"


class StorageUnavailable(Exception):
    """The database cannot be reached; the request can be retried."""


class SessionTaken(Exception):
    """A session with this id exists and belongs to another user."""


class ContentMismatch(Exception):
    """A resend reused a client_msg_id with different content."""


class _NothingToDo(Exception):
    """Raised inside a write transaction to roll it back: there was nothing to change."""


def is_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` means the database is down or busy (as opposed to a bug or bad data)."""
    if isinstance(exc, IntegrityError):
        return False
    if isinstance(exc, OperationalError | InterfaceError):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, OSError | ConnectionError | TimeoutError)


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(value: datetime) -> str:
    """ISO-8601 UTC with a ``Z``; SQLite hands back naive datetimes, which are UTC here."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def parse_iso(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


_MESSAGE_COLUMNS = (
    messages.c.id,
    messages.c.session_id,
    messages.c.position,
    messages.c.seq,
    messages.c.role,
    messages.c.content,
    messages.c.status,
    messages.c.client_msg_id,
    messages.c.chunks,
    messages.c.error,
    messages.c.reply_to,
    messages.c.created_at,
    messages.c.updated_at,
)
_SESSION_COLUMNS = (
    sessions.c.id,
    sessions.c.title,
    sessions.c.agent,
    sessions.c.head_seq,
    sessions.c.running,
    sessions.c.archived,
    sessions.c.created_at,
    sessions.c.updated_at,
)


def message_out(row: Any) -> Row:
    """A message row in its wire form (PROTOCOL.md section 5)."""
    m = row._mapping
    return {
        "id": m["id"],
        "session_id": m["session_id"],
        "position": m["position"],
        "seq": m["seq"],
        "role": m["role"],
        "content": m["content"],
        "status": m["status"],
        "client_msg_id": m["client_msg_id"],
        "chunks": m["chunks"],
        "error": m["error"],
        "reply_to": m["reply_to"],
        "created_at": iso(m["created_at"]),
        "updated_at": iso(m["updated_at"]),
    }


def session_out(row: Any) -> Row:
    """A session row in its wire form (PROTOCOL.md section 5)."""
    m = row._mapping
    return {
        "id": m["id"],
        "title": m["title"],
        "agent": m["agent"],
        "head_seq": m["head_seq"],
        "running": bool(m["running"]),
        "archived": bool(m["archived"]),
        "created_at": iso(m["created_at"]),
        "updated_at": iso(m["updated_at"]),
    }


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What a subscribe reads: the head seq first, then the messages (see ChatService)."""

    head_seq: int
    messages: list[Row]


class Store:
    """Sessions and messages. One instance per process; safe for concurrent use."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        # SQLite has one writer at a time; queueing writers here instead of in SQLite's busy
        # loop keeps latency fair. PostgreSQL serialises per session on the row lock.
        self._write_lock: asyncio.Lock | None = asyncio.Lock() if is_sqlite(engine) else None

    async def close(self) -> None:
        await self.engine.dispose()

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    @contextlib.asynccontextmanager
    async def _write(self) -> AsyncIterator[AsyncConnection]:
        if self._write_lock is None:
            async with self.engine.begin() as conn:
                yield conn
            return
        async with self._write_lock, self.engine.begin() as conn:
            yield conn

    @staticmethod
    async def _next_seq(
        conn: AsyncConnection,
        session_id: str,
        *,
        user_id: str | None = None,
        runner: str | None = None,
        new_message: bool,
    ) -> tuple[int, int] | None:
        """Take the session's next seq (and next position for a new message) in ``conn``'s
        transaction; None when there is no such session (of that user, claimed by that
        runner)."""
        values: dict[str, Any] = {"head_seq": sessions.c.head_seq + 1, "updated_at": utcnow()}
        if new_message:
            values["message_count"] = sessions.c.message_count + 1
        condition = sessions.c.id == session_id
        if user_id is not None:
            condition = and_(condition, sessions.c.user_id == user_id)
        if runner is not None:
            condition = and_(condition, sessions.c.runner == runner)
        row = (
            await conn.execute(
                update(sessions)
                .where(condition)
                .values(**values)
                .returning(sessions.c.head_seq, sessions.c.message_count)
            )
        ).first()
        return None if row is None else (row[0], row[1])

    # -- sessions ---------------------------------------------------------------------------

    async def create_session(
        self, user_id: str, session_id: str | None, title: str | None, agent: str
    ) -> tuple[Row, bool]:
        """Create a session, or return the existing one with this id: (session, created)."""
        session_id = session_id or str(uuid.uuid4())
        now = utcnow()
        try:
            async with self._write() as conn:
                existing = (
                    await conn.execute(
                        select(sessions.c.user_id, *_SESSION_COLUMNS).where(
                            sessions.c.id == session_id
                        )
                    )
                ).first()
                if existing is not None:
                    if existing.user_id != user_id:
                        raise SessionTaken(session_id)
                    return session_out(existing), False
                row = (
                    await conn.execute(
                        sessions.insert()
                        .values(
                            id=session_id,
                            user_id=user_id,
                            title=title or DEFAULT_TITLE,
                            agent=agent,
                            head_seq=0,
                            message_count=0,
                            running=False,
                            archived=False,
                            created_at=now,
                            updated_at=now,
                        )
                        .returning(*_SESSION_COLUMNS)
                    )
                ).one()
                return session_out(row), True
        except IntegrityError:
            # Created concurrently by another request with the same id.
            again = await self.get_session(user_id, session_id)
            if again is None:
                raise SessionTaken(session_id) from None
            return again, False

    async def get_session(self, user_id: str, session_id: str) -> Row | None:
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(*_SESSION_COLUMNS).where(
                        sessions.c.id == session_id, sessions.c.user_id == user_id
                    )
                )
            ).first()
        return None if row is None else session_out(row)

    async def session_by_id(self, session_id: str) -> Row | None:
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(select(*_SESSION_COLUMNS).where(sessions.c.id == session_id))
            ).first()
        return None if row is None else session_out(row)

    async def session_owner(self, session_id: str) -> str | None:
        async with self.engine.connect() as conn:
            return (
                await conn.execute(select(sessions.c.user_id).where(sessions.c.id == session_id))
            ).scalar()

    async def list_sessions(
        self, user_id: str, limit: int, before: str | None
    ) -> tuple[list[Row], bool]:
        """The user's sessions, latest activity first, ``limit`` of them after the cursor."""
        query = select(*_SESSION_COLUMNS).where(sessions.c.user_id == user_id)
        if before is not None:
            query = query.where(sessions.c.updated_at < parse_iso(before))
        query = query.order_by(sessions.c.updated_at.desc(), sessions.c.id.desc()).limit(limit + 1)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [session_out(r) for r in rows[:limit]], len(rows) > limit

    async def _update_session(self, condition: Any, **values: Any) -> Row | None:
        """One UPDATE of a session row; the session afterwards, or None when none matched."""
        async with self._write() as conn:
            row = (
                await conn.execute(
                    update(sessions)
                    .where(condition)
                    .values(**values)
                    .returning(*_SESSION_COLUMNS)
                )
            ).first()
        return None if row is None else session_out(row)

    async def update_session(
        self, user_id: str, session_id: str, title: str | None, archived: bool | None
    ) -> Row | None:
        values: dict[str, Any] = {"updated_at": utcnow()}
        if title is not None:
            values["title"] = title or DEFAULT_TITLE
        if archived is not None:
            values["archived"] = archived
        return await self._update_session(
            and_(sessions.c.id == session_id, sessions.c.user_id == user_id), **values
        )

    async def agent_state(self, session_id: str) -> str | None:
        async with self.engine.connect() as conn:
            return (
                await conn.execute(
                    select(sessions.c.agent_state).where(sessions.c.id == session_id)
                )
            ).scalar()

    async def set_agent_state(self, session_id: str, state: str | None) -> None:
        async with self._write() as conn:
            await conn.execute(
                update(sessions).where(sessions.c.id == session_id).values(agent_state=state)
            )

    # -- messages ---------------------------------------------------------------------------

    async def add_user_message(
        self, user_id: str, session_id: str, client_msg_id: str, content: str
    ) -> tuple[Row, bool] | None:
        """Store a user message once per client_msg_id: (message, duplicate), or None when the
        session is not the user's. Raises ContentMismatch for a reused id with other content."""
        for _attempt in range(2):
            try:
                async with self._write() as conn:
                    found = await self._by_client_msg_id(conn, user_id, session_id, client_msg_id)
                    if found is not None:
                        if found["content"] != content:
                            raise ContentMismatch(client_msg_id)
                        return found, True
                    taken = await self._next_seq(
                        conn, session_id, user_id=user_id, new_message=True
                    )
                    if taken is None:
                        return None
                    seq, position = taken
                    row = await self._insert_message(
                        conn,
                        session_id=session_id,
                        position=position,
                        seq=seq,
                        role="user",
                        content=content,
                        status="complete",
                        client_msg_id=client_msg_id,
                    )
                    return row, False
            except IntegrityError:
                # The same client_msg_id was stored concurrently: the retry finds it.
                continue
        raise StorageUnavailable("could not store the message")

    @staticmethod
    async def _by_client_msg_id(
        conn: AsyncConnection, user_id: str, session_id: str, client_msg_id: str
    ) -> Row | None:
        row = (
            await conn.execute(
                select(*_MESSAGE_COLUMNS)
                .join(sessions, sessions.c.id == messages.c.session_id)
                .where(
                    messages.c.session_id == session_id,
                    messages.c.client_msg_id == client_msg_id,
                    sessions.c.user_id == user_id,
                )
            )
        ).first()
        return None if row is None else message_out(row)

    @staticmethod
    async def _insert_message(conn: AsyncConnection, **values: Any) -> Row:
        now = utcnow()
        values.setdefault("chunks", 0)
        row = (
            await conn.execute(
                messages.insert()
                .values(id=str(uuid.uuid4()), created_at=now, updated_at=now, **values)
                .returning(*_MESSAGE_COLUMNS)
            )
        ).one()
        return message_out(row)

    async def create_assistant_message(
        self, session_id: str, reply_to: str | None, runner: str | None = None
    ) -> Row | None:
        """A new, empty ``streaming`` assistant message (a change: it takes a seq). With
        ``runner``, only while that runner holds the session's claim (else None)."""
        async with self._write() as conn:
            taken = await self._next_seq(conn, session_id, runner=runner, new_message=True)
            if taken is None:
                return None
            seq, position = taken
            return await self._insert_message(
                conn,
                session_id=session_id,
                position=position,
                seq=seq,
                role="assistant",
                content="",
                status=STREAMING,
                reply_to=reply_to,
            )

    async def checkpoint(self, message_id: str, content: str, chunks: int) -> bool:
        """Keep a streaming message's text so far (not a change: no seq). False when the
        message is no longer streaming."""
        async with self._write() as conn:
            result = await conn.execute(
                update(messages)
                .where(messages.c.id == message_id, messages.c.status == STREAMING)
                .values(content=content, chunks=chunks, updated_at=utcnow())
            )
        return bool(result.rowcount)

    async def finish_message(
        self,
        session_id: str,
        message_id: str,
        status: str,
        content: str,
        chunks: int,
        error: str | None = None,
    ) -> Row | None:
        """End a streaming message (a change: it takes a seq). None when it was not streaming
        any more (someone else ended it): nothing is written then."""
        try:
            return await self._finish(session_id, message_id, status, content, chunks, error)
        except _NothingToDo:
            return None

    async def _finish(
        self,
        session_id: str,
        message_id: str,
        status: str,
        content: str,
        chunks: int,
        error: str | None,
    ) -> Row:
        async with self._write() as conn:
            taken = await self._next_seq(conn, session_id, new_message=False)
            if taken is None:
                raise _NothingToDo
            row = (
                await conn.execute(
                    update(messages)
                    .where(messages.c.id == message_id, messages.c.status == STREAMING)
                    .values(
                        status=status,
                        content=content,
                        chunks=chunks,
                        error=error,
                        seq=taken[0],
                        updated_at=utcnow(),
                    )
                    .returning(*_MESSAGE_COLUMNS)
                )
            ).first()
            if row is None:
                raise _NothingToDo  # rolls the seq back
            return message_out(row)

    async def streaming_messages(self) -> list[Row]:
        async with self.engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(*_MESSAGE_COLUMNS)
                    .where(messages.c.status == STREAMING)
                    .order_by(messages.c.session_id, messages.c.position)
                )
            ).all()
        return [message_out(r) for r in rows]

    async def interrupt(self, message: Row) -> Row | None:
        """Mark a streaming message ``interrupted``, keeping its checkpointed text."""
        return await self.finish_message(
            message["session_id"],
            message["id"],
            "interrupted",
            message["content"],
            message["chunks"],
            "the server stopped while this answer was being written",
        )

    # -- run claims ---------------------------------------------------------------------------

    async def claim_session(self, session_id: str, runner: str, until: datetime) -> Row | None:
        """Make ``runner`` the session's runner until ``until``, unless another runner holds a
        live claim. The session (now ``running``) on success, else None."""
        now = utcnow()
        return await self._update_session(
            and_(
                sessions.c.id == session_id,
                or_(
                    sessions.c.runner.is_(None),
                    sessions.c.runner == runner,
                    sessions.c.runner_lease < now,
                ),
            ),
            runner=runner,
            runner_lease=until,
            running=True,
        )

    async def renew_claims(self, runner: str, until: datetime) -> set[str]:
        """Extend every claim ``runner`` still holds; the ids of those sessions."""
        async with self._write() as conn:
            rows = (
                await conn.execute(
                    update(sessions)
                    .where(sessions.c.runner == runner)
                    .values(runner_lease=until)
                    .returning(sessions.c.id)
                )
            ).all()
        return {r[0] for r in rows}

    async def release_session(self, session_id: str, runner: str) -> Row | None:
        """Give up ``runner``'s claim; the session (not ``running``), or None if not held."""
        return await self._update_session(
            and_(sessions.c.id == session_id, sessions.c.runner == runner),
            runner=None,
            runner_lease=None,
            running=False,
        )

    async def expired_claims(self) -> list[str]:
        async with self.engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(sessions.c.id).where(
                        sessions.c.runner.is_not(None), sessions.c.runner_lease < utcnow()
                    )
                )
            ).all()
        return [r[0] for r in rows]

    async def break_claim(self, session_id: str, *, force: bool = False) -> Row | None:
        """Clear a session's claim if it has expired (or, with ``force``, whatever it is);
        the session, or None when the claim was live (or there was none)."""
        condition = and_(sessions.c.id == session_id, sessions.c.runner.is_not(None))
        if not force:
            condition = and_(condition, sessions.c.runner_lease < utcnow())
        return await self._update_session(condition, runner=None, runner_lease=None, running=False)

    async def claimed_sessions(self) -> list[str]:
        async with self.engine.connect() as conn:
            rows = (
                await conn.execute(select(sessions.c.id).where(sessions.c.runner.is_not(None)))
            ).all()
        return [r[0] for r in rows]

    async def streaming_in(self, session_id: str) -> list[Row]:
        async with self.engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(*_MESSAGE_COLUMNS).where(
                        messages.c.session_id == session_id, messages.c.status == STREAMING
                    )
                )
            ).all()
        return [message_out(r) for r in rows]

    async def next_unanswered(self, session_id: str) -> Row | None:
        """The oldest user message of the session that no assistant message answers yet."""
        answers = messages.alias("answers")
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(*_MESSAGE_COLUMNS)
                    .where(
                        messages.c.session_id == session_id,
                        messages.c.role == "user",
                        ~exists().where(answers.c.reply_to == messages.c.id),
                    )
                    .order_by(messages.c.position)
                    .limit(1)
                )
            ).first()
        return None if row is None else message_out(row)

    async def unanswered(self) -> list[Row]:
        """User messages that no assistant message answers yet (queued when a process died)."""
        answers = messages.alias("answers")
        query = (
            select(*_MESSAGE_COLUMNS)
            .where(
                messages.c.role == "user",
                ~exists().where(answers.c.reply_to == messages.c.id),
            )
            .order_by(messages.c.session_id, messages.c.position)
        )
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [message_out(r) for r in rows]

    async def head_seq(self, session_id: str) -> int:
        async with self.engine.connect() as conn:
            value = (
                await conn.execute(select(sessions.c.head_seq).where(sessions.c.id == session_id))
            ).scalar()
        return int(value or 0)

    async def recent(self, session_id: str, limit: int) -> list[Row]:
        """The latest ``limit`` messages by position, oldest first."""
        async with self.engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(*_MESSAGE_COLUMNS)
                    .where(messages.c.session_id == session_id)
                    .order_by(messages.c.position.desc())
                    .limit(limit)
                )
            ).all()
        return [message_out(r) for r in reversed(rows)]

    async def changed_since(self, session_id: str, after_seq: int) -> list[Row]:
        """Every message changed after ``after_seq``, plus every one still streaming, by seq."""
        async with self.engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(*_MESSAGE_COLUMNS)
                    .where(
                        messages.c.session_id == session_id,
                        or_(messages.c.seq > after_seq, messages.c.status == STREAMING),
                    )
                    .order_by(messages.c.seq)
                )
            ).all()
        return [message_out(r) for r in rows]

    async def history(
        self, session_id: str, before_position: int, limit: int
    ) -> tuple[list[Row], bool]:
        """Up to ``limit`` messages before ``before_position``, oldest first, and has_more."""
        async with self.engine.connect() as conn:
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

    async def conversation(self, session_id: str, up_to_position: int) -> list[tuple[str, str]]:
        """(role, content) of every message up to a position, for an agent's turn."""
        async with self.engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(messages.c.role, messages.c.content)
                    .where(
                        messages.c.session_id == session_id,
                        messages.c.position <= up_to_position,
                    )
                    .order_by(messages.c.position)
                )
            ).all()
        return [(r.role, r.content) for r in rows]

    async def count_messages(self, session_id: str) -> int:
        async with self.engine.connect() as conn:
            value = (
                await conn.execute(
                    select(func.count()).where(messages.c.session_id == session_id)
                )
            ).scalar()
        return int(value or 0)
