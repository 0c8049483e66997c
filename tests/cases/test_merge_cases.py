"""The shared merge cases (tests/cases/merge.json) over the Python reference, tether.merge.

tests/js/merge_cases.test.mjs runs the same file over the browser's merge.js."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tether import merge

CASES = json.loads((Path(__file__).parent / "merge.json").read_text())["cases"]


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


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
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


def test_every_step_kind_is_covered() -> None:
    kinds = {key for case in CASES for step in case["steps"] for key in step} & {
        "ack", "live", "delta", "history", "buffered"
    }
    assert kinds == {"ack", "live", "delta", "history", "buffered"}
