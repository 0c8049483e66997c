"""The pure parts of the benchmarks' stepped searches (bench/scenarios/common.py and the
persistence benchmark's open loop), without a server."""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any

import orjson
import pytest
from bench.report import rows
from bench.scenarios.common import last_unsaturated, paced, schedule
from bench.scenarios.persistence import (
    AckSteps,
    backlog_grew,
    kept_up,
    overloaded,
    step_rates,
)


def test_schedule_spaces_sends_evenly_over_the_step() -> None:
    due = schedule(100.0, 2.0)
    assert len(due) == 200
    assert due[0] == 0.0
    assert due[-1] == pytest.approx(1.99)
    gaps = {round(b - a, 9) for a, b in itertools.pairwise(due)}
    assert gaps == {0.01}


def test_schedule_has_at_least_one_send() -> None:
    assert schedule(1.0, 0.1) == [0.0]


def test_paced_sends_in_order_never_before_they_are_due() -> None:
    calls: list[tuple[int, float, float]] = []

    def send(i: int, at: float) -> None:
        calls.append((i, at, time.monotonic()))

    async def main() -> float:
        t0 = time.monotonic()
        await paced(t0, schedule(1000.0, 0.01), send)
        return t0

    t0 = asyncio.run(main())
    assert [i for i, _, _ in calls] == list(range(10))
    for i, at, called in calls:
        assert at == pytest.approx(t0 + i / 1000.0)
        assert called >= at


def test_paced_stops_when_a_send_says_so() -> None:
    calls: list[int] = []

    def send(i: int, at: float) -> bool:
        calls.append(i)
        return i < 3

    asyncio.run(paced(time.monotonic(), schedule(10_000.0, 0.001), send))
    assert calls == [0, 1, 2, 3]


def test_last_unsaturated_is_the_last_step_that_kept_up() -> None:
    steps = [{"rate": 1, "ok": True}, {"rate": 2, "ok": True}, {"rate": 3, "ok": False}]
    assert last_unsaturated(steps, lambda s: s["ok"]) == steps[1]
    assert last_unsaturated(steps[2:], lambda s: s["ok"]) is None
    assert last_unsaturated([], lambda s: True) is None


def test_step_rates_are_geometric() -> None:
    assert step_rates(100.0, 2.0, 4) == [100.0, 200.0, 400.0, 800.0]


def test_a_steady_backlog_did_not_grow() -> None:
    # 800 sends/s at 25 ms: about 20 waiting all along, with noise
    assert not backlog_grew([20, 19, 21, 20] * 400, 800.0)
    assert not backlog_grew([0, 1] * 100, 100.0)


def test_a_backlog_that_rises_with_time_grew() -> None:
    assert backlog_grew(list(range(0, 3200, 2)), 1600.0)  # a server at half the offered rate
    assert backlog_grew([0] * 100 + list(range(100)), 100.0)


def test_one_burst_at_the_end_is_not_a_growing_backlog() -> None:
    # a late load generator catches up: a few sends at once, then the backlog is steady again
    waiting = [1] * 190 + [11, 10, 9, 8, 7, 6, 5, 4, 3, 2]
    assert not backlog_grew(waiting, 200.0)


def test_too_few_sends_to_tell_never_grew() -> None:
    assert not backlog_grew([0, 5, 50], 100.0)


def test_overloaded_past_a_second_of_sends_waiting() -> None:
    assert not overloaded(400, 400.0)
    assert overloaded(401, 400.0)
    assert not overloaded(20, 5.0)  # at least 20 at low rates
    assert overloaded(21, 5.0)


def step(**changes: Any) -> dict[str, Any]:
    kept = {"rate": 400.0, "acked_per_s": 396.0, "overloaded": False, "backlog_grew": False,
            "answers_drain_s": 0.5, "duration_s": 2.0}
    return {**kept, **changes}


def test_a_step_that_kept_up() -> None:
    assert kept_up(step())
    assert kept_up(step(acked_per_s=380.0))  # exactly 95 %


@pytest.mark.parametrize("changes", [
    {"acked_per_s": 379.0},  # under 95 % of the offered rate acknowledged in the window
    {"backlog_grew": True},
    {"overloaded": True},
    {"answers_drain_s": 2.1},  # the answers fell further behind than one step
])
def test_a_step_that_did_not_keep_up(changes: dict[str, Any]) -> None:
    assert not kept_up(step(**changes))


def event(name: str, data: dict[str, Any]) -> str:
    return "42" + orjson.dumps([name, data]).decode()


def test_ack_steps_counts_user_messages_and_ended_answers() -> None:
    seen = AckSteps()
    user = {"id": "u1", "role": "user", "status": "complete", "client_msg_id": "c1"}
    answer = {"id": "a1", "role": "assistant", "status": "streaming", "client_msg_id": None}
    for text in (event("message", {"session_id": "s", "message": user}),
                 event("session", {"session": {"id": "s", "running": True}}),
                 event("message", {"session_id": "s", "message": answer}),
                 event("delta", {"session_id": "s", "message_id": "a1", "chunk": 1}),
                 event("message", {"session_id": "s", "message": {**answer,
                                                                  "status": "complete"}}),
                 event("message", {"session_id": "s", "message": {**answer,
                                                                  "status": "complete"}})):
        seen.on_raw(None, text)  # type: ignore[arg-type]
    assert seen.live_user == {"c1"}
    assert seen.answers == {"a1"}  # once, however often it is repeated


def stepped(rate: float, p99: float) -> dict[str, Any]:
    return {"rate_last_unsaturated": rate, "ack_p50_ms_last_unsaturated": p99 / 2,
            "ack_p99_ms_last_unsaturated": p99}


def test_report_rows_judge_the_p99_at_the_last_unsaturated_step() -> None:
    size = {"pers_step_shapes": ["many"], "pers_senders": 20, "pers_step_s": 2.0,
            "pers_step_rates": step_rates(100.0, 2.0, 8)}
    results = {"persistence": {"sqlite_many_steps": stepped(800.0, 24.0),
                               "postgresql_many_steps": stepped(0.0, float("nan")),
                               "baseline_many_steps": stepped(1600.0, 5.0)}}
    table = {(r[0], r[1]): r for r in rows(results, size)}
    label = "5b. ack latency, open loop, 20 sessions"
    sqlite = table[(label, "ack p99 there on sqlite, ms")]
    assert sqlite[2:] == ["24.0", "5.0", "4.80x", "< 25 ms", "met"]
    pg = table[(label, "ack p99 there on postgresql, ms")]
    assert pg[2] == "n/a" and pg[-1] == "NOT met (no step kept up)"
    rate = [r for k, r in table.items() if k[1].startswith("last unsaturated step on sqlite")]
    assert rate[0][2:4] == ["800", "1,600"]
    assert "steps 100 x2, 2.0 s each" in rate[0][1]


def test_report_shows_the_browser_counts_as_counts_after_a_median() -> None:
    # `bench run` merges runs with a median, which makes every figure a float.
    results = {"browser": {"tokens": 20000.0, "deltas": 2575.0,
                           "end_ms_per_delta": 15.0, "start_ms_per_delta": 12.0}}
    table = {(r[0], r[1]): r for r in rows(results, {})}
    label = "6. browser, 20,000 tokens"
    assert table[(label, "deltas applied by the page")][2] == "2,575"
    figure = "main-thread ms per delta, last tenth of the answer (vs first tenth)"
    per_delta = table[(label, figure)]
    assert per_delta[2:] == ["15.000", "12.000", "1.25x", "<= 1.5x", "met"]


def test_structured_row_is_the_median_of_its_pairs_and_says_how_many() -> None:
    from bench.__main__ import FULL, SMOKE

    assert FULL["structured_pairs"] == 5 and SMOKE["structured_pairs"] == 1
    shape = {"cpu_ms_per_1k_tokens": 70.0, "delay_p99_ms": 1.0}
    results = {"structured": {"plain": shape, "structured": {**shape, "cpu_ms_per_1k_tokens": 75.0},
                              "ratios": [1.2, 1.0, 1.07, 0.97, 1.04], "ratio": 1.04,
                              "parts_path": {"plain": 1.0, "structured": 1.5}}}
    table = {(r[0], r[1]): r for r in rows(results, {"structured_n": 100})}
    figure = ("server CPU ms per 1,000 tokens (structured vs plain text, both Tether; "
              "median of 5 pairs' ratios)")
    assert table[("1b. structured N=100", figure)][4:] == ["1.04x", "<= 1.10x", "met"]
