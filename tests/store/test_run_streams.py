"""RunManager's streaming over a real store (SQLite and PostgreSQL): one ticker flushes every
stream, coalesces its text into ordered chunks, and checkpoints all streams in one batch."""

from __future__ import annotations

import asyncio
import itertools
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from typing import Any

import pytest

from tether.accounts import User
from tether.agents import AgentRegistry, Turn, events
from tether.db.engine import is_sqlite
from tether.metrics import Metrics
from tether.parts import Op, Part
from tether.protocol import MessageStatus
from tether.runs import CancelChannel, RunManager, RunState
from tether.store import AgentState, IdleOrNext, MessageRow, SessionRow, Store, Takeover
from tether.store.rows import Checkpoint
from tether.streams import LocalStreams


class RecordingBus:
    """Every event, in the order the runs published them."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []
        self.ops: dict[str, list[list[Op]]] = {}  # each message's deltas' ops, in order

    async def message(self, session_id: str, message: MessageRow) -> None:
        self.events.append(("message", dict(message)))

    async def delta(
        self, session_id: str, message_id: str, chunk: int, text: str, ops: list[Op]
    ) -> None:
        self.events.append(("delta", (message_id, chunk, text)))
        self.ops.setdefault(message_id, []).append(ops)

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


def manager(
    store: Store, agent: Any, bus: RecordingBus, *, kind: type[CountingStore] = CountingStore,
    runner_id: str = "test", cancels: CancelChannel | None = None, **timing: float,
) -> RunManager:
    counting = kind(store.engine)
    counting.batches = []
    counting._write_lock = store._write_lock  # one writer queue per database, as in the app
    return RunManager(counting, LocalStreams(), bus, AgentRegistry([agent], default="words"),
                      Metrics(), runner_id=runner_id, cancels=cancels, **timing)


async def wait_until_idle(runs: RunManager, timeout: float = 10) -> None:
    async with asyncio.timeout(timeout):
        while runs.running:  # noqa: ASYNC110 - the run ends in its own time
            await asyncio.sleep(0.02)


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


async def answer_all(runs: RunManager, store: Store, sid: str) -> None:
    """Have ``runs`` answer the session's queue, then shut it down."""
    try:
        runs.wake(sid)
        await wait_answered(store, [sid])
        await wait_until_idle(runs)
    finally:
        await runs.shutdown()


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
        await wait_until_idle(runs)
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
    assert await store.checkpoint_many([(i, f"text {i}", 4, None) for i in ids]) == set()
    assert await store.head_seq(sid) == head  # not a change: no seq
    for row in await store.streaming_in(sid):
        assert (row["content"], row["chunks"]) == (f"text {row['id']}", 4)
    ended = await store.interrupt((await store.streaming_in(sid))[0])
    assert ended is not None
    assert await store.checkpoint_many([(i, "late", 9, None) for i in ids]) == {ended["id"]}
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


async def final_answers(store: Store, sid: str) -> list[MessageRow]:
    """The session's assistant messages, by position; asserts none is left streaming."""
    rows = [m for m in await store.changed_since(sid, 0) if m["role"] == "assistant"]
    assert all(m["status"] != "streaming" for m in rows)
    return sorted(rows, key=lambda m: m["position"])


class SurrogateAgent:
    """Streams an emoji split across two strings and a lone surrogate, as JSON allows."""

    kind = "words"
    history = False
    name = "words"

    async def stream(self, turn: Turn) -> AsyncIterator[str]:
        for piece in ("smile \ud83d", "\ude00", " and \udc00 lone"):
            yield piece
            await asyncio.sleep(0.01)


async def test_a_lone_surrogate_from_an_agent_is_repaired_and_the_answer_ends(
    store: Store, user: User
) -> None:
    """Issue 12 section 3: such an answer stayed streaming for ever."""
    answer, deltas, _ = await one_answer(store, user, SurrogateAgent())
    assert answer["status"] == "complete"
    assert answer["content"] == "smile 😀 and \ufffd lone"
    assert deltas == answer["content"]


async def one_answer(store: Store, user: User, agent: Any) -> tuple[MessageRow, str, list[Op]]:
    """The answer ``agent`` gives one question, the text of its deltas and their ops."""
    bus = RecordingBus()
    runs = manager(store, agent, bus, delta_interval=0.01, checkpoint_interval=0.01)
    [sid] = await sessions_with_a_question(store, user, 1)
    try:
        runs.wake(sid)
        await wait_answered(store, [sid], timeout=10)
    finally:
        await runs.shutdown()
    [answer] = await final_answers(store, sid)
    deltas = "".join(e[2] for kind, e in bus.events if kind == "delta")
    return answer, deltas, [op for ops in bus.ops[answer["id"]] for op in ops]


class HeldSurrogateAgent:
    """A high surrogate held before a structured event, one in the event, one at the end."""

    kind = "words"
    history = False
    name = "words"

    async def stream(self, turn: Turn) -> AsyncIterator[str | events.Event]:
        yield "x \ud83d"
        yield events.Status("caf\u00e9 \ud83d")
        yield "end \ud83d"


async def test_a_surrogate_held_before_an_event_or_the_end_becomes_a_replacement(
    store: Store, user: User
) -> None:
    answer, deltas, ops = await one_answer(store, user, HeldSurrogateAgent())
    assert answer["status"] == "complete"
    assert answer["content"] == "x \ufffdend \ufffd"
    assert deltas == answer["content"]
    # No lone surrogate is left in the parts or in any delta's ops (the status line is live
    # only: it is in the ops, not in the final parts).
    json.dumps(answer["parts"], ensure_ascii=False).encode()
    encoded = json.dumps(ops, ensure_ascii=False)
    encoded.encode()
    assert "caf\u00e9 \ufffd" in encoded


POISON = "POISON"


class PoisonStore(CountingStore):
    """A store that cannot checkpoint text containing POISON (as PostgreSQL refused a lone
    surrogate): the whole batch fails."""

    async def checkpoint_many(self, items: list[Checkpoint]) -> set[str]:
        if any(POISON in text for _, text, _, _ in items):
            raise ValueError("cannot encode this text")
        return await super().checkpoint_many(items)


class PoisonBus(RecordingBus):
    async def delta(
        self, session_id: str, message_id: str, chunk: int, text: str, ops: list[Op]
    ) -> None:
        if POISON in text:
            raise ValueError("cannot encode this delta")
        await super().delta(session_id, message_id, chunk, text, ops)


class TwoVoicesAgent:
    """Poisoned words in the sessions named in ``bad``, clean ones elsewhere; holds after the
    first few words until ``hold`` is set."""

    kind = "words"
    history = False
    name = "words"

    def __init__(self, bad: set[str], hold: asyncio.Event) -> None:
        self.bad, self.hold = bad, hold

    async def stream(self, turn: Turn) -> AsyncIterator[str]:
        word = POISON if turn.session_id in self.bad else "fine"
        for i in range(20):
            if i == 5:
                await self.hold.wait()
            yield f"{word}{i} "
            await asyncio.sleep(0.005)


async def test_one_streams_bad_writes_do_not_touch_another_stream(
    store: Store, user: User
) -> None:
    """Issue 12 section 3: a bad stream made another user's stream on the same node lose
    delta chunks and its checkpoint."""
    bad, good = await sessions_with_a_question(store, user, 2)
    hold = asyncio.Event()
    bus = PoisonBus()
    runs = manager(store, TwoVoicesAgent({bad}, hold), bus, kind=PoisonStore,
                   delta_interval=0.02, checkpoint_interval=0.05)
    try:
        runs.wake(bad)
        runs.wake(good)
        async with asyncio.timeout(10):  # the good stream is checkpointed while it streams
            while not any(m["content"] for m in await store.streaming_in(good)):  # noqa: ASYNC110
                await asyncio.sleep(0.02)
        hold.set()
        await wait_answered(store, [bad, good])
    finally:
        await runs.shutdown()
    [answer] = await final_answers(store, good)
    expected = "".join(f"fine{i} " for i in range(20))
    assert answer["content"] == expected and answer["status"] == "complete"
    chunks = [(c, t) for kind, e in bus.events if kind == "delta" and e[0] == answer["id"]
              for _, c, t in [e]]
    assert [c for c, _ in chunks] == list(range(answer["chunks"]))  # none lost
    assert "".join(t for _, t in chunks) == expected
    [poisoned] = await final_answers(store, bad)
    assert poisoned["status"] == "complete"  # the bad stream ends too


class FlakyStore(CountingStore):
    """Each storage call of a run fails twice as if PostgreSQL blinked, then works."""

    failures: dict[str, int]

    def _blink(self, name: str) -> None:
        seen = self.failures.get(name, 0)
        if seen < 2:
            self.failures[name] = seen + 1
            raise ConnectionResetError(f"{name}: connection reset by peer")

    async def claim_session(
        self, session_id: str, runner: str, until: datetime, *, queued: bool = False,
        answer_id: str | None = None,
    ) -> Takeover | None:
        if queued:  # a worker's (on SQLite it opens the answer too)
            self._blink("claim")
        return await super().claim_session(
            session_id, runner, until, queued=queued, answer_id=answer_id
        )

    async def create_assistant_message(
        self, session_id: str, reply_to: str | None, runner: str | None = None,
        message_id: str | None = None,
    ) -> MessageRow | None:
        self._blink("create")
        return await super().create_assistant_message(session_id, reply_to, runner, message_id)

    async def end_and_release(
        self, session_id: str, message_id: str, status: MessageStatus, content: str,
        chunks: int, error: str | None, *, runner: str, parts: list[Part] | None,
        agent_state: AgentState | None = None, likely_queued: bool = False,
    ) -> tuple[MessageRow, IdleOrNext | None] | None:
        self._blink("end")  # on SQLite it keeps the agent's state and releases too
        return await super().end_and_release(
            session_id, message_id, status, content, chunks, error, runner=runner,
            parts=parts, agent_state=agent_state, likely_queued=likely_queued,
        )

    async def turn_inputs(
        self, session_id: str, up_to_position: int | None
    ) -> tuple[list[tuple[str, str]], str | None]:
        self._blink("turn")
        return await super().turn_inputs(session_id, up_to_position)

    async def checkpoint_many(self, items: list[tuple[str, str, int]]) -> set[str]:
        self._blink("checkpoint")
        return await super().checkpoint_many(items)

    async def set_agent_state(self, session_id: str, state: str | None) -> None:
        self._blink("state")
        await super().set_agent_state(session_id, state)


class StatefulAgent(WordsAgent):
    async def stream(self, turn: Turn) -> AsyncIterator[str]:
        turn.set_state("conversation-7")
        async for piece in super().stream(turn):
            yield piece


async def test_storage_errors_during_a_run_wait_and_retry(store: Store, user: User) -> None:
    """Issue 12 section 1: a database blip ended answers failed with "the agent failed
    unexpectedly (ConnectionResetError)"."""
    runs = manager(store, StatefulAgent(10, 0.02), RecordingBus(), kind=FlakyStore,
                   delta_interval=0.01, checkpoint_interval=0.02)
    assert isinstance(runs.store, FlakyStore)
    runs.store.failures = {}
    [sid] = await sessions_with_a_question(store, user, 1)
    await answer_all(runs, store, sid)
    [answer] = await final_answers(store, sid)
    assert (answer["status"], answer["error"]) == ("complete", None)
    assert answer["content"] == "".join(f"w{i} " for i in range(10))
    every_run = {"claim": 2, "turn": 2, "checkpoint": 2, "end": 2}
    if is_sqlite(store.engine):  # the claim opened the answer; its end kept the state
        assert runs.store.failures == every_run
    else:
        assert runs.store.failures == every_run | {"create": 2, "state": 2}
    assert (await store.turn_inputs(sid, None))[1] == "conversation-7"


async def test_a_node_claiming_an_expired_lease_ends_the_old_answer_once(
    store: Store, user: User
) -> None:
    """Issue 12 section 1, with two run managers on one database: node A stalls past its
    lease mid-answer; node B claims the session through the normal path (a new question, no
    sweep). B must end A's answer, and A, resuming, must write nothing."""
    hold = asyncio.Event()
    bus_a, bus_b = RecordingBus(), RecordingBus()
    a = manager(store, WordsAgent(50, 0.005, hold), bus_a, runner_id="node-a", lease=0.3,
                delta_interval=0.01, checkpoint_interval=0.02)
    b = manager(store, WordsAgent(3, 0.005), bus_b, runner_id="node-b", lease=30,
                delta_interval=0.01)
    [sid] = await sessions_with_a_question(store, user, 1)
    try:
        await a.start(single_process=False)
        async with asyncio.timeout(10):  # A's answer streams, checkpointed
            while not any(m["content"] for m in await store.streaming_in(sid)):  # noqa: ASYNC110
                await asyncio.sleep(0.02)
        [old] = await store.streaming_in(sid)
        await a.leases.stop()  # A stalls: no more renewals
        async with asyncio.timeout(10):
            while sid not in await store.expired_claims():  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        await store.add_user_message(user.id, sid, "c2", "second question")
        b.wake(sid)  # B never started its sweeps: only the normal path claims
        await wait_answered(store, [sid])
        first, second = await final_answers(store, sid)
        assert first["id"] == old["id"] and first["status"] == "interrupted"
        assert old["content"] and first["content"].startswith(old["content"])
        assert second["status"] == "complete" and second["content"] == "w0 w1 w2 "
        ended = dict(first)

        hold.set()  # A resumes, finds its answer ended and its claim gone
        await wait_until_idle(a)
        await wait_until_idle(b)
    finally:
        await a.shutdown()
        await b.shutdown()
    first, second = await final_answers(store, sid)
    assert first == ended  # A wrote nothing more
    finals_a = [m["status"] for kind, m in bus_a.events
                if kind == "message" and m.get("id") == old["id"]]
    assert finals_a == ["streaming"]
    finals_b = [m["status"] for kind, m in bus_b.events
                if kind == "message" and m.get("id") == old["id"]]
    assert finals_b == ["interrupted"]  # ended once, by the node that took the session over
    questions = [m for m in await store.changed_since(sid, 0) if m["role"] == "user"]
    assert sorted(m["reply_to"] for m in (first, second)) == sorted(q["id"] for q in questions)


class RefusingStore(CountingStore):
    """A database that refuses one answer's final text (not because it is away), whichever
    write ends it."""

    async def end_and_release(
        self, session_id: str, message_id: str, status: MessageStatus, content: str,
        chunks: int, error: str | None, *, runner: str, parts: list[Part] | None,
        agent_state: AgentState | None = None, likely_queued: bool = False,
    ) -> tuple[MessageRow, IdleOrNext | None] | None:
        if POISON in content:
            raise ValueError("cannot store this text")
        return await super().end_and_release(
            session_id, message_id, status, content, chunks, error, runner=runner,
            parts=parts, agent_state=agent_state, likely_queued=likely_queued,
        )

    async def finish_message(
        self, session_id: str, message_id: str, status: str, content: str, chunks: int,
        error: str | None = None, runner: str | None = None, parts: list[Part] | None = None,
    ) -> MessageRow | None:
        if POISON in content:
            raise ValueError("cannot store this text")
        return await super().finish_message(
            session_id, message_id, status, content, chunks, error, runner, parts
        )


async def test_an_answer_the_database_refuses_ends_failed_not_streaming(
    store: Store, user: User
) -> None:
    bad, good = await sessions_with_a_question(store, user, 2)
    hold = asyncio.Event()
    hold.set()
    runs = manager(store, TwoVoicesAgent({bad}, hold), RecordingBus(), kind=RefusingStore,
                   delta_interval=0.01)
    try:
        runs.wake(bad)
        runs.wake(good)
        await wait_answered(store, [bad, good])
    finally:
        await runs.shutdown()
    [refused] = await final_answers(store, bad)
    assert (refused["status"], refused["error"]) == ("failed", "the answer could not be stored")
    [fine] = await final_answers(store, good)
    assert fine["status"] == "complete"


class PausingAgent(WordsAgent):
    """Two words, then waits for ever (until cancelled), saying so."""

    def __init__(self) -> None:
        super().__init__(2, 0.001)
        self.paused = asyncio.Event()

    async def stream(self, turn: Turn) -> AsyncIterator[str]:
        async for piece in super().stream(turn):
            yield piece
        self.paused.set()
        await asyncio.Event().wait()


class LoopbackChannel:
    """A cancel channel with one process behind it: records each request and hands it to the
    registered handler, as the cluster seam's local implementation does."""

    def __init__(self) -> None:
        self.asked: list[str] = []
        self.handler: Callable[[str], Awaitable[bool]] | None = None

    async def cancel(self, session_id: str) -> bool:
        self.asked.append(session_id)
        assert self.handler is not None
        return await self.handler(session_id)


async def test_cancel_goes_through_the_channel_and_ends_the_answer_cancelled(
    store: Store, user: User
) -> None:
    channel = LoopbackChannel()
    agent = PausingAgent()
    runs = manager(store, agent, RecordingBus(), cancels=channel, delta_interval=0.01)
    channel.handler = runs.cancel_here
    [sid] = await sessions_with_a_question(store, user, 1)
    try:
        assert await runs.cancel(sid) is False  # nothing runs yet
        runs.wake(sid)
        async with asyncio.timeout(10):
            await agent.paused.wait()
        assert runs.running == {sid: RunState.STREAMING}
        assert await runs.cancel(sid) is True
        [answer] = await final_answers(store, sid)  # ended before cancel returned
        assert answer["status"] == "cancelled" and answer["content"] == "w0 w1 "
        assert await runs.cancel(sid) is False
    finally:
        await runs.shutdown()
    assert channel.asked == [sid, sid, sid]


class StampedBus(RecordingBus):
    """Records, with each delta, the loop time it was published."""

    def __init__(self) -> None:
        super().__init__()
        self.sent_at: dict[str, float] = {}  # word -> loop time of the delta carrying it

    async def delta(
        self, session_id: str, message_id: str, chunk: int, text: str, ops: list[Op]
    ) -> None:
        await super().delta(session_id, message_id, chunk, text, ops)
        for word in text.split():
            self.sent_at[word] = asyncio.get_running_loop().time()


class PacedAgent:
    """Session ``busy`` streams a word every 5 ms; any other yields ``quiet`` words with pauses
    longer than the coalescing interval, recording the loop time each was yielded."""

    kind = "paced"
    history = True

    def __init__(self, quiet: int, pause: float) -> None:
        self.name = "words"
        self.quiet, self.pause = quiet, pause
        self.yielded_at: dict[str, float] = {}
        self.busy_session = ""

    async def stream(self, turn: Turn) -> AsyncIterator[str]:
        loop = asyncio.get_running_loop()
        if turn.session_id == self.busy_session:
            for i in range(int(self.quiet * self.pause / 0.005) + 40):
                yield f"b{i} "
                await asyncio.sleep(0.005)
            return
        for i in range(self.quiet):
            await asyncio.sleep(self.pause)
            self.yielded_at[f"q{i}"] = loop.time()
            yield f"q{i} "


async def test_a_quiet_stream_sends_its_next_token_at_once_while_others_are_coalesced(
    store: Store, user: User
) -> None:
    """Coalescing holds back only a stream whose text arrives faster than the interval: a
    stream quiet for longer than that sends its next token at once, though another stream
    keeps the ticker busy."""
    agent = PacedAgent(quiet=5, pause=0.4)
    bus = StampedBus()
    runs = manager(store, agent, bus, delta_interval=0.3)
    busy, quiet = await sessions_with_a_question(store, user, 2)
    agent.busy_session = busy
    try:
        runs.wake(busy)
        runs.wake(quiet)
        await wait_answered(store, [busy, quiet])
    finally:
        await runs.shutdown()
    waits = [bus.sent_at[w] - agent.yielded_at[w] for w in agent.yielded_at]
    assert len(waits) == 5
    assert max(waits) < 0.05, waits  # not the 0.3 s interval, nor its 0.15 s average
    # The busy stream (a word every 5 ms for about 2 s) is still coalesced: its deltas go out
    # one interval apart at the closest (the rule's own bound, which a loaded machine only
    # widens; a count of deltas would grow with how slowly a loaded machine runs the 2 s).
    busy_deltas = [e for kind, e in bus.events if kind == "delta" and e[2].startswith("b")]
    assert len(busy_deltas) >= 4, busy_deltas
    sent = [bus.sent_at[e[2].split()[0]] for e in busy_deltas]
    # (the last delta is the answer's end flushing its rest at once: not a coalescing step)
    gaps = [b - a for a, b in itertools.pairwise(sent[:-1])]
    assert min(gaps) > 0.3 - 0.02, gaps  # (a little for the publish after the decision)
