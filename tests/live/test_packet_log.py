"""Malformed packets cannot flood the log: one line each, a few per second at most."""

from __future__ import annotations

import asyncio

import orjson
import websockets

from tests.support.server import ServerProcess

MALFORMED = 200


async def test_malformed_packets_log_few_single_lines(server: ServerProcess) -> None:
    url = server.url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
    async with websockets.connect(url) as ws:
        assert str(await asyncio.wait_for(ws.recv(), 5)).startswith("0")  # Engine.IO open
        await ws.send("40" + orjson.dumps({"client_id": "malformed-1"}).decode())
        for _ in range(MALFORMED):
            await ws.send('42["send",{')  # an event whose JSON never ends
        await ws.send('421["heartbeat",{}]')  # still served: bad packets cost nothing else
        answer = str(await asyncio.wait_for(ws.recv(), 5))
        while not answer.startswith("431"):
            answer = str(await asyncio.wait_for(ws.recv(), 5))
        assert orjson.loads(answer[3:])[0]["ok"] is True
    output = server.log() + (server.data_dir / "server.stderr").read_text()
    assert output.count("Traceback") == 0  # (not `in`: pytest would diff megabytes)
    lines = [line for line in output.splitlines() if "handler error" in line]
    assert 1 <= len(lines) <= 10, lines
