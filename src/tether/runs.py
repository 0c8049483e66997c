"""Runs: one assistant answer each, owned by the session, never by a connection.

Each session with work to do has one worker task that answers its queued user messages one at a
time. A run streams the agent's text as coalesced ``delta`` events (at most one per stream per
``delta_interval``), checkpoints the text so far to the message row about once a
``checkpoint_interval``, and ends the message with one change: ``complete``, ``cancelled``,
``failed`` or, when this process stops under it, ``interrupted``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from dataclasses import dataclass, field

from tether.agents import AgentError, AgentRegistry, ChatMessage, Turn, UnknownAgent
from tether.bus import Bus, Row
from tether.metrics import Metrics
from tether.store import Store
from tether.streams import LiveStream, LocalStreams

log = logging.getLogger("tether.runs")

CANCEL_WAIT = 5.0


@dataclass(slots=True)
class ActiveRun:
    """The run a session is answering now."""

    stream: LiveStream
    producer: asyncio.Task[None] | None = None
    cancel_requested: bool = False
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    done: asyncio.Event = field(default_factory=asyncio.Event)
    last_flush: float = 0.0
    last_checkpoint: float = 0.0
    checkpointing: asyncio.Task[None] | None = None


class RunManager:
    def __init__(
        self,
        store: Store,
        streams: LocalStreams,
        bus: Bus,
        agents: AgentRegistry,
        metrics: Metrics,
        *,
        delta_interval: float = 0.03,
        checkpoint_interval: float = 1.0,
    ) -> None:
        self.store = store
        self.streams = streams
        self.bus = bus
        self.agents = agents
        self.metrics = metrics
        self.delta_interval = delta_interval
        self.checkpoint_interval = checkpoint_interval
        self._queues: dict[str, deque[Row]] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._active: dict[str, ActiveRun] = {}
        self._closing = False

    # -- public -----------------------------------------------------------------------------

    def enqueue(self, session_id: str, user_message: Row) -> None:
        """Answer ``user_message`` after whatever the session is answering now."""
        if self._closing:
            return
        self._queues.setdefault(session_id, deque()).append(user_message)
        if session_id not in self._workers:
            self._workers[session_id] = asyncio.create_task(
                self._work(session_id), name=f"run-worker:{session_id}"
            )

    def is_running(self, session_id: str) -> bool:
        return session_id in self._workers

    async def cancel(self, session_id: str) -> bool:
        """Stop the session's current run (its text is kept); True when one was stopped.
        Returns once the message has ended ``cancelled``. Queued messages are still answered."""
        run = self._active.get(session_id)
        if run is None or run.producer is None or run.producer.done():
            return False
        run.cancel_requested = True
        run.producer.cancel()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(run.done.wait(), CANCEL_WAIT)
        return True

    async def recover(self) -> None:
        """At start (single node): end what a dead process left ``streaming`` as
        ``interrupted`` (text kept), and answer user messages it never got to."""
        for message in await self.store.streaming_messages():
            ended = await self.store.interrupt(message)
            if ended is not None:
                log.warning(
                    "interrupted message %s of session %s left streaming by a stopped process",
                    ended["id"],
                    ended["session_id"],
                )
                await self.bus.message(ended["session_id"], ended)
        await self.store.clear_running()
        for message in await self.store.unanswered():
            self.enqueue(message["session_id"], message)

    async def shutdown(self) -> None:
        """Stop every worker; running answers end ``interrupted`` with their text."""
        self._closing = True
        workers = list(self._workers.values())
        for task in workers:
            task.cancel()
        if workers:
            await asyncio.gather(*workers, return_exceptions=True)

    # -- the worker -------------------------------------------------------------------------

    async def _work(self, session_id: str) -> None:
        owner = await self.store.session_owner(session_id)
        try:
            await self._set_running(session_id, owner, True)
            while True:
                queue = self._queues.get(session_id)
                while queue:
                    await self._run(session_id, queue.popleft())
                await self._set_running(session_id, owner, False)
                if self._queues.get(session_id):
                    await self._set_running(session_id, owner, True)
                    continue
                return
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("run worker of session %s failed", session_id)
        finally:
            if not self._queues.get(session_id):
                self._queues.pop(session_id, None)
            self._workers.pop(session_id, None)

    async def _set_running(self, session_id: str, owner: str | None, running: bool) -> None:
        session = await self.store.set_running(session_id, running)
        if session is not None and owner is not None:
            await self.bus.session(owner, session)

    async def _run(self, session_id: str, user_message: Row) -> None:
        session = await self.store.session_by_id(session_id)
        if session is None:
            return
        assistant = await self.store.create_assistant_message(session_id, user_message["id"])
        if assistant is None:
            return
        await self.bus.message(session_id, assistant)
        run = ActiveRun(self.streams.open(session_id, assistant["id"]))
        run.last_checkpoint = asyncio.get_running_loop().time()
        self._active[session_id] = run
        self.metrics.runs_active.inc()
        status, error = "complete", None
        turn: Turn | None = None
        flusher = asyncio.create_task(self._flush_loop(run))
        try:
            try:
                agent = self.agents.get(session["agent"])
            except UnknownAgent:
                raise AgentError(f"agent {session['agent']!r} is not configured") from None
            history = await self.store.conversation(session_id, user_message["position"])
            turn = Turn(
                session_id=session_id,
                messages=[ChatMessage(role, content) for role, content in history],  # type: ignore[arg-type]
                state=await self.store.agent_state(session_id),
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
            status, error = "interrupted", "the server stopped while this answer was being written"
            await self._finish(run, flusher, turn, status, error)
            raise
        except AgentError as exc:
            status, error = "failed", str(exc) or "the agent failed"
        except Exception as exc:
            log.exception("agent of session %s failed", session_id)
            status, error = "failed", f"the agent failed unexpectedly ({type(exc).__name__})"
        await self._finish(run, flusher, turn, status, error)

    async def _produce(self, chunks: object, run: ActiveRun) -> None:
        async for piece in chunks:  # type: ignore[attr-defined]
            if piece:
                run.stream.pending.append(piece)
                run.wake.set()

    async def _finish(
        self,
        run: ActiveRun,
        flusher: asyncio.Task[None],
        turn: Turn | None,
        status: str,
        error: str | None,
    ) -> None:
        stream = run.stream
        flusher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await flusher
        try:
            await self._flush(run)
            if run.checkpointing is not None:
                with contextlib.suppress(Exception):
                    await run.checkpointing
            final = await self.store.finish_message(
                stream.session_id, stream.message_id, status, stream.text, stream.chunks, error
            )
            if turn is not None and turn.state_changed:
                await self.store.set_agent_state(stream.session_id, turn.new_state)
        finally:
            self.streams.close(stream.message_id)
            self._active.pop(stream.session_id, None)
            self.metrics.runs_active.dec()
            run.done.set()
        if final is None:
            log.warning("message %s was ended elsewhere; result dropped", stream.message_id)
            return
        await self.bus.message(stream.session_id, final)

    # -- streaming --------------------------------------------------------------------------

    async def _flush_loop(self, run: ActiveRun) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await run.wake.wait()
            delay = run.last_flush + self.delta_interval - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            run.wake.clear()
            await self._flush(run)

    async def _flush(self, run: ActiveRun) -> None:
        taken = run.stream.take_chunk()
        if taken is None:
            return
        now = asyncio.get_running_loop().time()
        run.last_flush = now
        chunk, text = taken
        stream = run.stream
        await self.streams.published(stream, chunk, text)
        await self.bus.delta(stream.session_id, stream.message_id, chunk, text)
        if now - run.last_checkpoint >= self.checkpoint_interval and (
            run.checkpointing is None or run.checkpointing.done()
        ):
            run.last_checkpoint = now
            run.checkpointing = asyncio.create_task(self._checkpoint(stream))

    async def _checkpoint(self, stream: LiveStream) -> None:
        try:
            await self.store.checkpoint(stream.message_id, stream.text, stream.chunks)
        except Exception:
            log.warning("checkpoint of message %s failed", stream.message_id, exc_info=True)
