"""A ``kind = "python"`` agent behind a real ``tether serve``: it streams, it can be cancelled,
and one that raises ends its answer ``failed`` without harming the server."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator

import pytest

from tests.support.client import Client
from tests.support.server import ServerProcess, start_server

MODULE = '''
import asyncio
from tether.agents import AgentError

async def words(turn):
    for word in ("one ", "two ", "three"):
        await asyncio.sleep(0.01)
        yield word

async def forever(turn):
    try:
        while True:
            yield "tick "
            await asyncio.sleep(0.05)
    finally:
        turn.set_state("cleaned-up")

async def boom(turn):
    yield "partial "
    raise ZeroDivisionError("user code bug")

async def refuse(turn):
    raise AgentError("I cannot answer that")
    yield ""
'''

AGENTS = """
[agents.words]
kind = "python"
entrypoint = "tether_live_pyagent:words"
[agents.forever]
kind = "python"
entrypoint = "tether_live_pyagent:forever"
[agents.boom]
kind = "python"
entrypoint = "tether_live_pyagent:boom"
[agents.refuse]
kind = "python"
entrypoint = "tether_live_pyagent:refuse"
"""


@pytest.fixture(scope="module")
def pyserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    data = tmp_path_factory.mktemp("pyagent") / "data"
    data.mkdir()
    (data / "tether_live_pyagent.py").write_text(textwrap.dedent(MODULE))
    (data / "agents.toml").write_text(AGENTS)
    proc = start_server(data)
    yield proc
    proc.stop()


async def ask(server: ServerProcess, agent: str, text: str = "hi") -> tuple[Client, str]:
    client = Client(server.url)
    await client.connect()
    session_id = await client.new_session(agent=agent)
    await client.ok("subscribe", {"session_id": session_id})
    await client.send(session_id, text)
    return client, session_id


async def test_a_python_agent_streams_its_answer(pyserver: ServerProcess) -> None:
    client, session_id = await ask(pyserver, "words")
    try:
        [done] = await client.wait_status(session_id, "complete")
        assert done["content"] == "one two three"
        assert client.of("delta", session_id), "the answer was streamed as deltas"
    finally:
        await client.close()


async def test_cancel_is_asyncio_cancellation_of_the_generator(pyserver: ServerProcess) -> None:
    client, session_id = await ask(pyserver, "forever")
    try:
        await client.wait_for(lambda: client.of("delta", session_id), what="a delta")
        ack = await client.ok("cancel", {"session_id": session_id})
        assert ack["cancelled"] is True
        [stopped] = await client.wait_status(session_id, "cancelled")
        assert stopped["content"].startswith("tick ")
    finally:
        await client.close()


async def test_an_exception_in_user_code_fails_the_answer_not_the_server(
    pyserver: ServerProcess,
) -> None:
    client, session_id = await ask(pyserver, "boom")
    try:
        [failed] = await client.wait_status(session_id, "failed")
        assert failed["content"] == "partial "  # the text it produced is kept
        assert failed["error"] == "the agent failed unexpectedly (ZeroDivisionError)"
        # The traceback is in the server's log, not in the user's message.
        await client.wait_for(
            lambda: "ZeroDivisionError: user code bug" in pyserver.log(), what="the traceback"
        )
        # The server still answers, in the same session and others.
        await client.send(session_id, "again")
        await client.wait_status(session_id, "failed", count=2)
    finally:
        await client.close()
    again, other = await ask(pyserver, "words")
    try:
        await again.wait_status(other, "complete")
    finally:
        await again.close()


async def test_an_agent_error_is_shown_to_the_user(pyserver: ServerProcess) -> None:
    client, session_id = await ask(pyserver, "refuse")
    try:
        [failed] = await client.wait_status(session_id, "failed")
        assert failed["error"] == "I cannot answer that"
    finally:
        await client.close()
