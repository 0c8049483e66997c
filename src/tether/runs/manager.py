"""The run manager: the queue of each session and the worker that answers it, one run at a
time; what a cancel reaches."""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable
from typing import Any

from tether.agents import AgentRegistry
from tether.bus import Bus
from tether.ids import new_message_id
from tether.metrics import Metrics
from tether.runs.answer import Answers, Source
from tether.runs.cancel import CancelChannel
from tether.runs.leases import Leases
from tether.runs.retry import patiently
from tether.runs.state import Run, RunState
from tether.runs.ticker import StreamTicker
from tether.store import IdleOrNext, MessageRow, SessionRow, Store
from tether.streams import LocalStreams

log = logging.getLogger("tether.runs")

#: How often a published answer asks again for a session another node is answering.
CLAIM_POLL = 0.25


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
        self.bus = bus
        self.runner_id = runner_id
        self.cancels = cancels
        #: The task answering each session here: its worker, or a published answer.
        self._workers: dict[str, asyncio.Task[Any]] = {}
        self._again: set[str] = set()
        self._closing = False
        # Set once what a dead process left has been recovered: workers wait for it, so a
        # single process's recovery (which ends every claim it finds) never ends their own.
        # (Set until :meth:`start`, for a manager used without it.)
        self._recovered = asyncio.Event()
        self._recovered.set()
        self._recovery: asyncio.Task[None] | None = None
        active: dict[str, Run] = {}  # by session
        self.ticker = StreamTicker(store, streams, bus, delta_interval=delta_interval,
                                   checkpoint_interval=checkpoint_interval)
        self.leases = Leases(store, bus, runner_id=runner_id, lease=lease,
                             active=active, working=self._workers.keys(), wake=self.wake)
        self.answers = Answers(agents, metrics, ticker=self.ticker, leases=self.leases,
                               active=active)

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
        return await self.answers.cancel_here(session_id)

    @property
    def running(self) -> dict[str, RunState]:
        """The state of each run of this process, by session (for diagnostics and tests)."""
        return self.answers.running

    async def start(self, *, single_process: bool) -> None:
        """Keep claims alive, and recover what a dead process left (a single process ends
        every claim it finds; with several nodes a claim is stale once its lease expires) in
        the background: a database that is away at start is waited for while the server
        already serves (and says it is not ready on ``/readyz``), instead of failing it."""
        self._recovered.clear()
        self.leases.start()
        self._recovery = asyncio.create_task(self._recover(single_process), name="run-recovery")

    async def recovered(self) -> None:
        """Return once the recovery begun by :meth:`start` is done."""
        await self._recovered.wait()

    async def _recover(self, single_process: bool) -> None:
        if single_process:
            await patiently(self.leases.recover_all, "recovery at start", patience=None)
        unanswered = await patiently(self.store.unanswered, "recovery at start", patience=None)
        self._recovered.set()
        for message in unanswered:
            self.wake(message["session_id"])

    async def shutdown(self) -> None:
        """Stop every worker; running answers end ``interrupted`` with their text, and this
        process's claims are released so another node can go on at once."""
        self._closing = True
        if self._recovery is not None:
            self._recovery.cancel()
            await asyncio.gather(self._recovery, return_exceptions=True)
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
            await self._recovered.wait()
            while True:
                self._again.discard(session_id)
                # The queue is in the database: while it is away, wait and look again (with
                # the same answer id: a claim that opened its answer is found again).
                await patiently(
                    functools.partial(self._answer_queue, session_id, new_message_id()),
                    f"session {session_id}", patience=None,
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

    async def _answer_queue(self, session_id: str, answer_id: str) -> None:
        # One write claims the session only while a question is queued, reads the first, and
        # (SQLite) opens its answer, ``answer_id``.
        taken = await self.leases.claim(session_id, queued=True, answer_id=answer_id)
        if taken is None:
            return  # nothing queued, or another process answers this session (it will see it)
        owner = await self.store.session_owner(session_id)
        question, answer, released = taken.question, taken.answer, False
        try:
            while question is not None:
                # A question sent from here on is seen by this answer's end, which reads the
                # queue after it (its wake follows its commit).
                self._again.discard(session_id)
                ended = await self.answers.run(
                    taken.session["agent"], question, answer,
                    lambda: session_id in self._again,
                )
                if ended is None:
                    return  # fenced: the claim is gone
                answer, after = None, ended[1]
                if after is None:  # the end's own write left the claim to this worker
                    after = await self._release_or_next(session_id)
                idle, question = after
                if idle is not None:
                    released = True
                    await self._announce(owner, idle)
                    return
        finally:
            if not released:
                await self._release(session_id, owner)

    async def _release_or_next(self, session_id: str) -> IdleOrNext:
        if session_id in self._again:
            # A question was sent here meanwhile (its wake follows its commit, so this read
            # sees it, and every one woken before the discard): likely queued.
            self._again.discard(session_id)
            if (question := await self.store.next_unanswered(session_id)) is not None:
                return None, question
        # "Anything more?" and the release in one statement: the claim is given up only while
        # nothing is queued, so a question sent meanwhile on another node (whose claim failed
        # while this one held) is answered here; when one is queued, the same statement reads
        # it.
        return await asyncio.shield(self.store.release_or_next(session_id, self.runner_id))

    async def _release(self, session_id: str, owner: str | None) -> None:
        released = await asyncio.shield(self.store.release_session(session_id, self.runner_id))
        if released is not None:
            await self._announce(owner, released)

    async def _announce(self, owner: str | None, session: SessionRow) -> None:
        if owner is not None:
            await self.bus.session(owner, session)

    # -- answers no agent writes --------------------------------------------------------------

    async def publish(
        self,
        session_id: str,
        source: Source,
        opened: Callable[[MessageRow], None],
        *,
        patience: float,
    ) -> asyncio.Task[MessageRow | None]:
        """Write an answer that no agent produces (tether.publish) as the session's run, so it
        never races one: once this process's worker of the session is done, under the
        session's claim (waiting up to ``patience`` seconds while another node holds it; then
        the task raises TimeoutError). Cancelled, fenced and interrupted at shutdown like any
        run; questions sent meanwhile are answered after it. The task ends with the final
        message (None: fenced)."""
        while (worker := self._workers.get(session_id)) is not None:
            await asyncio.wait({worker})
        if self._closing:
            raise RuntimeError("the server is stopping")
        task = asyncio.create_task(
            self._publish(session_id, source, opened, patience), name=f"run-publish:{session_id}"
        )
        self._workers[session_id] = task
        return task

    async def _publish(
        self,
        session_id: str,
        source: Source,
        opened: Callable[[MessageRow], None],
        patience: float,
    ) -> MessageRow | None:
        try:
            deadline = time.monotonic() + patience
            while await self.leases.claim(session_id) is None:
                if time.monotonic() >= deadline:
                    raise TimeoutError(f"session {session_id} is being answered on another node")
                await asyncio.sleep(CLAIM_POLL)
            owner = await self.store.session_owner(session_id)
            try:
                return await self.answers.answer(session_id, None, source, opened)
            finally:
                await self._release(session_id, owner)
        finally:
            self._workers.pop(session_id, None)
            if session_id in self._again:  # a question arrived meanwhile
                self._again.discard(session_id)
                self.wake(session_id)
