"""The publish API: an application puts messages into sessions, and reads them, from Python.

``chat.post(...)`` stores a whole message (user or assistant) with the session's next seq before it
returns, then fans it out to every follower on every node (the cluster seam) like a message that
came over the socket; a later ``subscribe`` replays it. A posted assistant message is Web-pushed
like the end of an agent's answer (tether.push: to the owner's devices, unless a tab of theirs shows
the session); a posted user message is not, as a user's own ``send`` is not. ``chat.stream(...)``
writes an assistant answer that no agent produces, streamed like one: it runs as the session's run
(tether.runs: one at a time, under the session's claim), so ``cancel``, a takeover and shutdown end
it as they end any answer. ``chat.sessions`` and ``chat.messages`` are the reads of an app's own
pages. ``POST /api/sessions/{id}/messages`` (tether.http) and ``tether post`` are ``post`` over
HTTP.

Errors are :class:`tether.protocol.RequestError` with the protocol's codes: ``invalid``,
``not_found``, ``too_large``, ``conflict`` (a key reused with other content), ``unavailable``.
Nothing is stored when one is raised.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from types import TracebackType
from typing import Any, Literal, TypeVar

from pydantic import Field, ValidationError, model_validator

from tether import protocol as p
from tether.accounts import User
from tether.agents import AgentError
from tether.agents.events import Event
from tether.bus import Bus
from tether.protocol import ErrorCode, RequestError, not_found
from tether.runs import RunManager
from tether.service import ChatService, HistoryAck, SessionsAck
from tether.settings import Settings
from tether.store import ContentMismatch, MessageRow, Store

#: How long ``stream`` waits, at most, for the session's current answer to end (and again for
#: another node's claim on the session) before it gives up with ``unavailable``.
STREAM_PATIENCE = 30.0

_R = TypeVar("_R", bound=p.Request)


class PostMessage(p.Request):
    """A message to post (the body of ``POST /api/sessions/{id}/messages``)."""

    #: At least one character; more than ``max_message_chars`` is ``too_large``.
    content: str = Field(min_length=1)
    role: Literal["user", "assistant"] = "user"
    #: The caller's idempotency key, kept as the message's ``client_msg_id``: the same key with
    #: the same role and content is answered with the stored message; with other content it is
    #: a ``conflict``.
    key: str | None = Field(default=None, min_length=1, max_length=64)
    #: After a user message: the session's agent answers it (as after a socket ``send``).
    #: Without it the message is part of the conversation, and no agent answers it.
    respond: bool = False

    @model_validator(mode="after")
    def _respond_to_user(self) -> PostMessage:
        if self.respond and self.role != "user":
            raise ValueError("respond goes with role user: an agent answers a user's message")
        return self


def post_request(data: object) -> PostMessage:
    """A validated :class:`PostMessage`, or RequestError(invalid) saying what is wrong."""
    if not isinstance(data, dict):
        raise RequestError(ErrorCode.INVALID, "body must be a JSON object")
    try:
        return PostMessage.model_validate(data)
    except ValidationError as exc:
        raise RequestError(ErrorCode.INVALID, p.describe_validation_error(exc)) from None


class Publisher:
    """What an application may do to sessions without a connection (``chat.publisher``)."""

    def __init__(
        self, store: Store, runs: RunManager, service: ChatService, bus: Bus, settings: Settings
    ) -> None:
        """``bus`` publishes what is posted (the app's: one that also pushes the ends of
        answers, tether.push.NotifyingBus)."""
        self.store = store
        self.runs = runs
        self.service = service
        self.bus = bus
        self.settings = settings

    async def _owner(self, session_id: str, user_id: str | None) -> User:
        """The session's owner; not_found when there is no such session, or it is not
        ``user_id``'s (when given)."""
        owner = await self.store.session_owner(session_id)
        if owner is None or (user_id is not None and owner != user_id):
            raise not_found()
        return User(id=owner, name=owner)

    async def post(
        self,
        session_id: str,
        content: str,
        *,
        role: Literal["user", "assistant"] = "user",
        key: str | None = None,
        respond: bool = False,
        user_id: str | None = None,
    ) -> MessageRow:
        """Store a whole message in the session, then fan it out; the message (the stored one
        when ``key`` was used before with the same content). ``user_id``: only into that user's
        sessions (else ``not_found``)."""
        request = post_request({"content": content, "role": role, "key": key, "respond": respond})
        message, _duplicate = await self.publish(session_id, request, user_id)
        return message

    async def publish(
        self, session_id: str, req: PostMessage, user_id: str | None = None
    ) -> tuple[MessageRow, bool]:
        """:meth:`post` of a validated request: (message, duplicate)."""
        if len(req.content) > self.settings.max_message_chars:
            raise RequestError(
                ErrorCode.TOO_LARGE,
                f"content: {len(req.content)} characters, at most "
                f"{self.settings.max_message_chars} allowed",
            )
        owner = await self._owner(session_id, user_id)
        if req.respond:  # exactly a socket send: stored, fanned out, named, answered
            send = p.Send(session_id=session_id, client_msg_id=req.key or uuid.uuid4().hex,
                          content=req.content)
            ack = await self.service.send(owner, send)
            return ack["message"], ack["duplicate"]
        try:
            stored = await self.store.post_message(
                owner.id, session_id, req.role, req.content, req.key, awaits_answer=False
            )
        except ContentMismatch:
            raise RequestError(
                ErrorCode.CONFLICT, "key: already used for a different message"
            ) from None
        if stored is None:
            raise not_found()
        message, duplicate = stored
        if not duplicate:
            await self.bus.message(session_id, message)
        return message, duplicate

    @contextlib.asynccontextmanager
    async def stream(
        self, session_id: str, *, user_id: str | None = None, patience: float = STREAM_PATIENCE
    ) -> AsyncIterator[StreamedAnswer]:
        """A streamed assistant message (:meth:`open_stream`) that ends ``complete`` when the
        block ends, or ``failed`` when it raises (the exception goes on)::

            async with chat.stream(session_id) as answer:
                async for text in my_model(...):
                    await answer.write(text)

        When the answer ends first (a user's ``cancel``, shutdown), the next ``write`` ends the
        block and nothing more is written."""
        async with await self.open_stream(session_id, user_id=user_id, patience=patience) as a:
            yield a

    async def open_stream(
        self, session_id: str, *, user_id: str | None = None, patience: float = STREAM_PATIENCE
    ) -> StreamedAnswer:
        """Open a streamed assistant message in the session: once its current answer (if any)
        has ended, a new ``streaming`` message, stored and fanned out before this returns.
        Write to it, then :meth:`StreamedAnswer.end` or :meth:`StreamedAnswer.fail` it.
        ``unavailable`` when the session stays busy longer than about ``patience`` seconds."""
        await self._owner(session_id, user_id)
        feed: asyncio.Queue[str | Event | _Failure | None] = asyncio.Queue()
        opened: asyncio.Future[MessageRow] = asyncio.get_running_loop().create_future()

        stopped = asyncio.Event()

        async def source() -> tuple[AsyncIterator[str | Event], None]:
            return _chunks(feed, stopped), None

        def on_open(message: MessageRow) -> None:
            if not opened.done():
                opened.set_result(message)

        busy = RequestError(ErrorCode.UNAVAILABLE, "the session is busy answering; retry later")
        try:
            async with asyncio.timeout(patience):
                run = await self.runs.publish(session_id, source, on_open, patience=patience)
        except TimeoutError:
            raise busy from None
        waiting: set[asyncio.Future[Any]] = {opened, run}
        try:
            await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        except BaseException:  # the caller gave up: the answer must not stay streaming
            feed.put_nowait(_Failure("the answer was abandoned before it started"))
            raise
        if not opened.done():
            opened.cancel()
            failure = None if run.cancelled() else run.exception()
            if isinstance(failure, TimeoutError):
                raise busy from None
            if failure is not None:
                raise failure
            raise RequestError(ErrorCode.UNAVAILABLE, "the session's claim was lost; retry")
        return StreamedAnswer(opened.result(), feed, run, stopped)

    async def sessions(
        self, user_id: str, *, limit: int = 50, before: str | None = None
    ) -> SessionsAck:
        """The user's sessions, latest activity first (``before``: the ``updated_at`` of the
        last one of the previous page), and ``has_more``."""
        request = _validated(p.ListSessions, limit=limit, before=before)
        return await self.service.list_sessions(User(id=user_id, name=user_id), request)

    async def messages(
        self, session_id: str, *, before: int | None = None, limit: int = 50,
        user_id: str | None = None,
    ) -> HistoryAck:
        """A page of the session's messages, oldest first: the latest ``limit``, or those
        before position ``before``; and ``has_more`` (older ones exist). Streaming messages
        carry their live text."""
        request = _validated(p.History, session_id=session_id, limit=limit,
                             before_position=p.MAX_INT if before is None else before)
        return await self.service.history(await self._owner(session_id, user_id), request)


def _validated(model: type[_R], **fields: object) -> _R:
    try:
        return model.model_validate(fields)
    except ValidationError as exc:
        raise RequestError(ErrorCode.INVALID, p.describe_validation_error(exc)) from None


class AnswerEnded(Exception):
    """The streamed answer has ended already (cancelled by a user, taken over, or the server
    stopping): stop writing. Inside ``async with`` it only ends the block."""


class _Failure:
    __slots__ = ("error",)

    def __init__(self, error: str) -> None:
        self.error = error


async def _chunks(
    feed: asyncio.Queue[str | Event | _Failure | None], stopped: asyncio.Event
) -> AsyncIterator[str | Event]:
    """What a :class:`StreamedAnswer` was given, as the run's source: until its end (None), or
    a failure, which ends the answer ``failed`` with that error. ``stopped`` is set once the
    run takes no more (it ended, or a cancel, a takeover or shutdown stopped it)."""
    try:
        while (item := await feed.get()) is not None:
            if isinstance(item, _Failure):
                raise AgentError(item.error)
            yield item
    finally:
        stopped.set()


class StreamedAnswer:
    """An assistant message being streamed by the app (:meth:`Publisher.stream`)."""

    def __init__(
        self,
        message: MessageRow,
        feed: asyncio.Queue[str | Event | _Failure | None],
        run: asyncio.Task[MessageRow | None],
        stopped: asyncio.Event,
    ) -> None:
        #: The message as created (``streaming``).
        self.message = message
        self._feed = feed
        self._run = run
        self._stopped = stopped
        self._closed = False

    @property
    def message_id(self) -> str:
        return self.message["id"]

    @property
    def done(self) -> bool:
        """Whether the answer has ended (by :meth:`end`, :meth:`fail`, or otherwise)."""
        return self._stopped.is_set() or self._run.done()

    async def write(self, piece: str | Event) -> None:
        """Append text, or a structured event (tether.agents.events: reasoning, tool calls,
        status), to the answer. Raises AnswerEnded once it has ended."""
        if self._closed or self.done:
            raise AnswerEnded(f"message {self.message_id} has ended")
        self._feed.put_nowait(piece)
        await asyncio.sleep(0)  # the run takes it now, so writes stream as they come

    async def end(self) -> MessageRow | None:
        """End the answer ``complete`` (unless it ended otherwise first); the final message,
        or None when this process no longer wrote it (the server stopping, or a takeover)."""
        return await self._close(None)

    async def fail(self, error: str) -> MessageRow | None:
        """End the answer ``failed``, ``error`` shown to the user; the final message as
        :meth:`end` says."""
        return await self._close(_Failure(error))

    async def _close(self, last: _Failure | None) -> MessageRow | None:
        if not self._closed:
            self._closed = True
            self._feed.put_nowait(last)
        await asyncio.wait({self._run})
        if self._run.cancelled():
            return None  # the server stopped: the answer ended interrupted
        return self._run.result()

    async def __aenter__(self) -> StreamedAnswer:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool:
        if exc is None or isinstance(exc, AnswerEnded):
            await self.end()
            return exc is not None  # an AnswerEnded only ends the block
        error = str(exc) if isinstance(exc, AgentError) and str(exc) else (
            f"the answer failed ({type(exc).__name__})"
        )
        await self.fail(error)
        return False
