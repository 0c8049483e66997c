"""The tables, in SQLAlchemy Core. Changes to them are made by Alembic migrations."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    text,
    true,
)

metadata = MetaData()

users = Table(
    "users",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

tokens = Table(
    "tokens",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("user_id", String(36), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    # sha256 of the bearer token; the token itself is never stored.
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

sessions = Table(
    "sessions",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("user_id", String(36), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("title", String(200), nullable=False),
    Column("agent", String(64), nullable=False),
    # The seq of the latest change; bumped in the same transaction that writes the change.
    Column("head_seq", Integer, nullable=False, default=0),
    # The position of the latest message; bumped with it.
    Column("message_count", Integer, nullable=False, default=0),
    Column("running", Boolean, nullable=False, default=False),
    Column("archived", Boolean, nullable=False, default=False),
    # Names the history head_seq counts in (tether.recovery): random per session, and given a
    # new value by `tether db new-epoch` after a restore, so seqs a client saw before cannot
    # be mistaken for seqs of this history.
    Column("epoch", String(32), nullable=False),
    # The agent's own conversation handle (for example a CLI's resume id), kept across restarts.
    Column("agent_state", Text, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    # The server process answering this session now, and until when its claim holds unless
    # renewed. A run may only write while its process holds the claim (see tether.runs).
    Column("runner", String(64), nullable=True),
    Column("runner_lease", DateTime(timezone=True), nullable=True),
    Index("ix_sessions_user_updated", "user_id", "updated_at"),
    Index("ix_sessions_runner", "runner"),
)

messages = Table(
    "messages",
    metadata,
    Column("id", String(36), primary_key=True),
    Column(
        "session_id", String(36), ForeignKey("sessions.id", ondelete="CASCADE"), nullable=False
    ),
    Column("position", Integer, nullable=False),
    Column("seq", Integer, nullable=False),
    Column("role", String(16), nullable=False),
    Column("content", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("client_msg_id", String(64), nullable=True),
    Column("chunks", Integer, nullable=False, default=0),
    # The message's parts (tether.parts) as of ``chunks``; NULL: no structure, one text part.
    Column("parts", JSON, nullable=True),
    Column("error", Text, nullable=True),
    # For an assistant message: the user message it answers.
    Column("reply_to", String(36), nullable=True),
    # For a user message: answer it again (a `retry` asked to regenerate its answer); cleared in
    # the transaction that creates the new answer. It queues the message like an unanswered one.
    Column("answer_again", Boolean, nullable=False, default=False, server_default=false()),
    # For a user message: the session's agent is to answer it. False only for a message an app
    # posted without ``respond`` (tether.publish): it is part of the conversation, not a question.
    Column("awaits_answer", Boolean, nullable=False, default=True, server_default=true()),
    # For a user message: it is in the session's queue (it awaits an answer, and none has been
    # created since it was posted or a retry asked again). Set when it is posted (and by a
    # retry), cleared in the transaction that creates its answer; the partial index over it
    # makes the queue's next question one index lookup, whatever the session's length.
    Column("queued", Boolean, nullable=False, default=False, server_default=false()),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("session_id", "position", name="uq_messages_session_position"),
    UniqueConstraint("session_id", "client_msg_id", name="uq_messages_session_client_msg"),
    Index("ix_messages_session_seq", "session_id", "seq"),
    Index("ix_messages_status", "status"),
    Index("ix_messages_reply_to", "reply_to"),
    Index(
        "ix_messages_queued", "session_id", "position",
        sqlite_where=text("queued = 1"), postgresql_where=text("queued"),
    ),
)

# Web Push (tether.push): one row per browser push subscription (a device's browser profile),
# owned by one user. ``endpoint`` is the push service's URL for it and identifies it.
push_subscriptions = Table(
    "push_subscriptions",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("user_id", String(36), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("endpoint", Text, nullable=False),
    # The endpoint's sha256 (hex): unique, and indexable where a long TEXT is not.
    Column("endpoint_hash", String(64), nullable=False, unique=True),
    # The subscription's keys (base64url): the browser's P-256 public key and auth secret.
    Column("p256dh", String(128), nullable=False),
    Column("auth", String(64), nullable=False),
    # What the user calls the device, as the client said (shown nowhere else).
    Column("device", String(100), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("ix_push_subscriptions_user", "user_id"),
)

# Which tabs are looking at which session right now (a tab reports it: ``presence``), so that
# no push is sent for an answer someone is watching. A row lives until the tab says it is
# hidden, disconnects, or stops renewing it (``visible_until``).
push_presence = Table(
    "push_presence",
    metadata,
    # The Socket.IO sid of the tab's connection: unique across nodes.
    Column("sid", String(64), primary_key=True),
    Column("user_id", String(36), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("session_id", String(36), nullable=False),
    Column("visible_until", DateTime(timezone=True), nullable=False),
    Index("ix_push_presence_user_session", "user_id", "session_id"),
)
