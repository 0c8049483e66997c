"""The stream ticker: one task per process flushes every run's text as ``delta`` events and
checkpoints the text so far, instead of a task and a timer per run.

Each tick takes the pending text of every stream that is due, records the chunks in one call (one
Redis round trip with several nodes), then emits the deltas; every ``checkpoint_interval`` the
texts that changed are written in one transaction. Coalescing is per stream: a stream whose last
chunk went out at least ``delta_interval`` ago is due at once, so a stream that was quiet sends its
next token without waiting; only a stream whose text keeps arriving faster than that is held back
until ``delta_interval`` after its last chunk. Other streams' traffic never delays a quiet one.

While the process is behind, every stream's interval grows, up to :data:`MAX_INTERVAL`
(:func:`coalescing_interval`): when the ticker runs later than it asked to by more than
``delta_interval`` on average, or the event loop's thread uses more than :data:`BUSY` of a
core. A saturated node then sends fewer, larger deltas instead of one frame per token per
follower, and has time left for what waits behind them (a storm of reconnects). A stream idle
for longer than the interval in use still sends its next text at once.

Only the streams whose producer said :meth:`StreamTicker.text_added` since their last chunk are
looked at by a tick, so a tick's cost follows the streams that have text, not every stream open.

One stream's failure never touches another's: a batch that fails is retried item by item, each
delta is emitted on its own, and the ticker outlives any error of a tick.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable
from typing import Protocol

from tether.bus import Bus
from tether.runs.state import Run
from tether.store import Store, is_unavailable
from tether.store.rows import Checkpoint
from tether.streams import Chunk, LocalStreams

log = logging.getLogger("tether.runs")


def send_at(last_chunk_at: float, now: float, interval: float) -> float:
    """The coalescing rule: the loop time a stream's pending text goes out.

    A stream whose last chunk went out ``interval`` ago or longer (idle, or never sent) is due
    ``now``; one still inside its interval is held until ``interval`` after its last chunk, so
    text arriving faster than that is coalesced into one chunk per interval."""
    return max(now, last_chunk_at + interval)


#: The longest the coalescing interval grows to while the process is behind.
MAX_INTERVAL = 0.25
#: How much one sample moves a smoothed figure (an exponential moving average).
SAMPLE_WEIGHT = 0.2
#: The share of one core's time the event loop's thread may use before it counts as busy. At
#: 0.75 the streaming benchmark's 300 streams (a loop at about 0.8 of a core) coalesced to a p99
#: of about 100 ms instead of 25 ms; the storm's loop is at a full core.
BUSY = 0.85
#: The shortest wall time the process's CPU share is measured over.
BUSY_WINDOW = 0.1


def coalescing_interval(delta_interval: float, lateness: float, busy: float = 0.0) -> float:
    """The interval between a stream's chunks, given the ticker's smoothed lateness (how long
    after the time it asked for it gets to run) and the process's smoothed CPU share.

    An on-time ticker (no later than ``delta_interval``) of a process using at most
    :data:`BUSY` of a core uses ``delta_interval``. A later one spaces chunks by twice its
    lateness; a busier process by a share of the way to :data:`MAX_INTERVAL` that grows from
    nothing at :data:`BUSY` to all of it at a full core; the longer of the two, at most
    :data:`MAX_INTERVAL`, never less than ``delta_interval``. A saturated process is behind
    before its loop runs late: each of its callbacks is short, but there is no time left over
    for the work that waits (a storm of reconnects) while every token goes out as a frame per
    follower. ``delta_interval`` 0 means no coalescing, behind or not."""
    if delta_interval <= 0:
        return delta_interval
    late = 2 * lateness if lateness > delta_interval else 0.0
    share = min(1.0, max(0.0, (busy - BUSY) / (1 - BUSY)))
    loaded = delta_interval + share * (MAX_INTERVAL - delta_interval)
    return max(delta_interval, min(MAX_INTERVAL, max(late, loaded)))


def smoothed(average: float, sample: float) -> float:
    """A smoothed figure after one more sample."""
    return average + SAMPLE_WEIGHT * (sample - average)


class Checkpoints(Protocol):
    async def checkpoint_many(self, items: list[Checkpoint]) -> set[str]: ...


class StreamTicker:
    def __init__(
        self,
        store: Store,
        streams: LocalStreams,
        bus: Bus,
        *,
        delta_interval: float,
        checkpoint_interval: float,
        cpu_clock: Callable[[], float] = time.thread_time,
    ) -> None:
        self.store = store
        self.streams = streams
        self.bus = bus
        self.delta_interval = delta_interval
        #: The interval in use: ``delta_interval``, or longer while the process is behind.
        self.interval = delta_interval
        self.checkpoint_interval = checkpoint_interval
        #: Set (through :meth:`text_added`) when a stream's new text may need the ticker
        #: before the time it sleeps until.
        self.text_arrived = asyncio.Event()
        self._runs: dict[str, Run] = {}  # by message id
        # The runs that got text (or ops) since their last chunk, by message id, in order.
        self._pending: dict[str, Run] = {}
        # The message ids of the runs with chunks their last checkpoint does not have (a dict
        # for its order).
        self._unwritten: dict[str, None] = {}
        # Loop time of each stream's last chunk (by message id), and the loop time the ticker
        # sleeps until (-inf while it is busy, so any new text makes it look again).
        self._flushed_at: dict[str, float] = {}
        self._wakes_at = -math.inf
        # The loop time the ticker was asked to run at (when text_arrived was set), and its
        # smoothed lateness: how long after that it ran.
        self._woken_at = math.inf
        self.lateness = 0.0
        # The loop thread's smoothed share of a core, and where its current measurement began
        # (loop time, the thread's CPU time). Only the loop's own thread: the store's SQLite
        # threads or another core's work do not make the loop busy.
        self.busy = 0.0
        self._cpu_clock = cpu_clock
        self._busy_since = (-math.inf, 0.0)
        self._alarm: asyncio.TimerHandle | None = None
        self._alarm_time = math.inf
        self._task: asyncio.Task[None] | None = None
        # The flush in progress (awaited by a run that ends, so its last deltas keep their
        # order) and the checkpoint batch in progress.
        self._flushing: asyncio.Future[None] | None = None
        self._checkpointing: asyncio.Task[None] | None = None

    def add(self, run: Run) -> None:
        self._runs[run.stream.message_id] = run
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._tick(), name="run-streams")

    def text_added(self, run: Run) -> None:
        """Called by a run's producer after it added text: wakes the ticker when the stream is
        due before the ticker would next look (at once for a quiet stream)."""
        message_id = run.stream.message_id
        if message_id not in self._runs:
            return  # removed: its last chunk is flush_last's
        self._pending[message_id] = run
        if self.text_arrived.is_set():
            return
        due = self._flushed_at.get(message_id, -math.inf) + self.interval
        if due < self._wakes_at:
            self._wake(asyncio.get_running_loop().time())
            return
        now = asyncio.get_running_loop().time()
        if due <= now:
            self._wake(now)

    def _wake(self, asked_at: float) -> None:
        self._woken_at = asked_at
        self.text_arrived.set()

    async def remove(self, run: Run) -> None:
        """Take a run out of the ticker's hands; returns once no flush can still be emitting
        its chunks (the last chunk and the final message must come after them)."""
        self._runs.pop(run.stream.message_id, None)
        self._pending.pop(run.stream.message_id, None)
        self._unwritten.pop(run.stream.message_id, None)
        self._flushed_at.pop(run.stream.message_id, None)
        if self._flushing is not None:
            with contextlib.suppress(Exception):
                await asyncio.shield(self._flushing)

    async def flush_last(self, run: Run) -> None:
        """Emit what the run's stream still holds (after :meth:`remove`)."""
        taken = run.stream.take_chunk()
        if taken is not None:
            await self._emit([(run.stream, *taken)])

    async def stop(self) -> None:
        if self._alarm is not None:
            self._alarm.cancel()
            self._alarm, self._alarm_time = None, math.inf
        for task in (self._task, self._checkpointing):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def _tick(self) -> None:
        """Flush every due stream's pending text (each at most once per ``delta_interval``);
        start a checkpoint batch every ``checkpoint_interval`` while any text is not yet
        written."""
        loop = asyncio.get_running_loop()
        next_checkpoint = loop.time() + self.checkpoint_interval
        asked_at = loop.time()  # when this round was asked for: its lateness is from then
        while True:
            self._ran_late(loop.time() - asked_at)
            self._wakes_at = -math.inf
            self.text_arrived.clear()
            held_until = math.inf
            try:
                held_until = await self._flush_due(loop.time())
            except Exception:  # never the end of every stream of this process
                log.exception("stream tick failed")
            now = loop.time()
            if now >= next_checkpoint:
                next_checkpoint = now + self.checkpoint_interval
                if self._checkpointing is None or self._checkpointing.done():
                    self._checkpointing = asyncio.create_task(self._checkpoint_all())
            wakes_at = min(held_until, next_checkpoint if self._unwritten else math.inf)
            if self.text_arrived.is_set():  # text that was due came during this round
                asked_at = self._woken_at
                continue
            if wakes_at <= now:
                asked_at = wakes_at
                continue
            self._wakes_at = wakes_at
            self._alarm_at(loop, wakes_at)
            await self.text_arrived.wait()
            asked_at = self._woken_at

    def _ran_late(self, sample: float) -> None:
        """Take one lateness sample (how long after it was asked to the ticker ran: a round
        that takes long, or a loop busy elsewhere, makes due text wait), and at most every
        :data:`BUSY_WINDOW` one of the process's CPU share, and set the interval from them."""
        self.lateness = smoothed(self.lateness, max(0.0, sample))
        now, cpu = asyncio.get_running_loop().time(), self._cpu_clock()
        since, cpu_since = self._busy_since
        if now - since >= BUSY_WINDOW:
            if since != -math.inf:
                self.busy = smoothed(self.busy, (cpu - cpu_since) / (now - since))
            self._busy_since = (now, cpu)
        self.interval = coalescing_interval(self.delta_interval, self.lateness, self.busy)


    def _alarm_at(self, loop: asyncio.AbstractEventLoop, when: float) -> None:
        """Have ``text_arrived`` set at loop time ``when`` (inf: never). One timer, moved only
        when the time changes: a tick that sleeps until the same checkpoint as the last one
        creates none."""
        if when == self._alarm_time:
            return
        if self._alarm is not None:
            self._alarm.cancel()
            self._alarm = None
        self._alarm_time = when
        if when != math.inf:
            self._alarm = loop.call_at(when, self._ring)

    def _ring(self) -> None:
        asked_at = self._alarm_time
        self._alarm, self._alarm_time = None, math.inf
        self._wake(asked_at)

    async def _flush_due(self, now: float) -> float:
        """Emit the pending text of every stream that is due; returns the loop time the first
        held-back stream becomes due (inf when none is held back)."""
        batch: list[Chunk] = []
        held_until = math.inf
        flushed_at, interval = self._flushed_at, self.interval
        pending, self._pending = self._pending, {}
        for message_id, run in pending.items():
            due = send_at(flushed_at.get(message_id, -math.inf), now, interval)
            if due > now:
                held_until = min(held_until, due)
                self._pending[message_id] = run
                continue
            taken = run.stream.take_chunk()
            if taken is not None:
                flushed_at[message_id] = now
                batch.append((run.stream, *taken))
                self._unwritten[message_id] = None
        if not batch:
            return held_until
        self._flushing = flushing = asyncio.get_running_loop().create_future()
        try:
            await self._emit(batch)
        finally:
            self._flushing = None
            flushing.set_result(None)
        return held_until

    async def _emit(self, batch: list[Chunk]) -> None:
        # The shared stream state learns of the chunks before any follower does, so a
        # snapshot taken elsewhere never lags behind a delta already sent.
        try:
            await self.streams.published(batch)
        except Exception:
            if len(batch) == 1:
                log.warning("chunk of %s not recorded", batch[0][0].message_id, exc_info=True)
            else:
                for item in batch:
                    await self._emit_recorded([item])
        delta = self.bus.delta
        for stream, chunk, text, ops in batch:
            try:
                await delta(stream.session_id, stream.message_id, chunk, text, ops)
            except Exception:
                log.warning("delta %d of %s not sent", chunk, stream.message_id, exc_info=True)

    async def _emit_recorded(self, batch: list[Chunk]) -> None:
        try:
            await self.streams.published(batch)
        except Exception:
            log.warning("chunk of %s not recorded", batch[0][0].message_id, exc_info=True)

    async def _checkpoint_all(self) -> None:
        """Write the text so far of every stream that changed, in one transaction (one by one
        when the batch fails for a reason other than the database being away, so one bad
        stream cannot keep the others from their checkpoints); a stream whose message turns
        out to have been ended elsewhere is fenced."""
        runs = [r for r in map(self._runs.get, self._unwritten) if r is not None
                and r.stream.chunks != r.checkpointed]
        self._unwritten = dict.fromkeys(r.stream.message_id for r in runs)
        if not runs:
            return
        items: list[Checkpoint] = [
            (r.stream.message_id, r.stream.text, r.stream.chunks, r.stream.parts) for r in runs
        ]
        try:
            ended = await self.store.checkpoint_many(items)
            written = list(zip(runs, items, strict=True))
        except Exception as exc:
            if is_unavailable(exc) or len(items) == 1:
                log.warning("checkpoint of %d stream(s) failed: %s", len(items), exc)
                return
            ended, written = set(), []
            for run, item in zip(runs, items, strict=True):
                try:
                    ended |= await self.store.checkpoint_many([item])
                except Exception:
                    log.warning("checkpoint of %s failed", item[0], exc_info=True)
                    continue
                written.append((run, item))
        for run, (message_id, _, chunks, _) in written:
            run.checkpointed = chunks
            if run.stream.chunks == chunks:
                self._unwritten.pop(message_id, None)
        for message_id in ended:
            ended_run = self._runs.get(message_id)
            if ended_run is not None:
                log.warning("message %s was ended elsewhere; stopping its run", message_id)
                ended_run.fence()
