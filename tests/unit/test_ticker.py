"""The coalescing rule of tether.runs.ticker, as a pure function and in the ticker itself (with a
recording bus and no database): an idle stream's next text goes out at once, a burst faster than
the interval is coalesced into one chunk per interval, and the interval grows while the process
is behind (its ticker late, or its CPU share high) and comes back when it is not."""

from __future__ import annotations

import asyncio
import math
import threading
import time
import uuid
from typing import Any

import pytest

from tether.parts import Op
from tether.runs.state import Run
from tether.runs.ticker import (
    BUSY,
    MAX_INTERVAL,
    StreamTicker,
    coalescing_interval,
    send_at,
    smoothed,
)
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


class CpuClock:
    """A process CPU clock the test drives: idle, or (busy) running with the loop's clock."""

    def __init__(self) -> None:
        self.spent = 0.0
        self.busy_since: float | None = None

    def __call__(self) -> float:
        if self.busy_since is None:
            return self.spent
        return self.spent + asyncio.get_running_loop().time() - self.busy_since

    def busy(self, on: bool) -> None:
        self.spent = self()
        self.busy_since = asyncio.get_running_loop().time() if on else None


async def ticking(
    interval: float, cpu_clock: CpuClock | None = None
) -> tuple[StreamTicker, Run, StampedBus]:
    bus = StampedBus()
    streams = LocalStreams()
    ticker = StreamTicker(NoCheckpoints(), streams, bus,  # type: ignore[arg-type]
                          delta_interval=interval, checkpoint_interval=60.0,
                          cpu_clock=cpu_clock or CpuClock())
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


def test_a_ticker_on_time_coalesces_at_the_configured_interval() -> None:
    assert coalescing_interval(0.015, 0.0) == 0.015
    assert coalescing_interval(0.015, 0.015) == 0.015  # exactly the interval late: not behind


def test_a_late_ticker_spaces_chunks_by_twice_its_lateness() -> None:
    assert coalescing_interval(0.015, 0.05) == 0.1
    assert coalescing_interval(0.015, 0.02) == 0.04


def test_the_interval_grows_to_a_ceiling() -> None:
    assert coalescing_interval(0.015, 5.0) == MAX_INTERVAL
    assert coalescing_interval(0.5, 0.6) == 0.5  # never below the configured interval


def test_no_coalescing_stays_none_however_late_or_busy() -> None:
    assert coalescing_interval(0.0, 1.0, 1.0) == 0.0


def test_a_process_up_to_the_busy_share_coalesces_at_the_configured_interval() -> None:
    assert coalescing_interval(0.015, 0.0, 0.0) == 0.015
    assert coalescing_interval(0.015, 0.0, BUSY) == 0.015


def test_a_busier_process_coalesces_harder_up_to_the_ceiling_at_a_full_core() -> None:
    halfway = coalescing_interval(0.015, 0.0, (BUSY + 1) / 2)
    assert halfway == pytest.approx(0.015 + (MAX_INTERVAL - 0.015) / 2)
    assert coalescing_interval(0.015, 0.0, 1.0) == MAX_INTERVAL
    assert coalescing_interval(0.015, 0.0, 1.7) == MAX_INTERVAL  # threads on more cores


def test_late_and_busy_the_longer_interval_wins() -> None:
    assert coalescing_interval(0.015, 0.1, (BUSY + 1) / 2) == 0.2
    assert coalescing_interval(0.015, 0.02, 1.0) == MAX_INTERVAL


def test_the_smoothed_lateness_follows_its_samples_and_decays() -> None:
    average = 0.0
    for _ in range(30):
        average = smoothed(average, 0.1)
    assert 0.099 < average <= 0.1
    for _ in range(30):
        average = smoothed(average, 0.0)
    assert average < 0.001


async def goes_at_once(ticker: StreamTicker, run: Run, bus: StampedBus, text: str) -> None:
    """After a pause longer than the configured interval, ``text`` is sent at once."""
    await asyncio.sleep(0.05)
    said = say(ticker, run, text)
    await until(bus, len(bus.deltas) + 1)
    assert bus.deltas[-1][0] - said < 0.01


async def test_a_late_ticker_coalesces_harder_and_recovers_when_on_time() -> None:
    """While the loop is held up (a blocking call past the interval), the ticker's interval
    grows; once the loop is free again it comes back to the configured one, and an idle
    stream's text goes out at once."""
    ticker, run, bus = await ticking(0.01)
    try:
        for word in ("a ", "b ", "c ", "d ", "e ", "f "):
            say(ticker, run, word)
            time.sleep(0.06)  # noqa: ASYNC251 - the loop blocked: the ticker runs 60 ms late
            await until(bus, len(bus.deltas) + 1)
        assert ticker.interval > 0.05
        for _ in range(40):  # on time again: quick wakes bring the lateness back down
            say(ticker, run, "g ")
            await until(bus, len(bus.deltas) + 1)
            await asyncio.sleep(0.003)
        assert ticker.interval == 0.01
        await goes_at_once(ticker, run, bus, "h ")
    finally:
        await ticker.stop()
    assert "".join(text for _, _, text in bus.deltas) == "a b c d e f " + "g " * 40 + "h "


async def test_a_busy_process_coalesces_harder_and_recovers_when_idle() -> None:
    """A process using all of a core (its CPU clock keeps pace with the wall clock) raises the
    ticker's CPU share and with it the interval, though the loop is never late; idle again,
    the share and the interval come back down, and an idle stream's text goes at once."""
    clock = CpuClock()
    ticker, run, bus = await ticking(0.01, clock)
    try:
        clock.busy(True)
        for _ in range(30):  # 1.5 s: about 15 CPU-share samples
            say(ticker, run, "a ")
            await until(bus, len(bus.deltas) + 1)
            await asyncio.sleep(0.05)
        assert ticker.busy > 0.9 and ticker.interval > 0.2
        clock.busy(False)
        for _ in range(20):
            await asyncio.sleep(0.1)
            say(ticker, run, "b ")
            await until(bus, len(bus.deltas) + 1)
        assert ticker.busy < BUSY and ticker.interval == 0.01
        await goes_at_once(ticker, run, bus, "c ")
    finally:
        await ticker.stop()


async def test_only_the_loop_threads_cpu_counts_as_busy() -> None:
    """Another thread using a whole core (a store's SQLite thread, say) does not make the loop
    busy: the default CPU clock is the loop thread's own, so the interval stays as configured."""
    bus = StampedBus()
    streams = LocalStreams()
    ticker = StreamTicker(NoCheckpoints(), streams, bus,  # type: ignore[arg-type]
                          delta_interval=0.01, checkpoint_interval=60.0)
    run = Run(streams.open(f"s-{uuid.uuid4().hex}", f"m-{uuid.uuid4().hex}"))
    ticker.add(run)
    stop = threading.Event()

    def spin() -> None:
        while not stop.is_set():
            sum(range(1000))

    spinner = threading.Thread(target=spin)
    spinner.start()
    try:
        for _ in range(20):  # 1 s: about 10 CPU-share samples
            say(ticker, run, "a ")
            await until(bus, len(bus.deltas) + 1)
            await asyncio.sleep(0.05)
        assert ticker.busy < BUSY and ticker.interval == 0.01
    finally:
        stop.set()
        spinner.join()
        await ticker.stop()
