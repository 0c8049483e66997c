"""``Tether`` built from parts handed to it: the application's own ``authenticate``."""

from __future__ import annotations

from pathlib import Path

import pytest
import socketio

from tests.live.inprocess import serving
from tests.support.client import Client
from tether.accounts import User
from tether.app import Tether
from tether.auth import Handshake
from tether.server import prepare_database
from tether.settings import Settings


async def test_the_apps_own_authenticate_decides_who_connects(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, host="127.0.0.1", port=0)
    await prepare_database(settings)
    seen: list[Handshake] = []

    async def by_cookie(handshake: Handshake) -> User | None:
        seen.append(handshake)
        if handshake.header("cookie") == "session=bob-secret":
            # Sessions belong to users Tether stores: the app maps its user to one.
            return await tether.accounts.ensure_user("bob")
        return None

    tether = Tether(settings, authenticate=by_cookie)
    bob_user = await tether.accounts.ensure_user("bob")
    async with serving(tether) as url:
        bob = Client(url)
        bob.sio = socketio.AsyncClient(reconnection=False)
        for name in ("hello", "message"):
            bob.sio.on(name, bob._recorder(name))
        await bob.sio.connect(url, auth={"client_id": bob.client_id}, transports=["websocket"],
                              headers={"Cookie": "session=bob-secret"}, wait_timeout=10)
        try:
            await bob.wait_for(lambda: bob.hello is not None, what="hello")
            assert bob.hello is not None and bob.hello["user"] == bob_user.out()
            sid = await bob.new_session()
            assert (await bob.ok("subscribe", {"session_id": sid}))["session"]["id"] == sid
        finally:
            await bob.close()
        assert seen[0].auth == {"client_id": bob.client_id}
        assert seen[0].scope.get("type") == "websocket"

        # No cookie: refused, although local mode (loopback, no tokens) would let anyone in.
        stranger = socketio.AsyncClient(reconnection=False)
        errors: list[object] = []
        stranger.on("connect_error", errors.append)
        with pytest.raises(socketio.exceptions.ConnectionError):
            await stranger.connect(url, auth={"client_id": "stranger"}, transports=["websocket"],
                                   wait_timeout=10)
        assert errors == [{"message": "unauthorized"}]
