"""An app's lifespan running Tether's, combined with its own; Python agents handed in as a
mapping, with a chosen default."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from tests.support.client import Client
from tests.support.inprocess import serve_in_process
from tether.agents import AgentRegistry, Turn
from tether.agents.python import as_agent
from tether.app import Tether


async def slow(turn: Turn) -> AsyncIterator[str]:
    for n in range(1000):
        yield f"{n} "
        await asyncio.sleep(0.02)


class Shout:
    """An agent object (``stream(turn)``), not a function."""

    async def stream(self, turn: Turn) -> AsyncIterator[str]:
        yield turn.messages[-1].content.upper()


async def test_an_apps_own_lifespan_runs_tethers_and_shutdown_interrupts_answers(
    tmp_path: Path,
) -> None:
    events: list[str] = []

    def app_with_its_own_lifespan(base: Tether) -> Starlette:
        chat = Tether(base.settings, agents={"shout": Shout(), "slow": slow},
                      default_agent="slow", migrate=True)

        @contextlib.asynccontextmanager
        async def lifespan(app: Starlette) -> AsyncIterator[None]:
            events.append("app up")
            async with chat.lifespan(app):
                yield
            events.append("app down, after Tether")

        return Starlette(routes=[Mount("/chat", chat)], lifespan=lifespan)

    data = tmp_path / "data"
    async with serve_in_process(data, mount=app_with_its_own_lifespan) as server:
        client = Client(server.url, socketio_path="/chat/socket.io")
        await client.connect()
        assert client.hello is not None
        assert [a["name"] for a in client.hello["agents"]] == ["shout", "slow"]
        assert {a["kind"] for a in client.hello["agents"]} == {"python"}
        shouted = await client.new_session(agent="shout")
        await client.ok("subscribe", {"session_id": shouted})
        await client.send(shouted, "quiet")
        [loud] = await client.wait_status(shouted, "complete")
        assert loud["content"] == "QUIET"
        sid = await client.new_session()  # the default agent: slow
        await client.ok("subscribe", {"session_id": sid})
        await client.send(sid, "count")
        await client.wait_for(lambda: client.of("delta", sid), what="the answer streaming")
        await client.close()
    assert events == ["app up", "app down, after Tether"]

    async with serve_in_process(data, mount=app_with_its_own_lifespan) as server:
        again = Client(server.url, socketio_path="/chat/socket.io")
        await again.connect()
        ack = await again.ok("subscribe", {"session_id": sid})
        await again.close()
    [answer] = [m for m in ack["messages"] if m["role"] == "assistant"]
    assert answer["status"] == "interrupted" and answer["content"].startswith("0 1 ")


def test_agents_a_registry_or_a_mapping() -> None:
    registry = AgentRegistry([as_agent("a", slow)], "a")
    assert Tether(agents=registry).agents is registry
    assert Tether(agents={"x": slow, "y": Shout()}).agents.default == "x"
    assert Tether(agents={"x": slow, "y": Shout()}, default_agent="y").agents.default == "y"
    with pytest.raises(ValueError, match="default_agent"):
        Tether(agents=registry, default_agent="a")
    with pytest.raises(KeyError):
        Tether(agents={"x": slow}, default_agent="nobody")
    with pytest.raises(ValueError, match="at least one"):
        Tether(agents={})
