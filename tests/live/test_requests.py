"""Every request and event of PROTOCOL.md sections 2-5 against a real server."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from tests.support.client import Client
from tests.support.server import start_server


async def test_hello_follows_connect(client: Client) -> None:
    hello = client.hello
    assert hello is not None
    assert hello["protocol"] == 1
    assert hello["user"]["name"] == "local" and hello["user"]["id"]
    assert hello["limits"] == {
        "max_message_chars": 32000, "history_limit": 15, "max_resume": 1000,
        "ping_interval": 25_000, "ping_timeout": 20_000,  # Engine.IO's defaults, in ms
    }
    assert {"name": "echo", "kind": "echo"} in hello["agents"]
    assert hello["default_agent"] == "echo"
    assert client.events[0][0] == "hello"


async def test_session_lifecycle_reaches_every_socket_of_the_user(
    clients: Callable[..., Client],
) -> None:
    a, b = clients(), clients()
    await a.connect()
    await b.connect()
    sid = str(uuid.uuid4())
    created = await a.ok("create_session", {"id": sid, "title": "Plans"})
    session = created["session"]
    assert session["id"] == sid and session["title"] == "Plans" and session["agent"] == "echo"
    assert session["head_seq"] == 0 and not session["running"] and not session["archived"]
    again = await a.ok("create_session", {"id": sid, "title": "ignored"})
    assert again["session"] == session
    await b.wait_for(lambda: [s for s in b.of("session") if s["session"]["id"] == sid])
    updated = await b.ok("update_session", {"session_id": sid, "title": "Trips", "archived": True})
    assert updated["session"]["title"] == "Trips" and updated["session"]["archived"]
    await a.wait_for(
        lambda: [s for s in a.of("session") if s["session"]["title"] == "Trips"], what="rename"
    )
    listed = await a.ok("list_sessions", {"limit": 200})
    assert sid in [s["id"] for s in listed["sessions"]]


async def test_list_sessions_paging(client: Client) -> None:
    ids = [await client.new_session(title=f"p{i}") for i in range(3)]
    first = await client.ok("list_sessions", {"limit": 2})
    assert [s["id"] for s in first["sessions"]] == [ids[2], ids[1]] and first["has_more"]
    rest = await client.ok(
        "list_sessions", {"limit": 1, "before": first["sessions"][-1]["updated_at"]}
    )
    assert [s["id"] for s in rest["sessions"]] == [ids[0]]


async def test_send_streams_an_echo_and_is_idempotent(client: Client) -> None:
    sid = await client.new_session()
    await client.ok("subscribe", {"session_id": sid})
    ack = await client.send(sid, "hello brave new world", client_msg_id="msg-1")
    message = ack["message"]
    assert not ack["duplicate"]
    assert (message["role"], message["status"], message["seq"], message["position"]) == (
        "user", "complete", 1, 1,
    )
    assert message["client_msg_id"] == "msg-1" and message["content"] == "hello brave new world"
    [final] = await client.wait_status(sid, "complete")
    assert final["content"] == "Echo: hello brave new world"
    assert final["reply_to"] == message["id"]
    # Live events: the user message (seq 1), the streaming assistant (2), deltas, the end (3).
    assert [m["seq"] for m in client.messages(sid)] == [1, 2, 3]
    deltas = client.of("delta", sid)
    assert [d["chunk"] for d in deltas] == list(range(len(deltas)))
    assert "".join(d["text"] for d in deltas) == final["content"]
    assert final["chunks"] == len(deltas)
    again = await client.send(sid, "hello brave new world", client_msg_id="msg-1")
    assert again["duplicate"] and again["message"] == message
    assert len(client.messages(sid)) == 3  # the duplicate started nothing


async def test_subscribe_recent_respects_limit_and_history_pages_back(client: Client) -> None:
    sid = await client.new_session()
    await client.ok("subscribe", {"session_id": sid})
    for i in range(4):
        await client.send(sid, f"m{i}")
    await client.wait_status(sid, "complete", count=4)
    ack = await client.ok("subscribe", {"session_id": sid, "limit": 3})
    assert ack["mode"] == "recent" and ack["head_seq"] == 12
    assert [m["position"] for m in ack["messages"]] == [6, 7, 8]
    older = await client.ok("history", {"session_id": sid, "before_position": 6, "limit": 4})
    assert [m["position"] for m in older["messages"]] == [2, 3, 4, 5] and older["has_more"]
    oldest = await client.ok("history", {"session_id": sid, "before_position": 2})
    assert [m["position"] for m in oldest["messages"]] == [1] and not oldest["has_more"]


async def test_repeated_subscribe_answers_in_full(client: Client) -> None:
    sid = await client.new_session()
    await client.ok("subscribe", {"session_id": sid})
    await client.send(sid, "one")
    await client.wait_status(sid, "complete")
    for _ in range(2):  # never skipped as "already subscribed"
        ack = await client.ok("subscribe", {"session_id": sid, "after_seq": 0})
        assert ack["mode"] == "resume" and [m["seq"] for m in ack["messages"]] == [1, 3]


async def test_unsubscribe_stops_live_events(clients: Callable[..., Client]) -> None:
    a, b = clients(), clients()
    await a.connect()
    await b.connect()
    sid = await a.new_session()
    await b.ok("subscribe", {"session_id": sid})
    assert await b.ok("unsubscribe", {"session_id": sid}) == {"ok": True}
    await a.ok("subscribe", {"session_id": sid})
    await a.send(sid, "quiet")
    await a.wait_status(sid, "complete")
    assert b.of("message", sid) == [] and b.of("delta", sid) == []


async def test_heartbeat(client: Client) -> None:
    ack = await client.ok("heartbeat", {})
    assert isinstance(ack["server_time"], float)
    assert (await client.ok("heartbeat"))["server_time"] >= ack["server_time"]


async def test_polling_transport_works_too(clients: Callable[..., Client]) -> None:
    c = clients()
    await c.connect(transports=["polling"])
    sid = await c.new_session()
    await c.ok("subscribe", {"session_id": sid})
    await c.send(sid, "over polling")
    [final] = await c.wait_status(sid, "complete")
    assert final["content"] == "Echo: over polling"


@contextlib.asynccontextmanager
async def connected_with_pings(tmp_path: Path, interval: str, timeout: str
                               ) -> AsyncIterator[Client]:
    """A client connected to a server of its own with these ping settings (seconds)."""
    srv = start_server(tmp_path / "data",
                       {"TETHER_PING_INTERVAL": interval, "TETHER_PING_TIMEOUT": timeout})
    client = Client(srv.url)
    try:
        await client.connect()
        assert client.hello is not None
        yield client
    finally:
        await client.close()
        srv.stop()


async def test_hello_carries_the_servers_real_ping_settings_in_ms(tmp_path: Path) -> None:
    async with connected_with_pings(tmp_path, "3", "2.5") as client:
        assert client.hello is not None
        limits = client.hello["limits"]
        assert (limits["ping_interval"], limits["ping_timeout"]) == (3000, 2500)
        # The same as Engine.IO's own handshake told the client (which keeps seconds).
        eio = client.sio.eio
        assert (eio.ping_interval * 1000, eio.ping_timeout * 1000) == (3000, 2500)


async def test_a_fractional_ping_interval_is_advertised_whole_and_keeps_clients_connected(
    tmp_path: Path,
) -> None:
    """python-engineio truncates the handshake's pingInterval to whole seconds (0.5 s became
    0 ms): a client waiting pingInterval + pingTimeout for each ping then gave up between two
    pings. The handshake now rounds up (tether.edge.pings.advertised_ping_interval)."""
    async with connected_with_pings(tmp_path, "0.5", "0.5") as client:
        assert client.hello is not None
        assert client.hello["limits"]["ping_interval"] == 500  # what the server really does
        eio = client.sio.eio
        assert eio.ping_interval * 1000 == 1000  # the handshake: whole seconds, not fewer
        # Several pings later (every 0.5 s), the client waited for each and is still here.
        await asyncio.sleep(2.5)
        assert client.sio.connected
        assert (await client.ok("heartbeat"))["server_time"]
