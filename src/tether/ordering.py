"""A session's live ``message`` events delivered in seq order by each node.

Every change of a session takes the next seq in the database, and the node that made it emits
its ``message`` event after the commit. With several nodes, two changes of one session made
close together on two nodes (one node starting an answer while another stores the next
question) are published to Redis by different connections, and their events can reach a third
node's followers in the wrong order: seq 3 before seq 2. The contract's client rule copes (a gap
is held for about a second before the client subscribes again), but docs/protocol.md promises
more: one event per seq, in seq order per session. :class:`SessionOrder` keeps that promise at
each node, the way the client rule would, but before the wire:

- A ``message`` whose seq is the next one after the last this node delivered for the session
  goes out at once, followed by any later ones it was holding that are now in order.
- One that is ahead of that (a gap) is held, together with the ``delta`` events of the same
  message that arrive after it, until the gap is filled or :data:`HOLD` seconds have passed;
  then everything held goes out in seq order (a change that never arrives, say because Redis
  lost it, is the fan-out repair's business: tether.cluster.fanout).
- One at or below the last delivered seq (a repeat, or a change this node first learnt of after
  a later one) goes out at once: the client's merge rule keeps the state with the higher seq.

The first event a node sees of a session sets where it starts counting. This module only
decides; the manager delivering events (tether.delivery.BroadcastManager) owns the timer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generic, TypeVar

#: How long a message ahead of a gap is held before it goes out anyway, in seconds.
HOLD = 0.3
#: How many sessions' positions are remembered; beyond it the oldest without anything held are
#: forgotten (a forgotten session starts counting again from its next event).
REMEMBERED = 20_000

T = TypeVar("T")


@dataclass
class _Session(Generic[T]):
    last: int  # the highest seq delivered in order
    held: dict[int, list[T]] = field(default_factory=dict)  # seq: its message, then its deltas
    ids: dict[str, int] = field(default_factory=dict)  # held message id: its seq


class SessionOrder(Generic[T]):
    """Which of a node's live events of a session go out now, and in what order. Items are
    whatever the caller delivers (opaque here)."""

    def __init__(self, remembered: int = REMEMBERED) -> None:
        self.remembered = remembered
        self._sessions: dict[str, _Session[T]] = {}

    def message(self, session_id: str, seq: int, message_id: str, item: T) -> list[T]:
        """A ``message`` event: what to deliver now, in order (possibly nothing: it is held)."""
        state = self._sessions.get(session_id)
        if state is None:
            self._remember(session_id, _Session(last=seq))
            return [item]
        if seq <= state.last:
            return [item]
        if seq > state.last + 1:
            state.held.setdefault(seq, []).insert(0, item)
            state.ids[message_id] = seq
            return []
        state.last = seq
        ready = [item]
        while (following := state.held.pop(state.last + 1, None)) is not None:
            state.last += 1
            ready.extend(following)
        self._forget_ids(state)
        return ready

    def delta(self, session_id: str, message_id: str, item: T) -> list[T]:
        """A ``delta`` event: held behind its message if that is held, else delivered now."""
        state = self._sessions.get(session_id)
        seq = state.ids.get(message_id) if state is not None else None
        if state is None or seq is None:
            return [item]
        state.held[seq].append(item)
        return []

    def waiting(self, session_id: str) -> bool:
        """Whether anything of the session is held."""
        state = self._sessions.get(session_id)
        return state is not None and bool(state.held)

    def expire(self, session_id: str) -> list[T]:
        """The hold is over: everything held, in seq order (the gap is given up on)."""
        state = self._sessions.get(session_id)
        if state is None or not state.held:
            return []
        ready = [item for seq in sorted(state.held) for item in state.held[seq]]
        state.last = max(state.last, max(state.held))
        state.held.clear()
        state.ids.clear()
        return ready

    def _forget_ids(self, state: _Session[T]) -> None:
        if state.ids:
            state.ids = {mid: seq for mid, seq in state.ids.items() if seq in state.held}

    def _remember(self, session_id: str, state: _Session[T]) -> None:
        sessions = self._sessions
        if len(sessions) >= self.remembered:
            idle = [sid for sid, s in sessions.items() if not s.held]
            for sid in idle[: max(1, self.remembered // 10)]:
                del sessions[sid]
        sessions[session_id] = state
