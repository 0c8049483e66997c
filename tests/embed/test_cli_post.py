"""``tether post SESSION TEXT``: the publish endpoint from the command line, against a running
server; every error is one line and a non-zero exit."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from pathlib import Path

from tests.support.client import Client
from tests.support.inprocess import serve_in_process


async def tether_post(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("TETHER_URL", "TETHER_TOKEN")}
    return await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "tether", "post", *args],
        capture_output=True, text=True, timeout=60, env=env,
    )


def one_line_error(result: subprocess.CompletedProcess[str], *words: str) -> None:
    assert result.returncode == 1, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for word in words:
        assert word in lines[0], lines[0]


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_tether_post_succeeds_and_says_each_error_in_one_line(tmp_path: Path) -> None:
    async with serve_in_process(tmp_path / "data") as server:
        token = await server.tether.accounts.create_token("ann")
        other = await server.tether.accounts.create_token("bob")
        client = Client(server.url, token=token)
        await client.connect()
        sid = await client.new_session()
        await client.ok("subscribe", {"session_id": sid})
        url = ("--url", server.url)

        posted = await tether_post(sid, "from the shell", "--role", "assistant", "--key", "k1",
                                   "--token", token, *url)
        assert posted.returncode == 0, posted.stderr
        assert posted.stdout.startswith("posted: message ") and "(seq 1)" in posted.stdout
        again = await tether_post(sid, "from the shell", "--role", "assistant", "--key", "k1",
                                  "--token", token, *url)
        assert again.returncode == 0 and again.stdout.startswith("already posted: message ")
        asked = await tether_post(sid, "answer me", "--respond", "--token", token, *url)
        assert asked.returncode == 0, asked.stderr
        done = await client.wait_status(sid, "complete", count=2)  # the post, and the answer
        assert sorted(m["content"] for m in done) == ["Echo: answer me", "from the shell"]

        one_line_error(await tether_post(sid, "x", *url), "unauthorized")
        one_line_error(await tether_post(sid, "x", "--token", "wrong", *url), "unauthorized")
        one_line_error(await tether_post(sid, "x", "--token", other, *url), "not_found")
        one_line_error(await tether_post("no-such", "x", "--token", token, *url), "not_found")
        one_line_error(await tether_post(sid, "", "--token", token, *url), "invalid", "content")
        one_line_error(await tether_post(sid, "other", "--role", "assistant", "--key", "k1",
                                         "--token", token, *url), "conflict")
        long = "x" * (server.tether.settings.max_message_chars + 1)
        one_line_error(await tether_post(sid, long, "--token", token, *url), "too_large")
        one_line_error(await tether_post(sid, "x", "--token", token, "--url",
                                         server.url + "/static/nowhere"), "HTTP 405", "not Tether")
        rows = (await server.tether.messages(sid))["messages"]
        assert [m["content"] for m in rows] == ["from the shell", "answer me", "Echo: answer me"]
        await client.close()
    down = f"http://127.0.0.1:{closed_port()}"
    one_line_error(await tether_post(sid, "x", "--url", down), "cannot reach", down)
    usage = await tether_post(sid)
    assert usage.returncode == 2 and len(usage.stderr.strip().splitlines()) == 1
