"""Every error code, with the bad input that triggers it; nothing is stored on error."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
import socketio

from tests.support.client import Client
from tests.support.inprocess import serve_in_process
from tests.support.server import ServerProcess


def code(ack: dict[str, object]) -> str:
    assert ack["ok"] is False, ack
    error = ack["error"]
    assert isinstance(error, dict) and error["message"]
    return str(error["code"])


@pytest.mark.parametrize(
    ("event", "payload"),
    [
        ("subscribe", [1, 2]),
        ("subscribe", "session"),
        ("send", 42),
        ("create_session", None),
        ("subscribe", {"session_id": 7}),
        ("subscribe", {}),
        ("subscribe", {"session_id": "s", "after_seq": "0"}),
        ("subscribe", {"session_id": "s", "after_seq": -1}),
        ("subscribe", {"session_id": "s", "limit": 500}),
        ("history", {"session_id": "s", "before_position": "9"}),
        ("list_sessions", {"limit": 0}),
        ("list_sessions", {"before": "not a date"}),
        ("create_session", {"id": "nope"}),
        ("create_session", {"agent": "no-such-agent"}),
        ("update_session", {"session_id": "s", "archived": 1}),
        ("send", {"session_id": "s", "client_msg_id": "c"}),
        ("send", {"session_id": "s", "client_msg_id": "", "content": "x"}),
        ("send", {"session_id": "s", "client_msg_id": "c" * 65, "content": "x"}),
        ("send", {"session_id": "s", "client_msg_id": "c", "content": ""}),
    ],
)
async def test_invalid(client: Client, event: str, payload: object) -> None:
    assert code(await client.call(event, payload)) == "invalid"
    assert client.sio.connected  # a bad request never costs the connection


async def test_update_with_nothing_to_change_is_invalid(client: Client) -> None:
    sid = await client.new_session()
    assert code(await client.call("update_session", {"session_id": sid})) == "invalid"


async def test_unknown_session_is_not_found_for_every_request(client: Client) -> None:
    ghost = str(uuid.uuid4())
    for event, payload in [
        ("subscribe", {"session_id": ghost}),
        ("unsubscribe", {"session_id": ghost}),
        ("update_session", {"session_id": ghost, "title": "x"}),
        ("send", {"session_id": ghost, "client_msg_id": "c", "content": "x"}),
        ("cancel", {"session_id": ghost}),
        ("history", {"session_id": ghost, "before_position": 5}),
    ]:
        assert code(await client.call(event, payload)) == "not_found", event


async def test_oversize_content_is_too_large_and_not_stored(client: Client) -> None:
    sid = await client.new_session()
    ack = await client.call(
        "send", {"session_id": sid, "client_msg_id": "big", "content": "x" * 32001}
    )
    assert code(ack) == "too_large"
    exact = await client.send(sid, "y" * 32000, client_msg_id="fits")
    assert exact["message"]["seq"] == 1  # the refused message took no seq


async def test_reused_client_msg_id_with_other_content_is_conflict(client: Client) -> None:
    sid = await client.new_session()
    await client.send(sid, "first", client_msg_id="dup")
    ack = await client.call("send", {"session_id": sid, "client_msg_id": "dup", "content": "2nd"})
    assert code(ack) == "conflict"


async def test_heartbeat_is_never_invalid(client: Client) -> None:
    assert (await client.call("heartbeat", [1]))["ok"] is False  # non-object is still invalid
    assert (await client.call("heartbeat", {"x": 1}))["ok"] is True


# -- servers of their own ------------------------------------------------------------------


async def test_rate_limited(tmp_path: Path, clients: Callable[..., Client]) -> None:
    async with serve_in_process(tmp_path / "data", rate_limit=1, rate_burst=3) as limited:
        c = clients(url=limited.url)
        await c.connect()
        codes = [(await c.call("list_sessions", {}))["ok"] for _ in range(4)]
        assert codes == [True, True, True, False]
        assert code(await c.call("list_sessions", {})) == "rate_limited"
        assert (await c.call("heartbeat", {}))["ok"]  # liveness probes are never limited
        await c.close()


async def test_storage_locked_is_unavailable_and_nothing_half_applied(
    tmp_path: Path, clients: Callable[..., Client]
) -> None:
    async with serve_in_process(tmp_path / "data", sqlite_busy_timeout=0.2) as busy:
        c = clients(url=busy.url)
        await c.connect()
        sid = await c.new_session()
        await c.ok("subscribe", {"session_id": sid})
        lock = sqlite3.connect(busy.data_dir / "tether.db", timeout=5, isolation_level=None)
        try:
            lock.execute("BEGIN EXCLUSIVE")
            ack = await c.call("send", {"session_id": sid, "client_msg_id": "c1", "content": "hi"})
            assert code(ack) == "unavailable"
        finally:
            lock.execute("ROLLBACK")
            lock.close()
        retry = await c.send(sid, "hi", client_msg_id="c1")  # the client's retry succeeds, once
        assert not retry["duplicate"] and retry["message"]["seq"] == 1
        await c.close()


async def test_internal_errors_answer_internal(
    tmp_path: Path, clients: Callable[..., Client], caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # An unexpected exception inside a handler must become `internal`, never a dropped ack,
    # and the connection survives it. The fault: the real service's heartbeat raises.
    async def boom(*args: object) -> dict[str, object]:
        raise RuntimeError("bug")

    async with serve_in_process(tmp_path / "data") as server:
        monkeypatch.setattr(server.tether.service, "heartbeat", boom)
        c = clients(url=server.url)
        await c.connect()
        ack = await c.call("heartbeat", {})
        assert ack == {"ok": False, "error": {"code": "internal", "message": "internal error"}}
        assert any(
            r.levelname == "ERROR" and r.getMessage() == "heartbeat failed" and r.exc_info
            for r in caplog.records
        ), "the exception is logged with its traceback"
        assert server.tether.metrics.registry.get_sample_value(
            "tether_requests_total", {"event": "heartbeat", "outcome": "internal"}
        ) == 1
        assert (await c.call("list_sessions", {}))["ok"] is True  # still connected and served
        await c.close()


async def test_connect_refusals(server: ServerProcess) -> None:
    sio = socketio.AsyncClient(reconnection=False)
    errors: list[object] = []
    sio.on("connect_error", errors.append)
    with pytest.raises(socketio.exceptions.ConnectionError):
        await sio.connect(server.url, auth={"client_id": "bad id!"}, transports=["websocket"])
    with pytest.raises(socketio.exceptions.ConnectionError):
        await sio.connect(server.url, auth={}, transports=["websocket"])
    assert [e["message"] for e in errors] == ["invalid", "invalid"]  # type: ignore[index]
