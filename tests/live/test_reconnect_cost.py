"""bench.reconnect_cost at a tiny size: every follower is dropped and comes back (counts only)."""

from __future__ import annotations

from bench.reconnect_cost import run


def test_every_follower_reconnects_and_resubscribes() -> None:
    cost = run("tether", users=2, followers=3, wait=0.0)
    assert cost.reconnects == 6
    assert 0 < cost.median_back_s <= cost.all_back_s
    assert cost.server_cpu_s > 0
