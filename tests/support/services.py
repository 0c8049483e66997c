"""PostgreSQL and Redis for tests: a fresh database (or key prefix) per test.

Outside CI a test whose service is absent is skipped with the reason; under CI=true it fails,
because .ci/run starts both services.
"""

from __future__ import annotations

import contextlib
import os
import socket
import uuid
from collections.abc import AsyncIterator

import pytest

PG_ADMIN_URL = os.environ.get("TETHER_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("TETHER_TEST_REDIS", "redis://127.0.0.1:6379/0")


def reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def require(name: str, host: str, port: int) -> None:
    if reachable(host, port):
        return
    message = f"{name} is not running on {host}:{port}"
    if os.environ.get("CI") == "true":
        pytest.fail(message + " (under CI=true .ci/run must start it)")
    pytest.skip(message)


@contextlib.asynccontextmanager
async def fresh_pg_database() -> AsyncIterator[str]:
    """Create an empty database, yield its URL, drop it afterwards."""
    import asyncpg

    require("PostgreSQL", "127.0.0.1", 5432)
    name = f"tether_t_{uuid.uuid4().hex[:12]}"
    admin_dsn = PG_ADMIN_URL
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    try:
        yield admin_dsn.rsplit("/", 1)[0] + "/" + name
    finally:
        conn = await asyncpg.connect(admin_dsn)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()
