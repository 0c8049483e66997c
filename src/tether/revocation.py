"""Revoked tokens lose their open connections, on every node.

``tether token revoke`` is another process and may run beside any number of nodes, so each node
asks the database every ``token_recheck_seconds`` which of its connections' tokens still exist
(one query for all of them) and disconnects the connections whose token is gone. It needs no
broker, so it works on a single node and on a cluster alike; the price is up to one interval of
delay and one small query per interval per node.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Protocol

from tether.accounts import Accounts

log = logging.getLogger("tether.revocation")


class TokenHolder(Protocol):
    """What the watch needs of a connection: the hash of the token it signed in with (None in
    local mode, which has no token to revoke)."""

    @property
    def token_hash(self) -> str | None: ...


class TokenWatch:
    def __init__(
        self,
        accounts: Accounts,
        connections: Mapping[str, TokenHolder],
        disconnect: Callable[[str], Awaitable[None]],
        interval: float,
    ) -> None:
        self.accounts = accounts
        self.connections = connections
        self.disconnect = disconnect
        self.interval = interval
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.check()
            except Exception as exc:  # storage down: try again next interval
                log.warning("token recheck failed: %s", exc)

    async def check(self) -> int:
        """Disconnect every connection whose token no longer exists; how many."""
        held = {sid: c.token_hash for sid, c in self.connections.items() if c.token_hash}
        existing = await self.accounts.existing(set(held.values()))
        revoked = [sid for sid, token_hash in held.items() if token_hash not in existing]
        for token_hash in set(held.values()) - existing:
            self.accounts.forget(token_hash)
        for sid in revoked:
            log.info("[SocketIO] token revoked: closing sid=%s", sid)
            await self.disconnect(sid)
        return len(revoked)
