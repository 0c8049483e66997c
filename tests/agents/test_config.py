"""Loading agents from agents.toml: what a good file gives, and the message of each bad one."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tether.agents.command import CommandAgent
from tether.agents.config import AgentConfigError, load_agents
from tether.agents.echo import EchoAgent
from tether.agents.openai_compat import OpenAIAgent

PY = sys.executable
ENV = {"PATH": "/usr/bin:/bin", "OPENAI_API_KEY": "sk-from-env"}

GOOD = f"""
[agents.llama]
kind = "openai"
base_url = "http://127.0.0.1:11434/v1"
model = "llama3.2"
system_prompt = "You are concise."
window = 8
read_timeout = 30

[agents.gpt]
kind = "openai"
base_url = "https://api.openai.com/v1"
model = "gpt-4o-mini"
api_key_env = "OPENAI_API_KEY"
params = {{ temperature = 0.3, max_tokens = 500 }}

[agents.mycli]
kind = "command"
command = ["{PY}", "-m", "mycli", "--json"]
stdin = "jsonl"
timeout = 300

[agents.other-cli]
kind = "command"
command = ["sh", "-c", "echo 1"]
stdin = "text"
cwd = "work"
env = {{ MODEL = "small" }}
inherit_env = false
kill_grace = 2

[agents.slow-echo]
kind = "echo"
delay = 0.5
"""


def write(tmp_path: Path, text: str, name: str = "agents.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_without_a_file_only_echo_is_offered(tmp_path: Path) -> None:
    registry = load_agents(tmp_path, "echo", 0.01, ENV)
    assert registry.describe() == [{"name": "echo", "kind": "echo"}]
    echo = registry.get("echo")
    assert isinstance(echo, EchoAgent) and echo.delay == 0.01


def test_a_good_file(tmp_path: Path) -> None:
    (tmp_path / "work").mkdir()
    write(tmp_path, GOOD)
    registry = load_agents(tmp_path, "llama", 0.01, ENV)
    assert registry.default == "llama"
    assert registry.describe() == [
        {"name": "echo", "kind": "echo"},
        {"name": "llama", "kind": "openai"},
        {"name": "gpt", "kind": "openai"},
        {"name": "mycli", "kind": "command"},
        {"name": "other-cli", "kind": "command"},
        {"name": "slow-echo", "kind": "echo"},
    ]

    llama = registry.get("llama")
    assert isinstance(llama, OpenAIAgent)
    assert llama.url == "http://127.0.0.1:11434/v1/chat/completions"
    assert (llama.spec.model, llama.spec.api_key, llama.spec.window) == ("llama3.2", None, 8)
    assert (llama.spec.system_prompt, llama.spec.read_timeout) == ("You are concise.", 30)

    gpt = registry.get("gpt")
    assert isinstance(gpt, OpenAIAgent)
    assert gpt.spec.api_key == "sk-from-env"
    assert gpt.spec.params == {"temperature": 0.3, "max_tokens": 500}

    mycli = registry.get("mycli")
    assert isinstance(mycli, CommandAgent)
    assert list(mycli.spec.argv) == [PY, "-m", "mycli", "--json"]
    assert (mycli.spec.stdin, mycli.spec.timeout, mycli.spec.cwd) == ("jsonl", 300, None)

    other = registry.get("other-cli")
    assert isinstance(other, CommandAgent)
    assert other.spec.cwd == (tmp_path / "work").resolve()
    assert (other.spec.stdin, other.spec.inherit_env, other.spec.kill_grace) == ("text", False, 2)
    assert other.spec.env == {"MODEL": "small"}

    slow = registry.get("slow-echo")
    assert isinstance(slow, EchoAgent) and slow.delay == 0.5


def test_the_file_named_by_the_environment_wins(tmp_path: Path) -> None:
    write(tmp_path, '[agents.ignored]\nkind = "echo"\n')
    elsewhere = tmp_path / "conf"
    elsewhere.mkdir()
    path = write(elsewhere, '[agents.chosen]\nkind = "echo"\n', name="mine.toml")
    registry = load_agents(tmp_path, "chosen", 0.01, {**ENV, "TETHER_AGENTS_FILE": str(path)})
    assert "chosen" in registry and "ignored" not in registry


def test_a_relative_program_path_is_relative_to_the_file(tmp_path: Path) -> None:
    tools = tmp_path / "bin"
    tools.mkdir()
    program = tools / "my-cli"
    program.write_text("#!/bin/sh\necho hi\n")
    program.chmod(0o755)
    write(tmp_path, '[agents.mine]\nkind = "command"\ncommand = ["./bin/my-cli", "-q"]\n')
    agent = load_agents(tmp_path, "echo", 0.01, ENV).get("mine")
    assert isinstance(agent, CommandAgent)
    assert list(agent.spec.argv) == [str(program), "-q"]


OPENAI = '[agents.x]\nkind = "openai"\nbase_url = "http://h/v1"\nmodel = "m"\n'
COMMAND = f'[agents.x]\nkind = "command"\ncommand = ["{PY}"]\n'

BAD = [
    pytest.param("[agents.x\nkind = 1", "invalid TOML: ", id="invalid-toml"),
    pytest.param(
        '[agents.x]\nkind = "magic"\n',
        "[agents.x] unknown kind 'magic' (one of: ",
        id="unknown-kind",
    ),
    pytest.param('[agents.x]\nmodel = "m"\n', "[agents.x] kind is missing", id="no-kind"),
    pytest.param(
        '[agents.x]\nkind = "openai"\nbase_url = "http://h/v1"\n',
        "[agents.x] model: Field required",
        id="missing-field",
    ),
    pytest.param(
        COMMAND + 'timeout = "300"\n',
        "[agents.x] timeout: Input should be a valid number",
        id="wrong-type",
    ),
    pytest.param(
        COMMAND + "timeout = -1\n",
        "[agents.x] timeout: Input should be greater than 0",
        id="negative",
    ),
    pytest.param(
        COMMAND + 'stdin = "xml"\n',
        "[agents.x] stdin: Input should be 'jsonl' or 'text'",
        id="bad-stdin",
    ),
    pytest.param(
        COMMAND + "comand = []\n", "[agents.x] comand: Extra inputs are not permitted", id="typo"
    ),
    pytest.param(
        '[agents.x]\nkind = "command"\ncommand = []\n',
        "[agents.x] command: List should have at least 1 item",
        id="empty-command",
    ),
    pytest.param(
        '[agents.x]\nkind = "command"\ncommand = ["no-such-program-here"]\n',
        "[agents.x] command: program 'no-such-program-here' not found or not executable",
        id="program-not-found",
    ),
    pytest.param(COMMAND + 'cwd = "missing"\n', "/missing is not a directory", id="cwd-missing"),
    pytest.param(
        OPENAI.replace("http://h/v1", "localhost:11434"),
        "[agents.x] base_url: String should match pattern",
        id="base-url-scheme",
    ),
    pytest.param(
        OPENAI + 'api_key_env = "NOT_SET_ANYWHERE"\n',
        "[agents.x] api_key_env: the environment variable NOT_SET_ANYWHERE is not set",
        id="api-key-unset",
    ),
    pytest.param(
        OPENAI + "params = { stream = false }\n",
        "[agents.x] params: 'stream' is set by Tether and cannot be a param",
        id="reserved-param",
    ),
    pytest.param(
        OPENAI + "window = 0\n",
        "[agents.x] window: Input should be greater than or equal to 1",
        id="window",
    ),
    pytest.param(
        '[agents.echo]\nkind = "echo"\n',
        "[agents.echo] 'echo' is the built-in echo agent",
        id="echo-taken",
    ),
    pytest.param(
        '[agents."two words"]\nkind = "echo"\n',
        "[agents.two words] the name must be",
        id="bad-name",
    ),
    pytest.param("[agents]\nx = 1\n", "[agents.x] must be a table", id="not-a-table"),
    pytest.param(
        "agents = 3\n", "'agents' must be a table of [agents.<name>] tables", id="agents-not-table"
    ),
    pytest.param(
        '[agent.x]\nkind = "echo"\n', "unknown top-level key 'agent'", id="top-level-typo"
    ),
]


@pytest.mark.parametrize(("text", "problem"), BAD)
def test_a_bad_file_names_itself_and_the_problem(tmp_path: Path, text: str, problem: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(AgentConfigError) as caught:
        load_agents(tmp_path, "echo", 0.01, ENV)
    message = str(caught.value)
    assert message.startswith(f"{path}: ")
    assert problem in message, message
    assert "\n" not in message  # the CLI prints it on one line
    assert isinstance(caught.value, ValueError)


def test_the_default_agent_must_be_configured(tmp_path: Path) -> None:
    path = write(tmp_path, '[agents.slow]\nkind = "echo"\n')
    with pytest.raises(AgentConfigError) as caught:
        load_agents(tmp_path, "llama", 0.01, ENV)
    assert str(caught.value) == (
        f"{path}: the default agent 'llama' (TETHER_AGENT) is not configured; "
        "configured agents: echo, slow"
    )


def test_the_default_agent_without_any_file(tmp_path: Path) -> None:
    with pytest.raises(AgentConfigError) as caught:
        load_agents(tmp_path, "llama", 0.01, ENV)
    assert str(caught.value) == (
        f"no {tmp_path / 'agents.toml'}: the default agent 'llama' (TETHER_AGENT) is not "
        "configured; configured agents: echo"
    )


def test_a_missing_file_named_by_the_environment(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(AgentConfigError) as caught:
        load_agents(tmp_path, "echo", 0.01, {"TETHER_AGENTS_FILE": str(missing)})
    assert str(caught.value) == f"{missing}: no such agents file (from TETHER_AGENTS_FILE)"


def test_agents_from_the_environment(tmp_path: Path) -> None:
    inline = '[agents.local]\nkind = "openai"\nbase_url = "http://127.0.0.1:9/v1"\nmodel = "m"\n'
    registry = load_agents(tmp_path, "local", 0.0, {"TETHER_AGENTS": inline})
    assert {a["name"] for a in registry.describe()} == {"echo", "local"}
    assert registry.default == "local"


def test_agents_from_the_environment_errors_name_the_variable(tmp_path: Path) -> None:
    with pytest.raises(AgentConfigError, match=r"^TETHER_AGENTS: invalid TOML"):
        load_agents(tmp_path, "echo", 0.0, {"TETHER_AGENTS": "[agents.x"})
    (tmp_path / "agents.toml").write_text('[agents.twice]\nkind = "echo"\n')
    with pytest.raises(AgentConfigError, match="'twice' is also configured in"):
        load_agents(tmp_path, "echo", 0.0, {"TETHER_AGENTS": '[agents.twice]\nkind = "echo"\n'})
