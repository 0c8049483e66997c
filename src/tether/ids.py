"""Ids of the rows inserted on every send: time-ordered UUIDs (RFC 9562, version 7).

A message's id is its primary key. A random UUID (version 4) puts each new row's key on a random
leaf of the key's index, so every insert dirties a page of its own, and SQLite's COMMIT writes
each such page to the WAL (PostgreSQL writes them too, in full after each checkpoint). A
version 7 UUID starts with the time in milliseconds: new keys land on the index's last leaf,
which the inserts of one commit share. The 74 bits after the time are random, so an id is as
hard to guess as the protocol needs (ids are opaque to clients, access is by session).

Python 3.14's ``uuid.uuid7`` is used when there is one.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable

_VERSION_7: int = 0x7 << 76
_VARIANT: int = 0b10 << 62


def uuid7_fallback() -> uuid.UUID:
    """A version 7 UUID: 48 bits of Unix time in ms, the version, 74 random bits with the
    variant (RFC 9562, section 5.7; ordered to the millisecond, random within it)."""
    random = int.from_bytes(os.urandom(10))  # 80 bits, of which 74 are used
    rand_a, rand_b = (random >> 62) & 0xFFF, random & ((1 << 62) - 1)
    return uuid.UUID(int=(time.time_ns() // 1_000_000) << 80 | _VERSION_7 | rand_a << 64
                     | _VARIANT | rand_b)


_uuid7: Callable[[], uuid.UUID] = getattr(uuid, "uuid7", uuid7_fallback)


def new_message_id() -> str:
    """A new message's id, in the canonical form (``str(uuid.UUID)``)."""
    return str(_uuid7())
