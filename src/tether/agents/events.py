"""Structured events an agent may yield besides plain text (docs/agents.md, "Events").

An agent's stream yields ``str`` (text, as always) or one of these. The run manager turns them into
the message's ``parts`` and the ``ops`` of its deltas (:class:`PartsBuilder`); a new text part
starts whenever text follows a part that is not text.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, TypeVar

from tether.agents.base import AgentError
from tether.parts import (
    TOOL_INPUT_AVAILABLE,
    TOOL_INPUT_STREAMING,
    TOOL_OUTPUT_AVAILABLE,
    TOOL_OUTPUT_ERROR,
    Op,
)


@dataclass(frozen=True, slots=True)
class Text:
    """Answer text (the same as yielding the ``str``)."""

    text: str


@dataclass(frozen=True, slots=True)
class Reasoning:
    """A piece of the model's reasoning; consecutive pieces extend one reasoning part."""

    text: str


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A tool call starts: ``id`` is the agent's call id (OpenAI's ``tool_calls[].id``)."""

    id: str
    name: str


@dataclass(frozen=True, slots=True)
class ToolInput:
    """A piece of a tool call's input, as the model streams it (usually JSON text)."""

    id: str
    delta: str


@dataclass(frozen=True, slots=True)
class ToolInputDone:
    """The input is complete; ``input`` is it parsed (None: parsed from the streamed text as
    JSON, or kept null when it is not JSON)."""

    id: str
    input: Any = None


@dataclass(frozen=True, slots=True)
class ToolOutput:
    """The tool's result (JSON or text)."""

    id: str
    output: Any


@dataclass(frozen=True, slots=True)
class ToolError:
    """The tool failed; ``error`` is shown."""

    id: str
    error: str


@dataclass(frozen=True, slots=True)
class Status:
    """A transient progress line; replaces the previous one; removed when the answer ends."""

    text: str


Event = (
    str | Text | Reasoning | ToolCall | ToolInput | ToolInputDone | ToolOutput | ToolError | Status
)

STATUS_ID = "status"

#: The fields of each event that carry text, and the one that carries any JSON.
_TEXT_FIELDS: dict[type[Any], tuple[str, ...]] = {
    Text: ("text",), Reasoning: ("text",), ToolCall: ("id", "name"), ToolInput: ("id", "delta"),
    ToolInputDone: ("id",), ToolOutput: ("id",), ToolError: ("id", "error"), Status: ("text",),
}
_JSON_FIELD: dict[type[Any], str] = {ToolInputDone: "input", ToolOutput: "output"}


_E = TypeVar("_E")


def checked(event: _E) -> _E:
    """``event`` if it is well formed, else AgentError saying what is wrong: an agent's slip
    fails its own answer, never the ticker shared by every stream of the process. (On every
    event of every answer: a lookup and an isinstance per field; JSON is checked only for a
    tool's input and output.)"""
    kind = type(event)
    names = _TEXT_FIELDS.get(kind)
    if names is None:
        raise AgentError(f"the agent yielded a {kind.__name__}, neither text nor an event")
    for name in names:
        value = getattr(event, name)
        if not isinstance(value, str):
            raise AgentError(
                f"the agent yielded a bad event: {kind.__name__}.{name} must be a string, "
                f"not {type(value).__name__}"
            )
    json_field = _JSON_FIELD.get(kind)
    if json_field is not None and (value := getattr(event, json_field)) is not None:
        try:
            json.dumps(value)
        except (TypeError, ValueError):
            raise AgentError(
                f"the agent yielded a bad event: {kind.__name__}.{json_field} is not JSON"
            ) from None
    return event


class PartsBuilder:
    """Turns one answer's events into part ops. Text goes through :meth:`text_part` so the
    stream can append it cheaply (the hot path): the builder only decides when a new text part
    starts. Pure: no I/O; the ids it gives are stable for the message."""

    def __init__(self) -> None:
        self._count = 0
        self.text_id: str | None = None  # the text part text is appended to now
        self._reasoning_id: str | None = None
        self._tools: dict[str, str] = {}  # agent's call id -> part id
        self._inputs: dict[str, list[str]] = {}
        self._status = False

    def _new_id(self, prefix: str) -> str:
        part_id = f"{prefix}{self._count}"
        self._count += 1
        return part_id

    def text_part(self) -> list[Op]:
        """Ops needed before text is appended (a start when the last part was not text)."""
        if self.text_id is not None:
            return []
        ops = self._end_reasoning()
        self.text_id = self._new_id("t")
        ops.append({"op": "start", "part": {"id": self.text_id, "type": "text", "text": ""}})
        return ops

    def _end_reasoning(self) -> list[Op]:
        if self._reasoning_id is None:
            return []
        part_id, self._reasoning_id = self._reasoning_id, None
        return [{"op": "set", "id": part_id, "fields": {"state": "done"}}]

    def ops(self, event: Event) -> list[Op]:
        """The ops of one non-text event (an unknown tool id is ignored: an agent's slip must
        not end the answer)."""
        if isinstance(event, str | Text):
            raise TypeError("text goes through text_part() and the stream's text")
        checked(event)
        if isinstance(event, Reasoning):
            if not event.text:
                return []
            ops: list[Op] = []
            if self._reasoning_id is None:
                self.text_id = None
                self._reasoning_id = self._new_id("r")
                part = {"id": self._reasoning_id, "type": "reasoning", "text": "",
                        "state": "streaming"}
                ops.append({"op": "start", "part": part})
            ops.append({"op": "append", "id": self._reasoning_id, "field": "text",
                        "value": event.text})
            return ops
        if isinstance(event, Status):
            if self._status:
                return [{"op": "set", "id": STATUS_ID, "fields": {"text": event.text}}]
            self._status = True
            return [{"op": "start", "part": {"id": STATUS_ID, "type": "status",
                                             "text": event.text}}]
        ops = self._end_reasoning()
        self.text_id = None
        if isinstance(event, ToolCall):
            if event.id in self._tools:
                return ops
            new_id = self._tools[event.id] = self._new_id("k")
            self._inputs[event.id] = []
            ops.append({"op": "start", "part": {
                "id": new_id, "type": "tool", "tool_call_id": event.id, "name": event.name,
                "state": TOOL_INPUT_STREAMING, "input_text": "", "input": None,
                "output": None, "error": None,
            }})
            return ops
        part_id = self._tools.get(event.id)
        if part_id is None:
            return ops
        if isinstance(event, ToolInput):
            self._inputs[event.id].append(event.delta)
            ops.append({"op": "append", "id": part_id, "field": "input_text",
                        "value": event.delta})
        elif isinstance(event, ToolInputDone):
            value = event.input if event.input is not None else _parsed(
                "".join(self._inputs[event.id]))
            ops.append({"op": "set", "id": part_id,
                        "fields": {"state": TOOL_INPUT_AVAILABLE, "input": value}})
        elif isinstance(event, ToolOutput):
            ops.append({"op": "set", "id": part_id,
                        "fields": {"state": TOOL_OUTPUT_AVAILABLE, "output": event.output}})
        elif isinstance(event, ToolError):
            ops.append({"op": "set", "id": part_id,
                        "fields": {"state": TOOL_OUTPUT_ERROR, "error": event.error}})
        return ops


def _parsed(text: str) -> Any:
    try:
        return json.loads(text) if text else None
    except ValueError:
        return None


_FROM_JSON: dict[str, tuple[type[Any], tuple[str, ...]]] = {
    "text": (Text, ("text",)),
    "reasoning": (Reasoning, ("text",)),
    "tool_call": (ToolCall, ("id", "name")),
    "tool_input": (ToolInput, ("id", "delta")),
    "tool_input_done": (ToolInputDone, ("id",)),
    "tool_output": (ToolOutput, ("id", "output")),
    "tool_error": (ToolError, ("id", "error")),
    "status": (Status, ("text",)),
}
_STRING_FIELDS = frozenset({"text", "id", "name", "delta", "error"})


def event_from_json(value: Any) -> Event:
    """The event of one line of a command agent's ``output = "jsonl"``:
    ``{"type": "text" | "reasoning" | "tool_call" | "tool_input" | "tool_input_done" |
    "tool_output" | "tool_error" | "status", ...fields}`` (docs/agents.md). ValueError when it
    is not one."""
    if not isinstance(value, dict) or value.get("type") not in _FROM_JSON:
        raise ValueError(f"type must be one of {', '.join(_FROM_JSON)}")
    kind, required = _FROM_JSON[value["type"]]
    args = {}
    for name in required:
        if name not in value:
            raise ValueError(f"{value['type']} needs {name!r}")
        if name in _STRING_FIELDS and not isinstance(value[name], str):
            raise ValueError(f"{name!r} must be a string")
        args[name] = value[name]
    if kind is ToolInputDone and "input" in value:
        args["input"] = value["input"]
    event: Event = kind(**args)
    return event
