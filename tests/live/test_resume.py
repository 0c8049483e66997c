"""Recovery: a client that comes back gets exactly what it missed, once, even mid-stream."""

from __future__ import annotations

import asyncio
import sqlite3
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.client import Client
from tests.support.server import ServerProcess, start_server


async def test_resume_returns_exactly_the_missed_messages(clients: Callable[..., Client]) -> None:
    phone, laptop = clients(), clients()
    await phone.connect()
    await laptop.connect()
    sid = await laptop.new_session()
    await phone.ok("subscribe", {"session_id": sid})
    await laptop.ok("subscribe", {"session_id": sid})
    await laptop.send(sid, "before")
    await phone.wait_status(sid, "complete")
    last_seq = max(m["seq"] for m in phone.messages(sid))
    seen = {m["id"] for m in phone.messages(sid)}
    await phone.close()

    for text in ("missed one", "missed two", "missed three"):
        await laptop.send(sid, text)
    await laptop.wait_status(sid, "complete", count=4)

    back = clients(client_id=phone.client_id)
    await back.connect()
    ack = await back.ok("subscribe", {"session_id": sid, "after_seq": last_seq})
    assert ack["mode"] == "resume" and ack["head_seq"] == last_seq + 9
    got = ack["messages"]
    assert [m["seq"] for m in got] == sorted(m["seq"] for m in got)
    assert len({m["id"] for m in got}) == len(got) == 6  # 3 user + 3 assistant, once each
    assert not seen & {m["id"] for m in got}
    assert [m["content"] for m in got if m["role"] == "user"] == [
        "missed one", "missed two", "missed three",
    ]
    assert all(m["status"] == "complete" for m in got)


async def test_resume_mid_stream_adds_up_to_the_final_text(
    clients: Callable[..., Client], slow_server: ServerProcess
) -> None:
    writer, late = clients(url=slow_server.url), clients(url=slow_server.url)
    await writer.connect()
    await late.connect()
    sid = await writer.new_session()
    await writer.ok("subscribe", {"session_id": sid})
    words = " ".join(f"w{i}" for i in range(40))
    await writer.send(sid, words)
    await writer.wait_for(lambda: len(writer.of("delta", sid)) >= 5, what="some deltas")
    mark = len(late.events)
    ack = await late.ok("subscribe", {"session_id": sid, "after_seq": 1})
    [streaming] = [m for m in ack["messages"] if m["status"] == "streaming"]
    assert streaming["chunks"] >= 5 and streaming["content"]  # the text so far
    await late.wait_status(sid, "complete")
    view = late.view(sid, ack, since=mark)
    final = view.messages[streaming["id"]]
    assert final["status"] == "complete" and final["content"] == "Echo: " + words
    # The snapshot plus the live chunks after it rebuild the text chunk by chunk, too.
    rebuilt = streaming["content"] + "".join(
        d["text"] for d in late.of("delta", sid) if d["chunk"] >= streaming["chunks"]
    )
    assert rebuilt == "Echo: " + words


async def test_reset_when_ahead_or_too_far_behind(
    clients: Callable[..., Client], tmp_path: Path
) -> None:
    small = start_server(tmp_path / "data", {"TETHER_MAX_RESUME": "3"})
    try:
        c = clients(url=small.url)
        await c.connect()
        sid = await c.new_session()
        await c.ok("subscribe", {"session_id": sid})
        await c.send(sid, "a")
        await c.send(sid, "b")
        await c.wait_status(sid, "complete", count=2)
        ahead = await c.ok("subscribe", {"session_id": sid, "after_seq": 99})
        assert ahead["mode"] == "reset" and ahead["head_seq"] == 6
        assert [m["position"] for m in ahead["messages"]] == [1, 2, 3, 4]
        behind = await c.ok("subscribe", {"session_id": sid, "after_seq": 2})
        assert behind["mode"] == "reset"  # 4 changes since, max_resume is 3
        near = await c.ok("subscribe", {"session_id": sid, "after_seq": 3})
        assert near["mode"] == "resume" and [m["seq"] for m in near["messages"]] == [4, 6]
    finally:
        small.stop()


def sqlite_backup(source: Path, target: Path) -> None:
    """An online backup, as an operator would take one (SQLite's backup API)."""
    with sqlite3.connect(source) as live, sqlite3.connect(target) as copy:
        live.backup(copy)
    copy.close()
    live.close()


async def test_a_restored_database_resets_clients_that_saw_later_changes(
    clients: Callable[..., Client], tmp_path: Path
) -> None:
    data = tmp_path / "data"
    database = data / "tether.db"
    server = start_server(data)
    try:
        c = clients(url=server.url)
        await c.connect()
        sid = await c.new_session()
        await c.ok("subscribe", {"session_id": sid})
        await c.send(sid, "kept")
        await c.wait_status(sid, "complete")
        sqlite_backup(database, tmp_path / "backup.db")  # taken at seq 3
        await c.send(sid, "lost")
        await c.wait_status(sid, "complete", count=2)
        seen = await c.ok("subscribe", {"session_id": sid, "after_seq": 0})
        last_seq, epoch = seen["head_seq"], seen["session"]["epoch"]
        assert last_seq == 6 and isinstance(epoch, str) and epoch
        await c.close()
    finally:
        server.stop()

    for leftover in (data / "tether.db-wal", data / "tether.db-shm"):
        leftover.unlink(missing_ok=True)
    (tmp_path / "backup.db").replace(database)  # the restore
    renew = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tether", "db", "new-epoch", "--data-dir", str(data),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(renew.communicate(), 60)
    assert renew.returncode == 0, err.decode()
    assert "gave 1 session(s) a new epoch" in out.decode()

    server = start_server(data)
    try:
        c = clients(url=server.url)
        await c.connect()
        await c.ok("subscribe", {"session_id": sid})
        for text in ("after one", "after two"):
            await c.send(sid, text)
        await c.wait_status(sid, "complete", count=2)  # head 9: past the client's last_seq
        back = clients(url=server.url)
        await back.connect()
        ack = await back.ok("subscribe", {"session_id": sid, "after_seq": last_seq, "epoch": epoch})
        assert ack["mode"] == "reset" and ack["head_seq"] == 9
        assert ack["session"]["epoch"] != epoch
        assert "lost" not in [m["content"] for m in ack["messages"]]
        assert [m["content"] for m in ack["messages"] if m["role"] == "user"] == [
            "kept", "after one", "after two",
        ]
        # A client without epochs is served as before: by its seq alone.
        blind = await back.ok("subscribe", {"session_id": sid, "after_seq": last_seq})
        assert blind["mode"] == "resume"
    finally:
        server.stop()


@pytest.fixture(scope="module")
def slow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    proc = start_server(tmp_path_factory.mktemp("slow"), {"TETHER_ECHO_DELAY": "0.05"})
    yield proc
    proc.stop()
