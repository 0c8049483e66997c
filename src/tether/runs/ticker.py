"""The stream ticker: one task per process flushes every run's text as ``delta`` events and
checkpoints the text so far, instead of a task and a timer per run.

Each tick takes the pending text of every stream at once, records the chunks in one call (one
Redis round trip with several nodes), then emits the deltas; every ``checkpoint_interval`` the
texts that changed are written in one transaction. An idle ticker waits for the next piece of
text and flushes it at once, so a quiet stream's first token is not held back.

One stream's failure never touches another's: a batch that fails is retried item by item, each
delta is emitted on its own, and the ticker outlives any error of a tick.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
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
        #: Set by a producer whenever it adds text (see RunManager); wakes an idle ticker.
        self.text_arrived = asyncio.Event()
        self._runs: dict[str, Run] = {}  # by message id
        self._task: asyncio.Task[None] | None = None
        # The flush in progress (awaited by a run that ends, so its last deltas keep their
        # order) and the checkpoint batch in progress.
        self._flushing: asyncio.Future[None] | None = None
        self._checkpointing: asyncio.Task[None] | None = None

    def add(self, run: Run) -> None:
        self._runs[run.stream.message_id] = run
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._tick(), name="run-streams")

    async def remove(self, run: Run) -> None:
        """Take a run out of the ticker's hands; returns once no flush can still be emitting
        its chunks (the last chunk and the final message must come after them)."""
        self._runs.pop(run.stream.message_id, None)
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
        """Flush every stream's pending text, at most once per ``delta_interval``; start a
        checkpoint batch every ``checkpoint_interval`` while any text is not yet written."""
        loop = asyncio.get_running_loop()
        next_checkpoint = loop.time() + self.checkpoint_interval
        while True:
            unwritten = any(r.stream.chunks != r.checkpointed for r in self._runs.values())
            wait = max(0.0, next_checkpoint - loop.time()) if unwritten else None
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await self.text_arrived.wait()
            self.text_arrived.clear()
            try:
                await self._flush_all()
            except Exception:  # never the end of every stream of this process
                log.exception("stream tick failed")
            now = loop.time()
            if now >= next_checkpoint:
                next_checkpoint = now + self.checkpoint_interval
                if self._checkpointing is None or self._checkpointing.done():
                    self._checkpointing = asyncio.create_task(self._checkpoint_all())
            if self.delta_interval:
                await asyncio.sleep(self.delta_interval)

    async def _flush_all(self) -> None:
        batch: list[Chunk] = []
        for run in self._runs.values():
            taken = run.stream.take_chunk()
            if taken is not None:
                batch.append((run.stream, *taken))
        if not batch:
            return
        self._flushing = flushing = asyncio.get_running_loop().create_future()
        try:
            await self._emit(batch)
        finally:
            self._flushing = None
            flushing.set_result(None)

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
