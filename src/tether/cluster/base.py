"""The cluster seam: what one process needs to take part in a deployment of one or more nodes.

Two implementations keep the same contract (tests/cluster/test_contract.py runs one suite over
both): :class:`tether.cluster.local.LocalCluster` for a single process, and
:class:`tether.cluster.redis.RedisCluster` for several nodes sharing a Redis. Nothing outside
this package asks which one it has.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from tether.streams import LocalStreams

#: Cancels the run of a session if this process runs it: True once its message has ended
#: ``cancelled``, False when this process runs nothing there (the runs side's ``cancel_here``).
CancelHandler = Callable[[str], Awaitable[bool]]


class ClientRegistry(Protocol):
    """Which socket holds each (user, client_id), for takeover: a new connection with the same
    client_id replaces the older one, wherever that one is connected."""

    async def claim(self, key: str, sid: str) -> str | None:
        """Make ``sid`` the holder of ``key``; the sid that held it before (to disconnect),
        or None."""

    async def release(self, key: str, sid: str) -> None:
        """Forget ``key``, but only if ``sid`` still holds it (a takeover may have moved it)."""


class NewsListener(Protocol):
    """Who hears a news channel (:meth:`Cluster.news`); called in the event loop, must not
    block."""

    def heard(self, text: str) -> None:
        """One message told on the channel by any member, this one included."""

    def forget_all(self) -> None:
        """Listening (re)started: whatever was told while this member was not listening is
        not replayed, so whatever the listener believes from before may be stale."""


class News(Protocol):
    """One member's end of a news channel: short messages told to every member. Delivery is at
    most once, to the members listening when it is told; nothing is kept for a member that was
    not listening, hence :attr:`listening` and :meth:`NewsListener.forget_all`."""

    @property
    def listening(self) -> bool:
        """True while this member hears every message told on the channel; a belief formed
        while False may already be stale."""

    async def tell(self, text: str) -> None:
        """Tell every member (best effort: a failure is logged, not raised)."""


class NewsChannels(Protocol):
    """Where news channels are opened (every :class:`Cluster`)."""

    def news(self, name: str, listener: NewsListener) -> News:
        """Open the channel ``name`` for ``listener``: it hears each message told on that
        channel by any member while this member listens, and ``forget_all`` each time
        listening (re)starts. May be called before or after :meth:`Cluster.start`."""


class Cluster(NewsChannels, Protocol):
    """One process's part in the deployment."""

    @property
    def single_process(self) -> bool:
        """True when no other process shares the database: every claim found at start is
        stale."""

    @property
    def manager(self) -> Any:
        """python-socketio's client manager (``AsyncServer(client_manager=...)``)."""

    @property
    def streams(self) -> LocalStreams:
        """Live text of streaming messages, as every node sees it."""

    @property
    def clients(self) -> ClientRegistry:
        """The client_id registry."""

    def probes(self) -> dict[str, Callable[[], Awaitable[object]]]:
        """Readiness checks beyond the database, by name (each raises when not ready)."""

    def on_cancel(self, handler: CancelHandler) -> None:
        """Who answers cancel requests in this process (set once, before :meth:`start`)."""

    async def cancel(self, session_id: str) -> bool:
        """Cancel the session's run on whichever process runs it; True when one was
        cancelled (its message has ended ``cancelled``), False when none runs it. Bounded:
        returns within a few seconds."""

    async def start(self) -> None:
        """Start background work (listeners); called once the event loop runs."""

    async def stop(self) -> None:
        """Stop every background task and close connections."""
