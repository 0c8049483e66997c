"""Python agents: functions and objects given in code, and ``kind = "python"`` in agents.toml."""

from __future__ import annotations

import textwrap
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tether.agents import ChatMessage, Turn
from tether.agents.config import AgentConfigError, load_agents
from tether.agents.python import EntrypointError, PythonAgent, as_agent, load_entrypoint

ENV = {"PATH": "/usr/bin:/bin"}


async def collect(agent: object, turn: Turn) -> list[str]:
    return [piece async for piece in agent.stream(turn)]  # type: ignore[attr-defined]


def turn(text: str = "hi") -> Turn:
    return Turn(session_id="s", messages=[ChatMessage("user", text)])


async def shout(turn: Turn) -> AsyncIterator[str]:
    for word in turn.prompt.upper().split():
        yield word + " "


class Counter:
    history = False

    async def stream(self, turn: Turn) -> AsyncIterator[str]:
        turn.set_state(str(int(turn.state or "0") + 1))
        yield f"turn {turn.state}"


async def test_an_async_generator_function_is_an_agent() -> None:
    agent = as_agent("shout", shout)
    assert (agent.name, agent.kind, agent.history) == ("shout", "python", True)
    assert await collect(agent, turn("hello there")) == ["HELLO ", "THERE "]


async def test_an_object_with_stream_is_an_agent_and_keeps_its_history_flag() -> None:
    agent = as_agent("counter", Counter())
    assert (agent.name, agent.kind, agent.history) == ("counter", "python", False)
    t = turn()
    assert await collect(agent, t) == ["turn None"]
    assert t.state_changed and t.new_state == "1"


def test_what_is_not_an_agent_is_refused_clearly() -> None:
    with pytest.raises(TypeError, match="neither an async generator function"):
        as_agent("x", 42)
    with pytest.raises(TypeError, match="neither an async generator function"):
        as_agent("x", Counter)  # the class, not an instance


def test_a_plain_function_is_refused_when_called() -> None:
    def not_a_generator(turn: Turn) -> str:
        return "text"

    agent = PythonAgent("plain", not_a_generator)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="not an async iterator"):
        agent.stream(turn())


@pytest.mark.parametrize(
    ("entrypoint", "message"),
    [
        ("no_colon", "must look like 'package.module:attribute'"),
        ("mod:", "must look like"),
        ("tests_no_such_module_xyz:agent", "no module named 'tests_no_such_module_xyz'"),
        ("tether_test_broken:agent", "importing tether_test_broken failed: "
         "RuntimeError: broken on import"),
        ("tests.agents.test_python_agents:missing", "has no attribute 'missing'"),
    ],
)
def test_bad_entrypoints_say_why_in_one_line(
    entrypoint: str, message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "tether_test_broken.py").write_text('raise RuntimeError("broken on import")\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(EntrypointError) as info:
        load_entrypoint(entrypoint)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_a_dotted_attribute_is_followed() -> None:
    assert load_entrypoint("tests.agents.test_python_agents:Counter.stream") is Counter.stream


def write_module(tmp_path: Path, name: str, source: str) -> None:
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))


async def test_kind_python_in_agents_toml_imports_next_to_the_file(tmp_path: Path) -> None:
    write_module(tmp_path, "tether_test_mybot", """
        async def answer(turn):
            yield "mybot: " + turn.prompt
    """)
    (tmp_path / "agents.toml").write_text(textwrap.dedent("""
        [agents.mybot]
        kind = "python"
        entrypoint = "tether_test_mybot:answer"
        history = false
    """))
    registry = load_agents(tmp_path, "mybot", 0.0, ENV)
    agent = registry.get("mybot")
    assert (agent.kind, agent.history) == ("python", False)
    assert await collect(agent, turn("hey")) == ["mybot: hey"]
    assert {"name": "mybot", "kind": "python"} in registry.describe()


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('entrypoint = "tether_test_nothere:answer"',
         "[agents.bot] entrypoint 'tether_test_nothere:answer': no module named"),
        ('entrypoint = "tether_test_value:VALUE"',
         "[agents.bot] 42 is neither an async generator function"),
        ("", "[agents.bot] entrypoint: Field required"),
        ('entrypoint = "x:y"\nhistory = "yes"', "[agents.bot] history: Input should be a valid"),
    ],
)
def test_a_bad_python_table_is_one_clear_line(tmp_path: Path, table: str, message: str) -> None:
    write_module(tmp_path, "tether_test_value", "VALUE = 42\n")
    path = tmp_path / "agents.toml"
    path.write_text(f'[agents.bot]\nkind = "python"\n{table}\n')
    with pytest.raises(AgentConfigError) as info:
        load_agents(tmp_path, "echo", 0.0, ENV)
    assert str(info.value).startswith(f"{path}: ")
    assert message in str(info.value)
    assert "\n" not in str(info.value)
