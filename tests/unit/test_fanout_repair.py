"""tether.cluster.fanout.FanoutRepair: where fan-out may have dropped a change, the followers get
``resync`` once Redis answers again (python-socketio's real server and manager, fake sockets)."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest
import socketio

from tether import jsoncodec
from tether.cluster.fanout import FanoutRepair
from tether.cluster.names import session_room, user_room
from tether.delivery import BroadcastManager, TextPacket


class FakeEioSocket:
    def __init__(self) -> None:
        self.queue: asyncio.Queue[Any] = asyncio.Queue()
        self.closed = False

    async def events(self, count: int) -> list[Any]:
        out = []
        async with asyncio.timeout(5):
            for _ in range(count):
                out.append(orjson.loads((await self.queue.get()).encode()[2:]))
        return out


class FlakyPing:
    """A Redis ping that fails ``failures`` times, then answers (the hook)."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0

    async def __call__(self) -> bool:
        self.calls += 1
        if self.calls <= self.failures:
            raise ConnectionError("Redis is away")
        return True


@pytest.fixture
def server() -> socketio.AsyncServer:
    return socketio.AsyncServer(async_mode="asgi", client_manager=BroadcastManager(),
                                serializer=TextPacket, json=jsoncodec)


async def follower(server: socketio.AsyncServer, eio_sid: str, *rooms: str) -> FakeEioSocket:
    sock = FakeEioSocket()
    server.eio.sockets[eio_sid] = sock
    sid = await server.manager.pre_connect(eio_sid, "/")
    await server.manager.connect(sid, "/")
    for room in rooms:
        await server.enter_room(sid, room)
    return sock


async def test_a_failed_publish_resyncs_that_session_once_redis_answers(
    server: socketio.AsyncServer,
) -> None:
    a = await follower(server, "a", session_room("s1"), user_room("u1"))
    b = await follower(server, "b", session_room("s2"))
    ping = FlakyPing(failures=2)
    repair = FanoutRepair(server.manager, ping)
    repair.publish_failed({"method": "emit", "room": session_room("s1")})
    repair.publish_failed({"method": "emit", "room": user_room("u1")})  # no session: no resync
    assert await a.events(1) == [["resync", {"session_id": "s1",
                                             "reason": "fan-out publish failed"}]]
    assert ping.calls == 3  # waited for Redis before telling anyone
    await repair.stop()
    assert a.queue.empty() and b.queue.empty()


async def test_a_listener_that_was_cut_off_resyncs_every_session_followed_here(
    server: socketio.AsyncServer,
) -> None:
    a = await follower(server, "a", session_room("s1"), session_room("s2"))
    b = await follower(server, "b", session_room("s2"), user_room("u1"))
    repair = FanoutRepair(server.manager, FlakyPing(failures=0))
    repair.listen_restored()
    reason = "fan-out listener reconnected"
    got_a = sorted(e[1]["session_id"] for e in await a.events(2))
    assert got_a == ["s1", "s2"]
    assert await b.events(1) == [["resync", {"session_id": "s2", "reason": reason}]]
    await repair.stop()
    assert a.queue.empty() and b.queue.empty()


async def test_stop_cancels_a_repair_still_waiting_for_redis(
    server: socketio.AsyncServer,
) -> None:
    ping = FlakyPing(failures=10**6)
    repair = FanoutRepair(server.manager, ping)
    repair.publish_failed({"method": "emit", "room": session_room("s1")})
    async with asyncio.timeout(5):
        while ping.calls < 2:  # noqa: ASYNC110 - the ping is the only sign of progress
            await asyncio.sleep(0.05)
    before = {t for t in asyncio.all_tasks() if "fanout-repair" in t.get_name()}
    assert before
    await repair.stop()
    assert all(t.done() for t in before)
