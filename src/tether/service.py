"""The chat service: what each request does. Knows nothing of Socket.IO.

Every method takes the authenticated user and a validated request (tether.protocol) and returns
the acknowledgement's fields, or raises RequestError with a protocol error code.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TypedDict

from tether import protocol as p
from tether.accounts import User
from tether.agents import AgentRegistry
from tether.bus import Bus
from tether.metrics import Metrics
from tether.protocol import ErrorCode, RequestError, not_found
from tether.runs import RunManager
from tether.settings import Settings
from tether.store import (
    ContentMismatch,
    ListedSessionRow,
    MessageRow,
    SessionRow,
    SessionTaken,
    StillStreaming,
    Store,
)
from tether.streams import LocalStreams, overlay_live_text
from tether.titles import title_from_message

# The acknowledgements' fields on success (PROTOCOL.md section 3); the gateway adds "ok".


class SessionAck(TypedDict):
    """create_session, update_session."""

    session: SessionRow


class SessionsAck(TypedDict):
    """list_sessions."""

    sessions: list[ListedSessionRow]
    has_more: bool


class SubscribeAck(TypedDict):
    """subscribe (section 3.1)."""

    session: SessionRow
    #: A tether.recovery.Mode's value.
    mode: str
    #: The head the mode was decided on; every change up to it is in ``messages``.
    head_seq: int
    messages: list[MessageRow]


class NoFields(TypedDict):
    """unsubscribe: nothing beyond ``ok``."""


class SendAck(TypedDict):
    message: MessageRow
    duplicate: bool


class CancelAck(TypedDict):
    cancelled: bool


class RetryAck(TypedDict):
    #: False when a newer answer to the question exists already (nothing was queued).
    queued: bool


class HistoryAck(TypedDict):
    messages: list[MessageRow]
    has_more: bool


class HeartbeatAck(TypedDict):
    #: Unix seconds.
    server_time: float


class ChatService:
    def __init__(
        self,
        store: Store,
        runs: RunManager,
        streams: LocalStreams,
        bus: Bus,
        agents: AgentRegistry,
        metrics: Metrics,
        settings: Settings,
    ) -> None:
        self.store = store
        self.runs = runs
        self.streams = streams
        self.bus = bus
        self.agents = agents
        self.metrics = metrics
        self.settings = settings

    async def _own(self, user: User, session_id: str) -> None:
        """Raise not_found unless the session exists and is the user's (the store remembers
        owners, so this asks the database once per session)."""
        if await self.store.session_owner(session_id) != user.id:
            raise not_found()

    async def create_session(self, user: User, req: p.CreateSession) -> SessionAck:
        agent = req.agent or self.agents.default
        if agent not in self.agents:
            raise RequestError(ErrorCode.INVALID, f"agent: no agent named {agent!r}")
        try:
            session, created = await self.store.create_session(user.id, req.id, req.title, agent)
        except SessionTaken:
            raise RequestError(ErrorCode.CONFLICT, "id: a session with this id exists") from None
        if created:
            await self.bus.session(user.id, session)
        return {"session": session}

    async def list_sessions(self, user: User, req: p.ListSessions) -> SessionsAck:
        sessions, has_more = await self.store.list_sessions(user.id, req.limit, req.before)
        return {"sessions": sessions, "has_more": has_more}

    async def update_session(self, user: User, req: p.UpdateSession) -> SessionAck:
        if req.title is None and req.archived is None:
            raise RequestError(ErrorCode.INVALID, "nothing to update: give title or archived")
        session = await self.store.update_session(user.id, req.session_id, req.title, req.archived)
        if session is None:
            raise not_found()
        await self.bus.session(user.id, session)
        return {"session": session}

    async def subscribe(
        self, user: User, req: p.Subscribe, join: Callable[[], Awaitable[None]]
    ) -> SubscribeAck:
        """Join the session's live events, then read what the client is missing.

        Ownership is checked before joining, so no event of another user's session reaches
        this socket. Joining before the read makes it race-free: a change committed after the
        join reaches the client live, one committed before it is in the reply (possibly both:
        merging is idempotent). The read (Store.snapshot) takes the head seq before the
        messages in one transaction, so every change up to the head is in the reply."""
        await self._own(user, req.session_id)
        await join()
        snapshot = await self.store.snapshot(
            req.session_id,
            req.after_seq,
            req.limit or self.settings.history_limit,
            self.settings.max_resume,
            req.epoch,
        )
        if snapshot is None:
            raise not_found()
        messages = await overlay_live_text(self.streams, snapshot.messages)
        self.metrics.subscribe_modes.labels(snapshot.mode.value).inc()
        return {
            "session": snapshot.session,
            "mode": snapshot.mode.value,
            "head_seq": snapshot.head_seq,
            "messages": messages,
        }

    async def unsubscribe(
        self, user: User, req: p.Unsubscribe, leave: Callable[[], Awaitable[None]]
    ) -> NoFields:
        await self._own(user, req.session_id)
        await leave()
        return {}

    async def send(self, user: User, req: p.Send) -> SendAck:
        if len(req.content) > self.settings.max_message_chars:
            raise RequestError(
                ErrorCode.TOO_LARGE,
                f"content: {len(req.content)} characters, at most "
                f"{self.settings.max_message_chars} allowed",
            )
        try:
            stored = await self.store.add_user_message(
                user.id, req.session_id, req.client_msg_id, req.content
            )
        except ContentMismatch:
            raise RequestError(
                ErrorCode.CONFLICT, "client_msg_id: already used for a different message"
            ) from None
        if stored is None:
            raise not_found()
        message, duplicate = stored
        if not duplicate:
            await self.bus.message(req.session_id, message)
            self.runs.wake(req.session_id)
            if message["position"] == 1:
                await self._name_from(user, req.session_id, req.content)
        return {"message": message, "duplicate": duplicate}

    async def _name_from(self, user: User, session_id: str, content: str) -> None:
        """Name a session titled by default after its first message (tether.titles); every
        socket of the user hears it as a `session` event."""
        title = title_from_message(content)
        if title is None:
            return
        session = await self.store.name_untitled(session_id, title)
        if session is not None:
            await self.bus.session(user.id, session)

    async def cancel(self, user: User, req: p.Cancel) -> CancelAck:
        await self._own(user, req.session_id)
        return {"cancelled": await self.runs.cancel(req.session_id)}

    async def retry(self, user: User, req: p.Retry) -> RetryAck:
        """Queue a new answer to the question of answer ``message_id``. ``queued`` is false when
        a newer answer to it exists already (a repeated retry regenerates once)."""
        await self._own(user, req.session_id)
        try:
            queued = await self.store.request_retry(req.session_id, req.message_id)
        except StillStreaming:
            raise RequestError(
                ErrorCode.CONFLICT, "message_id: that answer is still being written"
            ) from None
        if queued is None:
            raise not_found()
        if queued:
            self.runs.wake(req.session_id)
        return {"queued": queued}

    async def history(self, user: User, req: p.History) -> HistoryAck:
        await self._own(user, req.session_id)
        messages, has_more = await self.store.history(
            req.session_id, req.before_position, req.limit or self.settings.history_limit
        )
        messages = await overlay_live_text(self.streams, messages)
        return {"messages": messages, "has_more": has_more}

    async def heartbeat(self, user: User, req: p.Heartbeat) -> HeartbeatAck:
        return {"server_time": time.time()}
