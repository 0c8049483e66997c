from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

# Fixtures of the cluster tests (nodes on PostgreSQL + Redis) and of the store tests (SQLite
# and PostgreSQL), for test_push_nodes.py and test_store.py here.
from tests.cluster.conftest import nodes, pg_url, redis_url  # noqa: F401
from tests.push.pushservice import LocalPushService
from tests.store.conftest import database_url, store, user  # noqa: F401


@pytest.fixture
async def push_service() -> AsyncIterator[LocalPushService]:
    service = await LocalPushService().start()
    yield service
    await service.close()
