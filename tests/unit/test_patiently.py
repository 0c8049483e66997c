"""runs.retry.patiently: a run's storage call waits out an unreachable database, nothing else."""

from __future__ import annotations

import pytest

from tether.runs import retry
from tether.runs.retry import patiently
from tether.store import StorageUnavailable


class Calls:
    """Fails with ``error`` the first ``failures`` times, then returns how many calls it took."""

    def __init__(self, failures: int, error: Exception | None = None) -> None:
        self.failures, self.error, self.count = failures, error, 0

    async def __call__(self) -> int:
        self.count += 1
        if self.count <= self.failures:
            raise self.error or StorageUnavailable("the database is away")
        return self.count


@pytest.fixture(autouse=True)
def quick(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(retry, "FIRST_WAIT", 0.01)


async def test_a_call_that_succeeds_is_made_once() -> None:
    call = Calls(0)
    assert await patiently(call, "a write") == 1


async def test_an_unreachable_database_is_waited_out() -> None:
    call = Calls(3)
    assert await patiently(call, "a write", patience=10) == 4


async def test_other_errors_are_raised_at_once() -> None:
    call = Calls(5, ValueError("a bug"))
    with pytest.raises(ValueError, match="a bug"):
        await patiently(call, "a write")
    assert call.count == 1


async def test_the_last_failure_is_raised_once_patience_runs_out() -> None:
    call = Calls(10_000)
    with pytest.raises(StorageUnavailable):
        await patiently(call, "a write", patience=0.3)
    assert 2 <= call.count < 10_000
    no_patience = Calls(10_000)
    with pytest.raises(StorageUnavailable):
        await patiently(no_patience, "a write", patience=0)
    assert no_patience.count == 1
