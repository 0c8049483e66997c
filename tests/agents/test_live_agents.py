"""A configured command agent behind a real server: its conversation state survives a restart."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tests.support.client import Client
from tests.support.server import start_server

SCRIPTS = Path(__file__).parent / "scripts"

AGENTS = f"""
[agents.reporter]
kind = "command"
command = ["{sys.executable}", "{SCRIPTS / "report.py"}"]
stdin = "jsonl"
timeout = 20
"""


async def ask(url: str, session_id: str | None, text: str) -> tuple[str, dict[str, object]]:
    """Send ``text`` (in a new session of the reporter when None) and return the report."""
    client = Client(url)
    try:
        await client.connect()
        assert client.hello is not None
        assert {"name": "reporter", "kind": "command"} in client.hello["agents"]
        if session_id is None:
            session_id = await client.new_session(agent="reporter")
        await client.ok("subscribe", {"session_id": session_id})
        await client.send(session_id, text)
        [done] = await client.wait_status(session_id, "complete", timeout=20)
        return session_id, json.loads(done["content"])
    finally:
        await client.close()


async def test_agent_state_survives_a_server_restart(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "agents.toml").write_text(AGENTS)

    server = start_server(data)
    try:
        session_id, first = await ask(server.url, None, "first question")
    finally:
        server.stop()
    assert first["state"] is None  # the program then reported TETHER_STATE=conv-1

    server = start_server(data)
    try:
        _, second = await ask(server.url, session_id, "second question")
    finally:
        server.stop()
    assert second["state"] == "conv-1"  # handed back after the restart
    assert second["session"] == session_id
    lines = [json.loads(line) for line in str(second["stdin"]).splitlines()]
    assert [m["role"] for m in lines] == ["user", "assistant", "user"]
    assert lines[-1]["content"] == "second question"
