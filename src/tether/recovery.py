"""The subscribe decision: what a (re)subscribing client is sent. Pure functions, no I/O.

A client remembers, per session, ``last_seq``: the highest seq up to which it has applied every
change, and the session's ``epoch`` it saw then. A seq alone names a position in *a* history;
the epoch says which one. Without it, a database restored from an older backup that has since
grown past a client's ``last_seq`` looks exactly like the history the client knew, and the
client would be "resumed" onto changes that never followed the ones it holds (Centrifugo's
answer to the same problem: a stream position is an offset *and* an epoch).

The decision compares the client's position with the session's ``head_seq`` and ``epoch``:

- no ``after_seq``: the client has nothing, send the latest messages (``recent``);
- an epoch that is not the session's: the client's view belongs to another history (a restored
  or new database, a session given a new epoch), so it must drop it and rebuild (``reset``);
- ``after_seq`` ahead of the head: another history too, one the epoch could not tell apart
  (an older client sends no epoch; ``reset``);
- too many changes since: replaying them costs more than a fresh view (``reset``);
- otherwise send exactly the messages changed since, plus the ones still streaming (``resume``).
"""

from __future__ import annotations

from enum import StrEnum


class Mode(StrEnum):
    RECENT = "recent"
    RESUME = "resume"
    RESET = "reset"


def decide(
    after_seq: int | None,
    head_seq: int,
    max_resume: int,
    *,
    client_epoch: str | None = None,
    epoch: str | None = None,
) -> Mode:
    """The subscribe mode for a client at ``after_seq`` (seen in ``client_epoch``, when it
    says) of a session at ``head_seq`` in ``epoch``. A client that sends no epoch is judged
    on its seq alone, as before epochs existed."""
    if after_seq is None:
        return Mode.RECENT
    if client_epoch is not None and client_epoch != epoch:
        return Mode.RESET
    if after_seq > head_seq or head_seq - after_seq > max_resume:
        return Mode.RESET
    return Mode.RESUME
