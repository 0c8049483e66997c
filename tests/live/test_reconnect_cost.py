"""bench.reconnect_cost at a tiny size: every follower is dropped and comes back (counts only)."""

from __future__ import annotations

from bench.reconnect_cost import run


def test_every_follower_reconnects_and_resubscribes() -> None:
    # 40 reconnects: the server's CPU time is read from /proc in clock ticks (10 ms), and 6
    # reconnects (about 8 ms of CPU) could read as none at all.
    cost = run("tether", users=4, followers=10, wait=0.0)
    assert cost.reconnects == 40
    assert 0 < cost.median_back_s <= cost.all_back_s
    assert cost.server_cpu_s > 0
