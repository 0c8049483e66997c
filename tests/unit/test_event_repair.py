"""Structured events at the agent boundary (tether.agents.base.repair_event): every string they
carry, nested JSON included, is made encodable; a clean event passes as it is (no copy on the
hot path), and a malformed one is refused by tether.agents.events.checked."""

from __future__ import annotations

import pytest

from tether.agents import AgentError
from tether.agents import events as ev
from tether.agents.base import repair_event


def test_every_string_of_an_event_is_repaired() -> None:
    assert repair_event(ev.Reasoning("a\ud83db\x00")) == ev.Reasoning("a\ufffdb\ufffd")
    assert repair_event(ev.ToolCall("c\ud800", "n\x00")) == ev.ToolCall("c\ufffd", "n\ufffd")
    output = {"k\udc00": ["v\ud83d", {"deep": "x\x00"}], "n": 1}
    assert repair_event(ev.ToolOutput("c", output)) == ev.ToolOutput(
        "c", {"k\ufffd": ["v\ufffd", {"deep": "x\ufffd"}], "n": 1}
    )
    repaired = repair_event(ev.Status("caf\u00e9 \ud83d\ude00"))
    assert repaired == ev.Status("café 😀")  # a pair written as two code points is joined


@pytest.mark.parametrize("event", [
    ev.Reasoning("plain ascii"), ev.Status("searching…"), ev.ToolInput("c", '{"q": 1}'),
    ev.ToolInputDone("c"), ev.ToolError("c", "down"),
])
def test_a_clean_event_is_not_copied(event: ev.Event) -> None:
    assert repair_event(event) is event


def test_a_malformed_event_is_refused_with_what_is_wrong() -> None:
    with pytest.raises(AgentError, match=r"ToolCall\.name must be a string, not int"):
        ev.checked(ev.ToolCall("c", 3))  # type: ignore[arg-type]
    with pytest.raises(AgentError, match=r"ToolInputDone\.input is not JSON"):
        ev.checked(ev.ToolInputDone("c", {1, 2}))
    with pytest.raises(AgentError, match="neither text nor an event"):
        ev.checked(object())
    fine = ev.ToolOutput("c", {"ok": [1, None]})
    assert ev.checked(fine) is fine
