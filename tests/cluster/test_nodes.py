"""Several ``tether serve`` processes sharing PostgreSQL and Redis: clients cannot tell."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable

import httpx
import pytest

from tests.cluster.conftest import PrivateRedis
from tests.support.client import Client, Follower
from tests.support.faultproxy import FaultProxy
from tests.support.server import ServerProcess

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


async def test_every_node_sees_every_change_once_in_order(
    nodes: Callable[..., ServerProcess], clients: Callable[..., Client]
) -> None:
    servers = [nodes() for _ in range(3)]
    followers = [clients(url=s.url) for s in servers]
    for c in followers:
        await c.connect()
    sid = await followers[0].new_session()
    heads = [(await c.ok("subscribe", {"session_id": sid}))["head_seq"] for c in followers]
    assert heads == [0, 0, 0]
    for i, sender in enumerate(followers):  # each node takes sends, each runs answers
        await sender.send(sid, f"from node {i} with a few words to stream")
    for c in followers:
        await c.wait_status(sid, "complete", count=3, timeout=30)
    for c in followers:
        seqs = [m["seq"] for m in c.messages(sid)]
        assert seqs == list(range(1, 10)), seqs  # every change exactly once, in seq order
        by_message: dict[str, str] = {}
        for d in c.of("delta", sid):
            by_message[d["message_id"]] = by_message.get(d["message_id"], "") + d["text"]
        finals = {m["id"]: m["content"] for m in c.messages(sid) if m["status"] == "complete"}
        for message_id, text in by_message.items():
            assert finals[message_id] == text  # streams made on other nodes add up


async def test_subscribe_on_another_node_mid_stream_gets_the_snapshot(
    nodes: Callable[..., ServerProcess], clients: Callable[..., Client]
) -> None:
    a, b = nodes(), nodes()
    writer, reader = clients(url=a.url), clients(url=b.url)
    await writer.connect()
    await reader.connect()
    sid = await writer.new_session()
    await writer.ok("subscribe", {"session_id": sid})
    words = " ".join(f"w{i}" for i in range(60))
    await writer.send(sid, words)
    await writer.wait_for(lambda: len(writer.of("delta", sid)) >= 5, what="deltas on node A")
    mark = len(reader.events)
    ack = await reader.ok("subscribe", {"session_id": sid, "after_seq": 1})
    [streaming] = [m for m in ack["messages"] if m["status"] == "streaming"]
    assert streaming["chunks"] >= 5 and streaming["content"].startswith("Echo: w0")
    await reader.wait_status(sid, "complete", timeout=30)
    view = reader.view(sid, ack, since=mark)
    assert view.messages[streaming["id"]]["content"] == "Echo: " + words


async def test_cancel_from_another_node(
    nodes: Callable[..., ServerProcess], clients: Callable[..., Client]
) -> None:
    a, b = nodes(env={"TETHER_ECHO_DELAY": "0.1"}), nodes()
    on_a, on_b = clients(url=a.url), clients(url=b.url)
    await on_a.connect()
    await on_b.connect()
    sid = await on_a.new_session()
    await on_a.ok("subscribe", {"session_id": sid})
    await on_a.send(sid, " ".join(["long"] * 80))  # runs on node A
    await on_a.wait_for(lambda: len(on_a.of("delta", sid)) >= 3, what="deltas")
    assert (await on_b.ok("cancel", {"session_id": sid}))["cancelled"] is True
    [cancelled] = await on_a.wait_status(sid, "cancelled")
    assert cancelled["content"].startswith("Echo: long")


async def test_sigkill_of_the_streaming_node(
    nodes: Callable[..., ServerProcess], clients: Callable[..., Client]
) -> None:
    a = nodes(env={"TETHER_ECHO_DELAY": "0.1", "TETHER_CHECKPOINT_INTERVAL": "0.3"})
    b = nodes()
    phone, watcher = clients(url=a.url), clients(url=b.url)
    await phone.connect()
    await watcher.connect()
    sid = await phone.new_session()
    await phone.ok("subscribe", {"session_id": sid})
    await watcher.ok("subscribe", {"session_id": sid})
    await phone.send(sid, " ".join(f"w{i}" for i in range(200)))
    await watcher.wait_for(lambda: len(watcher.of("delta", sid)) >= 8, what="deltas on B")
    last_seq = max(m["seq"] for m in phone.messages(sid))
    a.kill()
    killed_at = time.monotonic()
    await phone.close()
    # The phone comes back through the load balancer, on node B, and resumes.
    back = clients(url=b.url, client_id=phone.client_id)
    await back.connect()
    ack = await back.ok("subscribe", {"session_id": sid, "after_seq": last_seq})
    assert ack["mode"] == "resume"
    [ended] = await back.wait_status(sid, "interrupted", timeout=20)
    noticed = time.monotonic() - killed_at
    assert ended["content"].startswith("Echo: w0") and ended["error"]
    assert noticed < 15, noticed
    print(f"\nnode death noticed after {noticed:.1f} s (lease 2 s)")
    await back.send(sid, "anyone there")
    done = await back.wait_status(sid, "complete", timeout=20)
    assert done[0]["content"] == "Echo: anyone there"
    await watcher.wait_status(sid, "complete", timeout=20)


async def test_takeover_across_nodes(
    nodes: Callable[..., ServerProcess], clients: Callable[..., Client]
) -> None:
    a, b = nodes(), nodes()
    old = clients(url=a.url)
    await old.connect()
    new = clients(url=b.url, client_id=old.client_id)
    await new.connect()
    await asyncio.wait_for(old.disconnected.wait(), 10)
    assert new.sio.connected


async def test_postgres_cut_under_traffic_answers_unavailable_then_recovers(
    nodes: Callable[..., ServerProcess], clients: Callable[..., Client], pg_url: str
) -> None:
    proxy = await FaultProxy("127.0.0.1", 5432).start()
    try:
        via_proxy = pg_url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
        node = await asyncio.to_thread(
            nodes, database=via_proxy, env={"TETHER_ECHO_DELAY": "0.05"}
        )
        c = clients(url=node.url)
        await c.connect()
        sid = await c.new_session()
        await c.ok("subscribe", {"session_id": sid})
        sent: list[str] = []
        outcomes: dict[str, int] = {}

        async def send_until_ok(n: int) -> None:
            cmid = f"m{n}"
            for _ in range(200):
                ack = await c.call(
                    "send", {"session_id": sid, "client_msg_id": cmid, "content": f"n{n}"}
                )
                outcome = "ok" if ack["ok"] else ack["error"]["code"]
                outcomes[outcome] = outcomes.get(outcome, 0) + 1
                if ack["ok"]:
                    sent.append(cmid)
                    return
                assert ack["error"]["code"] == "unavailable", ack
                await asyncio.sleep(0.1)
            raise AssertionError(f"message {n} never got through")

        for n in range(2):
            await send_until_ok(n)
        # The third answer is streaming when the database goes away: it must still end.
        await c.ok("send", {"session_id": sid, "client_msg_id": "m2",
                            "content": " ".join(["long"] * 40)})
        sent.append("m2")
        await c.wait_for(lambda: len(c.of("delta", sid)) > 15, what="the long answer streaming")
        proxy.sever()
        async with httpx.AsyncClient(base_url=node.url, timeout=10) as http:
            assert (await http.get("/readyz")).status_code == 503
            traffic = asyncio.gather(*(send_until_ok(n) for n in range(3, 8)))
            await asyncio.sleep(1.5)
            proxy.restore()
            await asyncio.wait_for(traffic, 30)
            assert (await http.get("/readyz")).status_code == 200
        assert outcomes.get("unavailable", 0) > 0
        assert sorted(sent) == [f"m{n}" for n in range(8)]
        await c.wait_status(sid, "complete", count=8, timeout=40)
        ack = await c.ok("subscribe", {"session_id": sid})
        users = [m for m in (await c.ok("history", {"session_id": sid, "before_position": 99,
                                                    "limit": 200}))["messages"]
                 if m["role"] == "user"]
        assert sorted(m["client_msg_id"] for m in users) == sorted(sent)  # none lost or doubled
        assert ack["head_seq"] == 8 * 3
    finally:
        await proxy.close()


async def test_redis_restart_under_traffic_loses_nothing(
    nodes: Callable[..., ServerProcess], clients: Callable[..., Client],
    private_redis: PrivateRedis,
) -> None:
    a = nodes(redis=private_redis.url)
    b = nodes(redis=private_redis.url)
    sender, remote = clients(url=a.url), clients(url=b.url)
    await sender.connect()
    await remote.connect()
    sid = await sender.new_session()
    follower = Follower(remote, sid)
    await follower.subscribe()
    await sender.send(sid, "before the restart")
    await remote.wait_for(lambda: len(follower.view.messages) == 2 and all(
        m["status"] == "complete" for m in follower.view.messages.values()), what="first answer")
    private_redis.stop()
    for i in range(3):  # stored on A; A's publishes fail while Redis is away
        await sender.send(sid, f"during the outage {i}")
    await asyncio.sleep(1.0)
    private_redis.start()
    await remote.wait_for(
        lambda: len([m for m in follower.view.messages.values()
                     if m["status"] == "complete"]) == 8,
        timeout=40, what="every message on node B after Redis came back",
    )
    assert follower.resyncs + follower.resubscribes > 1  # the gap was repaired, not luck
    contents = [m["content"] for m in follower.view.ordered() if m["role"] == "user"]
    assert contents == ["before the restart"] + [f"during the outage {i}" for i in range(3)]
    assert len(set(follower.view.applied)) == len(follower.view.applied)  # nothing twice
    head = (await sender.ok("subscribe", {"session_id": sid}))["head_seq"]
    assert follower.view.last_seq == head == 12
    assert str(uuid.UUID(sid)) == sid  # the server's session id is a canonical UUID
    assert {m["session_id"] for m in follower.view.messages.values()} == {sid}
