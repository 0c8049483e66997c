from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, event

from tests.support.services import fresh_pg_database
from tether.accounts import Accounts, User
from tether.db.engine import create_engine
from tether.db.migrate import upgrade
from tether.store import Store


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'tether.db'}"
        return
    async with fresh_pg_database() as url:
        yield url


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    engine = create_engine(database_url, sqlite_busy_timeout=5)
    await upgrade(engine)
    store = Store(engine)
    yield store
    await store.close()


@pytest.fixture
async def user(store: Store) -> User:
    return await Accounts(store.engine).ensure_user("alice")


@pytest.fixture
def statements(store: Store) -> Iterator[list[str]]:
    """Every SQL statement run on the store's database from now on: on its engine, and on the
    connections of its SQLite reader and writer threads (tether.store.sqlite_thread), which
    are engines of their own."""
    seen: list[str] = []

    def record(*args: object) -> None:
        seen.append(str(args[2]))

    event.listen(Engine, "before_cursor_execute", record)
    yield seen
    event.remove(Engine, "before_cursor_execute", record)


@pytest.fixture
async def pg_store() -> AsyncIterator[tuple[Store, str]]:
    """A store on a fresh PostgreSQL database, and that database's name (for the tests that
    terminate its connections)."""
    async with fresh_pg_database() as url:
        engine = create_engine(url)
        await upgrade(engine)
        store = Store(engine)
        yield store, url.rsplit("/", 1)[1]
        await store.close()
