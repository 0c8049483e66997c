"""A Python agent that yields a malformed structured event (a number where text belongs, an
output that is not JSON) fails its own answer with a clear error; the answers streaming beside
it in the same process go on untouched (no gap, no resubscribe, nothing lost)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.live.inprocess import serving
from tests.support.client import Client, Follower
from tether.agents import AgentRegistry, Turn
from tether.agents import events as ev
from tether.agents.python import as_agent
from tether.app import Tether
from tether.server import prepare_database
from tether.settings import Settings

WORDS = [f"word{n} " for n in range(60)]


class Steady:
    """Streams plain text while the bad agent misbehaves."""

    def __init__(self) -> None:
        self.started = asyncio.Event()

    async def stream(self, turn: Turn) -> AsyncIterator[object]:
        yield ev.Reasoning("thinking")
        for word in WORDS:
            self.started.set()
            yield word
            await asyncio.sleep(0.005)


class Bad:
    """Starts well, then yields ``event``."""

    def __init__(self, event: Any) -> None:
        self.event = event

    async def stream(self, turn: Turn) -> AsyncIterator[object]:
        yield "fine so far. "
        yield ev.ToolCall("c1", "search")
        await asyncio.sleep(0.05)
        yield self.event
        await asyncio.sleep(0.05)
        yield "never shown"


@pytest.mark.parametrize(
    ("event", "error"),
    [
        (ev.Reasoning(5), "Reasoning.text must be a string"),  # type: ignore[arg-type]
        (ev.ToolInput("c1", {"q": 1}), "ToolInput.delta must be a string"),  # type: ignore[arg-type]
        (ev.ToolOutput("c1", object()), "ToolOutput.output is not JSON"),
        (ev.Text(7), "Text.text must be a string"),  # type: ignore[arg-type]
    ],
    ids=["reasoning-number", "tool-input-dict", "output-not-json", "text-number"],
)
async def test_a_malformed_event_fails_its_answer_and_no_other(
    tmp_path: Path, event: Any, error: str
) -> None:
    settings = Settings(data_dir=tmp_path, host="127.0.0.1", port=0)
    await prepare_database(settings)
    steady = Steady()
    agents = AgentRegistry(
        [as_agent("steady", steady), as_agent("bad", Bad(event))], "steady"
    )
    async with serving(Tether(settings, agents=agents)) as url:
        # One client per session: a Follower takes its client's event handlers.
        clients = [Client(url), Client(url)]
        try:
            for client in clients:
                await client.connect()
            good_client, bad_client = clients
            good_id = await good_client.new_session(agent="steady")
            bad_id = await bad_client.new_session(agent="bad")
            good = Follower(good_client, good_id)
            await good.subscribe()
            await Follower(bad_client, bad_id).subscribe()
            await good_client.send(good_id, "talk")
            await asyncio.wait_for(steady.started.wait(), 10)
            await bad_client.send(bad_id, "misbehave")

            [failed] = await bad_client.wait_status(bad_id, "failed")
            assert error in failed["error"], failed["error"]
            assert failed["content"] == "fine so far. "
            assert [p["type"] for p in failed["parts"]] == ["text", "tool"]
            assert failed["parts"][1]["state"] == "output-error"

            [done] = await good_client.wait_status(good_id, "complete")
            assert done["content"] == "".join(WORDS)
            [shown] = [m for m in good.view.messages.values() if m["role"] == "assistant"]
            assert shown["content"] == "".join(WORDS)
            assert shown["parts"] == done["parts"]
            assert good.resubscribes == 1, "the other answer's stream had a gap"
        finally:
            for client in clients:
                await client.close()
