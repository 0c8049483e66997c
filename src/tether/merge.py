"""The client's merge rule (docs/protocol.md section 5) as pure functions: the Python reference.

The browser applies the same rule in ``static/js/client/merge.js``; the tests' protocol client and
the benchmark's followers apply this module. Both run over the shared JSON cases in
``tests/cases/merge.json`` (``tests/cases/test_merge_cases.py`` and
``tests/js/merge_cases.test.mjs``), so the two cannot drift. The names follow merge.js in
snake_case; the server never imports this module.

A view is what one client knows of one session:

* ``last_seq``: the highest seq such that every change up to it has been applied, the stream
  position a client resumes from (``after_seq``);
* ``messages``: id -> message, each in the state with the highest seq seen (an upsert, so a change
  delivered twice is harmless), with its ``parts`` (those of a message without any are derived
  from its content), which a delta's ``ops`` change (:mod:`tether.parts`; cases in
  ``tests/cases/parts.json``);
* ``held``: live messages that arrived ahead of a gap (seq > last_seq + 1), and ``held_deltas``
  the deltas of those messages, waiting for the gap to fill or for a re-subscribe.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from tether.parts import Part, apply_ops, copy_parts, parts_of_text

Message = dict[str, Any]
#: A live event buffered while a subscribe was pending: ("message", message) or ("delta", delta).
Buffered = tuple[Literal["message", "delta"], dict[str, Any]]
DeltaResult = Literal["applied", "ignored", "held", "gap"]
LiveResult = Literal["applied", "stale", "held"]


@dataclass
class View:
    session_id: str = ""
    synced: bool = False  # True once a subscribe ack has set last_seq
    last_seq: int = 0
    messages: dict[str, Message] = field(default_factory=dict)
    held: dict[int, Message] = field(default_factory=dict)
    held_deltas: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    has_older: bool = False


def is_newer(incoming: Message, current: Message | None) -> bool:
    """Whether ``incoming`` is a later state of the same message than ``current``."""
    if current is None:
        return True
    if incoming["seq"] != current["seq"]:
        return bool(incoming["seq"] > current["seq"])
    # Same change, but deltas applied locally may have taken one copy further than the other.
    return bool(
        incoming["status"] == "streaming" and current["status"] == "streaming"
        and incoming["chunks"] > current["chunks"]
    )


def upsert_message(view: View, message: Message) -> bool:
    """Rule 5: upsert by id, keeping the higher seq. True when the view changed."""
    if not is_newer(message, view.messages.get(message["id"])):
        return False
    copied = dict(message)
    # Deltas change the parts in place: the view owns its own (deep) copy of them.
    copied["parts"] = (
        copy_parts(message["parts"]) if "parts" in message else parts_of_text(message["content"])
    )
    view.messages[message["id"]] = copied
    return True


def apply_delta(view: View, delta: dict[str, Any]) -> DeltaResult:
    """Rule 6: apply a delta only when its chunk is the message's current ``chunks``."""
    message = view.messages.get(delta["message_id"])
    if message is None:
        if any(m["id"] == delta["message_id"] for m in view.held.values()):
            view.held_deltas.setdefault(delta["message_id"], []).append(delta)
            return "held"
        return "gap"
    if message["status"] != "streaming" or delta["chunk"] < message["chunks"]:
        return "ignored"
    if delta["chunk"] > message["chunks"]:
        return "gap"
    # In place: the view owns its copies (upsert_message copied the message in).
    message["content"] += delta["text"]
    message["chunks"] += 1
    apply_delta_parts(message["parts"], delta)
    return "applied"


def apply_delta_parts(parts: list[Part], delta: dict[str, Any]) -> None:
    """A chunk's change to the parts: its ``ops`` in order. A delta without ``ops`` (from a
    server older than parts) extends the last part when it is text, else starts a text part."""
    if "ops" in delta:
        apply_ops(parts, delta["ops"])
    elif delta["text"]:
        if parts and parts[-1]["type"] == "text":
            parts[-1]["text"] += delta["text"]
        else:
            parts.append({"id": f"t{len(parts)}", "type": "text", "text": delta["text"]})


def _drain_held(view: View) -> bool:
    """Advance last_seq over held messages that have become contiguous."""
    changed = False
    for seq in [s for s in view.held if s <= view.last_seq]:
        changed = upsert_message(view, view.held.pop(seq)) or changed
    while view.last_seq + 1 in view.held:
        message = view.held.pop(view.last_seq + 1)
        view.last_seq += 1
        changed = upsert_message(view, message) or changed
        for delta in view.held_deltas.pop(message["id"], []):
            apply_delta(view, delta)
    return changed


def apply_live_message(view: View, message: Message) -> LiveResult:
    """Rules 1 and 4: a live ``message`` event; "held" means a gap (re-subscribe if it stays)."""
    if message["seq"] > view.last_seq + 1:
        view.held[message["seq"]] = message
        return "held"
    changed = upsert_message(view, message)
    if message["seq"] == view.last_seq + 1:
        view.last_seq = message["seq"]
    return "applied" if _drain_held(view) or changed else "stale"


def apply_subscribe_ack(view: View, ack: dict[str, Any], buffered: Iterable[Buffered] = ()) -> bool:
    """Rule 3: apply a subscribe reply, then the live events buffered while it was pending.
    ``reset`` (and ``recent``, the reply to a subscribe without after_seq) rebuild the view.
    Returns True when a buffered delta revealed missing chunks (subscribe again)."""
    if ack["mode"] != "resume":
        view.messages.clear()
        view.held.clear()
        view.held_deltas.clear()
    for message in ack["messages"]:
        upsert_message(view, message)
    view.last_seq = ack["head_seq"]
    view.synced = True
    gap = False
    for kind, payload in buffered:
        if kind == "message":
            if payload["message"]["seq"] > ack["head_seq"]:
                apply_live_message(view, payload["message"])
        elif apply_delta(view, payload) == "gap":
            gap = True
    _drain_held(view)
    if ack["mode"] != "resume":
        view.has_older = oldest_position(view) > 1
    return gap


def apply_history(view: View, messages: Iterable[Message], has_more: bool) -> None:
    """Older messages from ``history`` (scroll-back): they never move last_seq."""
    for message in messages:
        upsert_message(view, message)
    view.has_older = bool(has_more)


def oldest_position(view: View) -> int:
    return min((int(m["position"]) for m in view.messages.values()), default=0)


def ordered_messages(view: View) -> list[Message]:
    """The messages in screen order (by position)."""
    return sorted(view.messages.values(), key=lambda m: m["position"])
