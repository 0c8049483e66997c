"""Build the agent registry from settings and the agents file (the echo agent is always there).

The agents file is TOML: ``<data_dir>/agents.toml``, or the path in ``TETHER_AGENTS_FILE``. Each
``[agents.<name>]`` table configures one agent; its ``kind`` says which (see docs/agents.md)::

    [agents.llama]
    kind = "openai"
    base_url = "http://127.0.0.1:11434/v1"
    model = "llama3.2"

Anything wrong with it raises :class:`AgentConfigError`, whose one-line message names the file
and the problem, so the server refuses to start rather than fail on the first turn.
"""

from __future__ import annotations

import re
import shutil
import sys
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tether.agents.base import Agent
from tether.agents.command import CommandAgent, CommandSpec
from tether.agents.echo import EchoAgent
from tether.agents.openai_compat import OpenAIAgent, OpenAISpec
from tether.agents.python import EntrypointError, as_agent, load_entrypoint
from tether.agents.registry import AgentRegistry

#: The environment variable naming the agents file, instead of ``<data_dir>/agents.toml``.
AGENTS_FILE_ENV = "TETHER_AGENTS_FILE"
AGENTS_FILE_NAME = "agents.toml"
#: Agent names travel in the protocol (``create_session``, ``hello``): keep them plain.
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
BUILT_IN = "echo"

Seconds = Annotated[float, Field(gt=0)]


class AgentConfigError(ValueError):
    """The agents configuration is wrong; the message names the file and the problem."""


class _Table(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class EchoConfig(_Table):
    """``kind = "echo"``: another echo agent, say a slower one for demos."""

    kind: Literal["echo"]
    #: Seconds between words.
    delay: Annotated[float, Field(ge=0)] = 0.03


class CommandConfig(_Table):
    """``kind = "command"``: a program run for each turn (tether.agents.command)."""

    kind: Literal["command"]
    #: The program and its arguments; a relative path with a slash is relative to the file.
    command: Annotated[list[Annotated[str, Field(min_length=1)]], Field(min_length=1)]
    #: The program's working directory; relative to the agents file's directory.
    cwd: str | None = None
    #: Variables added to the program's environment.
    env: dict[str, str] = {}
    #: Whether the program sees the server's whole environment, or only PATH, HOME, LANG...
    inherit_env: bool = True
    stdin: Literal["jsonl", "text"] = "jsonl"
    #: stdout as plain text (the default), or one structured event per line (docs/agents.md).
    output: Literal["text", "jsonl"] = "text"
    timeout: Seconds = 300.0
    kill_grace: Seconds = 5.0


class OpenAIConfig(_Table):
    """``kind = "openai"``: an OpenAI-compatible endpoint (tether.agents.openai_compat)."""

    kind: Literal["openai"]
    base_url: Annotated[str, Field(pattern=r"^https?://\S+$")]
    model: Annotated[str, Field(min_length=1)]
    #: The environment variable holding the API key; none is sent without it.
    api_key_env: Annotated[str, Field(min_length=1)] | None = None
    system_prompt: str | None = None
    window: Annotated[int, Field(ge=1)] | None = 20
    connect_timeout: Seconds = 10.0
    read_timeout: Seconds = 60.0
    timeout: Seconds = 600.0
    params: dict[str, Any] = {}
    headers: dict[str, str] = {}


class PythonConfig(_Table):
    """``kind = "python"``: a Python agent imported from the server's environment
    (tether.agents.python): an async generator function ``f(turn)`` or an object with
    ``stream(turn)``."""

    kind: Literal["python"]
    #: ``"package.module:attribute"``; the module is imported when the server starts.
    entrypoint: Annotated[str, Field(min_length=1)]
    #: Whether the agent gets the whole conversation (True) or only the message it answers.
    history: bool = True


_KINDS: dict[str, type[_Table]] = {
    "command": CommandConfig,
    "echo": EchoConfig,
    "openai": OpenAIConfig,
    "python": PythonConfig,
}


def load_agents(
    data_dir: Path, default: str, echo_delay: float, env: Mapping[str, str]
) -> AgentRegistry:
    """The registry of agents this server offers; ``default`` must name one of them.

    Raises AgentConfigError when the agents file is wrong or ``default`` is not configured.
    """
    agents: list[Agent] = [EchoAgent(BUILT_IN, echo_delay)]
    path = agents_file(data_dir, env)
    if path is not None:
        agents += _agents_of_file(path, env)
    if inline := env.get(AGENTS_TOML_ENV):
        agents += _agents_of_toml(Path(AGENTS_TOML_ENV), inline, env)
    names = [agent.name for agent in agents]
    for name in names:
        if names.count(name) > 1:
            raise AgentConfigError(
                f"{AGENTS_TOML_ENV}: agent {name!r} is also configured in {path}"
            )
    if default not in names:
        where = str(path) if path is not None else f"no {data_dir / AGENTS_FILE_NAME}"
        raise AgentConfigError(
            f"{where}: the default agent {default!r} (TETHER_AGENT) is not configured; "
            f"configured agents: {', '.join(names)}"
        )
    return AgentRegistry(agents, default=default)


#: The same TOML as the agents file, given inline in the environment (for containers).
AGENTS_TOML_ENV = "TETHER_AGENTS"


def agents_file(data_dir: Path, env: Mapping[str, str]) -> Path | None:
    """The agents file to read, or None if there is none (only echo is offered then)."""
    if named := env.get(AGENTS_FILE_ENV):
        path = Path(named).expanduser()
        if not path.is_file():
            raise AgentConfigError(f"{path}: no such agents file (from {AGENTS_FILE_ENV})")
        return path
    path = data_dir / AGENTS_FILE_NAME
    return path if path.is_file() else None


def _agents_of_file(path: Path, env: Mapping[str, str]) -> list[Agent]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or exc
        raise AgentConfigError(f"{path}: cannot read: {reason}") from None
    return _agents_of_toml(path, text, env)


def _agents_of_toml(path: Path, text: str, env: Mapping[str, str]) -> list[Agent]:
    """Agents of one TOML document; ``path`` names it in errors and anchors relative paths
    (``Path("TETHER_AGENTS")`` for the environment variable: relative to the working dir)."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise AgentConfigError(f"{path}: invalid TOML: {exc}") from None
    unknown = sorted(set(document) - {"agents"})
    if unknown:
        raise AgentConfigError(
            f"{path}: unknown top-level key {unknown[0]!r} (expected [agents.<name>] tables)"
        )
    tables = document.get("agents", {})
    if not isinstance(tables, dict):
        raise AgentConfigError(f"{path}: 'agents' must be a table of [agents.<name>] tables")
    return [_agent(path, name, table, env) for name, table in tables.items()]


def _agent(path: Path, name: str, table: object, env: Mapping[str, str]) -> Agent:
    def fail(problem: str) -> AgentConfigError:
        return AgentConfigError(f"{path}: [agents.{name}] {problem}")

    if name == BUILT_IN:
        raise fail(f"{BUILT_IN!r} is the built-in echo agent; choose another name")
    if not NAME.fullmatch(name):
        raise fail("the name must be letters, digits, '_', '.' or '-' (at most 64)")
    if not isinstance(table, dict):
        raise fail("must be a table")
    kind = table.get("kind")
    if kind is None:
        raise fail(f"kind is missing (one of: {', '.join(_KINDS)})")
    if kind not in _KINDS:
        raise fail(f"unknown kind {kind!r} (one of: {', '.join(_KINDS)})")
    try:
        config = _KINDS[kind].model_validate(table)
    except ValidationError as exc:
        raise fail(_problems(exc)) from None
    if isinstance(config, CommandConfig):
        return _command(name, config, path, env, fail)
    if isinstance(config, OpenAIConfig):
        return _openai(name, config, env, fail)
    if isinstance(config, PythonConfig):
        return _python(name, config, path, fail)
    assert isinstance(config, EchoConfig)
    return EchoAgent(name, config.delay)


def _problems(exc: ValidationError) -> str:
    problems = []
    for error in exc.errors(include_url=False):
        where = ".".join(str(part) for part in error["loc"])
        problems.append(f"{where}: {error['msg']}" if where else error["msg"])
    return "; ".join(problems)


Fail = Callable[[str], AgentConfigError]


def _command(
    name: str, config: CommandConfig, path: Path, env: Mapping[str, str], fail: Fail
) -> Agent:
    base = path.parent.resolve()
    cwd = None
    if config.cwd is not None:
        cwd = base / Path(config.cwd).expanduser()
        if not cwd.is_dir():
            raise fail(f"cwd: {cwd} is not a directory")
    argv = list(config.command)
    program = Path(argv[0]).expanduser()
    if "/" in argv[0] and not program.is_absolute():
        program = base / program
    search_path = config.env.get("PATH", env.get("PATH"))
    found = shutil.which(str(program), path=search_path)
    if found is None:
        raise fail(f"command: program {argv[0]!r} not found or not executable")
    argv[0] = str(program) if "/" in argv[0] else argv[0]
    spec = CommandSpec(
        argv=argv,
        cwd=cwd,
        env=dict(config.env),
        inherit_env=config.inherit_env,
        stdin=config.stdin,
        output=config.output,
        timeout=config.timeout,
        kill_grace=config.kill_grace,
    )
    return CommandAgent(name, spec, env)


def _openai(name: str, config: OpenAIConfig, env: Mapping[str, str], fail: Fail) -> Agent:
    reserved = sorted({"model", "messages", "stream"} & set(config.params))
    if reserved:
        raise fail(f"params: {reserved[0]!r} is set by Tether and cannot be a param")
    api_key = None
    if config.api_key_env is not None:
        api_key = env.get(config.api_key_env)
        if not api_key:
            raise fail(f"api_key_env: the environment variable {config.api_key_env} is not set")
    spec = OpenAISpec(
        base_url=config.base_url,
        model=config.model,
        api_key=api_key,
        system_prompt=config.system_prompt,
        window=config.window,
        connect_timeout=config.connect_timeout,
        read_timeout=config.read_timeout,
        timeout=config.timeout,
        params=dict(config.params),
        headers=dict(config.headers),
    )
    return OpenAIAgent(name, spec)


def _python(name: str, config: PythonConfig, path: Path, fail: Fail) -> Agent:
    # Like uvicorn's --app-dir: modules next to the agents file import without installing.
    app_dir = str(path.parent.resolve())
    if app_dir not in sys.path:
        sys.path.insert(0, app_dir)
    try:
        value = load_entrypoint(config.entrypoint)
        return as_agent(name, value, history=config.history)
    except (EntrypointError, TypeError) as exc:
        raise fail(str(exc).replace(f"agent {name!r}: ", "")) from None
