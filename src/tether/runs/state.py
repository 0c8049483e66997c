"""One run's state: an explicit machine with guarded transitions (an illegal one raises).

    STARTING   -> STREAMING | CANCELLING | FINISHING | FENCED
    STREAMING  -> CANCELLING | FINISHING | FENCED
    CANCELLING -> FINISHING | FENCED
    FINISHING  -> ENDED
    FENCED     -> ENDED

A cancel stops the agent and the answer still ends with one write (``cancelled``); a fenced run
(its process lost the session's claim) writes nothing more: whoever took the claim ended its
answer in the claim's transaction (tether.store.claims).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from enum import StrEnum

from tether.streams import LiveStream


class RunState(StrEnum):
    STARTING = "starting"
    """Its message exists; the agent has not started yet."""
    STREAMING = "streaming"
    """The agent is producing text."""
    CANCELLING = "cancelling"
    """A cancel stopped the agent; the message will end ``cancelled``."""
    FINISHING = "finishing"
    """The agent is done; the message's final write is under way."""
    FENCED = "fenced"
    """This process lost the session's claim: the run may write nothing more."""
    ENDED = "ended"
    """Over: the message has ended, or was left to the claim's holder."""


_NEXT: dict[RunState, frozenset[RunState]] = {
    RunState.STARTING: frozenset(
        {RunState.STREAMING, RunState.CANCELLING, RunState.FINISHING, RunState.FENCED}
    ),
    RunState.STREAMING: frozenset({RunState.CANCELLING, RunState.FINISHING, RunState.FENCED}),
    RunState.CANCELLING: frozenset({RunState.FINISHING, RunState.FENCED}),
    RunState.FINISHING: frozenset({RunState.ENDED}),
    RunState.FENCED: frozenset({RunState.ENDED}),
    RunState.ENDED: frozenset(),
}


class IllegalTransition(RuntimeError):
    """A run was asked to move to a state it cannot reach from where it is."""


@dataclass(slots=True, eq=False)
class Run:
    """The run a session is answering now."""

    stream: LiveStream
    state: RunState = RunState.STARTING
    producer: asyncio.Task[None] | None = None
    #: The chunk count last written to the message row.
    checkpointed: int = 0
    ended: asyncio.Event = field(default_factory=asyncio.Event)

    def _to(self, state: RunState) -> None:
        if state not in _NEXT[self.state]:
            raise IllegalTransition(f"run of {self.stream.message_id}: {self.state} -> {state}")
        self.state = state

    def streaming(self, producer: asyncio.Task[None]) -> None:
        self._to(RunState.STREAMING)
        self.producer = producer

    def cancel(self) -> bool:
        """Stop the agent so the answer ends ``cancelled``; False when there is nothing left
        to cancel (the answer is already finishing, fenced or over)."""
        if self.state in (RunState.STARTING, RunState.STREAMING):
            self._to(RunState.CANCELLING)
            self._stop_producer()
        return self.state is RunState.CANCELLING

    def fence(self) -> None:
        """The claim is gone: stop, and write nothing more. A run already finishing is fenced
        by its final write itself (tether.store.messages.finish_message with ``runner``)."""
        if self.state in (RunState.STARTING, RunState.STREAMING, RunState.CANCELLING):
            self._to(RunState.FENCED)
            self._stop_producer()

    def finishing(self) -> None:
        self._to(RunState.FINISHING)

    def end(self) -> None:
        self._to(RunState.ENDED)
        self.ended.set()

    def _stop_producer(self) -> None:
        if self.producer is not None:
            self.producer.cancel()
