"""tether.ordering: a node delivers a session's live events in seq order, holding what comes
ahead of a gap until it is filled or the hold ends (the manager that uses it:
tests/unit/test_delivery.py)."""

from __future__ import annotations

from tether.ordering import SessionOrder


def test_in_order_events_go_out_at_once() -> None:
    order: SessionOrder[str] = SessionOrder()
    assert order.message("s", 1, "m1", "1") == ["1"]
    assert order.message("s", 2, "m2", "2") == ["2"]
    assert order.delta("s", "m2", "d2") == ["d2"]
    assert not order.waiting("s")


def test_a_message_ahead_of_a_gap_waits_for_it_with_its_deltas() -> None:
    order: SessionOrder[str] = SessionOrder()
    order.message("s", 1, "m1", "1")
    assert order.message("s", 3, "m3", "3") == []
    assert order.delta("s", "m3", "d3a") == []
    assert order.delta("s", "m1", "d1") == ["d1"]  # another message's delta is not held
    assert order.waiting("s")
    assert order.message("s", 2, "m2", "2") == ["2", "3", "d3a"]
    assert not order.waiting("s")
    assert order.delta("s", "m3", "d3b") == ["d3b"]  # its message is out: deltas go at once
    assert order.message("s", 4, "m3", "4") == ["4"]


def test_several_gaps_fill_in_any_order() -> None:
    order: SessionOrder[str] = SessionOrder()
    order.message("s", 1, "a", "1")
    assert order.message("s", 4, "d", "4") == []
    assert order.message("s", 3, "c", "3") == []
    assert order.message("s", 2, "b", "2") == ["2", "3", "4"]


def test_the_hold_ends_with_everything_held_in_seq_order() -> None:
    order: SessionOrder[str] = SessionOrder()
    order.message("s", 1, "a", "1")
    order.message("s", 5, "e", "5")
    order.message("s", 3, "c", "3")
    assert order.expire("s") == ["3", "5"]
    assert not order.waiting("s")
    assert order.message("s", 2, "b", "2") == ["2"]  # given up on: late, delivered as is
    assert order.message("s", 6, "e", "6") == ["6"]  # counting goes on after the last held


def test_repeats_and_late_changes_go_out_at_once() -> None:
    order: SessionOrder[str] = SessionOrder()
    order.message("s", 5, "a", "5")  # the first seen sets where counting starts
    assert order.message("s", 5, "a", "5 again") == ["5 again"]
    assert order.message("s", 2, "b", "2") == ["2"]


def test_sessions_are_independent() -> None:
    order: SessionOrder[str] = SessionOrder()
    order.message("s", 1, "a", "s1")
    order.message("t", 7, "b", "t7")
    assert order.message("s", 3, "c", "s3") == []
    assert order.message("t", 8, "d", "t8") == ["t8"]
    assert order.waiting("s") and not order.waiting("t")


def test_old_sessions_are_forgotten_but_never_one_holding_events() -> None:
    order: SessionOrder[str] = SessionOrder(remembered=10)
    order.message("held", 1, "a", "1")
    order.message("held", 3, "c", "3")
    for i in range(30):
        order.message(f"s{i}", 1, "x", "x")
    assert order.waiting("held")
    assert len(order._sessions) <= 10
    assert order.message("held", 2, "b", "2") == ["2", "3"]
