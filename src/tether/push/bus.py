"""The bus of the runs, with the end of each answer also handed to the push sender."""

from __future__ import annotations

from tether.bus import Bus
from tether.push.sender import PushSender
from tether.store import MessageRow, SessionRow


class NotifyingBus:
    """Publishes as ``inner`` does; an answer's final change also goes to ``sender`` (which
    returns at once: the push is a background task). Wraps the buses that write answers: the
    runs' (an agent's answer, or ``chat.stream``) and the publish API's (``chat.post`` of a
    whole assistant message). The process that wrote an answer's end is the only one that
    publishes it, so one node pushes; the chat service's bus (user messages) is not wrapped."""

    def __init__(self, inner: Bus, sender: PushSender) -> None:
        self.inner = inner
        self.sender = sender
        #: A delta is never pushed: the inner bus's own, with no coroutine of this one around
        #: it (one per token per stream).
        self.delta = inner.delta

    async def message(self, session_id: str, message: MessageRow) -> None:
        await self.inner.message(session_id, message)
        self.sender.answer_ended(session_id, message)

    async def session(self, user_id: str, session: SessionRow) -> None:
        await self.inner.session(user_id, session)
