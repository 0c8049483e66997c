"""PostgreSQL's pool: a connection the server dropped (a restart, an idle timeout) is found
dead by its one-round-trip ping on checkout and replaced, so the next call works."""

from __future__ import annotations

import uuid
from datetime import timedelta

import asyncpg
import pytest

from tests.support.services import PG_ADMIN_URL
from tether.accounts import Accounts
from tether.store import Store, utcnow

pytestmark = pytest.mark.postgres


async def drop_connections(database: str) -> int:
    admin = await asyncpg.connect(PG_ADMIN_URL)
    try:
        return len(await admin.fetch(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
            database,
        ))
    finally:
        await admin.close()


async def test_connections_dropped_by_the_server_are_replaced_on_checkout(
    pg_store: tuple[Store, str],
) -> None:
    store, database = pg_store
    user = await Accounts(store.engine).ensure_user("alice")
    sid = str(uuid.uuid4())
    await store.create_session(user.id, sid, "t", "echo")
    assert await drop_connections(database) >= 1  # the pool's idle connection(s)
    # A read, a one-statement write and a transaction, each on a connection checked out anew.
    assert await store.head_seq(sid) == 0
    sent = await store.add_user_message(user.id, sid, "c1", "hello")
    assert sent is not None and sent[0]["seq"] == 1
    assert await drop_connections(database) >= 1
    assert await store.claim_session(sid, "runner", utcnow() + timedelta(seconds=30)) is not None
    assert await store.count_messages(sid) == 1

