"""The parts of a structured answer and the delta ops that build them, as pure functions.

A message's ``parts`` (docs/protocol.md, "Parts") are an ordered list of dicts, each with a stable
``id`` and a ``type`` (``text``, ``reasoning``, ``tool``, ``status``). A ``delta`` carries ``ops``
applied in order; the parts of a message are exactly the ops of its chunks ``0..chunks-1`` applied
to an empty list, which is what lets a snapshot line up with the next live chunk.

No I/O: the server's live streams, the Python reference merge (:mod:`tether.merge`) and the tests
all apply ops with :func:`apply_ops`; ``static/js/client/merge.js`` mirrors it, checked against the
shared cases in ``tests/cases/parts.json``.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any, Final

Part = dict[str, Any]
Op = dict[str, Any]

#: Tool states of the Vercel AI SDK's UI tool parts, in the order a call goes through them.
TOOL_INPUT_STREAMING: Final = "input-streaming"
TOOL_INPUT_AVAILABLE: Final = "input-available"
TOOL_OUTPUT_AVAILABLE: Final = "output-available"
TOOL_OUTPUT_ERROR: Final = "output-error"
#: A tool in one of these states has not finished: it must not stay so in a final message.
TOOL_UNFINISHED: Final = frozenset({TOOL_INPUT_STREAMING, TOOL_INPUT_AVAILABLE})
#: The only fields an ``append`` op may extend.
APPENDABLE: Final = frozenset({"text", "input_text"})


class OpError(ValueError):
    """An op that does not fit the parts it is applied to (unknown id, duplicate id, bad field)."""


def _index(parts: list[Part], part_id: str) -> int:
    # From the end: nearly every op extends the newest part, so an answer with many tool calls
    # does not pay for all its earlier parts on every token.
    for i in range(len(parts) - 1, -1, -1):
        if parts[i]["id"] == part_id:
            return i
    raise OpError(f"no part {part_id!r}")


def apply_op(parts: list[Part], op: Op) -> None:
    """Apply one op to ``parts`` in place (the caller owns the list and its dicts)."""
    kind = op["op"]
    if kind == "start":
        part = dict(op["part"])
        if any(p["id"] == part["id"] for p in parts):
            raise OpError(f"part {part['id']!r} started twice")
        parts.append(part)
    elif kind == "append":
        if op["field"] not in APPENDABLE:
            raise OpError(f"cannot append to {op['field']!r}")
        part = parts[_index(parts, op["id"])]
        part[op["field"]] = part.get(op["field"], "") + op["value"]
    elif kind == "set":
        if "id" in op["fields"] or "type" in op["fields"]:
            raise OpError("id and type never change")
        parts[_index(parts, op["id"])].update(op["fields"])
    elif kind == "remove":
        del parts[_index(parts, op["id"])]
    else:
        raise OpError(f"unknown op {kind!r}")


def apply_ops(parts: list[Part], ops: Iterable[Op]) -> None:
    """Apply a chunk's ops in order, in place."""
    for op in ops:
        apply_op(parts, op)


def copy_parts(parts: list[Part]) -> list[Part]:
    """A deep copy (a tool's ``input``/``output`` may be nested JSON)."""
    return copy.deepcopy(parts)


def text_of(parts: Iterable[Part]) -> str:
    """``content``: the concatenation of the text parts."""
    return "".join(p["text"] for p in parts if p["type"] == "text")


def parts_of_text(content: str) -> list[Part]:
    """The parts of a message without structure."""
    return [{"id": "t0", "type": "text", "text": content}] if content else []


def finishing_ops(parts: list[Part], reason: str | None) -> list[Op]:
    """The ops that end a message's parts: streaming reasoning ``done``, the status line
    removed, and when the answer did not complete (``reason``: "cancelled", or why it failed or
    was interrupted) an unfinished tool ``output-error`` with ``reason``. A completed answer
    (``reason`` None) keeps its tools as they are: a tool call an agent only shows (the openai
    agent executes none) stays ``input-available``. Empty when the parts are already final."""
    ops: list[Op] = []
    for part in parts:
        if reason is not None and part["type"] == "tool" and part.get("state") in TOOL_UNFINISHED:
            fields = {"state": TOOL_OUTPUT_ERROR, "error": reason}
            ops.append({"op": "set", "id": part["id"], "fields": fields})
        elif part["type"] == "reasoning" and part.get("state") == "streaming":
            ops.append({"op": "set", "id": part["id"], "fields": {"state": "done"}})
        elif part["type"] == "status":
            ops.append({"op": "remove", "id": part["id"]})
    return ops


def final_parts(parts: list[Part], reason: str | None) -> list[Part]:
    """A copy of ``parts`` as a final message carries them (see :func:`finishing_ops`)."""
    out = copy_parts(parts)
    apply_ops(out, finishing_ops(out, reason))
    return out
