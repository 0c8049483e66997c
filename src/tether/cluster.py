"""Several nodes over Redis: python-socketio's Redis manager for fan-out (with hooks that say
when it may have missed someone), cancel relayed to the node running a session, and a shared
client_id registry for takeover across nodes.

Fan-out stays python-socketio's: ``AsyncRedisManager`` delivers to local sockets, then publishes
for the others. When a publish fails it only logs, and while a node's listener is cut off it
misses what others publish; either way some followers miss a change and, if the session then
goes quiet, would never notice the gap. The hooks below turn both into ``resync`` events once
Redis answers again, so the clients subscribe again with their ``last_seq``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import socketio

from tether.delivery import BroadcastManager
from tether.protocol import Event

log = logging.getLogger("tether.cluster")

SESSION_ROOM = "s:"
RETRY_MAX = 5.0


class TrackedRedisManager(socketio.AsyncRedisManager, BroadcastManager):  # type: ignore[misc]
    """``AsyncRedisManager`` that reports failed publishes and listener reconnects; local
    delivery (its ``super().emit``) is :class:`tether.delivery.BroadcastManager`'s."""

    def __init__(
        self,
        url: str,
        channel: str,
        on_publish_failed: Callable[[dict[str, Any]], None],
        on_listen_restored: Callable[[], None],
    ) -> None:
        super().__init__(url, channel=channel)
        self.on_publish_failed = on_publish_failed
        self.on_listen_restored = on_listen_restored

    async def _publish(self, data: dict[str, Any]) -> Any:
        if not self.connected:
            self._redis_connect()
        for attempt in range(2):
            try:
                return await self.redis.publish(self.channel, self.json.dumps(data))
            except Exception as exc:
                if attempt:
                    log.error("cannot publish to Redis: %s", exc)
                    self.on_publish_failed(data)
                    return None
        return None

    async def _redis_listen_with_retries(self) -> AsyncIterator[Any]:
        delay, lost = 0.25, False
        while True:
            try:
                self._redis_connect()
                await self.pubsub.subscribe(self.channel)
                if lost:
                    log.warning("Redis fan-out listener is back")
                    self.on_listen_restored()
                lost, delay = False, 0.25
                async for message in self.pubsub.listen():
                    yield message
            except Exception as exc:
                if not lost:
                    log.error("Redis fan-out listener lost: %s", exc)
                lost = True
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX)


class FanoutRepair:
    """Sends ``resync`` where fan-out may have dropped a change, once Redis answers again."""

    def __init__(self, sio: socketio.AsyncServer, ping: Callable[[], Awaitable[Any]]) -> None:
        self.sio = sio
        self.ping = ping
        self.missed: set[str] = set()  # sessions whose change did not reach other nodes
        self.local_lost = False  # this node's listener was cut off
        self._task: asyncio.Task[None] | None = None

    def publish_failed(self, data: dict[str, Any]) -> None:
        room = data.get("room")
        if isinstance(room, str) and room.startswith(SESSION_ROOM):
            self.missed.add(room.removeprefix(SESSION_ROOM))
        self._schedule()

    def listen_restored(self) -> None:
        self.local_lost = True
        self._schedule()

    def _schedule(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._repair())

    async def _repair(self) -> None:
        delay = 0.25
        while self.missed or self.local_lost:
            try:
                await self.ping()
            except Exception:
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX)
                continue
            if self.local_lost:
                self.local_lost = False
                rooms = list(self.sio.manager.rooms.get("/", {}))
                for room in rooms:
                    if isinstance(room, str) and room.startswith(SESSION_ROOM):
                        await self._resync(room, "fan-out listener reconnected", local=True)
            while self.missed:
                session_id = self.missed.pop()
                await self._resync(SESSION_ROOM + session_id, "fan-out publish failed")

    async def _resync(self, room: str, reason: str, *, local: bool = False) -> None:
        session_id = room.removeprefix(SESSION_ROOM)
        log.warning("resync session %s: %s", session_id, reason)
        await self.sio.emit(
            Event.RESYNC, {"session_id": session_id, "reason": reason},
            room=room, ignore_queue=local,
        )


class RedisControl:
    """Relays ``cancel`` to whichever node runs the session: a request with a reply id goes
    to every node, each calls its handler (``RunManager.cancel_here``), the one that
    cancelled the run publishes the reply, and the requester waits (bounded) for it."""

    #: How long a requester waits for a node to report the run cancelled (the handler itself
    #: waits up to tether.runs.CANCEL_WAIT for the answer to end).
    REPLY_WAIT = 6.0

    def __init__(self, redis: Any, prefix: str) -> None:
        self.redis = redis
        self.channel = f"{prefix}:control"
        self._handler: Callable[[str], Awaitable[bool]] | None = None
        self._waiting: dict[str, asyncio.Future[bool]] = {}
        self._handling: set[asyncio.Task[None]] = set()
        self._task: asyncio.Task[None] | None = None

    def on_cancel(self, handler: Callable[[str], Awaitable[bool]]) -> None:
        self._handler = handler

    async def cancel(self, session_id: str) -> bool:
        reply = uuid.uuid4().hex
        waiter: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiting[reply] = waiter
        try:
            await self.redis.publish(
                self.channel, json.dumps({"cancel": session_id, "reply": reply})
            )
            async with asyncio.timeout(self.REPLY_WAIT):
                return await waiter
        except TimeoutError:
            return False
        finally:
            self._waiting.pop(reply, None)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._listen())

    async def stop(self) -> None:
        for task in [self._task, *self._handling]:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def _handle(self, session_id: str, reply: str) -> None:
        if self._handler is not None and await self._handler(session_id):
            await self.redis.publish(self.channel, json.dumps({"cancelled": reply}))

    async def _listen(self) -> None:
        delay = 0.25
        while True:
            pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.channel)
                delay = 0.25
                async for message in pubsub.listen():
                    data = json.loads(message["data"])
                    if "cancel" in data:
                        # Handled aside: a handler waits for its run to end.
                        task = asyncio.create_task(
                            self._handle(str(data["cancel"]), str(data.get("reply")))
                        )
                        self._handling.add(task)
                        task.add_done_callback(self._handling.discard)
                    elif (waiter := self._waiting.get(str(data.get("cancelled")))) is not None:
                        if not waiter.done():
                            waiter.set_result(True)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("control channel lost: %s", exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()


class LocalClients:
    """Which socket holds each (user, client_id), in this process."""

    def __init__(self) -> None:
        self._sids: dict[str, str] = {}

    async def claim(self, key: str, sid: str) -> str | None:
        previous = self._sids.get(key)
        self._sids[key] = sid
        return previous

    async def release(self, key: str, sid: str) -> None:
        if self._sids.get(key) == sid:  # a takeover has already moved it
            del self._sids[key]


_RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end"


class RedisClients:
    """The same registry shared by every node, so a takeover works across nodes."""

    def __init__(self, redis: Any, prefix: str, ttl: int = 86_400) -> None:
        self.redis = redis
        self.prefix = prefix
        self.ttl = ttl

    async def claim(self, key: str, sid: str) -> str | None:
        try:
            previous = await self.redis.set(f"{self.prefix}:client:{key}", sid, ex=self.ttl,
                                            get=True)
        except Exception as exc:
            log.warning("client registry unavailable: %s", exc)
            return None
        if previous is None:
            return None
        return previous.decode() if isinstance(previous, bytes) else str(previous)

    async def release(self, key: str, sid: str) -> None:
        with contextlib.suppress(Exception):
            await self.redis.eval(_RELEASE, 1, f"{self.prefix}:client:{key}", sid)
