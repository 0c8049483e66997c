"""Issue 15, item 7: the first token ends local mode; `tether token create` says so, and
`tether user adopt-local NAME` hands local mode's chats to NAME."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.live.test_connections import tether
from tests.support.client import Client
from tests.support.inprocess import serve_in_process


async def test_local_chats_are_handed_to_a_named_user(
    clients: Callable[..., Client], tmp_path: Path
) -> None:
    data = tmp_path / "data"
    async with serve_in_process(data) as srv:
        local = clients(url=srv.url)
        await local.connect()
        assert local.hello is not None and local.hello["user"]["name"] == "local"
        sid = await local.new_session(title="made in local mode")
        await local.close()

    first = tether(data, "token", "create", "alice")
    assert first.returncode == 0, first.stderr
    assert "local mode is over" in first.stdout
    assert "tether user adopt-local alice" in first.stdout
    token = first.stdout.strip().splitlines()[-1]
    second = tether(data, "token", "create", "bob")
    assert "local mode" not in second.stdout, "only the first token ends local mode"

    async with serve_in_process(data) as srv:
        alice = clients(url=srv.url, token=token)
        await alice.connect()
        assert (await alice.ok("list_sessions", {}))["sessions"] == []
        await alice.close()

    adopted = tether(data, "user", "adopt-local", "alice")
    assert adopted.returncode == 0, adopted.stderr
    assert adopted.stdout.strip() == "1 chat(s) of local mode now belong to user alice"
    again = tether(data, "user", "adopt-local", "alice")
    assert again.stdout.strip().startswith("0 chat(s)")

    async with serve_in_process(data) as srv:
        alice = clients(url=srv.url, token=token)
        await alice.connect()
        listed = (await alice.ok("list_sessions", {}))["sessions"]
        assert [(s["id"], s["title"]) for s in listed] == [(sid, "made in local mode")]


def test_adopt_local_refuses_a_bad_name(tmp_path: Path) -> None:
    for name in ("local", "no spaces"):
        result = tether(tmp_path, "user", "adopt-local", name)
        assert result.returncode == 2
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
