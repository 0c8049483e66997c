"""The run manager: the queue of each session and the worker that answers it, one run at a
time, and cancel."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from tether.agents import Agent, AgentError, AgentRegistry, ChatMessage, Turn, UnknownAgent
from tether.agents.base import repaired
from tether.bus import Bus, Row
from tether.metrics import Metrics
from tether.runs.cancel import CancelChannel
from tether.runs.leases import Leases
from tether.runs.retry import patiently
from tether.runs.state import Run, RunState
from tether.runs.ticker import StreamTicker
from tether.store import Store, is_unavailable
from tether.store.claims import INTERRUPTED
from tether.streams import LocalStreams

log = logging.getLogger("tether.runs")

#: How long a cancel waits for the answer to end ``cancelled``, and the agent to clean up.
CANCEL_WAIT = 5.0


class RunManager:
    """Answers the sessions' queued questions (the queue is in the database: user messages
    no assistant message answers yet)."""

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
        """``cancels`` carries a cancel to whichever process runs the session (and calls
        :meth:`cancel_here` there); without it, only this process's runs can be cancelled."""
        self.store = store
        self.streams = streams
        self.bus = bus
        self.agents = agents
        self.metrics = metrics
        self.runner_id = runner_id
        self.cancels = cancels
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._again: set[str] = set()
        self._active: dict[str, Run] = {}  # by session
        self._closing = False
        self.ticker = StreamTicker(store, streams, bus, delta_interval=delta_interval,
                                   checkpoint_interval=checkpoint_interval)
        self.leases = Leases(store, bus, runner_id=runner_id, lease=lease,
                             active=self._active, working=self._workers.keys(), wake=self.wake)

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
        """Stop the session's current run wherever it runs (its text is kept); True once its
        message has ended ``cancelled``. Queued messages are still answered."""
        if self.cancels is None:
            return await self.cancel_here(session_id)
        return await self.cancels.cancel(session_id)

    async def cancel_here(self, session_id: str) -> bool:
        """Cancel the session's run if this process runs it: True once its message has ended
        ``cancelled`` (waiting at most CANCEL_WAIT), False when this process runs nothing
        there that can still be cancelled."""
        run = self._active.get(session_id)
        if run is None or not run.cancel():
            return False
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(CANCEL_WAIT):
                await run.ended.wait()
        return True

    @property
    def running(self) -> dict[str, RunState]:
        """The state of each run of this process, by session (for diagnostics and tests)."""
        return {sid: run.state for sid, run in self._active.items()}

    async def start(self, *, single_process: bool) -> None:
        """Recover what a dead process left (a single process ends every claim it finds; with
        several nodes a claim is stale once its lease expires), then keep claims alive."""
        if single_process:
            await self.leases.recover_all()
        for message in await self.store.unanswered():
            self.wake(message["session_id"])
        self.leases.start()

    async def shutdown(self) -> None:
        """Stop every worker; running answers end ``interrupted`` with their text, and this
        process's claims are released so another node can go on at once."""
        self._closing = True
        await self.leases.stop()
        workers = list(self._workers.values())
        for task in workers:
            task.cancel()
        if workers:
            await asyncio.gather(*workers, return_exceptions=True)
        await self.ticker.stop()

    # -- the worker -------------------------------------------------------------------------

    async def _work(self, session_id: str) -> None:
        try:
            while True:
                self._again.discard(session_id)
                # The queue is in the database: while it is away, wait and look again.
                await patiently(
                    lambda: self._answer_queue(session_id), f"session {session_id}",
                    patience=None,
                )
                if session_id not in self._again:
                    return  # nothing arrived meanwhile: no await between here and the pop
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("run worker of session %s failed", session_id)
        finally:
            self._workers.pop(session_id, None)
            self._again.discard(session_id)

    async def _answer_queue(self, session_id: str) -> None:
        if await self.store.next_unanswered(session_id) is None:
            return
        owner = await self.store.session_owner(session_id)
        taken = await self.leases.claim(session_id)
        if taken is None:
            return  # another process answers this session; it will see the message
        try:
            while (question := await self.store.next_unanswered(session_id)) is not None:
                if not await self._run(session_id, taken.session["agent"], question):
                    return  # fenced: the claim is gone
        finally:
            released = await asyncio.shield(
                self.store.release_session(session_id, self.runner_id)
            )
            if released is not None and owner is not None:
                await self.bus.session(owner, released)

    # -- one run ----------------------------------------------------------------------------

    async def _run(self, session_id: str, agent_name: str, question: Row) -> bool:
        """Answer one user message with the agent called ``agent_name``; False when this
        process turned out not to hold the session's claim any more."""
        assistant = await patiently(
            lambda: self.store.create_assistant_message(
                session_id, question["id"], self.runner_id
            ),
            f"answer of session {session_id}",
        )
        if assistant is None:
            return False
        await self.bus.message(session_id, assistant)
        run = Run(self.streams.open(session_id, assistant["id"]))
        self._active[session_id] = run
        self.ticker.add(run)
        self.metrics.runs_active.inc()
        status, error, turn = "complete", None, None
        try:
            agent, turn = await self._turn(session_id, agent_name, question)
            if run.state is RunState.STARTING:
                run.streaming(asyncio.create_task(self._produce(agent.stream(turn), run)))
                assert run.producer is not None
                await asyncio.wait({run.producer})
                if not run.producer.cancelled() and (exc := run.producer.exception()):
                    raise exc
            if run.state is RunState.CANCELLING:
                status = "cancelled"
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
            if run.producer is None and is_unavailable(exc):
                # The database stayed away past the run's patience: not the agent's fault.
                status, error = "interrupted", INTERRUPTED
            else:
                log.exception("agent of session %s failed", session_id)
                status, error = "failed", f"the agent failed unexpectedly ({type(exc).__name__})"
        return await self._finish(run, turn, status, error)

    async def _turn(self, session_id: str, agent_name: str, question: Row) -> tuple[Agent, Turn]:
        try:
            agent = self.agents.get(agent_name)
        except UnknownAgent:
            raise AgentError(f"agent {agent_name!r} is not configured") from None
        history, state = await patiently(
            lambda: self.store.turn_inputs(
                session_id, question["position"] if agent.history else None
            ),
            f"turn of session {session_id}",
        )
        messages = (
            [ChatMessage(role, content) for role, content in history]  # type: ignore[arg-type]
            if agent.history else [ChatMessage("user", question["content"])]
        )
        return agent, Turn(session_id=session_id, messages=messages, state=state)

    async def _produce(self, chunks: AsyncIterator[str], run: Run) -> None:
        pending, arrived = run.stream.pending, self.ticker.text_arrived
        async for piece in repaired(chunks):
            if piece:
                pending.append(piece)
                arrived.set()

    async def _finish(
        self, run: Run, turn: Turn | None, status: str, error: str | None
    ) -> bool:
        stream = run.stream
        fenced = run.state is RunState.FENCED
        if not fenced:
            run.finishing()
        await self.ticker.remove(run)
        final: Row | None = None
        try:
            if not fenced:
                await self.ticker.flush_last(run)  # the final message carries it all the same
                final = await patiently(
                    lambda: self.store.finish_message(
                        stream.session_id, stream.message_id, status, stream.text,
                        stream.chunks, error, runner=self.runner_id,
                    ),
                    f"end of message {stream.message_id}",
                )
                if final is not None and turn is not None and turn.state_changed:
                    new_state = turn.new_state
                    await patiently(
                        lambda: self.store.set_agent_state(stream.session_id, new_state),
                        f"agent state of session {stream.session_id}",
                    )
        finally:
            self.streams.close(stream.message_id)
            self._active.pop(stream.session_id, None)
            self.metrics.runs_active.dec()
            run.end()
        if final is None:
            await self.leases.settle(stream.session_id, stream.message_id)
            return False
        await self.bus.message(stream.session_id, final)
        return True
