"""The fault schedule: a pure function of the seed, so a failing run can be replayed.

Faults follow one another every one to three seconds and may overlap, but each resource (a node,
Redis, the PostgreSQL link) suffers one fault at a time, and at most one node is down (killed or
stopped) at a time, so the clients always have somewhere to go. What the processes then do with
the same schedule is up to the machine's timing: a replay repeats the faults and the clients'
sends, not every interleaving.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import StrEnum


class Kind(StrEnum):
    DROP = "silent drop"
    """Every client connection to a node goes quiet (no FIN, no RST) until the clients notice."""
    CLOSE = "hard close"
    """Every client connection to a node is reset."""
    KILL = "SIGKILL + restart"
    """A node dies without clean-up; it is started again ``length`` seconds later."""
    STOP = "SIGSTOP past the lease"
    """A node is frozen for ``length`` seconds (longer than the lease), then SIGCONT."""
    REDIS = "Redis restart"
    """The private redis-server is killed, and started again ``length`` seconds later."""
    PG = "PostgreSQL cut"
    """Every connection to PostgreSQL is reset and new ones refused for ``length`` seconds."""


@dataclass(frozen=True, slots=True)
class Fault:
    at: float
    """Seconds after the fault phase began."""
    kind: Kind
    node: int | None
    """The node it strikes (None for Redis and PostgreSQL)."""
    length: float
    """How long it lasts (0 for a drop or a close, which the clients repair themselves)."""

    def __str__(self) -> str:
        where = "" if self.node is None else f" node {self.node}"
        return f"t+{self.at:5.1f}s {self.kind}{where} ({self.length:.1f}s)"


#: How often each kind is drawn.
WEIGHTS = {Kind.DROP: 3, Kind.CLOSE: 2, Kind.KILL: 2, Kind.STOP: 2, Kind.REDIS: 1.5, Kind.PG: 2}


def plan(seed: int, seconds: float, nodes: int, lease: float) -> list[Fault]:
    """The faults of a run of ``seconds`` over ``nodes`` nodes with a ``lease`` in seconds."""
    rng = random.Random(seed)
    kinds, weights = list(WEIGHTS), list(WEIGHTS.values())
    busy: dict[str, float] = {}  # resource -> when its fault is over
    faults: list[Fault] = []
    t = rng.uniform(1.0, 2.0)
    while t < seconds:
        kind = rng.choices(kinds, weights)[0]
        node = None if kind in (Kind.REDIS, Kind.PG) else rng.randrange(nodes)
        length = {
            Kind.DROP: 0.0,
            Kind.CLOSE: 0.0,
            Kind.KILL: rng.uniform(0.5, 3.0),
            Kind.STOP: rng.uniform(lease * 1.3, lease * 2.2),
            Kind.REDIS: rng.uniform(0.5, 2.5),
            Kind.PG: rng.uniform(0.3, lease * 1.8),  # sometimes past the lease
        }[kind]
        resource = "redis" if kind is Kind.REDIS else "pg" if kind is Kind.PG else f"node{node}"
        # Killing and restarting takes a few seconds more than the down time itself.
        until = t + length + (4.0 if kind is Kind.KILL else 0.5)
        down = kind in (Kind.KILL, Kind.STOP)
        if busy.get(resource, 0) <= t and not (down and busy.get("down", 0) > t):
            faults.append(Fault(round(t, 2), kind, node, round(length, 2)))
            busy[resource] = until
            if down:
                busy["down"] = until
        t += rng.uniform(1.0, 3.0)
    return faults
