"""tether.cluster.fanout.FanoutRepair and ``session`` events: an update of a session (its
``running`` flag) that other nodes may not have heard is published again once they can, since a
session list has no seq to notice a gap with (issue 12 section 1, found by the fault test)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import socketio

from tests.unit.test_fanout_repair import FlakyPing, follower, server
from tether.cluster import fanout
from tether.cluster.fanout import FanoutRepair
from tether.cluster.names import user_room

__all__ = ["server"]  # the fixture


def session_event(session_id: str, running: bool) -> dict[str, Any]:
    """What python-socketio's pub/sub manager publishes for a ``session`` event."""
    return {"method": "emit", "event": "session", "namespace": "/", "room": user_room("u1"),
            "data": [{"session": {"id": session_id, "running": running}}]}


@pytest.fixture(autouse=True)
def quick(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fanout, "RETRY_MAX", 0.2)  # nodes' listeners are back within 0.2 s


async def test_a_session_update_whose_publish_failed_is_sent_again_once_redis_answers(
    server: socketio.AsyncServer,
) -> None:
    sock = await follower(server, "a", user_room("u1"))
    ping = FlakyPing(failures=2)
    repair = FanoutRepair(server.manager, ping)
    repair.publish_failed(session_event("s1", running=True))
    repair.publish_failed(session_event("s1", running=False))  # the latest state counts
    assert await sock.events(1) == [["session", {"session": {"id": "s1", "running": False}}]]
    assert ping.calls == 3
    await asyncio.sleep(0.5)
    await repair.stop()
    assert sock.queue.empty()


async def test_a_session_update_published_as_redis_came_back_is_sent_again(
    server: socketio.AsyncServer,
) -> None:
    sock = await follower(server, "a", user_room("u1"))
    repair = FanoutRepair(server.manager, FlakyPing(failures=0))
    repair.publish_failed({"method": "emit", "room": "elsewhere"})
    repair.published(session_event("s1", running=False))  # Redis is back: others may be deaf
    assert await sock.events(1) == [["session", {"session": {"id": "s1", "running": False}}]]
    await asyncio.sleep(0.5)
    repair.published(session_event("s2", running=False))  # long after: heard by everyone
    await asyncio.sleep(0.8)
    await repair.stop()
    assert sock.queue.empty()
