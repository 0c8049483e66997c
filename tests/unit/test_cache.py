"""The in-process cache: bounded, least recently used out first, optional expiry."""

from __future__ import annotations

import pytest

from tether.cache import Cache


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_keeps_values_until_they_expire() -> None:
    clock = FakeClock()
    cache: Cache[str, int] = Cache(10, ttl=5.0, clock=clock)
    assert cache.get("a") is None
    cache.put("a", 1)
    clock.now += 4.99
    assert cache.get("a") == 1
    clock.now += 0.01
    assert cache.get("a") is None
    assert len(cache) == 0  # an expired entry is dropped when found


def test_put_again_restarts_the_ttl() -> None:
    clock = FakeClock()
    cache: Cache[str, int] = Cache(10, ttl=1.0, clock=clock)
    cache.put("a", 1)
    clock.now += 0.9
    cache.put("a", 2)
    clock.now += 0.9
    assert cache.get("a") == 2


def test_without_ttl_entries_never_expire() -> None:
    clock = FakeClock()
    cache: Cache[str, int] = Cache(10, clock=clock)
    cache.put("a", 1)
    clock.now += 1e9
    assert cache.get("a") == 1


def test_bounded_least_recently_used_goes_first() -> None:
    cache: Cache[str, int] = Cache(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # "b" is now the least recently used
    cache.put("c", 3)
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (1, None, 3)
    assert len(cache) == 2


def test_discard_and_clear() -> None:
    cache: Cache[str, int] = Cache(5)
    cache.put("a", 1)
    cache.put("b", 2)
    cache.discard("a")
    cache.discard("missing")
    assert cache.get("a") is None and cache.get("b") == 2
    cache.clear()
    assert len(cache) == 0


def test_size_must_be_positive() -> None:
    with pytest.raises(ValueError):
        Cache(0)


def test_expiring_cache_is_bounded_least_recently_used_too() -> None:
    clock = FakeClock()
    cache: Cache[str, int] = Cache(2, ttl=10.0, clock=clock)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1
    cache.put("c", 3)
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (1, None, 3)
