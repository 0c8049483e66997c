"""Server processes under test: start pinned to a core, read their CPU time and memory from /proc.

Three kinds: ``tether`` (the real server through :mod:`bench.launch_tether`), ``baseline`` (the
plain python-socketio server in :mod:`bench.baseline`) and ``node`` (socket.io 4.8 with connection
state recovery, bench/node). Accounts (one bearer token per simulated user) are created in the
Tether database before the server starts, with Tether's own Accounts API.
"""

from __future__ import annotations

import asyncio
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support import server as server_process
from tests.support.server import ServerProcess

ROOT = Path(__file__).resolve().parents[1]
NODE_DIR = ROOT / "bench" / "node"
#: Where the ``tether`` package under test lives (see use_source); the work tree by default.
SOURCE = ROOT / "src"
SOURCE_LABEL = "work tree"
SERVER_CORE = 0
CLIENT_CORE = 1
POSTGRES = "postgresql://postgres@127.0.0.1:5432"

#: Settings that keep Tether's per-connection request limit and logging out of the figures.
TETHER_ENV = {
    "TETHER_RATE_LIMIT": "1000000",
    "TETHER_RATE_BURST": "1000000",
    # One user holds every bench connection: lift the per-user quotas (tether.limits) as well.
    "TETHER_USER_RATE_LIMIT": "1000000",
    "TETHER_USER_RATE_BURST": "1000000",
    "TETHER_MAX_CONNECTIONS_PER_USER": "1000000",
    "TETHER_MAX_SESSIONS_PER_USER": "1000000",
    "TETHER_LOG_LEVEL": "WARNING",
    "TETHER_ECHO_DELAY": "0",
}


def use_source(ref: str | None) -> str:
    """Benchmark the ``tether`` package of git ``ref`` (exported to a temp dir) instead of the
    work tree, so figures belong to a commit even while the tree is being edited. Must run
    before anything imports ``tether``. Returns a label for the report."""
    global SOURCE, SOURCE_LABEL
    if ref:
        commit = subprocess.run(["git", "rev-parse", "--short", ref], cwd=ROOT, check=True,
                                capture_output=True, text=True).stdout.strip()
        target = Path(tempfile.mkdtemp(prefix=f"tether-src-{commit}-"))
        archive = subprocess.run(["git", "archive", ref, "src"], cwd=ROOT, check=True,
                                 capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
        merge = target / "src" / "tether" / "merge.py"
        if not merge.exists():
            # The followers' merge rule (tether.merge, pure, no imports) is the load generator's,
            # not the server's under test: a ref older than it gets the work tree's copy.
            shutil.copy(ROOT / "src" / "tether" / "merge.py", merge)
        SOURCE, SOURCE_LABEL = target / "src", f"commit {commit}"
    else:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                                capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "src"], cwd=ROOT,
                               capture_output=True, text=True).stdout.strip()
        SOURCE_LABEL = f"work tree at {commit}" + (" with uncommitted changes" if dirty else "")
    sys.path.insert(0, str(SOURCE))
    return SOURCE_LABEL


def raise_fd_limit(wanted: int = 65536) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = min(wanted, hard) if hard != resource.RLIM_INFINITY else wanted
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def use_uvloop() -> None:
    """Run the load generator on uvloop (installed with uvicorn[standard]) when it is there:
    about half the client CPU per event, the same for every server under test."""
    try:
        import uvloop
    except ImportError:
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def pin_self(core: int = CLIENT_CORE) -> None:
    """Pin the load generator to its own core (the server gets SERVER_CORE)."""
    if os.cpu_count() and os.cpu_count() > 1:  # type: ignore[operator]
        os.sched_setaffinity(0, {core})


def _pin_server() -> None:
    if os.cpu_count() and os.cpu_count() > 1:  # type: ignore[operator]
        os.sched_setaffinity(0, {SERVER_CORE})


def start_process(kind: str, cmd: list[str], env: dict[str, str], workdir: Path,
                  cwd: Path = ROOT, timeout: float = 60) -> ServerProcess:
    """The tests' launcher (tests.support.server), with the server pinned to SERVER_CORE."""
    return server_process.start_process(kind, cmd, env, workdir, cwd, timeout, _pin_server)


@dataclass
class Database:
    """Where a Tether server keeps its data for one benchmark run."""

    url: str
    cleanup: Any = None


async def _create_tokens(url: str, names: list[str]) -> dict[str, str]:
    from tether.accounts import Accounts
    from tether.db.engine import create_engine
    from tether.db.migrate import upgrade

    engine = create_engine(url)
    try:
        await upgrade(engine)
        accounts = Accounts(engine)
        return {name: await accounts.create_token(name) for name in names}
    finally:
        await engine.dispose()


@contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh PostgreSQL database ``bench_<random>``, dropped afterwards."""
    import asyncpg  # type: ignore[import-untyped]

    name = f"bench_{uuid.uuid4().hex[:10]}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(f"{POSTGRES}/postgres")
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{POSTGRES}/{name}"
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@contextmanager
def tether_server(
    users: list[str], env: dict[str, str] | None = None, database_url: str | None = None
) -> Iterator[tuple[ServerProcess, dict[str, str]]]:
    """A Tether server on a fresh data dir (or ``database_url``), with a token per user."""
    workdir = Path(tempfile.mkdtemp(prefix="tether-bench-"))
    url = database_url or f"sqlite:///{workdir / 'tether.db'}"
    tokens = asyncio.run(_create_tokens(url, users)) if users else {}
    full_env = {**TETHER_ENV, "TETHER_DATA_DIR": str(workdir), "TETHER_DATABASE_URL": url,
                "PYTHONPATH": f"{SOURCE}{os.pathsep}{ROOT}", **(env or {})}
    server = start_process(
        "tether", [sys.executable, "-m", "bench.launch_tether", "serve", "--host", "127.0.0.1",
                   "--port", "0"], full_env, workdir)
    try:
        yield server, tokens
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


@contextmanager
def baseline_server(kind: str = "baseline") -> Iterator[ServerProcess]:
    """The plain python-socketio baseline, or (kind="node") socket.io 4.8 with recovery."""
    workdir = Path(tempfile.mkdtemp(prefix=f"{kind}-bench-"))
    if kind == "node":
        if not (NODE_DIR / "node_modules" / "socket.io").exists():
            subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--silent"], cwd=NODE_DIR,
                           check=True)
        cmd = ["node", str(NODE_DIR / "server.js")]
    else:
        cmd = [sys.executable, "-m", "bench.baseline", "--port", "0"]
    server = start_process(kind, cmd, {"PYTHONPATH": str(ROOT)}, workdir)
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


class CpuMeter:
    """Server CPU seconds and wall seconds between start() and stop()."""

    def __init__(self, server: ServerProcess) -> None:
        self.server = server
        self.cpu = self.wall = 0.0
        self._cpu0 = self._wall0 = 0.0

    def start(self) -> None:
        self._cpu0, self._wall0 = self.server.cpu_seconds(), time.monotonic()

    def stop(self) -> None:
        self.cpu = self.server.cpu_seconds() - self._cpu0
        self.wall = time.monotonic() - self._wall0
