"""Row shapes, timestamps and the errors of the store. No I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError

from tether.db.schema import messages, sessions
from tether.recovery import Mode

Row = dict[str, Any]

STREAMING = "streaming"
DEFAULT_TITLE = "New chat"


class StorageUnavailable(Exception):
    """The database cannot be reached; the request can be retried."""


class SessionTaken(Exception):
    """A session with this id exists and belongs to another user."""


class ContentMismatch(Exception):
    """A resend reused a client_msg_id with different content."""


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What a subscribe sends, read in one transaction: the session (its ``head_seq`` is the
    head the mode was decided on), the mode, and that mode's messages in their stored state."""

    session: Row
    mode: Mode
    messages: list[Row]

    @property
    def head_seq(self) -> int:
        return int(self.session["head_seq"])


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
