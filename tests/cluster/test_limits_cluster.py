"""Revocation and the session quota hold across nodes: both rest on the shared database."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Callable

import pytest

from tests.live.test_limits import refusal
from tests.support.client import Client
from tests.support.server import ServerProcess

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

ENV = {"TETHER_TOKEN_RECHECK_SECONDS": "1", "TETHER_MAX_SESSIONS_PER_USER": "2"}


def tether(database_url: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "tether", *args, "--database-url", database_url],
        capture_output=True, text=True, timeout=60, check=True,
    )
    return done.stdout.strip().splitlines()[-1]


async def test_revoke_closes_the_users_connections_on_every_node(
    nodes: Callable[..., ServerProcess], pg_url: str
) -> None:
    token = await asyncio.to_thread(tether, pg_url, "token", "create", "zed")
    a, b = nodes(env=ENV), nodes(env=ENV)
    clients = [Client(node.url, token=token) for node in (a, b)]
    try:
        for client in clients:
            await client.connect()
        # Sessions are counted in the database: two on two nodes fill the quota for both.
        await clients[0].new_session()
        await clients[1].new_session()
        for client in clients:
            ack = await client.call("create_session", {})
            assert ack["ok"] is False and ack["error"]["code"] == "rate_limited"

        await asyncio.to_thread(tether, pg_url, "token", "revoke", "zed")
        for client in clients:
            await asyncio.wait_for(client.disconnected.wait(), 5)
        for node in (a, b):
            assert await refusal(node.url, token) == "unauthorized"
    finally:
        for client in clients:
            await client.close()
