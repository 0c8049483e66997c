from __future__ import annotations

import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from tests.support.server import ServerProcess, start_server
from tests.support.services import REDIS_URL, fresh_pg_database, require

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

#: Fast leases so a dead node is noticed within seconds in tests.
CLUSTER_ENV = {"TETHER_LEASE_SECONDS": "2", "TETHER_ECHO_DELAY": "0.03"}


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    async with fresh_pg_database() as url:
        yield url


@pytest.fixture
def redis_url() -> str:
    require("Redis", "127.0.0.1", 6379)
    return REDIS_URL


@pytest.fixture
def nodes(
    tmp_path: Path, pg_url: str, redis_url: str
) -> Iterator[Callable[..., ServerProcess]]:
    """Start ``tether serve`` nodes sharing one PostgreSQL database and one Redis key prefix."""
    prefix = f"t{uuid.uuid4().hex[:10]}"
    started: list[ServerProcess] = []

    def start(index: int | None = None, env: dict[str, str] | None = None,
              redis: str | None = None, database: str | None = None) -> ServerProcess:
        index = len(started) if index is None else index
        proc = start_server(
            tmp_path / f"node{index}-{len(started)}",
            {
                **CLUSTER_ENV,
                "TETHER_DATABASE_URL": database or pg_url,
                "TETHER_REDIS_URL": redis or redis_url,
                "TETHER_REDIS_PREFIX": prefix,
                **(env or {}),
            },
        )
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PrivateRedis:
    """A redis-server of the test's own on a free port, so restarting it disturbs nobody."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        assert binary, "redis-server is not installed"
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise TimeoutError("private redis-server did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture
def private_redis(tmp_path: Path, redis_url: str) -> Iterator[PrivateRedis]:
    redis = PrivateRedis(tmp_path)
    redis.start()
    yield redis
    redis.stop()
