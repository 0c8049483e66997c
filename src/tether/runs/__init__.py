"""Runs: one assistant answer each, owned by the session, never by a connection.

A run streams the agent's text as coalesced ``delta`` events (at most one per stream per
``delta_interval``), has its text so far checkpointed to the message row about once a
``checkpoint_interval``, and ends the message with one change: ``complete``, ``cancelled``,
``failed`` (the agent's own error) or, when this process stops under it, ``interrupted``.

- :mod:`tether.runs.manager`: the queue of each session and its worker, one run at a time;
  cancel (:meth:`RunManager.cancel_here`, reached through a :class:`CancelChannel`).
- :mod:`tether.runs.answer`: one run, from its message created to its one end;
  :mod:`tether.runs.turn`: what its agent is given.
- :mod:`tether.runs.state`: a run's state machine.
- :mod:`tether.runs.leases`: claims on sessions, renewed; dead processes' claims ended.
- :mod:`tether.runs.ticker`: one ticker flushing every stream's deltas and checkpoints.
- :mod:`tether.runs.retry`: storage calls wait out a database that is away.
"""

from tether.runs.answer import CANCEL_WAIT
from tether.runs.cancel import CancelChannel
from tether.runs.manager import RunManager
from tether.runs.state import IllegalTransition, Run, RunState

__all__ = ["CANCEL_WAIT", "CancelChannel", "IllegalTransition", "Run", "RunManager", "RunState"]
