"""One run: an answer created, its agent streamed through the ticker, and its one end."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

from tether.agents import AgentError, AgentRegistry, Turn
from tether.agents.base import Repair, repair_event
from tether.agents.events import Event
from tether.bus import Bus
from tether.ids import new_message_id
from tether.metrics import Metrics
from tether.protocol import MessageStatus
from tether.runs.leases import Leases
from tether.runs.retry import patiently
from tether.runs.state import Run, RunState
from tether.runs.ticker import StreamTicker
from tether.runs.turn import build_turn
from tether.store import AgentState, IdleOrNext, MessageRow, Store, is_unavailable
from tether.store.claims import INTERRUPTED
from tether.streams import LiveStream, LocalStreams

log = logging.getLogger("tether.runs")

#: How long a cancel waits for the answer to end ``cancelled``, and the agent to clean up.
CANCEL_WAIT = 5.0
#: The error of an answer whose text the database refused.
UNSTORABLE = "the answer could not be stored"

#: An answer's end: the final message, and what its write did with the claim (None: nothing,
#: the caller releases; see Store.end_and_release).
Ended = tuple[MessageRow, IdleOrNext | None]

#: Where an answer's text comes from, asked once its message exists: the chunks, and the
#: agent's turn (None: no agent writes it, as for a stream an app publishes).
Source = Callable[[], Awaitable[tuple[AsyncIterator[str | Event], Turn | None]]]


class Answers:
    """This process's runs, one per session at most (the worker of each session sees to it)."""

    def __init__(
        self,
        agents: AgentRegistry,
        metrics: Metrics,
        *,
        ticker: StreamTicker,
        leases: Leases,
        active: dict[str, Run],
    ) -> None:
        """Runs write through the ticker's store, streams and bus, under ``leases``' claims;
        ``active`` is shared with the leases, which fence a run whose claim is lost."""
        self.store: Store = ticker.store
        self.streams: LocalStreams = ticker.streams
        self.bus: Bus = ticker.bus
        self.agents = agents
        self.metrics = metrics
        self.runner_id = leases.runner_id
        self.ticker = ticker
        self.leases = leases
        self._active = active

    async def cancel_here(self, session_id: str) -> bool:
        run = self._active.get(session_id)
        if run is None or not run.cancel():
            return False
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(CANCEL_WAIT):
                await run.ended.wait()
        return True

    @property
    def running(self) -> dict[str, RunState]:
        return {sid: run.state for sid, run in self._active.items()}

    async def run(
        self, agent_name: str, question: MessageRow, answer: MessageRow | None,
        likely_queued: Callable[[], bool],
    ) -> Ended | None:
        """Answer one user message with the agent called ``agent_name`` (into ``answer``, when
        the claim's write opened it), for the session's worker: the answer's end also releases
        the claim, or reads the next question (see Store.end_and_release; ``likely_queued()``,
        asked then, says whether a question was sent meanwhile). None when this process turned
        out not to hold the session's claim any more."""

        async def agent_source() -> tuple[AsyncIterator[str | Event], Turn]:
            agent, turn = await build_turn(self.store, self.agents, agent_name, question)
            return agent.stream(turn), turn

        return await self._answer(
            question["session_id"], question["id"], agent_source, None, answer,
            likely_queued=likely_queued,
        )

    async def answer(
        self,
        session_id: str,
        reply_to: str | None,
        source: Source,
        opened: Callable[[MessageRow], None] | None = None,
    ) -> MessageRow | None:
        """Write one answer (replying to ``reply_to``), its text from ``source``, called once
        its message exists (``opened`` hears of it then); the final message, or None when this
        process turned out not to hold the session's claim any more."""
        ended = await self._answer(session_id, reply_to, source, opened, None, likely_queued=None)
        return None if ended is None else ended[0]

    async def _answer(
        self,
        session_id: str,
        reply_to: str | None,
        source: Source,
        opened: Callable[[MessageRow], None] | None,
        assistant: MessageRow | None,
        *,
        likely_queued: Callable[[], bool] | None,
    ) -> Ended | None:
        """``likely_queued``: a worker's answer, whose end releases the claim (see run); None
        for any other, whose end only ends it."""
        if assistant is None:
            # This attempt's own id: a retry after a reply lost with the connection finds the
            # answer its first attempt created, instead of answering the question twice.
            answer_id = new_message_id()
            assistant = await patiently(
                lambda: self.store.create_assistant_message(
                    session_id, reply_to, self.runner_id, message_id=answer_id
                ),
                f"answer of session {session_id}",
            )
            if assistant is None:
                return None
        await self.bus.message(session_id, assistant)
        if opened is not None:
            opened(assistant)
        run = Run(self.streams.open(session_id, assistant["id"]))
        self._active[session_id] = run
        self.ticker.add(run)
        self.metrics.runs_active.inc()
        status, error, turn = MessageStatus.COMPLETE, None, None
        try:
            chunks, turn = await source()
            if run.state is RunState.STARTING:
                run.streaming(asyncio.create_task(self._produce(chunks, run)))
                assert run.producer is not None
                await asyncio.wait({run.producer})
                if not run.producer.cancelled() and (exc := run.producer.exception()):
                    raise exc
            if run.state is RunState.CANCELLING:
                status = MessageStatus.CANCELLED
        except asyncio.CancelledError:
            # This process is stopping: end the answer as interrupted, then stop.
            if run.producer is not None:
                run.producer.cancel()
                # Let the agent clean up (a command agent kills its process group).
                await asyncio.wait({run.producer}, timeout=CANCEL_WAIT)
            await asyncio.shield(
                self._finish(run, turn, MessageStatus.INTERRUPTED, INTERRUPTED, likely_queued=None)
            )
            raise
        except AgentError as exc:
            status, error = MessageStatus.FAILED, str(exc) or "the agent failed"
        except Exception as exc:
            if run.producer is None and is_unavailable(exc):
                # The database stayed away past the run's patience: not the agent's fault.
                status, error = MessageStatus.INTERRUPTED, INTERRUPTED
            else:
                log.exception("agent of session %s failed", session_id)
                error = f"the agent failed unexpectedly ({type(exc).__name__})"
                status = MessageStatus.FAILED
        return await self._finish(run, turn, status, error, likely_queued=likely_queued)

    async def _produce(self, chunks: AsyncIterator[str | Event], run: Run) -> None:
        stream, text_added = run.stream, self.ticker.text_added
        add_text, add_event = stream.add_text, stream.add_event
        repair = Repair()  # valid text only past this point (tether.agents.base)
        valid, lone = repair.text, repair.lone
        async for piece in chunks:
            if isinstance(piece, str):
                if text := valid(piece):
                    add_text(text)
                    text_added(run)
                continue
            if held := lone():
                add_text(held)
            add_event(repair_event(piece))
            text_added(run)
        if held := lone():
            add_text(held)
            text_added(run)

    async def _finish(
        self, run: Run, turn: Turn | None, status: MessageStatus, error: str | None,
        *, likely_queued: Callable[[], bool] | None,
    ) -> Ended | None:
        stream = run.stream
        fenced = run.state is RunState.FENCED
        if not fenced:
            run.finishing()
        await self.ticker.remove(run)
        ended: Ended | None = None
        try:
            if not fenced:
                # The parts end (tools left unfinished, reasoning, the status line) in the last
                # chunk, so live followers and the final message agree.
                stream.finish(_ending_reason(status, error))
                await self.ticker.flush_last(run)  # the final message carries it all the same
                state = None
                if turn is not None and turn.state_changed:
                    state = AgentState(turn.new_state)
                ended = await self._end(stream, status, error, likely_queued=likely_queued,
                                        state=state)
                if ended is not None and ended[1] is None and state is not None:
                    # Not kept by the end's own write (see Store.end_and_release).
                    await patiently(
                        lambda: self.store.set_agent_state(stream.session_id, state.state),
                        f"agent state of session {stream.session_id}",
                    )
        finally:
            self.streams.close(stream.message_id)
            self._active.pop(stream.session_id, None)
            self.metrics.runs_active.dec()
            run.end()
        if ended is None:
            await self.leases.settle(stream.session_id, stream.message_id)
            return None
        await self.bus.message(stream.session_id, ended[0])
        return ended

    async def _end(
        self, stream: LiveStream, status: MessageStatus, error: str | None,
        *, likely_queued: Callable[[], bool] | None, state: AgentState | None,
    ) -> Ended | None:
        """The final write, fenced by this process's claim (with ``likely_queued``, the
        worker's: see Store.end_and_release, which may keep ``state`` too). One the database
        refuses for another reason than being away ends the answer ``failed`` instead, so it
        never stays ``streaming``."""

        attempts = 0

        async def write(status: MessageStatus, text: str, error: str | None) -> Ended | None:
            nonlocal attempts
            attempts += 1
            if attempts > 1:
                # The reply to an earlier attempt may have been lost after it committed: then
                # the message is ended already, by this run, and a second write finds nothing.
                # (Whatever that write also did, the caller does again: both are idempotent.)
                found = await self.store.message_by_id(stream.message_id)
                if found is not None and (found["status"], found["content"]) == (status, text):
                    return found, None
            parts = stream.parts if text == stream.text else []
            if likely_queued is not None:
                return await self.store.end_and_release(
                    stream.session_id, stream.message_id, status, text, stream.chunks, error,
                    runner=self.runner_id, parts=parts, agent_state=state,
                    likely_queued=likely_queued(),
                )
            final = await self.store.finish_message(
                stream.session_id, stream.message_id, status, text, stream.chunks, error,
                runner=self.runner_id, parts=parts,
            )
            return None if final is None else (final, None)

        what = f"end of message {stream.message_id}"
        try:
            return await patiently(lambda: write(status, stream.text, error), what)
        except Exception as exc:
            if is_unavailable(exc):
                raise
            log.exception("message %s could not be stored", stream.message_id)
            return await patiently(lambda: write(MessageStatus.FAILED, "", UNSTORABLE), what)



def _ending_reason(status: MessageStatus, error: str | None) -> str | None:
    """What an unfinished tool's error says when the answer ends (None: it completed)."""
    if status is MessageStatus.COMPLETE:
        return None
    if status is MessageStatus.CANCELLED:
        return "cancelled"
    return error or str(status)
