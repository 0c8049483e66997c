"""``python -m bench.count_statements``: bad arguments end with a message and exit 2, not a
traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest
from bench.count_statements import parse_args


@pytest.mark.parametrize("argv", [[], ["sqlite"], ["mysql", "1"], ["sqlite", "x"],
                                  ["sqlite", "0"], ["sqlite", "20", "11"]])
def test_bad_arguments_exit_2_with_a_message(argv: list[str],
                                             capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        parse_args(argv)
    assert exited.value.code == 2
    assert "usage: python -m bench.count_statements" in capsys.readouterr().err


def test_good_arguments_are_read() -> None:
    args = parse_args(["postgresql", "20", "2"])
    assert (args.kind, args.sessions, args.senders) == ("postgresql", 20, 2)
    assert parse_args(["sqlite", "1"]).senders == 1


def test_the_module_run_without_arguments_prints_its_usage() -> None:
    done = subprocess.run([sys.executable, "-m", "bench.count_statements"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "usage:" in done.stderr and "Traceback" not in done.stderr
