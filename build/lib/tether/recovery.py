"""The subscribe decision: what a (re)subscribing client is sent. Pure functions, no I/O.

A client remembers, per session, ``last_seq``: the highest seq up to which it has applied every
change. The decision compares it with the session's ``head_seq``:

- no ``after_seq``: the client has nothing, send the latest messages (``recent``);
- ``after_seq`` ahead of the head: the client's view belongs to some other history (a restored
  database, a bug), so it must drop it and rebuild (``reset``);
- too many changes since: replaying them costs more than a fresh view (``reset``);
- otherwise send exactly the messages changed since, plus the ones still streaming (``resume``).
"""

from __future__ import annotations

from enum import StrEnum


class Mode(StrEnum):
    RECENT = "recent"
    RESUME = "resume"
    RESET = "reset"


def decide(after_seq: int | None, head_seq: int, max_resume: int) -> Mode:
    """The subscribe mode for a client at ``after_seq`` of a session at ``head_seq``."""
    if after_seq is None:
        return Mode.RECENT
    if after_seq > head_seq or head_seq - after_seq > max_resume:
        return Mode.RESET
    return Mode.RESUME
