"""Runs belong to the session: they outlive clients, can be cancelled, survive a crash."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pytest

from tests.support.client import Client
from tests.support.server import ServerProcess, start_server
from tests.support.services import REDIS_URL, fresh_pg_database, require
from tether.db.engine import create_engine
from tether.store import MessageRow as Row
from tether.store import Store

T = TypeVar("T")


async def eventually(probe: Callable[[], Awaitable[T]], what: str, timeout: float = 10) -> T:
    """``probe()``'s first truthy value, asked again until ``timeout``."""
    try:
        async with asyncio.timeout(timeout):
            while not (value := await probe()):  # noqa: ASYNC110 - polls the server
                await asyncio.sleep(0.02)
    except TimeoutError:
        raise AssertionError(f"timed out after {timeout}s waiting for {what}") from None
    return value


def answers_in(data_dir: Path) -> list[tuple[str, str]]:
    """(status, content) of every assistant message in a server's SQLite database."""
    with sqlite3.connect(data_dir / "tether.db") as db:
        return db.execute(
            "SELECT status, content FROM messages WHERE role = 'assistant' ORDER BY position"
        ).fetchall()


async def test_run_finishes_with_no_client_connected(
    clients: Callable[..., Client], server: ServerProcess
) -> None:
    c = clients()
    await c.connect()
    sid = await c.new_session()
    await c.send(sid, "answer me while I am away please")
    await c.close()

    async def finished() -> bool:
        with sqlite3.connect(server.data_dir / "tether.db") as db:
            rows = db.execute(
                "SELECT status FROM messages WHERE session_id = ? AND role = 'assistant'", (sid,)
            ).fetchall()
        return rows == [("complete",)]

    await eventually(finished, "the answer to end with no client connected")
    back = clients()
    await back.connect()
    ack = await back.ok("subscribe", {"session_id": sid, "after_seq": 1})
    [answer] = ack["messages"]
    assert answer["status"] == "complete"
    assert answer["content"] == "Echo: answer me while I am away please"


async def test_messages_sent_during_a_run_wait_their_turn(client: Client) -> None:
    sid = await client.new_session()
    await client.ok("subscribe", {"session_id": sid})
    await client.send(sid, "first question here")
    await client.send(sid, "second")
    answers = await client.wait_status(sid, "complete", count=2)
    ordered = sorted(answers, key=lambda m: m["position"])
    assert [m["content"] for m in ordered] == ["Echo: first question here", "Echo: second"]
    # The second answer only starts once the first has ended.
    first_end = ordered[0]["seq"]
    [second_start] = [
        m["seq"] for m in client.messages(sid)
        if m["id"] == ordered[1]["id"] and m["status"] == "streaming"
    ]
    assert second_start > first_end
    def running() -> list[bool]:
        return [s["session"]["running"] for s in client.of("session") if s["session"]["id"] == sid]

    # The session stops running after its last answer has ended.
    await client.wait_for(lambda: running() and running()[-1] is False, what="running: false")
    assert True in running()


async def test_cancel_keeps_the_text_so_far(
    clients: Callable[..., Client], tmp_path: Path
) -> None:
    slow = start_server(tmp_path / "data", {"TETHER_ECHO_DELAY": "0.1"})
    try:
        c = clients(url=slow.url)
        await c.connect()
        sid = await c.new_session()
        await c.ok("subscribe", {"session_id": sid})
        await c.send(sid, " ".join(["word"] * 50))
        await c.wait_for(lambda: len(c.of("delta", sid)) >= 3, what="deltas")
        assert (await c.ok("cancel", {"session_id": sid}))["cancelled"] is True
        [cancelled] = await c.wait_status(sid, "cancelled")
        assert cancelled["content"].startswith("Echo: word")
        assert len(cancelled["content"]) < len("Echo: " + " ".join(["word"] * 50))
        assert cancelled["content"] == "".join(d["text"] for d in c.of("delta", sid))
        assert (await c.ok("cancel", {"session_id": sid}))["cancelled"] is False
        await c.send(sid, "still answering")
        done = await c.wait_status(sid, "complete")
        assert done[0]["content"] == "Echo: still answering"
    finally:
        slow.stop()


async def test_sigkill_mid_stream_leaves_the_message_interrupted(
    clients: Callable[..., Client], tmp_path: Path
) -> None:
    env = {"TETHER_ECHO_DELAY": "0.1", "TETHER_CHECKPOINT_INTERVAL": "0.3"}
    first = start_server(tmp_path / "data", env)
    c = clients(url=first.url)
    await c.connect()
    sid = await c.new_session()
    await c.ok("subscribe", {"session_id": sid})
    await c.send(sid, " ".join(f"w{i}" for i in range(100)))
    await c.wait_for(lambda: len(c.of("delta", sid)) >= 10, what="deltas")

    async def checkpointed() -> bool:
        return any(kept for _, kept in answers_in(tmp_path / "data"))

    await eventually(checkpointed, "a checkpoint")
    first.kill()
    streamed = "".join(d["text"] for d in c.of("delta", sid))
    await c.close()
    [(status, kept)] = answers_in(tmp_path / "data")
    assert status == "streaming" and kept and streamed.startswith(kept)

    second = start_server(tmp_path / "data", {"TETHER_ECHO_DELAY": "0.01"})
    try:
        back = clients(url=second.url)
        await back.connect()
        ack = await back.ok("subscribe", {"session_id": sid, "after_seq": 2})
        [interrupted] = ack["messages"]
        assert interrupted["status"] == "interrupted" and interrupted["content"] == kept
        assert interrupted["error"]
        await back.send(sid, "are you back")
        done = await back.wait_status(sid, "complete")
        assert done[0]["content"] == "Echo: are you back"
    finally:
        second.stop()


async def test_a_message_sent_just_before_a_crash_is_answered_after_restart(
    clients: Callable[..., Client], tmp_path: Path
) -> None:
    first = start_server(tmp_path / "data", {"TETHER_ECHO_DELAY": "0.2"})
    c = clients(url=first.url)
    await c.connect()
    sid = await c.new_session()
    await c.ok("subscribe", {"session_id": sid})
    await c.send(sid, "one two three four five six")
    await c.send(sid, "queued behind")
    await c.wait_for(lambda: c.of("delta", sid), what="the first answer streaming")
    first.kill()
    await c.close()
    second = start_server(tmp_path / "data", {"TETHER_ECHO_DELAY": "0.01"})
    try:
        back = clients(url=second.url)
        await back.connect()

        async def answered() -> bool:
            ack = await back.ok("subscribe", {"session_id": sid})
            return ("assistant", "complete") in [(m["role"], m["status"]) for m in ack["messages"]]

        await eventually(answered, "the queued question answered")
        ack = await back.ok("subscribe", {"session_id": sid})
        answers = [m for m in ack["messages"] if m["role"] == "assistant"]
        assert [m["status"] for m in answers] == ["interrupted", "complete"]
        assert answers[1]["content"] == "Echo: queued behind"
    finally:
        second.stop()


@pytest.mark.postgres
@pytest.mark.redis
async def test_a_node_stopped_past_its_lease_leaves_nothing_streaming(
    clients: Callable[..., Client], tmp_path: Path
) -> None:
    """Issue 12 section 1, two ``tether serve`` nodes on PostgreSQL and Redis: node A is
    stopped (SIGSTOP) mid-answer past its lease; a new question reaches node B, whose own
    sweep is far off, so B claims the session through the normal path. B must end A's answer
    ``interrupted`` (text kept); A, resumed, must write nothing and say who ended it."""
    require("Redis", "127.0.0.1", 6379)
    prefix = f"t{uuid.uuid4().hex[:10]}"
    async with fresh_pg_database() as pg_url:
        shared = {"TETHER_DATABASE_URL": pg_url, "TETHER_REDIS_URL": REDIS_URL,
                  "TETHER_REDIS_PREFIX": prefix, "TETHER_CHECKPOINT_INTERVAL": "0.2"}
        node_a = start_server(tmp_path / "a", {**shared, "TETHER_LEASE_SECONDS": "1",
                                                "TETHER_ECHO_DELAY": "0.1"})
        node_b = start_server(tmp_path / "b", {**shared, "TETHER_LEASE_SECONDS": "60",
                                                "TETHER_ECHO_DELAY": "0.01"})
        store = Store(create_engine(pg_url))
        try:
            on_a, on_b = clients(url=node_a.url), clients(url=node_b.url)
            await on_a.connect()
            await on_b.connect()
            sid = await on_a.new_session()
            await on_b.ok("subscribe", {"session_id": sid})
            await on_a.send(sid, " ".join(f"w{i}" for i in range(200)))
            await on_b.wait_for(lambda: len(on_b.of("delta", sid)) >= 5, what="deltas")

            async def checkpointed() -> list[Row]:
                return [m for m in await store.streaming_in(sid) if m["content"]]

            [old] = await eventually(checkpointed, "a checkpoint")
            node_a.proc.send_signal(signal.SIGSTOP)
            try:

                async def expired() -> bool:
                    return sid in await store.expired_claims()

                await eventually(expired, "node A's lease to run out")
                await on_b.send(sid, "are you there")
                [ended] = await on_b.wait_status(sid, "interrupted")
                assert ended["id"] == old["id"] and ended["content"].startswith(old["content"])
                [answer] = await on_b.wait_status(sid, "complete")
                assert answer["content"] == "Echo: are you there"
            finally:
                node_a.proc.send_signal(signal.SIGCONT)
            await on_b.wait_for(lambda: "was ended by the runner that took session" in
                                node_a.log(), what="node A to find its answer ended")
            rows = await store.changed_since(sid, 0)
            assert [m["status"] for m in rows if m["status"] == "streaming"] == []
            answers = [m for m in rows if m["role"] == "assistant"]
            assert sorted(m["reply_to"] for m in answers) == sorted(
                m["id"] for m in rows if m["role"] == "user"
            )  # every question, exactly one final answer
            [final_old] = [m for m in answers if m["id"] == old["id"]]
            assert final_old == {**ended, "reply_to": final_old["reply_to"]}  # A wrote nothing
            assert [m["status"] for m in on_b.messages(sid) if m["id"] == old["id"]] == [
                "streaming", "interrupted"
            ]  # ended once
        finally:
            await store.close()
            node_a.stop()
            node_b.stop()
