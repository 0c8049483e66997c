"""Fan-out over Redis: python-socketio's ``AsyncRedisManager``, told when it may have missed
someone, and the repair that follows.

Fan-out stays python-socketio's: the manager delivers to local sockets, then publishes for the
other nodes. When a publish fails it only logs, and while a node's listener is cut off it misses
what others publish; either way some followers miss a change and, if the session then goes
quiet, would never notice the gap. :class:`FanoutRepair` turns both into ``resync`` events once
Redis answers again, so the clients subscribe again with their ``last_seq``.

Two private methods of python-socketio 5.18.1 are overridden here (there is no public hook for
either); the version is pinned and tests/unit/test_upstream_shapes.py fails the moment an
upgrade changes the code they stand in for.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import socketio
from tenacity import AsyncRetrying, retry_if_exception_type, wait_exponential

from tether.cluster.names import session_of_room, session_room
from tether.delivery import BroadcastManager
from tether.protocol import Event
from tether.tasks import TaskOwner

log = logging.getLogger("tether.cluster")

RETRY_FIRST = 0.25
RETRY_MAX = 5.0


def backoff() -> wait_exponential:
    """The wait between attempts to reach Redis again: 0.25 s, doubling, at most 5 s."""
    return wait_exponential(multiplier=RETRY_FIRST, max=RETRY_MAX)


class FanoutRepair:
    """Sends ``resync`` where fan-out may have dropped a change, once Redis answers again."""

    def __init__(self, manager: socketio.AsyncManager, ping: Callable[[], Awaitable[Any]]) -> None:
        self.manager = manager
        self.ping = ping
        self.missed: set[str] = set()  # sessions whose change did not reach other nodes
        # The last ``session`` event of each session that did not reach the other nodes (its
        # ``running`` flag, above all): published again once Redis answers. A ``resync`` would
        # not do: it goes to the session's followers, and a session list follows none.
        self.unsent_sessions: dict[str, dict[str, Any]] = {}
        # Until this loop time, Redis has only just come back and other nodes' listeners may
        # still be reconnecting: session updates published meanwhile are sent again as well.
        self.echo_until = -1.0
        self._lost = False
        self.local_lost = False  # this node's listener was cut off
        self._tasks = TaskOwner("fanout-repair")

    def published(self, data: dict[str, Any]) -> None:
        """Redis took a publish: the first after a failure means it is back (and other nodes
        may not hear yet); a session update then is sent again, else a later state of a
        session leaves nothing older to send again."""
        if self._lost:
            self._lost = False
            self._echo()
        if (session_id := _session_event_of(data)) is None:
            return
        if asyncio.get_running_loop().time() < self.echo_until:
            self.unsent_sessions[session_id] = data
            self._schedule()
        else:
            self.unsent_sessions.pop(session_id, None)

    def _echo(self) -> None:
        self.echo_until = asyncio.get_running_loop().time() + RETRY_MAX + 1

    def publish_failed(self, data: dict[str, Any]) -> None:
        self._lost = True
        if (of_session := _session_event_of(data)) is not None:
            log.warning("an update of session %s did not reach the other nodes", of_session)
            self.unsent_sessions[of_session] = data
        session_id = session_of_room(data.get("room"))
        if session_id is not None:
            log.warning("a change of session %s did not reach the other nodes", session_id)
            self.missed.add(session_id)
        self._schedule()

    def listen_restored(self) -> None:
        self.local_lost = True
        self._echo()
        self._schedule()

    def _schedule(self) -> None:
        if not self._tasks.running:
            self._tasks.spawn(self._repair(), name="repair")

    async def _repair(self) -> None:
        while self.missed or self.local_lost or self.unsent_sessions:
            await AsyncRetrying(wait=backoff(), retry=retry_if_exception_type(Exception))(
                self.ping
            )
            if self.local_lost:
                self.local_lost = False
                for room in list(self.manager.rooms.get("/", {})):
                    session_id = session_of_room(room)
                    if session_id is not None:
                        await self._resync(session_id, "fan-out listener reconnected", local=True)
            while self.missed:
                await self._resync(self.missed.pop(), "fan-out publish failed")
            if self.unsent_sessions:
                # Not before every node's listener is back (each tries again at least every
                # RETRY_MAX seconds): a node still deaf would miss this one too, and a session
                # list has no gap to notice.
                await asyncio.sleep(RETRY_MAX + 1)
            # Taken at once: one sent again inside the echo window comes back for the next turn.
            unsent, self.unsent_sessions = self.unsent_sessions, {}
            for data in unsent.values():
                log.warning("session update sent again: %s", data["room"])
                await self.manager.emit(Event.SESSION, data["data"][0], "/", room=data["room"])

    async def _resync(self, session_id: str, reason: str, *, local: bool = False) -> None:
        log.warning("resync session %s: %s", session_id, reason)
        await self.manager.emit(
            Event.RESYNC, {"session_id": session_id, "reason": reason}, "/",
            room=session_room(session_id), ignore_queue=local,
        )

    async def stop(self) -> None:
        await self._tasks.close()


def _session_event_of(data: dict[str, Any]) -> str | None:
    """The session a published ``session`` event is about, or None for any other message."""
    if data.get("method") != "emit" or data.get("event") != Event.SESSION:
        return None
    args = data.get("data")  # the event's arguments: [{"session": {...}}]
    payload = args[0] if isinstance(args, list) and args else None
    session = payload.get("session") if isinstance(payload, dict) else None
    return str(session["id"]) if isinstance(session, dict) and "id" in session else None


class TrackedRedisManager(socketio.AsyncRedisManager, BroadcastManager):  # type: ignore[misc]
    """``AsyncRedisManager`` that reports failed publishes and listener reconnects to its
    :class:`FanoutRepair`; local delivery (its ``super().emit``) is
    :class:`tether.delivery.BroadcastManager`'s."""

    def __init__(self, url: str, channel: str, ping: Callable[[], Awaitable[Any]]) -> None:
        super().__init__(url, channel=channel)
        self.repair = FanoutRepair(self, ping)

    async def _publish(self, data: dict[str, Any]) -> Any:
        # Upstream's own publish (two attempts, reconnecting in between); it returns Redis's
        # answer, an int, on success and None once it gives up: the only sign of a failure.
        result = await super()._publish(data)
        if result is None:
            self.repair.publish_failed(data)
        else:
            self.repair.published(data)
        return result

    async def _redis_listen_with_retries(self) -> AsyncIterator[Any]:
        # Upstream's loop with two changes: a reconnect after a loss calls the repair (the
        # listener missed what was published meanwhile), and the waits are 0.25 s .. 5 s, not
        # 1 s .. 60 s, so a node hears the others again within seconds of Redis coming back.
        # A generator that yields between attempts, so not a tenacity retry.
        delay, lost = RETRY_FIRST, False
        while True:
            try:
                self._redis_connect()
                await self.pubsub.subscribe(self.channel)
                if lost:
                    log.warning("Redis fan-out listener is back")
                    self.repair.listen_restored()
                lost, delay = False, RETRY_FIRST
                async for message in self.pubsub.listen():
                    yield message
            except Exception as exc:
                if not lost:
                    log.error("Redis fan-out listener lost: %s", exc)
                lost = True
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX)

    async def stop(self) -> None:
        """End the listener task python-socketio started (it never ends it itself) and the
        repair, then close the connection."""
        thread = getattr(self, "thread", None)  # set by initialize(), at the first connection
        if isinstance(thread, asyncio.Task):
            thread.cancel()
            await asyncio.gather(thread, return_exceptions=True)
        await self.repair.stop()
        if self.redis is not None:
            await self.redis.aclose()
