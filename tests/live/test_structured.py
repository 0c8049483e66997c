"""Structured answers live (issue 13): an agent streams reasoning, two tool calls and text; every
client, whenever it joins and after a drop, ends with exactly the parts of one that watched from
the start, and the stored message (after a restart) carries them too."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from tests.live.inprocess import serving
from tests.support.client import Client, Follower
from tether.agents import AgentRegistry, Turn
from tether.agents import events as ev
from tether.agents.python import as_agent
from tether.app import Tether
from tether.server import prepare_database
from tether.settings import Settings

#: The gates the agent waits on, so a test can join at a known point of the answer.
STAGES = ("reasoning", "tool_input", "text")


class Gated:
    """An agent whose answer pauses at each stage until the test opens its gate."""

    def __init__(self) -> None:
        self.reached = {s: asyncio.Event() for s in STAGES}
        self.gates = {s: asyncio.Event() for s in STAGES}

    async def _stage(self, name: str) -> None:
        self.reached[name].set()
        await self.gates[name].wait()

    async def stream(self, turn: Turn) -> AsyncIterator[object]:
        yield ev.Status("thinking…")
        yield ev.Reasoning("The user wants")
        await asyncio.sleep(0.02)
        yield ev.Reasoning(" the weather and the time.")
        await self._stage("reasoning")
        yield ev.ToolCall("call_1", "weather")
        yield ev.ToolInput("call_1", '{"city": ')
        await asyncio.sleep(0.02)
        yield ev.ToolCall("call_2", "clock")
        yield ev.ToolInput("call_2", '{"tz": "Europe/Paris"}')
        await self._stage("tool_input")
        yield ev.ToolInput("call_1", '"Paris"}')
        yield ev.ToolInputDone("call_1")
        yield ev.ToolInputDone("call_2")
        yield ev.Status("calling tools…")
        yield ev.ToolOutput("call_1", {"temp_c": 18})
        yield ev.ToolError("call_2", "clock unavailable")
        yield "It is 18 °C "
        await self._stage("text")
        yield "in Paris."


class Stuck:
    """An agent that stops mid-tool-input until cancelled."""

    async def stream(self, turn: Turn) -> AsyncIterator[object]:
        yield ev.Reasoning("let me look")
        yield ev.ToolCall("c", "search")
        yield ev.ToolInput("c", '{"q": "par')
        yield ev.Status("searching…")
        await asyncio.Event().wait()


def registry(gated: Gated) -> AgentRegistry:
    agents = [as_agent("gated", gated), as_agent("stuck", Stuck())]
    return AgentRegistry(agents, "gated")  # type: ignore[list-item]


EXPECTED: list[dict[str, Any]] = [
    {"id": "r0", "type": "reasoning", "text": "The user wants the weather and the time.",
     "state": "done"},
    {"id": "k1", "type": "tool", "tool_call_id": "call_1", "name": "weather",
     "state": "output-available", "input_text": '{"city": "Paris"}', "input": {"city": "Paris"},
     "output": {"temp_c": 18}, "error": None},
    {"id": "k2", "type": "tool", "tool_call_id": "call_2", "name": "clock",
     "state": "output-error", "input_text": '{"tz": "Europe/Paris"}',
     "input": {"tz": "Europe/Paris"}, "output": None, "error": "clock unavailable"},
    {"id": "t3", "type": "text", "text": "It is 18 °C in Paris."},
]


def answer_of(follower: Follower) -> dict[str, Any]:
    [answer] = [m for m in follower.view.messages.values() if m["role"] == "assistant"]
    return answer


async def follower(url: str, session_id: str) -> tuple[Client, Follower]:
    client = Client(url)
    await client.connect()
    f = Follower(client, session_id)
    await f.subscribe()
    return client, f


async def wait_complete(f: Follower) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        answers = [m for m in f.view.messages.values() if m["role"] == "assistant"]
        return answers[0] if answers and answers[0]["status"] == "complete" else None

    result: dict[str, Any] = await f.client.wait_for(done, 15, "the answer complete")
    return result


async def ask(url: str, clients: list[Client]) -> tuple[str, Follower]:
    """The question asked on ``url`` in a new session of the gated agent, by a client that
    follows the answer from the start; returns the session's id and that follower."""
    owner = Client(url)
    clients.append(owner)
    await owner.connect()
    session_id = await owner.new_session(agent="gated")
    first = Follower(owner, session_id)
    await first.subscribe()
    await owner.send(session_id, "weather and time in Paris?")
    return session_id, first


async def watch_everyone(owner_url: str, other_url: str, gated: Gated) -> str:
    """The scenario: the question asked and watched on ``owner_url``; clients that join
    mid-reasoning, mid-tool-input, after the end, and one dropped silently, on ``other_url``.
    Returns the session's id."""
    clients: list[Client] = []
    try:
        session_id, first = await ask(owner_url, clients)

        await asyncio.wait_for(gated.reached["reasoning"].wait(), 10)
        mid_reasoning_client, mid_reasoning = await follower(other_url, session_id)
        clients.append(mid_reasoning_client)
        snap = answer_of(mid_reasoning)
        assert [p["type"] for p in snap["parts"]][:2] == ["status", "reasoning"]

        # A client whose connection drops silently: it receives nothing for a while.
        dropped_client, dropped = await follower(other_url, session_id)
        clients.append(dropped_client)
        deaf = True
        original = dropped._live
        dropped._live = lambda name, data: None if deaf else original(name, data)  # type: ignore[method-assign]
        gated.gates["reasoning"].set()

        await asyncio.wait_for(gated.reached["tool_input"].wait(), 10)
        mid_tool_client, mid_tool = await follower(other_url, session_id)
        clients.append(mid_tool_client)
        tools = [p for p in answer_of(mid_tool)["parts"] if p["type"] == "tool"]
        assert [t["state"] for t in tools] == ["input-streaming", "input-streaming"]
        assert tools[0]["input_text"] == '{"city": '
        gated.gates["tool_input"].set()

        await asyncio.wait_for(gated.reached["text"].wait(), 10)
        deaf = False  # the next delta shows it a gap: it subscribes again
        gated.gates["text"].set()

        answers = [await wait_complete(f) for f in (first, mid_reasoning, mid_tool, dropped)]
        assert dropped.resubscribes >= 2, "the dropped client never saw its gap"
        after_client, after = await follower(other_url, session_id)
        clients.append(after_client)
        answers.append(answer_of(after))
        for answer in answers:
            assert answer["parts"] == EXPECTED
            assert answer["content"] == "It is 18 °C in Paris."
        page = await after_client.ok("history", {"session_id": session_id, "before_position": 100})
        [stored] = [m for m in page["messages"] if m["role"] == "assistant"]
        assert stored["parts"] == EXPECTED
        return session_id
    finally:
        for client in clients:
            with contextlib.suppress(Exception):
                await client.close()


async def test_every_client_ends_with_the_parts_of_one_that_watched_from_the_start(
    tmp_path: Path,
) -> None:
    settings = Settings(data_dir=tmp_path, host="127.0.0.1", port=0)
    await prepare_database(settings)
    gated = Gated()
    async with serving(Tether(settings, agents=registry(gated))) as url:
        session_id = await watch_everyone(url, url, gated)
    # A restart: a new server on the same database shows the stored parts.
    async with serving(Tether(settings, agents=registry(Gated()))) as url:
        client, again = await follower(url, session_id)
        try:
            assert answer_of(again)["parts"] == EXPECTED
        finally:
            await client.close()


async def test_cancel_mid_tool_call_ends_the_tool_output_error_cancelled(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, host="127.0.0.1", port=0)
    await prepare_database(settings)
    async with serving(Tether(settings, agents=registry(Gated()))) as url:
        client = Client(url)
        await client.connect()
        try:
            session_id = await client.new_session(agent="stuck")
            watcher = Follower(client, session_id)
            await watcher.subscribe()
            await client.send(session_id, "search")

            def tool_streaming() -> bool:
                answers = [m for m in watcher.view.messages.values() if m["role"] == "assistant"]
                return bool(answers) and any(
                    p["type"] == "tool" and p["input_text"] for p in answers[0]["parts"]
                )

            await client.wait_for(tool_streaming, 10, "the tool input streaming")
            assert (await client.ok("cancel", {"session_id": session_id}))["cancelled"]
            [final] = await client.wait_status(session_id, "cancelled")
            expected = [
                {"id": "r0", "type": "reasoning", "text": "let me look", "state": "done"},
                {"id": "k1", "type": "tool", "tool_call_id": "c", "name": "search",
                 "state": "output-error", "input_text": '{"q": "par', "input": None,
                 "output": None, "error": "cancelled"},
            ]
            assert final["parts"] == expected  # the status line is gone too
            await client.wait_for(
                lambda: answer_of(watcher)["status"] == "cancelled", 10, "watcher sees cancel"
            )
            assert answer_of(watcher)["parts"] == expected  # live ops reached the same
        finally:
            await client.close()
