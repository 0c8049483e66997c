"""``tether serve`` tunes the garbage collector before anything else (tether.server)."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest

from tether.server import COLLECTOR_THRESHOLDS, StartupError, serve
from tether.settings import Settings


@pytest.fixture
def thresholds() -> Iterator[None]:
    saved = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    yield
    gc.set_threshold(*saved)


async def test_serve_sets_the_collector_thresholds_first(
    thresholds: None, tmp_path: Path
) -> None:
    blocked = tmp_path / "not-a-dir"
    blocked.write_text("a file where the data dir should be")
    with pytest.raises(StartupError, match="cannot use data dir"):
        await serve(Settings(data_dir=blocked))
    assert gc.get_threshold() == COLLECTOR_THRESHOLDS
    assert COLLECTOR_THRESHOLDS[0] > 700
