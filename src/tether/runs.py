"""Runs: one assistant answer each, owned by the session, never by a connection.

The queue of a session is in the database: its user messages that no assistant message answers
yet. To answer them a server process *claims* the session (``sessions.runner``) with a lease it
renews every ``lease/3`` seconds, so one run at a time per session holds across processes and
nodes. A process that loses its claim (it stalled, or was presumed dead) is fenced: it can no
longer create, checkpoint or end messages there. Every process sweeps for expired claims and ends
their streaming messages ``interrupted`` (text so far kept), then answers what is still queued.

A run streams the agent's text as coalesced ``delta`` events (at most one per stream per
``delta_interval``), has its text so far checkpointed to the message row about once a
``checkpoint_interval``, and ends the message with one change: ``complete``, ``cancelled``,
``failed`` or, when this process stops under it, ``interrupted``.

Streams are flushed by one ticker per process, not a task and a timer per run: each tick takes
the pending text of every stream at once, records the chunks in one call (one Redis round trip
with several nodes), then emits the deltas; every ``checkpoint_interval`` the texts that changed
are written in one transaction. An idle ticker waits for the next piece of text and flushes it
at once, so a quiet stream's first token is not held back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from tether.agents import AgentError, AgentRegistry, ChatMessage, Turn, UnknownAgent
from tether.bus import Bus, Row
from tether.metrics import Metrics
from tether.store import Store, is_unavailable, utcnow
from tether.streams import Chunk, LiveStream, LocalStreams

log = logging.getLogger("tether.runs")

CANCEL_WAIT = 5.0
#: How long a run keeps retrying its final write while the database is unreachable.
FINAL_WRITE_PATIENCE = 120.0
INTERRUPTED = "the server stopped while this answer was being written"


class CancelChannel(Protocol):
    """Carries a cancel to the process running the session (the cluster seam)."""

    async def cancel(self, session_id: str) -> bool: ...


@dataclass(slots=True)
class ActiveRun:
    """The run a session is answering now."""

    stream: LiveStream
    producer: asyncio.Task[None] | None = None
    cancel_requested: bool = False
    fenced: bool = False
    done: asyncio.Event = field(default_factory=asyncio.Event)
    #: The chunk count last written to the message row.
    checkpointed: int = 0

    def stop(self, *, cancel: bool = False, fenced: bool = False) -> None:
        self.cancel_requested |= cancel
        self.fenced |= fenced
        if self.producer is not None:
            self.producer.cancel()


class RunManager:
    def __init__(
        self,
        store: Store,
        streams: LocalStreams,
        bus: Bus,
        agents: AgentRegistry,
        metrics: Metrics,
        *,
        runner_id: str,
        delta_interval: float = 0.03,
        checkpoint_interval: float = 1.0,
        lease: float = 10.0,
        cancels: CancelChannel | None = None,
    ) -> None:
        self.store = store
        self.streams = streams
        self.bus = bus
        self.agents = agents
        self.metrics = metrics
        self.runner_id = runner_id
        self.delta_interval = delta_interval
        self.checkpoint_interval = checkpoint_interval
        self.lease = lease
        self.cancels = cancels
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._again: set[str] = set()
        self._active: dict[str, ActiveRun] = {}
        self._maintenance: asyncio.Task[None] | None = None
        self._closing = False
        # The ticker's state: runs whose streams it flushes (by message id), its wake-up, the
        # flush in progress (awaited by a run that ends, so its last deltas keep their order)
        # and the checkpoint batch in progress.
        self._streaming: dict[str, ActiveRun] = {}
        self._ticker: asyncio.Task[None] | None = None
        self._text_arrived = asyncio.Event()
        self._flushing: asyncio.Future[None] | None = None
        self._checkpointing: asyncio.Task[None] | None = None

    # -- public -----------------------------------------------------------------------------

    def wake(self, session_id: str) -> None:
        """The session has (or may have) a user message to answer."""
        if self._closing:
            return
        if session_id in self._workers:
            self._again.add(session_id)
            return
        self._workers[session_id] = asyncio.create_task(
            self._work(session_id), name=f"run-worker:{session_id}"
        )

    async def cancel(self, session_id: str) -> bool:
        """Stop the session's current run, on whichever process runs it (its text is kept);
        True when one was stopped. Queued messages are still answered."""
        if self.cancels is None:
            return await self.cancel_here(session_id)
        return await self.cancels.cancel(session_id)

    async def cancel_here(self, session_id: str) -> bool:
        """Stop the session's run if this process runs it: True once its message has ended
        ``cancelled`` (waiting at most CANCEL_WAIT), False when this process runs nothing
        there. The cluster seam calls it for cancels from any node."""
        run = self._active.get(session_id)
        if run is None or run.producer is None or run.producer.done():
            return False
        run.stop(cancel=True)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(run.done.wait(), CANCEL_WAIT)
        return True

    async def start(self, *, single_process: bool) -> None:
        """Recover what a dead process left, then keep claims alive and sweep for dead ones.

        A single process (no other node shares the database) knows every claim it finds is
        stale and ends them at once; with several nodes, a claim is stale once its lease
        expires."""
        if single_process:
            for session_id in await self.store.claimed_sessions():
                await self._recover(session_id, force=True)
        for message in await self.store.streaming_messages():
            # Streaming without a claim: left by a process older than claims, or a crash
            # between the two writes. Nobody can be writing it.
            if single_process:
                await self._interrupt(message)
        for message in await self.store.unanswered():
            self.wake(message["session_id"])
        self._maintenance = asyncio.create_task(self._maintain(), name="run-leases")

    async def shutdown(self) -> None:
        """Stop every worker; running answers end ``interrupted`` with their text, and this
        process's claims are released so another node can go on at once."""
        self._closing = True
        if self._maintenance is not None:
            self._maintenance.cancel()
        workers = list(self._workers.values())
        for task in workers:
            task.cancel()
        if workers:
            await asyncio.gather(*workers, return_exceptions=True)
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker

    # -- leases -----------------------------------------------------------------------------

    def _until(self) -> datetime:
        return utcnow() + timedelta(seconds=self.lease)

    async def _maintain(self) -> None:
        interval = max(self.lease / 3, 0.2)
        while True:
            await asyncio.sleep(interval)
            try:
                await self._renew()
                for session_id in await self.store.expired_claims():
                    await self._recover(session_id, force=False)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("run lease upkeep failed: %s", exc)

    async def _renew(self) -> None:
        held = await self.store.renew_claims(self.runner_id, self._until())
        for session_id, run in list(self._active.items()):
            if session_id not in held:
                log.warning("lost the claim on session %s; stopping its run", session_id)
                run.stop(fenced=True)
        for session_id in held - self._workers.keys():
            # Claimed here, but no worker runs it (it died on an error): recover it like a
            # dead node's, or its streaming answer would stay streaming for ever.
            await self._recover(session_id, force=True)

    async def _recover(self, session_id: str, *, force: bool) -> None:
        """End a dead runner's claim: its streaming answers become interrupted; what is still
        queued gets answered here."""
        session = await self.store.break_claim(session_id, force=force)
        if session is None:
            return
        log.warning("took over session %s from a runner that stopped", session_id)
        for message in await self.store.streaming_in(session_id):
            await self._interrupt(message)
        owner = await self.store.session_owner(session_id)
        if owner is not None:
            fresh = await self.store.session_by_id(session_id)
            await self.bus.session(owner, fresh or session)
        self.wake(session_id)

    async def _interrupt(self, message: Row) -> None:
        ended = await self.store.interrupt(message)
        if ended is not None:
            log.warning(
                "interrupted message %s of session %s: its process stopped",
                ended["id"], ended["session_id"],
            )
            await self.bus.message(ended["session_id"], ended)

    # -- the worker -------------------------------------------------------------------------

    async def _work(self, session_id: str) -> None:
        delay = 0.2
        try:
            while True:
                self._again.discard(session_id)
                try:
                    if await self.store.next_unanswered(session_id) is not None:
                        owner = await self.store.session_owner(session_id)
                        await self._answer_queue(session_id, owner)
                except Exception as exc:
                    if not is_unavailable(exc):
                        raise
                    # The database is away: the queue is in it, so wait and look again.
                    log.warning("session %s waits for the database: %s", session_id, exc)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 5.0)
                    self._again.add(session_id)
                if session_id not in self._again:
                    return  # nothing arrived meanwhile: no await between here and the pop
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("run worker of session %s failed", session_id)
        finally:
            self._workers.pop(session_id, None)
            self._again.discard(session_id)

    async def _answer_queue(self, session_id: str, owner: str | None) -> None:
        session = await self.store.claim_session(session_id, self.runner_id, self._until())
        if session is None:
            return  # another process answers this session; it will see the message
        if owner is not None:
            await self.bus.session(owner, session)
        try:
            while (question := await self.store.next_unanswered(session_id)) is not None:
                if not await self._run(session_id, session["agent"], question):
                    return  # fenced: the claim is gone
        finally:
            released = await asyncio.shield(
                self.store.release_session(session_id, self.runner_id)
            )
            if released is not None and owner is not None:
                await self.bus.session(owner, released)

    async def _run(self, session_id: str, agent_name: str, question: Row) -> bool:
        """Answer one user message with the agent called ``agent_name``; False when this
        process turned out not to hold the session's claim any more."""
        assistant = await self.store.create_assistant_message(
            session_id, question["id"], self.runner_id
        )
        if assistant is None:
            return False
        await self.bus.message(session_id, assistant)
        run = ActiveRun(self.streams.open(session_id, assistant["id"]))
        self._active[session_id] = run
        self._streaming[assistant["id"]] = run
        if self._ticker is None or self._ticker.done():
            self._ticker = asyncio.create_task(self._tick(), name="run-streams")
        self.metrics.runs_active.inc()
        status, error = "complete", None
        turn: Turn | None = None
        try:
            try:
                agent = self.agents.get(agent_name)
            except UnknownAgent:
                raise AgentError(f"agent {agent_name!r} is not configured") from None
            history, state = await self.store.turn_inputs(
                session_id, question["position"] if agent.history else None
            )
            turn = Turn(
                session_id=session_id,
                messages=[ChatMessage(role, content) for role, content in history]  # type: ignore[arg-type]
                if agent.history else [ChatMessage("user", question["content"])],
                state=state,
            )
            run.producer = asyncio.create_task(self._produce(agent.stream(turn), run))
            await asyncio.wait({run.producer})
            if run.producer.cancelled():
                status = "cancelled"
            elif (exc := run.producer.exception()) is not None:
                raise exc
        except asyncio.CancelledError:
            # This process is stopping: end the answer as interrupted, then stop.
            if run.producer is not None:
                run.producer.cancel()
                # Let the agent clean up (a command agent kills its process group).
                await asyncio.wait({run.producer}, timeout=CANCEL_WAIT)
            await asyncio.shield(self._finish(run, turn, "interrupted", INTERRUPTED))
            raise
        except AgentError as exc:
            status, error = "failed", str(exc) or "the agent failed"
        except Exception as exc:
            log.exception("agent of session %s failed", session_id)
            status, error = "failed", f"the agent failed unexpectedly ({type(exc).__name__})"
        return await self._finish(run, turn, status, error)

    async def _produce(self, chunks: AsyncIterator[str], run: ActiveRun) -> None:
        pending, arrived = run.stream.pending, self._text_arrived
        async for piece in chunks:
            if piece:
                pending.append(piece)
                arrived.set()

    async def _finish(
        self, run: ActiveRun, turn: Turn | None, status: str, error: str | None
    ) -> bool:
        stream = run.stream
        # Out of the ticker's hands first; a flush under way may still be emitting this
        # stream's chunk, and the last chunk and the final message must come after it.
        self._streaming.pop(stream.message_id, None)
        if self._flushing is not None:
            with contextlib.suppress(Exception):
                await asyncio.shield(self._flushing)
        final: Row | None = None
        try:
            if not run.fenced:
                taken = stream.take_chunk()
                if taken is not None:
                    try:
                        await self._emit_chunks([(stream, *taken)])
                    except Exception:  # the final message carries the text all the same
                        log.warning("last delta of %s not sent", stream.message_id, exc_info=True)
                final = await self._patiently(
                    lambda: self.store.finish_message(
                        stream.session_id, stream.message_id, status, stream.text,
                        stream.chunks, error,
                    )
                )
                if final is not None and turn is not None and turn.state_changed:
                    await self.store.set_agent_state(stream.session_id, turn.new_state)
        finally:
            self.streams.close(stream.message_id)
            self._active.pop(stream.session_id, None)
            self.metrics.runs_active.dec()
            run.done.set()
        if final is None:
            log.warning("message %s was ended elsewhere; this run's result is dropped",
                        stream.message_id)
            return False
        await self.bus.message(stream.session_id, final)
        return True

    async def _patiently(self, write: Callable[[], Awaitable[Row | None]]) -> Row | None:
        """Retry a run's final write while the database is unreachable: an answer that was
        produced must not stay ``streaming`` because the database blinked."""
        loop = asyncio.get_running_loop()
        deadline, delay = loop.time() + FINAL_WRITE_PATIENCE, 0.2
        while True:
            try:
                return await write()
            except Exception as exc:
                if not is_unavailable(exc) or loop.time() > deadline:
                    raise
                log.warning("final write waits for the database: %s", exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    # -- streaming --------------------------------------------------------------------------

    async def _tick(self) -> None:
        """Flush every stream's pending text, at most once per ``delta_interval``; start a
        checkpoint batch every ``checkpoint_interval`` while any text is not yet written."""
        loop = asyncio.get_running_loop()
        next_checkpoint = loop.time() + self.checkpoint_interval
        while True:
            unwritten = any(r.stream.chunks != r.checkpointed for r in self._streaming.values())
            wait = max(0.0, next_checkpoint - loop.time()) if unwritten else None
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await self._text_arrived.wait()
            self._text_arrived.clear()
            await self._flush_all()
            now = loop.time()
            if now >= next_checkpoint:
                next_checkpoint = now + self.checkpoint_interval
                if self._checkpointing is None or self._checkpointing.done():
                    self._checkpointing = asyncio.create_task(self._checkpoint_all())
            if self.delta_interval:
                await asyncio.sleep(self.delta_interval)

    async def _flush_all(self) -> None:
        batch: list[Chunk] = []
        for run in self._streaming.values():
            taken = run.stream.take_chunk()
            if taken is not None:
                batch.append((run.stream, *taken))
        if not batch:
            return
        self._flushing = flushing = asyncio.get_running_loop().create_future()
        try:
            await self._emit_chunks(batch)
        except Exception:
            log.warning("emitting %d delta(s) failed", len(batch), exc_info=True)
        finally:
            self._flushing = None
            flushing.set_result(None)

    async def _emit_chunks(self, batch: list[Chunk]) -> None:
        # The shared stream state learns of the chunks before any follower does, so a
        # snapshot taken elsewhere never lags behind a delta already sent.
        await self.streams.published(batch)
        delta = self.bus.delta
        for stream, chunk, text in batch:
            await delta(stream.session_id, stream.message_id, chunk, text)

    async def _checkpoint_all(self) -> None:
        """Write the text so far of every stream that changed, in one transaction; a stream
        whose message turns out to have been ended elsewhere stops (it is fenced)."""
        runs = [r for r in self._streaming.values() if r.stream.chunks != r.checkpointed]
        if not runs:
            return
        items = [(r.stream.message_id, r.stream.text, r.stream.chunks) for r in runs]
        try:
            ended = await self.store.checkpoint_many(items)
        except Exception:
            log.warning("checkpoint of %d stream(s) failed", len(items), exc_info=True)
            return
        for run, (_, _, chunks) in zip(runs, items, strict=True):
            run.checkpointed = chunks
        for message_id in ended:
            ended_run = self._streaming.get(message_id)
            if ended_run is not None:
                log.warning("message %s was ended elsewhere; stopping its run", message_id)
                ended_run.stop(fenced=True)
