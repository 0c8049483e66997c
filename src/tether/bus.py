"""Where the service layer publishes changes; the socket gateway implements it."""

from __future__ import annotations

from typing import Protocol

from tether.parts import Op
from tether.store.rows import MessageRow, SessionRow


class Bus(Protocol):
    """Publishes session changes to whoever follows them. Knows nothing of the store."""

    async def message(self, session_id: str, message: MessageRow) -> None:
        """A message was created or changed (one call per seq)."""

    async def delta(
        self, session_id: str, message_id: str, chunk: int, text: str, ops: list[Op]
    ) -> None:
        """The next chunk of a streaming message: the text it appends to ``content`` and its
        part ops (tether.parts)."""

    async def session(self, user_id: str, session: SessionRow) -> None:
        """A session of ``user_id`` was created or changed."""


class NullBus:
    """A bus that publishes nowhere (for tools and tests)."""

    async def message(self, session_id: str, message: MessageRow) -> None:
        return None

    async def delta(
        self, session_id: str, message_id: str, chunk: int, text: str, ops: list[Op]
    ) -> None:
        return None

    async def session(self, user_id: str, session: SessionRow) -> None:
        return None
