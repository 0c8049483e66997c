"""Direct WebSocket frames (tether.edge.frames, tether.delivery) through a real ``tether serve``:
a client without extensions and one with permessage-deflate (what browsers negotiate) both get
every event of a session, in order and intact, from the writer (acks) and from broadcasts written
at once (the session's events and deltas); an idle client's PINGs are written directly too."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect

from tests.live.edge_support import join, server_with
from tests.support.server import ServerProcess

served = server_with({"TETHER_ECHO_DELAY": "0.001"})


async def call(ws: ClientConnection, ack: int, event: str, data: dict[str, Any],
               events: list[Any]) -> Any:
    """Emit ``event`` with ack id ``ack``; return its answer, keeping other events in order."""
    await ws.send(f"42{ack}" + orjson.dumps([event, data]).decode())
    while True:
        message = await asyncio.wait_for(ws.recv(), 10)
        assert isinstance(message, str)
        if message == "2":
            await ws.send("3")
        elif message.startswith(f"43{ack}["):
            return orjson.loads(message[len(f"43{ack}"):])[0]
        elif message.startswith("42["):
            events.append(orjson.loads(message[2:]))


@pytest.mark.parametrize("compression", [None, "deflate"])
async def test_every_event_arrives_in_order_with_and_without_deflate(
    served: ServerProcess, compression: str | None
) -> None:
    url = f"ws://127.0.0.1:{served.port}/socket.io/?EIO=4&transport=websocket"
    async with connect(url, compression=compression, max_size=2**22) as ws:
        negotiated = ws.response.headers.get("Sec-WebSocket-Extensions") if ws.response else None
        assert ("permessage-deflate" in (negotiated or "")) == (compression == "deflate")
        assert (await asyncio.wait_for(ws.recv(), 10)).startswith("0{")
        await join(ws, f"frames-{uuid.uuid4().hex[:8]}")
        events: list[Any] = []
        created = await call(ws, 1, "create_session", {"id": str(uuid.uuid4())}, events)
        session_id = created["session"]["id"]
        subscribed = await call(ws, 2, "subscribe", {"session_id": session_id}, events)
        assert subscribed["ok"], subscribed
        words = " ".join(f"w{i}" for i in range(300))  # a long answer: frames past 125 bytes
        sent = await call(ws, 3, "send", {"session_id": session_id, "client_msg_id": "m1",
                                          "content": words}, events)
        assert sent["ok"], sent
        async with asyncio.timeout(20):
            while not any(e[0] == "message" and e[1]["message"]["role"] == "assistant"
                          and e[1]["message"]["status"] == "complete" for e in events):
                message = await ws.recv()
                assert isinstance(message, str)
                if message == "2":
                    await ws.send("3")
                elif message.startswith("42["):
                    events.append(orjson.loads(message[2:]))
    deltas = [e[1] for e in events if e[0] == "delta"]
    assert [d["chunk"] for d in deltas] == list(range(len(deltas)))  # in order, none missing
    final = next(e[1]["message"] for e in events if e[0] == "message"
                 and e[1]["message"]["role"] == "assistant" and e[1]["message"]["status"]
                 == "complete")
    assert "".join(d["text"] for d in deltas) == final["content"]
    assert words in final["content"]


pinging = server_with({"TETHER_PING_INTERVAL": "1", "TETHER_PING_TIMEOUT": "1"})


@pytest.mark.parametrize("compression", [None, "deflate"])
async def test_an_idle_client_is_pinged_through_its_frames_and_stays(
    pinging: ServerProcess, compression: str | None
) -> None:
    # An idle connection's writer is parked: its PINGs are written directly (tether.edge.pings),
    # as one prebuilt frame without extensions and through the deflate encoder with it.
    url = f"ws://127.0.0.1:{pinging.port}/socket.io/?EIO=4&transport=websocket"
    async with connect(url, compression=compression) as ws:
        assert (await asyncio.wait_for(ws.recv(), 10)).startswith("0{")
        await join(ws, f"pings-{uuid.uuid4().hex[:8]}")
        pings = 0
        async with asyncio.timeout(15):
            while pings < 3:
                message = await ws.recv()
                if message == "2":
                    pings += 1
                    await ws.send("3")
        heartbeat = await call(ws, 1, "heartbeat", {}, [])
        assert "server_time" in heartbeat, heartbeat
