"""Accounts' authentication cache, on SQLite and PostgreSQL alike.

Two Accounts on one database stand for two processes: the server, and ``tether token ...``."""

from __future__ import annotations

import asyncio

import pytest

from tether.accounts import LOCAL_USER, Accounts, hash_token
from tether.db.schema import tokens
from tether.store import Store, utcnow

TTL = 5.0


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def server(store: Store, clock: FakeClock) -> Accounts:
    return Accounts(store.engine, auth_cache_ttl=TTL, clock=clock)


@pytest.fixture
def cli(store: Store) -> Accounts:
    return Accounts(store.engine)


async def test_a_known_token_is_served_from_the_cache(
    server: Accounts, cli: Accounts, statements: list[str]
) -> None:
    token = await cli.create_token("alice")
    first = await server.authenticate(token, local_allowed=False)
    assert first is not None and first.name == "alice"
    asked = len(statements)
    assert await server.authenticate(token, local_allowed=True) == first
    assert len(statements) == asked  # a hit does not touch the database


async def test_connections_of_one_token_missing_the_cache_together_share_one_lookup(
    server: Accounts, cli: Accounts, statements: list[str]
) -> None:
    alone, together = await cli.create_token("alice"), await cli.create_token("bob")
    asked = len(statements)
    assert await server.authenticate(alone, local_allowed=False) is not None
    one_lookup = len(statements) - asked
    asked = len(statements)
    found = await asyncio.gather(
        *(server.authenticate(together, local_allowed=False) for _ in range(10))
    )
    assert [u.name if u else None for u in found] == ["bob"] * 10
    assert len(statements) - asked == one_lookup
    wrong = await asyncio.gather(
        *(server.authenticate("tt_nobody", local_allowed=False) for _ in range(3))
    )
    assert wrong == [None] * 3


async def test_revocation_by_another_process_takes_effect_after_the_ttl(
    server: Accounts, cli: Accounts, clock: FakeClock
) -> None:
    token = await cli.create_token("alice")
    assert await server.authenticate(token, local_allowed=False) is not None
    assert await cli.revoke("alice") == 1
    clock.now += TTL - 0.1
    assert await server.authenticate(token, local_allowed=False) is not None
    clock.now += 0.1
    assert await server.authenticate(token, local_allowed=False) is None
    assert await server.authenticate(token, local_allowed=False) is None


async def test_revocation_in_this_process_takes_effect_at_once(server: Accounts) -> None:
    token = await server.create_token("alice")
    assert await server.authenticate(token, local_allowed=False) is not None
    await server.revoke("alice")
    assert await server.authenticate(token, local_allowed=False) is None


async def test_a_wrong_token_is_never_cached(
    store: Store, server: Accounts, cli: Accounts, statements: list[str]
) -> None:
    wrong = "tt_not-yet-a-token"
    assert await server.authenticate(wrong, local_allowed=True) is None
    asked = len(statements)
    assert await server.authenticate(wrong, local_allowed=True) is None
    assert len(statements) > asked  # asked the database again
    # The same string becomes a valid token (by its hash, as create_token stores it): it
    # works at once, with no TTL to wait out.
    alice = await cli.ensure_user("alice")
    async with store.engine.begin() as conn:
        await conn.execute(
            tokens.insert().values(
                id="t-1", user_id=alice.id, token_hash=hash_token(wrong), created_at=utcnow()
            )
        )
    assert await server.authenticate(wrong, local_allowed=False) == alice


async def test_missing_or_empty_token_outside_local_mode(server: Accounts) -> None:
    for token in (None, "", 42):
        assert await server.authenticate(token, local_allowed=False) is None


async def test_local_mode_is_cached_and_ends_with_the_first_token(
    store: Store, server: Accounts, cli: Accounts, clock: FakeClock, statements: list[str]
) -> None:
    local = await server.authenticate(None, local_allowed=True)
    assert local is not None and local.name == LOCAL_USER
    asked = len(statements)
    assert await server.authenticate(None, local_allowed=True) == local
    assert len(statements) == asked
    assert await server.authenticate(None, local_allowed=False) is None
    token = await cli.create_token("alice")
    assert await server.authenticate(None, local_allowed=True) == local  # within the TTL
    clock.now += TTL
    assert await server.authenticate(None, local_allowed=True) is None
    assert await server.authenticate(token, local_allowed=True) is not None
    # A token made by the server's own Accounts ends local mode at once.
    async with store.engine.begin() as conn:
        await conn.execute(tokens.delete())
    clock.now += TTL
    assert await server.authenticate(None, local_allowed=True) == local
    await server.create_token("bob")
    assert await server.authenticate(None, local_allowed=True) is None

