"""The shared merge cases (tests/cases/merge.json, and parts.json for the parts of structured
answers) over the Python reference, tether.merge.

tests/js/merge_cases.test.mjs runs the same files over the browser's merge.js."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tether import merge, parts

CASES = json.loads((Path(__file__).parent / "merge.json").read_text())["cases"]
PARTS_CASES = json.loads((Path(__file__).parent / "parts.json").read_text())["cases"]


def run_step(view: merge.View, step: dict[str, Any]) -> object:
    if "ack" in step:
        buffered = [(b["type"], b["payload"]) for b in step.get("buffered", [])]
        return {"gap": merge.apply_subscribe_ack(view, step["ack"], buffered)}
    if "live" in step:
        return merge.apply_live_message(view, step["live"])
    if "delta" in step:
        return merge.apply_delta(view, step["delta"])
    merge.apply_history(view, step["history"], step["has_more"])
    return None


@pytest.mark.parametrize(
    "case", CASES + PARTS_CASES, ids=[c["name"] for c in CASES + PARTS_CASES]
)
def test_merge_case(case: dict[str, Any]) -> None:
    view = merge.View("s1")
    for number, step in enumerate(case["steps"]):
        result = run_step(view, step)
        if "expect" in step:
            assert result == step["expect"], f"step {number}: {step}"
    final = case["final"]
    assert view.last_seq == final["last_seq"]
    assert [
        [m["id"], m["seq"], m["status"], m["content"], m["chunks"]]
        for m in merge.ordered_messages(view)
    ] == final["order"]
    assert sorted(view.held) == final["held"]
    if "has_older" in final:
        assert view.has_older is final["has_older"]
    if "parts" in final:
        assert {m: view.messages[m]["parts"] for m in final["parts"]} == final["parts"]
        for message in view.messages.values():  # content is always the text parts joined
            assert message["content"] == parts.text_of(message["parts"])


def test_every_parts_case_checks_parts() -> None:
    assert all("parts" in c["final"] for c in PARTS_CASES)
    deltas = [s["delta"] for c in PARTS_CASES for s in c["steps"] if "delta" in s]
    ops = {op["op"] for d in deltas for op in d.get("ops", [])}
    assert ops == {"start", "append", "set", "remove"}


def test_every_step_kind_is_covered() -> None:
    kinds = {key for case in CASES for step in case["steps"] for key in step} & {
        "ack", "live", "delta", "history", "buffered"
    }
    assert kinds == {"ack", "live", "delta", "history", "buffered"}
