"""Chat storage: sessions and messages behind one interface, in SQLAlchemy Core.

Every change to a session takes the session's next ``seq`` in the transaction that writes it
(``UPDATE sessions SET head_seq = head_seq + 1 ... RETURNING``), so seqs are gap-free and never
diverge from the rows. Streamed text is not a change: checkpoints rewrite a streaming message's
text without taking a seq.
"""

from tether.store.claims import ClaimQueries, IdleOrNext, Takeover
from tether.store.posts import PostQueries
from tether.store.push import PushQueries, PushSubscriptionRow
from tether.store.rows import (
    STREAMING,
    AgentState,
    ContentMismatch,
    ListedSessionRow,
    MessageRow,
    SessionRow,
    SessionTaken,
    Snapshot,
    StillStreaming,
    StorageUnavailable,
    is_unavailable,
    iso,
    utcnow,
)
from tether.store.sessions import SessionQueries


class Store(SessionQueries, PostQueries, ClaimQueries, PushQueries):
    """Sessions and messages (PostQueries: MessageQueries and posted messages; PushQueries:
    push subscriptions, tether.push). One instance per process; safe for concurrent use."""


__all__ = [
    "STREAMING",
    "AgentState",
    "ContentMismatch",
    "IdleOrNext",
    "ListedSessionRow",
    "MessageRow",
    "PushSubscriptionRow",
    "SessionRow",
    "SessionTaken",
    "Snapshot",
    "StillStreaming",
    "StorageUnavailable",
    "Store",
    "Takeover",
    "is_unavailable",
    "iso",
    "utcnow",
]
