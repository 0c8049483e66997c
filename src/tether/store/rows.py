"""Row shapes, timestamps and the errors of the store. No I/O."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypedDict

from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError

from tether.db.schema import messages, sessions
from tether.parts import Part, parts_of_text
from tether.protocol import MessageStatus
from tether.recovery import Mode

#: The status the store's queries ask for most (answers being written).
STREAMING = MessageStatus.STREAMING
DEFAULT_TITLE = "New chat"


class MessageRow(TypedDict):
    """A message in its wire form (PROTOCOL.md section 5), as the store returns it. A plain
    dict at run time: the type is for mypy, which then checks every field read."""

    id: str
    session_id: str
    #: Creation order within the session, 1, 2, 3, ...; fixed for life.
    position: int
    #: The session seq of this message's latest change.
    seq: int
    role: str
    content: str
    status: MessageStatus
    client_msg_id: str | None
    #: How many delta chunks ``content`` includes.
    chunks: int
    #: The structured answer (tether.parts): exactly the ops of chunks 0..chunks-1 applied.
    parts: list[Part]
    error: str | None
    #: For an assistant message, the user message it answers.
    reply_to: str | None
    created_at: str
    updated_at: str

#: A checkpoint of one streaming message: (id, text so far, chunks, parts so far).
Checkpoint = tuple[str, str, int, list[Part] | None]


def parts_or_text(parts: list[Part] | None, content: str) -> list[Part] | None:
    """What the ``parts`` column keeps: NULL for a message whose parts are just its text (the
    column's meaning of NULL), so a plain answer costs no JSON."""
    if parts is None or parts == parts_of_text(content):
        return None
    return parts


class SessionRow(TypedDict):
    """A session in its wire form (PROTOCOL.md section 5, plus ``epoch``)."""

    id: str
    title: str
    agent: str
    #: The seq of the session's latest change.
    head_seq: int
    running: bool
    archived: bool
    #: Names the history that ``head_seq`` counts in; a new value means seqs seen before it
    #: belong to a history this database no longer has (see tether.recovery).
    epoch: str
    created_at: str
    updated_at: str


class ListedSessionRow(SessionRow):
    """A session as ``list_sessions`` gives it: with ``preview``, the start of its latest
    message ("" when none)."""

    preview: str


class StorageUnavailable(Exception):
    """The database cannot be reached; the request can be retried."""


class SessionTaken(Exception):
    """A session with this id exists and belongs to another user."""


class ContentMismatch(Exception):
    """A resend reused a client_msg_id with different content."""


class StillStreaming(Exception):
    """A retry named an answer that is still being written."""


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What a subscribe sends, read in one transaction: the session (its ``head_seq`` is the
    head the mode was decided on), the mode, and that mode's messages in their stored state."""

    session: SessionRow
    mode: Mode
    messages: list[MessageRow]

    @property
    def head_seq(self) -> int:
        return self.session["head_seq"]


@dataclass(frozen=True, slots=True)
class AgentState:
    """The agent's new state to keep with its session (``state`` None: none kept)."""

    state: str | None


class _NothingToDo(Exception):
    """Raised inside a write transaction to roll it back: there was nothing to change."""


def is_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` means the database is down or busy (as opposed to a bug or bad data)."""
    if isinstance(exc, StorageUnavailable):  # the store's own word for it (a closed store)
        return True
    if isinstance(exc, IntegrityError):
        return False
    if isinstance(exc, OperationalError | InterfaceError):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    # A driver error wrapped by SQLAlchemy, and what caused it: asyncpg's "connection was closed
    # in the middle of operation" (raised while a new connection is opened during a cut) is a
    # PostgreSQL connection error (class 08), neither an OSError nor an InterfaceError.
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError | ConnectionError | TimeoutError):
            return True
        if _is_connection_error(current):
            return True
        current = getattr(current, "orig", None) or current.__cause__
    return False


def _is_connection_error(exc: BaseException) -> bool:
    try:
        from asyncpg.exceptions import PostgresConnectionError  # type: ignore[import-untyped]
    except ImportError:  # pragma: no cover - asyncpg is a runtime dependency
        return False
    return isinstance(exc, PostgresConnectionError)


def new_epoch() -> str:
    """A fresh session epoch: random, so it says nothing of the session id or of any other
    database (64 bits: two histories of one session never share one by chance)."""
    return secrets.token_hex(8)


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
    messages.c.parts,
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
    sessions.c.epoch,
    sessions.c.created_at,
    sessions.c.updated_at,
)


def message_out(row: Any) -> MessageRow:
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
        "parts": m["parts"] if m["parts"] is not None else parts_of_text(m["content"]),
        "error": m["error"],
        "reply_to": m["reply_to"],
        "created_at": iso(m["created_at"]),
        "updated_at": iso(m["updated_at"]),
    }


def session_out(row: Any) -> SessionRow:
    """A session row in its wire form (PROTOCOL.md section 5)."""
    m = row._mapping
    return {
        "id": m["id"],
        "title": m["title"],
        "agent": m["agent"],
        "head_seq": m["head_seq"],
        "running": bool(m["running"]),
        "archived": bool(m["archived"]),
        "epoch": m["epoch"],
        "created_at": iso(m["created_at"]),
        "updated_at": iso(m["updated_at"]),
    }
