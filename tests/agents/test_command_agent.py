"""The command agent against real programs (tests/agents/scripts)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tether.agents import AgentError, ChatMessage, Turn
from tether.agents.command import CommandAgent, CommandSpec, StdinMode

SCRIPTS = Path(__file__).parent / "scripts"
PY = sys.executable


def agent(
    *args: str, name: str = "cli", env: dict[str, str] | None = None, **spec: object
) -> CommandAgent:
    argv = [PY, str(SCRIPTS / args[0]), *args[1:]] if args[0].endswith(".py") else list(args)
    return CommandAgent(name, CommandSpec(argv=argv, **spec), env or dict(os.environ))  # type: ignore[arg-type]


def turn(*texts: str, state: str | None = None, session: str = "s-1") -> Turn:
    roles = ["user", "assistant"]
    messages = [ChatMessage(roles[i % 2], text) for i, text in enumerate(texts)]  # type: ignore[arg-type]
    return Turn(session, messages, state=state)


async def collect(chunks: AsyncIterator[str], timeout: float = 10) -> list[str]:
    async def run() -> list[str]:
        return [chunk async for chunk in chunks]

    return await asyncio.wait_for(run(), timeout)


async def failure(chunks: AsyncIterator[str], timeout: float = 10) -> tuple[str, str]:
    """The text yielded before the AgentError, and the error's message."""
    got: list[str] = []

    async def run() -> None:
        async for chunk in chunks:
            got.append(chunk)

    with pytest.raises(AgentError) as caught:
        await asyncio.wait_for(run(), timeout)
    return "".join(got), str(caught.value)


def same_directory(a: str | Path, b: str | Path) -> bool:
    return os.path.realpath(a) == os.path.realpath(b)


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting for a reaper is dead)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


async def wait_gone(pids: list[int], timeout: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while any(alive(pid) for pid in pids):
        if time.monotonic() > deadline:
            raise AssertionError(f"still alive: {[pid for pid in pids if alive(pid)]}")
        await asyncio.sleep(0.02)


# -- streaming ------------------------------------------------------------------------------


async def test_chunks_arrive_while_the_program_still_runs(tmp_path: Path) -> None:
    marker = tmp_path / "seen-first"
    chunks = agent("chunks.py", str(marker)).stream(turn("hi"))
    first = await asyncio.wait_for(anext(chunks), 5)
    assert first == "first "
    marker.touch()  # the program writes the rest only now
    rest = await collect(chunks)
    assert first + "".join(rest) == "first then café"


async def test_a_program_that_does_not_read_stdin_still_answers() -> None:
    big = "x" * 200_000
    chunks = agent(PY, "-c", "print('fine')").stream(turn(big, big, big, big, big))
    assert "".join(await collect(chunks)) == "fine\n"


# -- stdin modes and environment ------------------------------------------------------------


@pytest.mark.parametrize("mode", ["jsonl", "text"])
async def test_stdin_modes(mode: StdinMode) -> None:
    conversation = turn("hello", "Hi! How can I help?", 'say "ünïcode"\nand a second line')
    report = json.loads("".join(await collect(agent("report.py", stdin=mode).stream(conversation))))
    if mode == "text":
        assert report["stdin"] == 'say "ünïcode"\nand a second line'
    else:
        lines = report["stdin"].splitlines()
        assert [json.loads(line) for line in lines] == [
            {"role": "user", "content": "hello"},
            {"role": "assistant", "content": "Hi! How can I help?"},
            {"role": "user", "content": 'say "ünïcode"\nand a second line'},
        ]


async def test_environment_and_working_directory(tmp_path: Path) -> None:
    server_env = {**os.environ, "SERVER_SECRET": "s3cret", "TETHER_STATE": "leaked"}
    spec = CommandSpec(argv=[PY, str(SCRIPTS / "report.py")], cwd=tmp_path, env={"EXTRA": "yes"})
    report = json.loads(
        "".join(
            await collect(CommandAgent("mycli", spec, server_env).stream(turn("q", session="s-9")))
        )
    )
    assert report["extra"] == "yes"
    assert report["secret"] == "s3cret"
    assert report["session"] == "s-9"
    assert report["agent"] == "mycli"
    assert report["state"] is None  # never the server's own TETHER_STATE
    assert same_directory(report["cwd"], tmp_path)

    private = CommandSpec(argv=[PY, str(SCRIPTS / "report.py")], inherit_env=False)
    report = json.loads(
        "".join(await collect(CommandAgent("p", private, server_env).stream(turn("q"))))
    )
    assert report["secret"] is None


# -- state ------------------------------------------------------------------------------------


async def test_state_reported_on_stderr_is_handed_back_next_turn() -> None:
    cli = agent("report.py")
    first = turn("one")
    report = json.loads("".join(await collect(cli.stream(first))))
    assert report["state"] is None
    assert first.state_changed and first.new_state == "conv-1"

    # What the run manager does: the stored state comes back as the next turn's state.
    second = turn("one", "answer", "two", state=first.new_state)
    report = json.loads("".join(await collect(cli.stream(second))))
    assert report["state"] == "conv-1"
    assert second.new_state == "conv-2"


async def test_no_state_line_leaves_the_state_alone_and_an_empty_one_clears_it() -> None:
    quiet = turn("q", state="kept")
    await collect(agent(PY, "-c", "print('hi')").stream(quiet))
    assert not quiet.state_changed

    cleared = turn("q", state="kept")
    code = "import sys; print('TETHER_STATE=', file=sys.stderr)"
    await collect(agent(PY, "-c", code).stream(cleared))
    assert cleared.state_changed and cleared.new_state is None


# -- failures ---------------------------------------------------------------------------------


async def test_non_zero_exit_fails_with_the_tail_of_stderr() -> None:
    text, error = await failure(agent("fail.py", "3").stream(turn("q")))
    assert text == "partial answer\n"
    tail = "\n".join(f"noise line {n}" for n in range(181, 200)) + "\nfatal: model not found"
    assert error == f"cli exited with status 3: {tail}"


async def test_death_by_signal_is_named() -> None:
    code = "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"
    _, error = await failure(agent(PY, "-c", code).stream(turn("q")))
    assert error == "cli was killed by SIGKILL"


async def test_a_missing_program_fails_the_turn() -> None:
    _, error = await failure(agent("/nonexistent/my-cli").stream(turn("q")))
    assert error == "cannot start my-cli: No such file or directory"


async def test_timeout_fails_the_turn_and_ends_the_process_tree() -> None:
    chunks = agent("tree.py", timeout=1.0, kill_grace=1.0).stream(turn("q"))
    started = time.monotonic()
    text, error = await failure(chunks)
    assert error == "cli timed out after 1 s"
    assert time.monotonic() - started < 3
    await wait_gone(json.loads(text)["pids"])


# -- cancel -----------------------------------------------------------------------------------


@pytest.mark.parametrize("stubborn", [False, True], ids=["obedient", "ignores-sigterm"])
async def test_cancel_ends_the_process_and_its_children(stubborn: bool) -> None:
    # An obedient tree ends at SIGTERM, well within the grace; a stubborn one waits it out.
    grace = 0.5 if stubborn else 3.0
    cli = agent("tree.py", *(["stubborn"] if stubborn else []), kill_grace=grace)
    pids: list[int] = []
    reported = asyncio.Event()

    async def consume() -> None:  # what the run manager's producer task does
        async for chunk in cli.stream(turn("q")):
            pids.extend(json.loads(chunk)["pids"])
            reported.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(reported.wait(), 10)
    assert len(pids) == 3 and all(alive(pid) for pid in pids)
    started = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 5)
    # Cleanup finished inside the cancelled task: nothing is left when it returns.
    assert not [pid for pid in pids if alive(pid)]
    assert time.monotonic() - started < 2.0


async def test_jsonl_output_mode_yields_one_event_per_line() -> None:
    from tether.agents import events as ev

    lines = "\\n".join([
        '{"type": "reasoning", "text": "hm"}',
        '{"type": "tool_call", "id": "c", "name": "ls"}',
        '{"type": "tool_input", "id": "c", "delta": "{}"}',
        '{"type": "tool_input_done", "id": "c"}',
        '{"type": "text", "text": "done"}',
    ])
    program = agent(PY, "-c", f"print({lines!r}.replace(chr(92)+'n', chr(10)))", output="jsonl")
    assert await collect(program.stream(turn("hi"))) == [  # type: ignore[arg-type]
        ev.Reasoning("hm"), ev.ToolCall("c", "ls"), ev.ToolInput("c", "{}"),
        ev.ToolInputDone("c"), ev.Text("done"),
    ]


@pytest.mark.parametrize(
    ("line", "why"),
    [
        ("not json", "Expecting value"),
        ('{"type": "thought", "text": "x"}', "type must be one of text, reasoning, tool_call"),
        ('{"type": "tool_call", "id": "c"}', "tool_call needs 'name'"),
        ('{"type": "reasoning", "text": 5}', "'text' must be a string"),
        ('["reasoning"]', "type must be one of"),
    ],
)
async def test_jsonl_output_a_bad_line_fails_the_turn_and_stops_the_program(
    line: str, why: str
) -> None:
    # A good line, the bad one, then a program that would go on for a minute.
    script = (
        "import sys, time\n"
        "print('{\"type\": \"text\", \"text\": \"so far\"}', flush=True)\n"
        f"print({line!r}, flush=True)\n"
        "time.sleep(60)\n"
    )
    program = agent(PY, "-c", script, output="jsonl", kill_grace=1)
    started = time.monotonic()
    got: list[object] = []
    with pytest.raises(AgentError) as caught:
        async for event in program.stream(turn("hi")):
            got.append(event)
    from tether.agents import events as ev

    assert got == [ev.Text("so far")]
    message = str(caught.value)
    assert message.startswith(f"{program.program} wrote a line that is not an event: {line!r}")
    assert why in message
    assert time.monotonic() - started < 10, "the program was not stopped"
