"""Message ids are version 7 UUIDs: canonical strings, the time first, random after it."""

from __future__ import annotations

import time
import uuid

import pytest

from tether import ids


def test_an_id_is_a_canonical_version_7_uuid_with_the_time_in_its_first_48_bits() -> None:
    before = time.time_ns() // 1_000_000
    value = ids.new_message_id()
    after = time.time_ns() // 1_000_000
    parsed = uuid.UUID(value)
    assert str(parsed) == value
    assert parsed.version == 7
    assert parsed.variant == uuid.RFC_4122
    assert before <= parsed.int >> 80 <= after


@pytest.mark.parametrize("make", [ids.uuid7_fallback, ids._uuid7])
def test_ids_follow_the_clock_and_differ_within_one_millisecond(make: object) -> None:
    assert callable(make)
    made = [make() for _ in range(20_000)]
    assert all(u.version == 7 and u.variant == uuid.RFC_4122 for u in made)
    stamps = [u.int >> 80 for u in made]
    assert stamps == sorted(stamps)
    assert len(set(made)) == len(made)
    # 74 random bits: the bits after the time are not all alike within one millisecond.
    same_ms = [u.int & ((1 << 80) - 1) for u in made if u.int >> 80 == stamps[0]]
    assert len(set(same_ms)) == len(same_ms)


def test_the_random_bits_fill_both_fields_around_the_version_and_variant() -> None:
    made = [ids.uuid7_fallback().int for _ in range(2_000)]
    rand_a = {(u >> 64) & 0xFFF for u in made}
    rand_b_top = {(u >> 58) & 0xF for u in made}
    assert len(rand_a) > 1_000 and len(rand_b_top) == 16
