"""The wire contract (PROTOCOL.md): event names, error codes and request payload models. No I/O.

The browser client mirrors the names in ``static/js/client/protocol.js``; a test checks that the
two agree.
"""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Final, Literal, TypedDict

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import PydanticCustomError

PROTOCOL_VERSION: Final = 1


class Event:
    """Event names, both directions."""

    # server to client
    HELLO: Final = "hello"
    MESSAGE: Final = "message"
    DELTA: Final = "delta"
    SESSION: Final = "session"
    RESYNC: Final = "resync"
    # client to server (requests, always acknowledged)
    CREATE_SESSION: Final = "create_session"
    LIST_SESSIONS: Final = "list_sessions"
    UPDATE_SESSION: Final = "update_session"
    SUBSCRIBE: Final = "subscribe"
    UNSUBSCRIBE: Final = "unsubscribe"
    SEND: Final = "send"
    CANCEL: Final = "cancel"
    RETRY: Final = "retry"
    HISTORY: Final = "history"
    HEARTBEAT: Final = "heartbeat"
    # Notifications (docs/protocol.md, "Web Push"): a device's push subscription, and which
    # session a tab shows (no push for an answer someone is looking at).
    PUSH_SUBSCRIBE: Final = "push_subscribe"
    PUSH_UNSUBSCRIBE: Final = "push_unsubscribe"
    PRESENCE: Final = "presence"


SERVER_EVENTS: Final = (Event.HELLO, Event.MESSAGE, Event.DELTA, Event.SESSION, Event.RESYNC)
REQUEST_EVENTS: Final = (
    Event.CREATE_SESSION,
    Event.LIST_SESSIONS,
    Event.UPDATE_SESSION,
    Event.SUBSCRIBE,
    Event.UNSUBSCRIBE,
    Event.SEND,
    Event.CANCEL,
    Event.RETRY,
    Event.HISTORY,
    Event.HEARTBEAT,
    Event.PUSH_SUBSCRIBE,
    Event.PUSH_UNSUBSCRIBE,
    Event.PRESENCE,
)


class ErrorCode:
    """The ``error.code`` of a failed acknowledgement."""

    INVALID: Final = "invalid"  # payload malformed, wrong type, out of range
    NOT_FOUND: Final = "not_found"  # no such session, or not yours (indistinguishable on purpose)
    TOO_LARGE: Final = "too_large"  # content longer than max_message_chars
    RATE_LIMITED: Final = "rate_limited"  # too many requests on this connection
    CONFLICT: Final = "conflict"  # the request contradicts what is stored
    UNAVAILABLE: Final = "unavailable"  # storage or broker down: retry later
    INTERNAL: Final = "internal"  # a bug; logged on the server


ERROR_CODES: Final = (
    ErrorCode.INVALID,
    ErrorCode.NOT_FOUND,
    ErrorCode.TOO_LARGE,
    ErrorCode.RATE_LIMITED,
    ErrorCode.CONFLICT,
    ErrorCode.UNAVAILABLE,
    ErrorCode.INTERNAL,
)

#: Connection refusals (the ``message`` of ``connect_error``).
CONNECT_UNAUTHORIZED: Final = "unauthorized"
CONNECT_INVALID: Final = "invalid"

class MessageStatus(StrEnum):
    """A message's ``status``. A StrEnum, so a status read from the database (a plain str)
    compares equal to its member and either serialises as the same string."""

    #: Written in full: a user message, or an answer that ended normally.
    COMPLETE = "complete"
    #: An answer being written; its text so far is in the live stream.
    STREAMING = "streaming"
    #: An answer ended by ``cancel``; the text so far is kept.
    CANCELLED = "cancelled"
    #: An answer the agent failed to write; ``error`` says why.
    FAILED = "failed"
    #: An answer whose server process stopped while writing it; the checkpointed text is kept.
    INTERRUPTED = "interrupted"




# --- Parts of a structured answer (docs/protocol.md, "Parts"); ops applied by tether.parts. ---


class TextPart(TypedDict):
    """Markdown answer text; ``content`` is the concatenation of the text parts."""

    id: str
    type: Literal["text"]
    text: str


class ReasoningPart(TypedDict):
    """The model's reasoning; ``done`` once the answer moved past it (or ended)."""

    id: str
    type: Literal["reasoning"]
    text: str
    state: Literal["streaming", "done"]


class ToolPart(TypedDict):
    """A tool call, in the Vercel AI SDK's tool-part states: ``input-streaming`` (``input_text``
    growing), ``input-available`` (``input`` parsed), ``output-available`` (``output``) or
    ``output-error`` (``error``; "cancelled" when the answer was cancelled before the end)."""

    id: str
    type: Literal["tool"]
    #: The agent's (the model's) id of the call.
    tool_call_id: str
    name: str
    state: Literal["input-streaming", "input-available", "output-available", "output-error"]
    #: The input as streamed (usually JSON text).
    input_text: str
    #: The input parsed once complete (null before, or when it is not JSON).
    input: Any
    output: Any
    error: str | None


class StatusPart(TypedDict):
    """A transient progress line: at most one, replaced by the next, removed when the message
    ends."""

    id: str
    type: Literal["status"]
    text: str


MessagePart = TextPart | ReasoningPart | ToolPart | StatusPart


class StartOp(TypedDict):
    """Append a new part (its full initial state)."""

    op: Literal["start"]
    part: MessagePart


class AppendOp(TypedDict):
    """Concatenate ``value`` to a part's ``text`` or ``input_text``."""

    op: Literal["append"]
    id: str
    field: Literal["text", "input_text"]
    value: str


class SetOp(TypedDict):
    """Replace some fields of a part (never ``id`` or ``type``)."""

    op: Literal["set"]
    id: str
    fields: dict[str, Any]


class RemoveOp(TypedDict):
    """Remove a part (the status line, when the message ends)."""

    op: Literal["remove"]
    id: str


DeltaOp = StartOp | AppendOp | SetOp | RemoveOp


class RequestError(Exception):
    """A request failed with one of the protocol's error codes; nothing was stored."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def ack(self) -> dict[str, Any]:
        return {"ok": False, "error": {"code": self.code, "message": self.message}}


def not_found(what: str = "session") -> RequestError:
    return RequestError(ErrorCode.NOT_FOUND, f"no such {what}")


# ----------------------------------------------------------------------------------------------
# Request payloads. Strict: a number given as a string, or a bool given as a number, is invalid.
# Unknown fields are ignored so that newer clients can talk to this server.


#: The largest integer both databases store: positions and seqs are PostgreSQL ``integer``
#: (SQLite's limit, 2^63 - 1, is larger). A bigger number is refused as ``invalid`` rather than
#: reaching the database and failing there.
MAX_INT: Final = 2**31 - 1

#: Characters no string field may hold: NUL (PostgreSQL text cannot store it) and lone UTF-16
#: surrogates (not Unicode scalar values; no database encodes them as UTF-8).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


class Request(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)

    @field_validator("*", mode="after")
    @classmethod
    def _storable(cls, value: object) -> object:
        if isinstance(value, str) and _UNSTORABLE.search(value):
            raise PydanticCustomError(
                "unstorable", "must not contain NUL or unpaired surrogate characters"
            )
        return value


SessionId = Field(min_length=1, max_length=64)
Limit = Field(default=None, ge=1, le=200)


class CreateSession(Request):
    #: The session's id, chosen by the client for idempotent creation; a UUID string.
    id: str | None = None
    title: str | None = Field(default=None, max_length=200)
    #: An agent name from ``hello.agents``; the server's default when omitted.
    agent: str | None = Field(default=None, min_length=1, max_length=64)

    @field_validator("id")
    @classmethod
    def _uuid(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return str(uuid.UUID(value))
        except ValueError:
            raise ValueError("id must be a UUID string") from None


class ListSessions(Request):
    limit: int = Field(default=50, ge=1, le=200)
    #: ``updated_at`` of the last session of the previous page.
    before: str | None = Field(default=None, max_length=64)

    @field_validator("before")
    @classmethod
    def _timestamp(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                moment = datetime.fromisoformat(value)
            except ValueError:
                raise ValueError("before must be an ISO-8601 timestamp") from None
            try:
                # The store compares in UTC; 0001-01-01T00:00+01:00 has no UTC datetime.
                (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)
            except OverflowError:
                raise ValueError("before is out of range") from None
        return value


class UpdateSession(Request):
    session_id: str = SessionId
    title: str | None = Field(default=None, max_length=200)
    archived: bool | None = None


class Subscribe(Request):
    session_id: str = SessionId
    #: The client's ``last_seq``; omitted or null for the latest messages.
    after_seq: int | None = Field(default=None, ge=0, le=MAX_INT)
    #: The session's ``epoch`` when the client saw ``last_seq``; a different epoch now means
    #: that history is gone (a restored or new database) and the reply is a ``reset``.
    #: Omitted: ``after_seq`` is trusted as it is (older clients).
    epoch: str | None = Field(default=None, min_length=1, max_length=64)
    limit: int | None = Limit


class Unsubscribe(Request):
    session_id: str = SessionId


class Send(Request):
    session_id: str = SessionId
    #: The client's id for this message; a resend with the same id is answered, not stored twice.
    client_msg_id: str = Field(min_length=1, max_length=64)
    #: At least one character; more than ``max_message_chars`` answers ``too_large``.
    content: str = Field(min_length=1)


class Cancel(Request):
    session_id: str = SessionId


class Retry(Request):
    """Regenerate: a new answer to the question that the assistant message ``message_id``
    answered, queued like any answer; the old answer is kept."""

    session_id: str = SessionId
    #: The assistant message to answer again (a failed, interrupted, stopped or any final one).
    message_id: str = Field(min_length=1, max_length=64)


class History(Request):
    session_id: str = SessionId
    #: Messages with a smaller ``position`` are returned.
    before_position: int = Field(ge=0, le=MAX_INT)
    limit: int | None = Limit


class Heartbeat(Request):
    pass


# --- Web Push (docs/protocol.md, "Web Push"). ---


def _b64url_bytes(value: str, length: int, what: str) -> str:
    """``value`` if it is unpadded or padded base64url of exactly ``length`` bytes."""
    if not re.fullmatch(r"[A-Za-z0-9_-]+={0,2}", value):
        raise ValueError(f"{what} must be base64url")
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        raise ValueError(f"{what} must be base64url") from None
    if len(raw) != length or (what == "p256dh" and raw[0] != 4):
        raise ValueError(f"{what} must be {length} bytes" + (
            " (an uncompressed P-256 point)" if what == "p256dh" else ""))
    return value.rstrip("=")


class PushKeys(Request):
    """A subscription's keys, as ``PushSubscription.toJSON().keys`` gives them."""

    #: The browser's P-256 public key: 65 bytes, base64url.
    p256dh: str = Field(max_length=100)
    #: The authentication secret: 16 bytes, base64url.
    auth: str = Field(max_length=32)

    @field_validator("p256dh")
    @classmethod
    def _p256dh(cls, value: str) -> str:
        return _b64url_bytes(value, 65, "p256dh")

    @field_validator("auth")
    @classmethod
    def _auth(cls, value: str) -> str:
        return _b64url_bytes(value, 16, "auth")


class PushSubscribe(Request):
    """Store this browser's push subscription for the signed-in user (again: refreshed)."""

    #: The push service's URL for this subscription (https; see docs/protocol.md).
    endpoint: str = Field(min_length=8, max_length=2048)
    keys: PushKeys
    #: A name for the device, for the user's own reference.
    device: str | None = Field(default=None, max_length=100)


class PushUnsubscribe(Request):
    endpoint: str = Field(min_length=1, max_length=2048)


class Presence(Request):
    """What this tab shows: ``session_id`` while ``visible``; re-sent while it stays so."""

    visible: bool
    session_id: str | None = Field(default=None, min_length=1, max_length=64)


REQUEST_MODELS: Final[dict[str, type[Request]]] = {
    Event.CREATE_SESSION: CreateSession,
    Event.LIST_SESSIONS: ListSessions,
    Event.UPDATE_SESSION: UpdateSession,
    Event.SUBSCRIBE: Subscribe,
    Event.UNSUBSCRIBE: Unsubscribe,
    Event.SEND: Send,
    Event.CANCEL: Cancel,
    Event.RETRY: Retry,
    Event.HISTORY: History,
    Event.HEARTBEAT: Heartbeat,
    Event.PUSH_SUBSCRIBE: PushSubscribe,
    Event.PUSH_UNSUBSCRIBE: PushUnsubscribe,
    Event.PRESENCE: Presence,
}


def parse_request(event: str, payload: object) -> Request:
    """Validate a request payload, raising RequestError(invalid) with a readable message."""
    model = REQUEST_MODELS[event]
    if payload is None and event == Event.HEARTBEAT:
        payload = {}
    if not isinstance(payload, dict):
        raise RequestError(ErrorCode.INVALID, f"{event} payload must be an object")
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        raise RequestError(ErrorCode.INVALID, describe_validation_error(exc)) from None


def describe_validation_error(exc: ValidationError) -> str:
    """One line naming each bad field: ``after_seq: Input should be a valid integer``."""
    parts = []
    for error in exc.errors(include_url=False):
        where = ".".join(str(p) for p in error["loc"]) or "payload"
        parts.append(f"{where}: {error['msg']}")
    return "; ".join(parts)
