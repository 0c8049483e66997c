"""RunManager's streaming over a real store (SQLite and PostgreSQL): one ticker flushes every
stream, coalesces its text into ordered chunks, and checkpoints all streams in one batch."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tether.accounts import User
from tether.agents import AgentRegistry, Turn
from tether.metrics import Metrics
from tether.runs import RunManager
from tether.store import MessageRow, SessionRow, Store
from tether.streams import LocalStreams


class RecordingBus:
    """Every event, in the order the runs published them."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []

    async def message(self, session_id: str, message: MessageRow) -> None:
        self.events.append(("message", dict(message)))

    async def delta(self, session_id: str, message_id: str, chunk: int, text: str) -> None:
        self.events.append(("delta", (message_id, chunk, text)))

    async def session(self, user_id: str, session: SessionRow) -> None:
        self.events.append(("session", dict(session)))


class WordsAgent:
    """Yields ``count`` words, ``pause`` seconds apart; waits on ``hold`` first when set."""

    kind = "words"
    history = True

    def __init__(self, count: int, pause: float, hold: asyncio.Event | None = None) -> None:
        self.name = "words"
        self.count, self.pause, self.hold = count, pause, hold

    async def stream(self, turn: Turn) -> AsyncIterator[str]:
        for i in range(self.count):
            if i == 2 and self.hold is not None:
                await self.hold.wait()
            yield f"w{i} "
            await asyncio.sleep(self.pause)


class CountingStore(Store):
    batches: list[int]

    async def checkpoint_many(self, items: list[tuple[str, str, int]]) -> set[str]:
        self.batches.append(len(items))
        return await super().checkpoint_many(items)


def manager(store: Store, agent: Any, bus: RecordingBus, **timing: float) -> RunManager:
    counting = CountingStore(store.engine)
    counting.batches = []
    counting._write_lock = store._write_lock  # one writer queue per database, as in the app
    return RunManager(counting, LocalStreams(), bus, AgentRegistry([agent], default="words"),
                      Metrics(), runner_id="test", **timing)


async def sessions_with_a_question(store: Store, user: User, n: int) -> list[str]:
    ids = []
    for i in range(n):
        sid = str(uuid.uuid4())
        await store.create_session(user.id, sid, f"s{i}", "words")
        await store.add_user_message(user.id, sid, "c", "hello")
        ids.append(sid)
    return ids


async def wait_answered(store: Store, sids: list[str], timeout: float = 20) -> None:
    async with asyncio.timeout(timeout):
        while any([  # noqa: ASYNC110 - the database is polled, nothing to wait on
            await store.next_unanswered(s) is not None or await store.streaming_in(s)
            for s in sids
        ]):
            await asyncio.sleep(0.02)


async def test_streams_are_coalesced_ordered_and_checkpointed_together(
    store: Store, user: User
) -> None:
    bus = RecordingBus()
    runs = manager(store, WordsAgent(30, 0.01), bus, delta_interval=0.1,
                   checkpoint_interval=0.05)
    sids = await sessions_with_a_question(store, user, 4)
    try:
        for sid in sids:
            runs.wake(sid)
        await wait_answered(store, sids)
    finally:
        await runs.shutdown()
    expected = "".join(f"w{i} " for i in range(30))
    finals = {m["id"]: m for kind, m in bus.events
              if kind == "message" and m["role"] == "assistant" and m["status"] == "complete"}
    assert len(finals) == 4
    for message_id, final in finals.items():
        chunks = [(i, e) for i, (kind, e) in enumerate(bus.events)
                  if kind == "delta" and e[0] == message_id]
        numbers = [c for _, (_, c, _) in chunks]
        assert numbers == list(range(len(numbers)))  # in order, none missing
        assert "".join(t for _, (_, _, t) in chunks) == expected == final["content"]
        assert final["chunks"] == len(numbers)
        # 30 words over about 0.3 s, at most one delta per 0.1 s: coalesced, not one per word
        assert len(numbers) < 10
        last_delta = chunks[-1][0]
        final_at = next(i for i, (kind, m) in enumerate(bus.events)
                        if kind == "message" and m.get("id") == message_id
                        and m["status"] == "complete")
        assert final_at > last_delta
    assert isinstance(runs.store, CountingStore)
    assert runs.store.batches and max(runs.store.batches) > 1  # several streams, one write


async def test_a_stream_ended_elsewhere_is_fenced_at_its_next_checkpoint(
    store: Store, user: User
) -> None:
    bus = RecordingBus()
    hold = asyncio.Event()
    runs = manager(store, WordsAgent(200, 0.01, hold), bus, delta_interval=0.01,
                   checkpoint_interval=0.05)
    [sid] = await sessions_with_a_question(store, user, 1)
    try:
        runs.wake(sid)
        async with asyncio.timeout(10):
            while not await store.streaming_in(sid):  # noqa: ASYNC110 - polls the database
                await asyncio.sleep(0.02)
        [streaming] = await store.streaming_in(sid)
        ended = await store.interrupt(streaming)  # as a node that took the session over would
        assert ended is not None
        hold.set()
        await wait_answered(store, [sid])
        async with asyncio.timeout(10):
            while runs._active:  # noqa: ASYNC110 - the run ends in its own time
                await asyncio.sleep(0.02)
    finally:
        await runs.shutdown()
    statuses = [m["status"] for kind, m in bus.events
                if kind == "message" and m.get("id") == streaming["id"]]
    assert statuses == ["streaming"]  # no second end from the fenced run
    [row] = [m for m in await store.changed_since(sid, 0) if m["id"] == streaming["id"]]
    assert row["status"] == "interrupted"


@pytest.mark.parametrize("count", [1, 3])
async def test_checkpoint_many_writes_text_and_reports_ended_messages(
    store: Store, user: User, count: int
) -> None:
    sid = str(uuid.uuid4())
    await store.create_session(user.id, sid, "t", "words")
    made = [await store.create_assistant_message(sid, None) for _ in range(count)]
    ids = [m["id"] for m in made if m is not None]
    head = await store.head_seq(sid)
    assert await store.checkpoint_many([(i, f"text {i}", 4) for i in ids]) == set()
    assert await store.head_seq(sid) == head  # not a change: no seq
    for row in await store.streaming_in(sid):
        assert (row["content"], row["chunks"]) == (f"text {row['id']}", 4)
    ended = await store.interrupt((await store.streaming_in(sid))[0])
    assert ended is not None
    assert await store.checkpoint_many([(i, "late", 9) for i in ids]) == {ended["id"]}
    [row] = [m for m in await store.changed_since(sid, 0) if m["id"] == ended["id"]]
    assert row["content"] == f"text {ended['id']}"  # the late text was not written


class RecordingAgent:
    """Records the turns it is given; answers "ok"."""

    kind = "recording"

    def __init__(self, history: bool) -> None:
        self.name = "words"
        self.history = history
        self.turns: list[Turn] = []

    async def stream(self, turn: Turn) -> AsyncIterator[str]:
        self.turns.append(turn)
        yield "ok"


@pytest.mark.parametrize("history", [True, False])
async def test_an_agent_gets_the_conversation_only_when_it_reads_history(
    store: Store, user: User, history: bool
) -> None:
    agent = RecordingAgent(history)
    runs = manager(store, agent, RecordingBus(), delta_interval=0.01)
    [sid] = await sessions_with_a_question(store, user, 1)
    try:
        runs.wake(sid)
        await wait_answered(store, [sid])
        await store.add_user_message(user.id, sid, "c2", "again")
        runs.wake(sid)
        await wait_answered(store, [sid])
    finally:
        await runs.shutdown()
    last = [(m.role, m.content) for m in agent.turns[-1].messages]
    if history:
        assert last == [("user", "hello"), ("assistant", "ok"), ("user", "again")]
    else:
        assert last == [("user", "again")]
    assert agent.turns[-1].prompt == "again"
