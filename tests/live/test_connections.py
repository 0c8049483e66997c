"""client_id takeover, tokens, and what reconnects look like in the log."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import socketio

from tests.support.client import Client
from tests.support.inprocess import serve_in_process
from tests.support.server import ServerProcess
from tests.support.wait import until
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
    lines = (
        f"[SocketIO] takeover user=local client_id={old.client_id}",
        f"[SocketIO] reconnect user=local client_id={old.client_id}",
    )
    await until(lambda: all(line in server.log() for line in lines), 5, "both lines in the log")


async def still_connected(client: Client, after: Client) -> None:
    """``client`` was not taken over by ``after``'s connection: a takeover disconnects the old
    connection right after the new one's hello, before the server answers the new one's next
    request, so a round trip on each, ``after`` first, proves it (no sleep)."""
    await after.ok("heartbeat", {})
    await client.ok("heartbeat", {})
    assert client.sio.connected and not client.disconnected.is_set()


async def test_other_client_ids_are_left_alone(
    clients: Callable[..., Client], server: ServerProcess
) -> None:
    a, b = clients(), clients()
    await a.connect()
    await b.connect()
    await still_connected(a, after=b)
    assert b.sio.connected
    await until(lambda: f"client_id={b.client_id}" in server.log(), 5, "b's connect logged")
    assert f"takeover user=local client_id={a.client_id}" not in server.log()


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
    async with serve_in_process(data) as srv:
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
        await still_connected(alice, after=bob2)

        # Another process (the CLI) revokes; this loop serves meanwhile.
        revoked = await asyncio.to_thread(tether, data, "token", "revoke", "alice")
        assert revoked.returncode == 0 and "revoked 1" in revoked.stdout
        # The server remembers an accepted token for AUTH_CACHE_TTL seconds, so a revocation
        # from another process refuses new connections within that time.
        async def refused() -> bool:
            again = clients(url=srv.url, token=alice_token)
            try:
                await again.connect()
            except socketio.exceptions.ConnectionError:
                return True
            await again.close()
            return False

        await until(refused, AUTH_CACHE_TTL + 3, "the revoked token to be refused", 0.25)
        # Connections already open are closed too, within the recheck interval (5 s).
        await asyncio.wait_for(alice.disconnected.wait(), 5 + 3)
        assert bob.sio.connected
