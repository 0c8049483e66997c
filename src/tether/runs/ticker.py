"""The stream ticker: one task per process flushes every run's text as ``delta`` events and
checkpoints the text so far, instead of a task and a timer per run.

Each tick takes the pending text of every stream that is due, records the chunks in one call (one
Redis round trip with several nodes), then emits the deltas; every ``checkpoint_interval`` the
texts that changed are written in one transaction. Coalescing is per stream: a stream whose last
chunk went out at least ``delta_interval`` ago is due at once, so a stream that was quiet sends its
next token without waiting; only a stream whose text keeps arriving faster than that is held back
until ``delta_interval`` after its last chunk. Other streams' traffic never delays a quiet one.

One stream's failure never touches another's: a batch that fails is retried item by item, each
delta is emitted on its own, and the ticker outlives any error of a tick.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from typing import Protocol

from tether.bus import Bus
from tether.runs.state import Run
from tether.store import Store, is_unavailable
from tether.store.rows import Checkpoint
from tether.streams import Chunk, LocalStreams

log = logging.getLogger("tether.runs")


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
    ) -> None:
        self.store = store
        self.streams = streams
        self.bus = bus
        self.delta_interval = delta_interval
        self.checkpoint_interval = checkpoint_interval
        #: Set (through :meth:`text_added`) when a stream's new text may need the ticker
        #: before the time it sleeps until.
        self.text_arrived = asyncio.Event()
        self._runs: dict[str, Run] = {}  # by message id
        # Loop time of each stream's last chunk (by message id), and the loop time the ticker
        # sleeps until (-inf while it is busy, so any new text makes it look again).
        self._flushed_at: dict[str, float] = {}
        self._wakes_at = -math.inf
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
        due = self._flushed_at.get(run.stream.message_id, -math.inf) + self.delta_interval
        if due < self._wakes_at or due <= asyncio.get_running_loop().time():
            self.text_arrived.set()

    async def remove(self, run: Run) -> None:
        """Take a run out of the ticker's hands; returns once no flush can still be emitting
        its chunks (the last chunk and the final message must come after them)."""
        self._runs.pop(run.stream.message_id, None)
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
        while True:
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
            unwritten = any(r.stream.chunks != r.checkpointed for r in self._runs.values())
            wakes_at = min(held_until, next_checkpoint if unwritten else math.inf)
            if self.text_arrived.is_set() or wakes_at <= now:
                continue
            self._wakes_at = wakes_at
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout_at(None if wakes_at == math.inf else wakes_at):
                    await self.text_arrived.wait()

    async def _flush_due(self, now: float) -> float:
        """Emit the pending text of every stream that is due; returns the loop time the first
        held-back stream becomes due (inf when none is held back)."""
        batch: list[Chunk] = []
        held_until = math.inf
        flushed_at, interval = self._flushed_at, self.delta_interval
        for message_id, run in self._runs.items():
            if not run.stream.has_pending:
                continue
            due = flushed_at.get(message_id, -math.inf) + interval
            if due > now:
                held_until = min(held_until, due)
                continue
            taken = run.stream.take_chunk()
            if taken is not None:
                flushed_at[message_id] = now
                batch.append((run.stream, *taken))
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
        runs = [r for r in self._runs.values() if r.stream.chunks != r.checkpointed]
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
        for run, (_, _, chunks, _) in written:
            run.checkpointed = chunks
        for message_id in ended:
            ended_run = self._runs.get(message_id)
            if ended_run is not None:
                log.warning("message %s was ended elsewhere; stopping its run", message_id)
                ended_run.fence()
