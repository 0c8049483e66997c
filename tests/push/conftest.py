from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.push.pushservice import LocalPushService

# The store tests' fixtures (SQLite and PostgreSQL), for test_store.py here.
from tests.store.conftest import database_url, store, user  # noqa: F401


@pytest.fixture
async def push_service() -> AsyncIterator[LocalPushService]:
    service = await LocalPushService().start()
    yield service
    await service.close()
