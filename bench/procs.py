"""Server processes under test: start pinned to a core, read their CPU time and memory from /proc.

Three kinds: ``tether`` (the real server through :mod:`bench.launch_tether`), ``baseline`` (the
plain python-socketio server in :mod:`bench.baseline`) and ``node`` (socket.io 4.8 with connection
state recovery, bench/node). Accounts (one bearer token per simulated user) are created in the
Tether database before the server starts, with Tether's own Accounts API.
"""

from __future__ import annotations

import asyncio
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
NODE_DIR = ROOT / "bench" / "node"
LISTENING = re.compile(r"listening on (http://\S+?)/? ")
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
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


@dataclass
class ServerProcess:
    kind: str
    proc: subprocess.Popen[str]
    url: str
    workdir: Path
    output: list[str] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def cpu_seconds(self) -> float:
        """user + system CPU time of the server process (all its threads), from /proc."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK

    def rss(self) -> int:
        """Resident set size in bytes."""
        return int(Path(f"/proc/{self.pid}/statm").read_text().split()[1]) * PAGE

    def stop(self, timeout: float = 10) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def _pin_server() -> None:
    if os.cpu_count() and os.cpu_count() > 1:  # type: ignore[operator]
        os.sched_setaffinity(0, {SERVER_CORE})


def start_process(kind: str, cmd: list[str], env: dict[str, str], workdir: Path,
                  cwd: Path = ROOT, timeout: float = 60) -> ServerProcess:
    stderr = open(workdir / f"{kind}.stderr", "a")  # owned by the process
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=stderr, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1", **env}, cwd=cwd,
                            preexec_fn=_pin_server)
    stderr.close()
    found: list[str] = []
    output: list[str] = []
    ready = threading.Event()

    def drain() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            output.append(line)
            match = LISTENING.search(line)
            if match and not found:
                found.append(match.group(1))
                ready.set()
        ready.set()

    threading.Thread(target=drain, daemon=True).start()
    if not ready.wait(timeout) or not found:
        proc.kill()
        err = (workdir / f"{kind}.stderr").read_text()[-3000:]
        raise RuntimeError(f"{kind} server did not start: {err}")
    return ServerProcess(kind, proc, found[0], workdir, output)


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
