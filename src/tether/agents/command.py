"""The ``command`` agent: runs a configured program for each turn and streams its stdout.

The protocol between Tether and the program (documented for users in docs/agents.md):

- **stdin**: either the conversation as JSON lines, one ``{"role": ..., "content": ...}`` object
  per message in order and ending with the user message being answered (``stdin = "jsonl"``),
  or the text of that last user message alone (``stdin = "text"``). stdin is closed after it.
- **environment**: the server's environment (unless ``inherit_env = false``), the configured
  ``env``, and ``TETHER_SESSION_ID``, ``TETHER_AGENT`` and, when the agent kept one,
  ``TETHER_STATE``: the conversation handle the program reported on an earlier turn.
- **stdout**: the answer, UTF-8, streamed to the user as it is written (flush to be seen live);
  with ``output = "jsonl"``, one structured event per line instead (tether.agents.events).
- **stderr**: diagnostics; the tail is shown to the user if the program fails. A line
  ``TETHER_STATE=<handle>`` is not diagnostics: it keeps ``<handle>`` for the session's next turn
  (an empty value forgets it).
- **exit status**: 0 is success; anything else fails the turn.

The program runs in its own process group, so a cancelled or timed-out turn can end it and
every process it started: SIGTERM to the group, then SIGKILL after a grace period.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import json
import os
import signal
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, TypeVar

from tether.agents.base import AgentError, Turn
from tether.agents.events import Event, event_from_json

StdinMode = Literal["jsonl", "text"]
OutputMode = Literal["text", "jsonl"]
T = TypeVar("T")

#: The stderr line prefix by which a program reports its conversation handle.
STATE_PREFIX = b"TETHER_STATE="
#: How much of stderr a failure message quotes: at most so many lines and characters.
STDERR_TAIL_LINES = 20
STDERR_TAIL_CHARS = 800
#: Variables kept from the server's environment when ``inherit_env`` is false.
BASIC_ENV = ("PATH", "HOME", "USER", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR", "TZ")

_READ_SIZE = 4096


@dataclass(frozen=True, slots=True)
class CommandSpec:
    """How to run the program of a ``command`` agent (validated by tether.agents.config)."""

    argv: Sequence[str]
    cwd: Path | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    inherit_env: bool = True
    stdin: StdinMode = "jsonl"
    #: ``text``: stdout is the answer; ``jsonl``: one event per line (tether.agents.events).
    output: OutputMode = "text"
    #: Seconds a whole turn may take, from start to exit.
    timeout: float = 300.0
    #: Seconds between SIGTERM and SIGKILL when the program must stop.
    kill_grace: float = 5.0


class CommandAgent:
    """Answers each turn by running ``spec.argv`` and streaming what it writes to stdout."""

    kind = "command"

    def __init__(self, name: str, spec: CommandSpec, base_env: Mapping[str, str]) -> None:
        self.name = name
        self.spec = spec
        self._base_env = dict(base_env)

    @property
    def history(self) -> bool:
        """Only ``stdin = "jsonl"`` hands the program the conversation."""
        return self.spec.stdin == "jsonl"

    @property
    def program(self) -> str:
        """The program's name as shown in error messages."""
        return os.path.basename(self.spec.argv[0])

    def stdin_bytes(self, turn: Turn) -> bytes:
        """What the program reads on stdin for ``turn``."""
        if self.spec.stdin == "text":
            return turn.prompt.encode()
        lines = (
            json.dumps({"role": m.role, "content": m.content}, ensure_ascii=False) + "\n"
            for m in turn.messages
        )
        return "".join(lines).encode()

    def environment(self, turn: Turn) -> dict[str, str]:
        """The program's environment for ``turn``."""
        if self.spec.inherit_env:
            env = dict(self._base_env)
        else:
            env = {k: v for k, v in self._base_env.items() if k in BASIC_ENV}
        env.update(self.spec.env)
        env["TETHER_SESSION_ID"] = turn.session_id
        env["TETHER_AGENT"] = self.name
        env.pop("TETHER_STATE", None)
        if turn.state is not None:
            env["TETHER_STATE"] = turn.state
        return env

    async def stream(self, turn: Turn) -> AsyncIterator[str | Event]:
        if self.spec.output == "text":
            async for text in self._stdout(turn):
                yield text
            return
        held = ""
        async for text in self._stdout(turn):
            *lines, held = (held + text).split("\n")
            for line in lines:
                if line.strip():
                    yield self._event(line)
        if held.strip():
            yield self._event(held)

    def _event(self, line: str) -> str | Event:
        try:
            return event_from_json(json.loads(line))
        except ValueError as exc:
            raise AgentError(
                f"{self.program} wrote a line that is not an event: {line[:200]!r} ({exc})"
            ) from None

    async def _stdout(self, turn: Turn) -> AsyncIterator[str]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.spec.timeout
        try:
            proc = await asyncio.create_subprocess_exec(
                *self.spec.argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                cwd=self.spec.cwd,
                env=self.environment(turn),
                start_new_session=True,
            )
        except OSError as exc:
            raise AgentError(f"cannot start {self.program}: {exc.strerror or exc}") from None
        assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
        stderr = _StderrReader(turn)
        feeding = asyncio.create_task(_feed(proc.stdin, self.stdin_bytes(turn)))
        reading = asyncio.create_task(stderr.read_from(proc.stderr))
        exited = False
        try:
            decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
            while True:
                data = await self._within(deadline, proc.stdout.read(_READ_SIZE))
                if text := decoder.decode(data, final=not data):
                    yield text
                if not data:
                    break
            code = await self._within(deadline, proc.wait())
            exited = True
            # A child that outlived the program may hold stderr open: don't wait for it long.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(reading), 1.0)
        finally:
            if not exited:
                await stop_process_group(proc, self.spec.kill_grace)
            for task in (feeding, reading):
                task.cancel()
            await asyncio.gather(feeding, reading, return_exceptions=True)
        if code != 0:
            raise AgentError(self._exit_message(code, stderr.tail()))

    async def _within(self, deadline: float, step: Awaitable[T]) -> T:
        """Await ``step``, failing the turn if the turn's deadline passes first."""
        remaining = max(deadline - asyncio.get_running_loop().time(), 0.0)
        try:
            return await asyncio.wait_for(step, remaining)
        except TimeoutError:
            raise AgentError(f"{self.name} timed out after {self.spec.timeout:g} s") from None

    def _exit_message(self, code: int, tail: str) -> str:
        if code < 0:
            try:
                how = f"was killed by {signal.Signals(-code).name}"
            except ValueError:
                how = f"was killed by signal {-code}"
        else:
            how = f"exited with status {code}"
        return f"{self.name} {how}" + (f": {tail}" if tail else "")


class _StderrReader:
    """Reads a program's stderr: keeps its tail for error messages, and takes state lines."""

    def __init__(self, turn: Turn) -> None:
        self._turn = turn
        self._lines: deque[str] = deque()
        self._size = 0

    async def read_from(self, stream: asyncio.StreamReader) -> None:
        pending = b""
        while data := await stream.read(_READ_SIZE):
            pending += data
            *lines, pending = pending.split(b"\n")
            for line in lines:
                self._line(line)
            if len(pending) > 4 * STDERR_TAIL_CHARS:  # a huge line is only diagnostics
                self._keep(pending[-STDERR_TAIL_CHARS:])
                pending = b""
        if pending:
            self._line(pending)

    def _line(self, line: bytes) -> None:
        if line.startswith(STATE_PREFIX):
            value = line[len(STATE_PREFIX) :].decode(errors="replace").strip()
            self._turn.set_state(value or None)
        else:
            self._keep(line)

    def _keep(self, line: bytes) -> None:
        text = line.decode(errors="replace").rstrip()
        self._lines.append(text)
        self._size += len(text) + 1
        while len(self._lines) > 1 and (
            self._size > STDERR_TAIL_CHARS or len(self._lines) > STDERR_TAIL_LINES
        ):
            self._size -= len(self._lines.popleft()) + 1

    def tail(self) -> str:
        """The last lines the program wrote to stderr (state lines excepted)."""
        return "\n".join(self._lines).strip()[-STDERR_TAIL_CHARS:]


async def _feed(stdin: asyncio.StreamWriter, data: bytes) -> None:
    """Write ``data`` and close stdin; a program that does not read it is not an error."""
    try:
        stdin.write(data)
        await stdin.drain()
    except (BrokenPipeError, ConnectionResetError):
        pass
    finally:
        stdin.close()


def _signal_group(pgid: int, sig: signal.Signals) -> bool:
    """Send ``sig`` to the process group; False if no process of the group is left."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    except PermissionError:  # only zombies or foreign processes left in the group
        return False
    return True


async def stop_process_group(proc: asyncio.subprocess.Process, grace: float) -> None:
    """End ``proc`` and every process in its group: SIGTERM, then SIGKILL after ``grace`` s.

    ``proc`` must lead its own process group (``start_new_session=True``), so its group id is
    its pid. Children that ignore SIGTERM are killed with the leader when the grace ends.
    """
    loop = asyncio.get_running_loop()
    pgid = proc.pid
    try:
        if _signal_group(pgid, signal.SIGTERM):
            deadline = loop.time() + grace
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(proc.wait(), grace)
            # Nothing tells us when the leader's children exit (they are not ours), so poll.
            while loop.time() < deadline and _group_alive(pgid):  # noqa: ASYNC110
                await asyncio.sleep(0.05)
    finally:
        # Also on a second cancellation while waiting: nothing of the group may survive.
        if _group_alive(pgid):
            _signal_group(pgid, signal.SIGKILL)
            # SIGKILL is delivered asynchronously: give the kernel a moment to end them all.
            deadline = loop.time() + 1.0
            while loop.time() < deadline and _group_alive(pgid):  # noqa: ASYNC110
                await asyncio.sleep(0.01)
        if proc.returncode is None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(proc.wait(), 1.0)


def _group_alive(pgid: int) -> bool:
    """Whether any process of the group still exists (zombies excepted, where we can tell)."""
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return not _only_zombies(pgid)


def _only_zombies(pgid: int) -> bool:
    """On Linux, whether every process of group ``pgid`` is a zombie waiting to be reaped.

    Orphans are reaped by PID 1, which in a container may never do it; their zombies still
    count as group members for ``killpg`` although they are already dead.
    """
    proc_dir = Path("/proc")
    if not proc_dir.is_dir():
        return False
    for entry in proc_dir.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The fields after the parenthesised command name: state, ppid, pgrp, ...
        fields = stat.rsplit(")", 1)[-1].split()
        if len(fields) > 2 and int(fields[2]) == pgid and fields[0] != "Z":
            return False
    return True
