"""The agent interface: what answers in a session.

An agent turns a conversation into a stream of text chunks and, optionally, structured events
(reasoning, tool calls, status: tether.agents.events). The run manager (tether.runs) owns
everything around it: storing the assistant message, coalescing chunks into ``delta`` events,
checkpoints, cancel. An agent only yields text, and may raise :class:`AgentError` with a message
that is shown to the user as the message's ``error``.

Cancellation is plain asyncio cancellation: the run manager cancels the task that iterates the
agent's stream, so an agent must clean up (kill its subprocess, close its HTTP stream) in
``finally`` blocks or ``async with``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from tether.agents.events import Event

Role = Literal["user", "assistant", "system"]


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """One message of the conversation as an agent sees it."""

    role: Role
    content: str


@dataclass(slots=True)
class Turn:
    """Everything an agent gets for one answer.

    ``messages`` is the session's conversation in position order, ending with the user message
    being answered (later messages are not included); for an agent whose ``history`` is False,
    that user message alone. Assistant messages that ended cancelled,
    failed or interrupted are included with the text they kept.

    ``state`` is the agent's own conversation handle stored with the session (for example a CLI's
    resume id), or None on the first turn. An agent that wants a different handle kept for the
    next turn calls :meth:`set_state`; the run manager stores it with the session when the run
    ends, whatever the outcome.
    """

    session_id: str
    messages: list[ChatMessage]
    state: str | None = None
    new_state: str | None = field(default=None, init=False)
    state_changed: bool = field(default=False, init=False)

    @property
    def prompt(self) -> str:
        """The text of the user message being answered."""
        for message in reversed(self.messages):
            if message.role == "user":
                return message.content
        return ""

    def set_state(self, value: str | None) -> None:
        """Keep ``value`` as this agent's handle for the session's next turn."""
        self.new_state = value
        self.state_changed = True


class AgentError(Exception):
    """An agent failed in a way the user should see; ``str(exc)`` becomes the message's error."""


class Agent(Protocol):
    """A named thing that answers turns by streaming text."""

    name: str
    kind: str

    @property
    def history(self) -> bool:
        """Whether the agent reads the conversation before the message it answers. An agent
        that only answers the last message (False) is given just that one, and its turn costs
        no read of the session's history."""
        ...

    def stream(self, turn: Turn) -> AsyncIterator[str | Event]:
        """Yield the answer chunk by chunk: text (``str``) or structured events
        (tether.agents.events). Raise AgentError on a user-visible failure."""
        ...


_HIGH = range(0xD800, 0xDC00)


def repair_text(text: str) -> str:
    """``text`` with every lone UTF-16 surrogate replaced by U+FFFD (and a surrogate pair
    written as two code points joined into its character). A lone surrogate is valid in JSON
    and in a Python str but cannot be encoded as UTF-8: it must not reach the database, Redis
    or a client. The codec does the work: it is exact and fast, and a hand-written scan would
    only copy it. NUL, which PostgreSQL cannot store in text, becomes U+FFFD too."""
    if "\x00" in text:
        text = text.replace("\x00", "\ufffd")
    if text.isascii():
        return text
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def repair_json(value: Any) -> Any:
    """``value`` (JSON: a tool's input or output) with every string in it repaired."""
    if isinstance(value, str):
        return repair_text(value)
    if isinstance(value, list):
        return [repair_json(v) for v in value]
    if isinstance(value, dict):
        return {repair_text(str(k)): repair_json(v) for k, v in value.items()}
    return value


#: The field names of each event type (``dataclasses.fields`` is slow on the hot path).
_EVENT_FIELDS: dict[type[Any], tuple[str, ...]] = {}


def repair_event(event: Any) -> Any:
    """A structured event (tether.agents.events) with every string it carries repaired: the
    event itself when nothing needed it (the usual case, and no copy then)."""
    kind = type(event)
    names = _EVENT_FIELDS.get(kind)
    if names is None:
        names = _EVENT_FIELDS[kind] = tuple(f.name for f in fields(event))
    changes = {}
    for name in names:
        value = getattr(event, name)
        repaired = repair_json(value)
        if repaired is not value and repaired != value:  # non-ASCII text comes back a copy
            changes[name] = repaired
    return replace(event, **changes) if changes else event


class Repair:
    """An agent's text made valid, chunk by chunk: the boundary between an agent and the run
    manager (tether.runs.answer calls it for each chunk; structured events go through
    :func:`repair_event`). A high surrogate that ends a chunk waits for the next one (an emoji
    split across two streamed strings comes out whole); one with no partner becomes U+FFFD."""

    __slots__ = ("held",)

    def __init__(self) -> None:
        self.held = ""

    def text(self, chunk: str) -> str:
        """``chunk``'s valid text to pass on now ('' when all of it waits for more)."""
        text = self.held + chunk if self.held else chunk
        self.held = ""
        if text and ord(text[-1]) in _HIGH:
            text, self.held = text[:-1], text[-1]
        return repair_text(text) if text else text

    def lone(self) -> str:
        """What a held surrogate becomes when no text follows it (U+FFFD), or ''."""
        held, self.held = self.held, ""
        return "\ufffd" if held else ""
