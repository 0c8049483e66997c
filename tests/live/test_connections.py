"""client_id takeover, tokens, and what reconnects look like in the log."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import socketio

from tests.support.client import Client
from tests.support.server import ServerProcess, start_server
from tether.accounts import AUTH_CACHE_TTL


async def test_same_client_id_takes_over(
    clients: Callable[..., Client], server: ServerProcess
) -> None:
    old = clients()
    await old.connect()
    sid = await old.new_session()
    await old.ok("subscribe", {"session_id": sid})
    new = clients(client_id=old.client_id)
    await new.connect()
    await asyncio.wait_for(old.disconnected.wait(), 5)
    assert new.sio.connected
    await new.ok("subscribe", {"session_id": sid})
    await new.send(sid, "after takeover")
    await new.wait_status(sid, "complete")
    await asyncio.sleep(0.3)
    log = server.log()
    assert f"[SocketIO] takeover user=local client_id={old.client_id}" in log
    assert f"[SocketIO] reconnect user=local client_id={old.client_id}" in log


async def test_other_client_ids_are_left_alone(clients: Callable[..., Client]) -> None:
    a, b = clients(), clients()
    await a.connect()
    await b.connect()
    await asyncio.sleep(0.3)
    assert a.sio.connected and b.sio.connected


def tether(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tether", *args, "--data-dir", str(data_dir)],
        capture_output=True, text=True, timeout=60,
    )


async def test_tokens_are_required_once_one_exists(
    clients: Callable[..., Client], tmp_path: Path
) -> None:
    data = tmp_path / "data"
    made = tether(data, "token", "create", "alice")
    assert made.returncode == 0, made.stderr
    alice_token = made.stdout.strip().splitlines()[-1]
    bob_token = tether(data, "token", "create", "bob").stdout.strip().splitlines()[-1]
    srv = start_server(data)
    try:
        nobody = socketio.AsyncClient(reconnection=False)
        errors: list[dict[str, object]] = []
        nobody.on("connect_error", errors.append)
        for auth in ({"client_id": "x"}, {"client_id": "x", "token": "tt_wrong"}):
            with pytest.raises(socketio.exceptions.ConnectionError):
                await nobody.connect(srv.url, auth=auth, transports=["websocket"])
        assert [e["message"] for e in errors] == ["unauthorized", "unauthorized"]

        alice = clients(url=srv.url, token=alice_token)
        await alice.connect()
        assert alice.hello is not None and alice.hello["user"]["name"] == "alice"
        sid = await alice.new_session()
        await alice.send(sid, "private")
        bob = clients(url=srv.url, token=bob_token)
        await bob.connect()
        for event, payload in [
            ("subscribe", {"session_id": sid}),
            ("send", {"session_id": sid, "client_msg_id": "c", "content": "x"}),
            ("history", {"session_id": sid, "before_position": 9}),
            ("cancel", {"session_id": sid}),
            ("update_session", {"session_id": sid, "archived": True}),
            ("unsubscribe", {"session_id": sid}),
        ]:
            ack = await bob.call(event, payload)
            assert ack["error"]["code"] == "not_found", event
        taken = await bob.call("create_session", {"id": sid})
        assert taken["error"]["code"] == "conflict"
        assert (await bob.ok("list_sessions", {}))["sessions"] == []
        # Same client_id under another user is another client: no takeover across users.
        bob2 = clients(url=srv.url, token=bob_token, client_id=alice.client_id)
        await bob2.connect()
        await asyncio.sleep(0.3)
        assert alice.sio.connected

        revoked = tether(data, "token", "revoke", "alice")
        assert revoked.returncode == 0 and "revoked 1" in revoked.stdout
        # The server remembers an accepted token for AUTH_CACHE_TTL seconds, so a revocation
        # from another process refuses new connections within that time.
        deadline = time.monotonic() + AUTH_CACHE_TTL + 3
        while True:
            again = clients(url=srv.url, token=alice_token)
            try:
                await again.connect()
            except socketio.exceptions.ConnectionError:
                break
            await again.close()
            assert time.monotonic() < deadline, "a revoked token still opens connections"
            await asyncio.sleep(0.25)
        # Connections already open are closed too, within the recheck interval (5 s).
        await asyncio.wait_for(alice.disconnected.wait(), 5 + 3)
        assert bob.sio.connected
    finally:
        srv.stop()
