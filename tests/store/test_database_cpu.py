"""bench.database_cpu at a tiny size: the database's CPU is read, and the sends are counted."""

from __future__ import annotations

import pytest
from bench.database_cpu import main, measure


def test_the_database_and_the_server_both_spend_cpu_on_the_sends() -> None:
    cpu = measure(one_session=False, senders=4, duration=1.5)
    assert cpu.sends > 0
    assert cpu.server_cpu_s > 0
    assert cpu.database_cpu_s > 0


def test_a_wrong_shape_is_refused_with_its_usage(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["several"]) == 2
    assert "usage" in capsys.readouterr().err
