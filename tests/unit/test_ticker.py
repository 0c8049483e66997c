"""The coalescing rule of tether.runs.ticker, as a pure function and in the ticker itself (with a
recording bus and no database): an idle stream's next text goes out at once, a burst faster than
the interval is coalesced into one chunk per interval."""

from __future__ import annotations

import asyncio
import math
import uuid
from typing import Any

from tether.parts import Op
from tether.runs.state import Run
from tether.runs.ticker import StreamTicker, send_at
from tether.store.rows import Checkpoint
from tether.streams import LocalStreams


def test_a_stream_never_sent_is_due_now() -> None:
    assert send_at(-math.inf, 10.0, 0.03) == 10.0


def test_a_stream_idle_for_longer_than_the_interval_is_due_now() -> None:
    assert send_at(9.9, 10.0, 0.03) == 10.0
    assert send_at(9.97, 10.0, 0.03) == 10.0  # exactly one interval: due


def test_a_stream_inside_its_interval_is_held_until_the_interval_is_over() -> None:
    assert send_at(9.99, 10.0, 0.03) == 9.99 + 0.03


class StampedBus:
    """Each delta's text with the loop time it was emitted."""

    def __init__(self) -> None:
        self.deltas: list[tuple[float, int, str]] = []
        self.arrived = asyncio.Event()

    async def delta(
        self, session_id: str, message_id: str, chunk: int, text: str, ops: list[Op]
    ) -> None:
        self.deltas.append((asyncio.get_running_loop().time(), chunk, text))
        self.arrived.set()

    async def message(self, *args: Any) -> None: ...

    async def session(self, *args: Any) -> None: ...


class NoCheckpoints:
    async def checkpoint_many(self, items: list[Checkpoint]) -> set[str]:
        return set()


async def ticking(interval: float) -> tuple[StreamTicker, Run, StampedBus]:
    bus = StampedBus()
    streams = LocalStreams()
    ticker = StreamTicker(NoCheckpoints(), streams, bus,  # type: ignore[arg-type]
                          delta_interval=interval, checkpoint_interval=60.0)
    run = Run(streams.open(f"s-{uuid.uuid4().hex}", f"m-{uuid.uuid4().hex}"))
    ticker.add(run)
    return ticker, run, bus


def say(ticker: StreamTicker, run: Run, text: str) -> float:
    run.stream.add_text(text)
    ticker.text_added(run)
    return asyncio.get_running_loop().time()


async def until(bus: StampedBus, count: int, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while len(bus.deltas) < count:
            bus.arrived.clear()
            await bus.arrived.wait()


async def test_an_idle_streams_text_is_sent_at_once() -> None:
    """Text after a pause longer than the interval does not wait for the interval."""
    ticker, run, bus = await ticking(0.2)
    try:
        for word in ("a ", "b ", "c "):
            said = say(ticker, run, word)
            await until(bus, len(bus.deltas) + 1)
            assert bus.deltas[-1][0] - said < 0.05  # not the 0.2 s interval
            await asyncio.sleep(0.25)  # idle for longer than the interval
    finally:
        await ticker.stop()
    assert [text for _, _, text in bus.deltas] == ["a ", "b ", "c "]


async def test_a_burst_faster_than_the_interval_is_coalesced() -> None:
    """The first word of a burst goes at once; the rest of it waits for the interval and
    goes as one chunk, in order."""
    ticker, run, bus = await ticking(0.2)
    try:
        said = say(ticker, run, "a ")
        await until(bus, 1)
        for word in ("b ", "c ", "d "):
            say(ticker, run, word)
            await asyncio.sleep(0.01)
        await until(bus, 2)
        await asyncio.sleep(0.05)
    finally:
        await ticker.stop()
    (first_at, _, first), (second_at, chunk, second) = bus.deltas
    assert first == "a " and first_at - said < 0.05
    assert (chunk, second) == (1, "b c d ")
    assert second_at - first_at >= 0.2 - 0.005  # held for the interval after the first chunk
