"""How a cancel reaches the process that runs the session."""

from __future__ import annotations

from typing import Protocol


class CancelChannel(Protocol):
    """The cluster seam's cancel (tether.cluster): calls every process's
    ``RunManager.cancel_here`` (registered with its ``on_cancel``) until one says it
    cancelled the session's run."""

    async def cancel(self, session_id: str) -> bool:
        """True once the session's run, wherever it runs, has ended ``cancelled``; False when
        no process runs one (waiting a bounded time for an answer)."""
        ...
