"""Structured answers after a silent drop (issue 13): a client whose connection goes silent
mid-reasoning reconnects mid-tool-input, one that goes silent mid-tool-input reconnects after the
end; each resumes with ``after_seq`` (mode ``resume``) on a new connection with the view it kept,
and ends with exactly the parts of a client that watched from the start.

The drop is a real one: the clients talk through a loopback proxy that stops relaying without
closing anything (tests/support/proxy.py), so the server keeps sending into a dead socket."""

from __future__ import annotations

import asyncio
import contextlib
import copy
from pathlib import Path

from tests.live.inprocess import serving
from tests.live.test_structured import (
    EXPECTED,
    Gated,
    answer_of,
    ask,
    follower,
    registry,
    wait_complete,
)
from tests.support.client import Client, Follower
from tests.support.proxy import FaultProxy
from tether.app import Tether
from tether.server import prepare_database
from tether.settings import Settings

#: The proxies' ports are not the server's: its Host check must let them through.
PROXIED = ["127.0.0.1"]


async def reconnect(old: Follower, url: str, clients: list[Client]) -> Follower:
    """What a tab does once it finds its socket dead: a new connection (same client_id), the
    view it kept, a subscribe with ``after_seq``."""
    client = Client(url, client_id=old.client.client_id)
    clients.append(client)
    await client.connect()
    again = Follower(client, old.session_id)
    again.view = copy.deepcopy(old.view)
    ack = await again.subscribe()
    assert ack["mode"] == "resume", ack["mode"]
    return again


async def drop_and_reconnect(watch_url: str, drop_url: str, back_url: str, gated: Gated) -> None:
    """Watched from the start on ``watch_url``; two clients join through proxies to
    ``drop_url`` and are dropped silently; they come back on ``back_url``."""
    host, port = drop_url.removeprefix("http://").split(":")
    proxies = [await FaultProxy(host, int(port)).start() for _ in range(2)]
    clients: list[Client] = []
    try:
        session_id, watcher = await ask(watch_url, clients)

        await asyncio.wait_for(gated.reached["reasoning"].wait(), 10)
        early_client, early = await follower(proxies[0].url, session_id)
        clients.append(early_client)
        assert proxies[0].drop_all() >= 1
        gated.gates["reasoning"].set()

        await asyncio.wait_for(gated.reached["tool_input"].wait(), 10)
        # What the silent client still shows: the reasoning streaming, no tool call.
        assert [(p["type"], p.get("state")) for p in answer_of(early)["parts"]] == [
            ("status", None), ("reasoning", "streaming"),
        ]
        early = await reconnect(early, back_url, clients)
        tools = [p for p in answer_of(early)["parts"] if p["type"] == "tool"]
        assert [(t["state"], t["input_text"]) for t in tools] == [
            ("input-streaming", '{"city": '), ("input-streaming", '{"tz": "Europe/Paris"}'),
        ]
        late_client, late = await follower(proxies[1].url, session_id)
        clients.append(late_client)
        assert proxies[1].drop_all() >= 1
        gated.gates["tool_input"].set()
        await asyncio.wait_for(gated.reached["text"].wait(), 10)
        gated.gates["text"].set()

        answers = [await wait_complete(f) for f in (watcher, early)]
        assert answer_of(late)["status"] == "streaming", "the silent client saw the end"
        late = await reconnect(late, back_url, clients)
        answers.append(answer_of(late))
        for answer in answers:
            assert answer["parts"] == EXPECTED
            assert answer["content"] == "It is 18 °C in Paris."
    finally:
        for proxy in proxies:
            await proxy.close()
        for client in clients:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.close(), 5)


async def test_clients_dropped_silently_mid_answer_resume_with_the_watchers_parts(
    tmp_path: Path,
) -> None:
    settings = Settings(data_dir=tmp_path, host="127.0.0.1", port=0, allowed_hosts=PROXIED)
    await prepare_database(settings)
    gated = Gated()
    async with serving(Tether(settings, agents=registry(gated))) as url:
        await drop_and_reconnect(url, url, url, gated)
