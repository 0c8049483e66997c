"""Input both databases cannot store or compare is refused ``invalid`` before it reaches them.

Each case once answered ``internal`` (with a traceback in the log) on at least one database; the
same cases run against a server on SQLite and one on PostgreSQL.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
import socketio

from tests.support.client import Client
from tests.support.server import ServerProcess, start_server
from tests.support.services import fresh_pg_database

BAD_INPUT = [
    ("history", {"before_position": 2**31}),  # past PostgreSQL's integer
    ("history", {"before_position": 2**63}),  # past SQLite's integer
    ("subscribe", {"after_seq": 2**63}),
    ("list_sessions", {"before": "0001-01-01T00:00:00+01:00"}),  # no UTC datetime that early
    ("list_sessions", {"before": "9999-12-31T23:59:59-01:00"}),  # nor that late
    ("create_session", {"title": "a\x00b"}),
    ("update_session", {"title": "a\x00b"}),
    ("send", {"client_msg_id": "c", "content": "a\x00b"}),
    ("send", {"client_msg_id": "c\x00", "content": "x"}),
    ("subscribe", {"session_id": "s\x00"}),
    ("send", {"client_msg_id": "c", "content": "half an emoji \ud83d"}),  # a lone surrogate
    ("create_session", {"title": "\udc00"}),
]


@pytest.fixture(params=["sqlite", "postgresql"])
async def any_db_server(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[ServerProcess]:
    if request.param == "sqlite":
        proc = await asyncio.to_thread(start_server, tmp_path / "data")
        yield proc
        proc.stop()
        return
    async with fresh_pg_database() as url:
        proc = await asyncio.to_thread(
            start_server, tmp_path / "data", {"TETHER_DATABASE_URL": url}
        )
        yield proc
        proc.stop()


async def test_unstorable_input_is_invalid_on_every_database(
    any_db_server: ServerProcess, clients: Callable[..., Client]
) -> None:
    client = clients(url=any_db_server.url)
    await client.connect()
    sid = await client.new_session()
    for event, fields in BAD_INPUT:
        payload = {"session_id": sid, **fields} if event not in (
            "create_session", "list_sessions") else fields
        ack = await client.call(event, payload)
        assert ack["ok"] is False and ack["error"]["code"] == "invalid", (event, fields, ack)
    assert client.sio.connected
    assert "Traceback" not in any_db_server.log()
    # Nothing was stored: the session has no message and its title is unchanged.
    ack = await client.ok("subscribe", {"session_id": sid})
    assert ack["messages"] == [] and ack["head_seq"] == 0
    # The largest storable values still work.
    await client.ok("history", {"session_id": sid, "before_position": 2**31 - 1})
    await client.ok("list_sessions", {"before": "9999-12-31T23:59:59+00:00"})


async def test_lone_surrogate_gets_an_ack_not_a_dropped_packet(client: Client) -> None:
    # python-socketio's client writes "\ud83d" as a JSON escape: valid JSON, which orjson refuses.
    sid = await client.new_session()
    ack = await client.call(
        "send", {"session_id": sid, "client_msg_id": "s1", "content": "\ud83d"}, timeout=5
    )
    assert ack["error"]["code"] == "invalid"
    assert (await client.send(sid, "next"))["message"]["position"] == 1


def test_socketio_client_escapes_surrogates() -> None:
    # The test above relies on it: the packet on the wire carries the escape, not raw bytes.
    encoded = socketio.packet.Packet(data=["send", {"c": "\ud83d"}]).encode()
    assert "\\ud83d" in encoded
