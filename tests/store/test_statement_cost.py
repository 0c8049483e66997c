"""bench.statement_cost at tiny size: the shape of what it measures, never its timings."""

from __future__ import annotations

import pytest
from bench.statement_cost import replayed, report, run


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def test_every_statement_of_a_send_is_replayed_raw_and_through_core(kind: str) -> None:
    results, costs, sequences = await run([kind], [1, 20], sends=4, iterations=2)

    assert [(r.kind, r.sessions) for r in results] == [(kind, 1), (kind, 20)]
    sequence = replayed(sequences[kind])
    keys = {e.key for e in sequence}
    # The captured send is a whole send with its answer: messages stored (the question and
    # its answer), the session's seq taken, something read.
    assert any("INSERT INTO messages" in k for k in keys)
    assert any("UPDATE sessions" in k for k in keys)
    assert any(k.startswith("SELECT") for k in keys)
    assert set(costs[kind].raw) == keys == set(costs[kind].core)
    # SQLite's statements are also replayed as the store runs them (tether.store.compiled).
    assert set(costs[kind].compiled) == (keys if kind == "sqlite" else set())
    for r in results:
        # Every statement of the counted sends' path was timed; only what timing makes rare
        # (a checkpoint of an answer that streamed over the ticker's interval) may be left.
        assert all(n < 0.5 for n in r.unmeasured.values()), r.unmeasured
        assert r.statements > 0 and r.floor_us > 0 and r.core_us > 0
        assert (r.compiled_us is not None and r.compiled_us > 0) == (kind == "sqlite")
    text = report(results, costs, sequences, None)
    assert f"{kind}  1 session(s)" in text and f"{kind} 20 session(s)" in text
