"""Three ``tether serve`` nodes for the fault test, and the faults done to them.

Each node is a real process (tests.support.server) on PostgreSQL through a FaultProxy (cut and
restored) and on a private redis-server (killed and started again); its clients connect through
a FaultProxy of the node's own (silent drops, hard closes), which follows the node to its new
port when it is restarted. Everything is on loopback and stops with :meth:`FaultCluster.close`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tests.cluster.conftest import PrivateRedis
from tests.cluster.faults.plan import Fault, Kind
from tests.support.proxy import FaultProxy
from tests.support.server import ServerProcess, start_server

AGENT = Path(__file__).with_name("slow_agent.py")
#: The lease of the fault test's nodes, in seconds: short, so a dead node is noticed quickly.
LEASE = 2.0


def node_env(database: str, redis: str, prefix: str, agents_file: Path) -> dict[str, str]:
    return {
        "TETHER_DATABASE_URL": database,
        "TETHER_REDIS_URL": redis,
        "TETHER_REDIS_PREFIX": prefix,
        "TETHER_LEASE_SECONDS": str(LEASE),
        "TETHER_CHECKPOINT_INTERVAL": "0.3",
        # Clients notice a silently dropped connection within about three seconds.
        "TETHER_PING_INTERVAL": "1",
        "TETHER_PING_TIMEOUT": "2",
        # Clients reach each node through its proxy, on another port than the node's own: the
        # DNS-rebinding guard must let the loopback address through on any port. A node run
        # as in production must not refuse them for it either.
        "TETHER_ALLOWED_HOSTS": json.dumps(["127.0.0.1"]),
        "NODE_ENV": "production",
        "TETHER_AGENTS_FILE": str(agents_file),
        "TETHER_AGENT": "slow",
        "TETHER_STARTUP_WAIT": "60",
        "TETHER_LOG_LEVEL": "INFO",
    }


def write_agents_file(path: Path, delay: float) -> Path:
    command = json.dumps([sys.executable, "-I", str(AGENT)])
    path.write_text(
        "[agents.slow]\n"
        'kind = "command"\n'
        f"command = {command}\n"
        'stdin = "text"\n'
        "timeout = 60\n"
        f'env = {{ FAULT_AGENT_DELAY = "{delay}" }}\n'
    )
    return path


@dataclass(eq=False)
class Node:
    index: int
    data_dir: Path
    #: What the node's clients connect through.
    proxy: FaultProxy
    proc: ServerProcess | None = None
    stopped: bool = False
    #: Killed, and not listening again yet.
    restarting: bool = False
    starts: int = 0

    @property
    def down(self) -> bool:
        return self.stopped or self.restarting

    @property
    def url(self) -> str:
        return self.proxy.url


class FaultCluster:
    def __init__(self, workdir: Path, pg_url: str, log: Callable[[str], None]) -> None:
        self.workdir = workdir
        self.pg_url = pg_url
        self.log = log
        self.redis = PrivateRedis(workdir)
        self.pg_proxy = FaultProxy("127.0.0.1", int(pg_url.rsplit(":", 1)[1].split("/")[0]))
        self.nodes: list[Node] = []
        self.prefix = f"f{uuid.uuid4().hex[:10]}"
        self._env: dict[str, str] = {}

    @property
    def urls(self) -> list[str]:
        """Where clients may connect: every node's proxy (a dead node's refuses)."""
        return [node.url for node in self.nodes]

    async def start(self, count: int, agent_delay: float) -> None:
        self.redis.start()
        await self.pg_proxy.start()
        host, rest = self.pg_url.split("@", 1)
        database = f"{host}@127.0.0.1:{self.pg_proxy.port}/{rest.split('/', 1)[1]}"
        agents = write_agents_file(self.workdir / "agents.toml", agent_delay)
        self._env = node_env(database, self.redis.url, self.prefix, agents)
        for i in range(count):
            proxy = await FaultProxy("127.0.0.1", 1).start()
            self.nodes.append(Node(i, self.workdir / f"node{i}", proxy))
        # The first applies the migrations; the others start together.
        await self._start(self.nodes[0])
        await asyncio.gather(*(self._start(node) for node in self.nodes[1:]))

    async def _start(self, node: Node) -> None:
        proc = await asyncio.to_thread(
            start_server, node.data_dir, self._env, (), 0, 90
        )
        node.proc, node.stopped = proc, False
        node.starts += 1
        node.proxy.target = ("127.0.0.1", proc.port)
        self.log(f"node {node.index} up on port {proc.port} (pid {proc.pid})")

    def skips(self, fault: Fault) -> str | None:
        """Why ``fault`` cannot strike now (its node is still down from an earlier fault, or
        another node is down and this one would take a second away), or None."""
        if fault.node is None:
            return None
        node = self.nodes[fault.node]
        if node.down:
            return f"node {node.index} is still down"
        if fault.kind in (Kind.KILL, Kind.STOP) and any(n.down for n in self.nodes):
            return "another node is down"
        return None

    async def inflict(self, fault: Fault) -> bool:
        """Do ``fault``, and undo it after its length; False when it was skipped (see
        :meth:`skips`)."""
        node = None if fault.node is None else self.nodes[fault.node]
        if reason := self.skips(fault):
            self.log(f"fault {fault} skipped: {reason}")
            return False
        self.log(f"fault {fault}")
        if fault.kind is Kind.DROP:
            assert node is not None
            count = node.proxy.drop_all(only="/socket.io/")
            self.log(f"  dropped {count} connection(s) of node {node.index} silently")
        elif fault.kind is Kind.CLOSE:
            assert node is not None
            node.proxy.sever()
            node.proxy.restore()
        elif fault.kind is Kind.KILL:
            assert node is not None and node.proc is not None
            node.restarting = True
            node.proc.kill()
            node.proxy.sever()  # clients see the connection reset, as with a dead host
            await asyncio.sleep(fault.length)
            node.proxy.restore()
            try:
                await self._start(node)
            finally:
                node.restarting = False
        elif fault.kind is Kind.STOP:
            assert node is not None and node.proc is not None
            os.kill(node.proc.pid, signal.SIGSTOP)
            node.stopped = True
            await asyncio.sleep(fault.length)
            self._continue(node)
        elif fault.kind is Kind.REDIS:
            self.redis.stop()
            await asyncio.sleep(fault.length)
            self.redis.start()
            self.log("  redis back")
        elif fault.kind is Kind.PG:
            self.pg_proxy.sever()
            await asyncio.sleep(fault.length)
            self.pg_proxy.restore()
            self.log("  postgres back")
        return True

    def _continue(self, node: Node) -> None:
        if node.stopped and node.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(node.proc.pid, signal.SIGCONT)
            node.stopped = False
            self.log(f"  node {node.index} continued")

    async def heal(self) -> None:
        """Undo whatever is still done: every node running, Redis up, PostgreSQL reachable."""
        self.pg_proxy.restore()
        if self.redis.proc is None or self.redis.proc.poll() is not None:
            self.redis.start()
        for node in self.nodes:
            node.proxy.restore()
            self._continue(node)
            if not node.restarting and (node.proc is None or node.proc.proc.poll() is not None):
                await self._start(node)

    def exits(self) -> list[str]:
        """Nodes that exited by themselves (not killed by the test)."""
        found = []
        for node in self.nodes:
            code = None if node.proc is None else node.proc.proc.poll()
            if code is not None and code != -signal.SIGKILL:
                found.append(f"node {node.index} exited with {code}")
        return found

    def logs(self) -> dict[str, str]:
        """Each node's application log and stderr (all its lives)."""
        out: dict[str, str] = {}
        for node in self.nodes:
            for path in (node.data_dir / "logs" / "app.log", node.data_dir / "server.stderr"):
                if path.exists():
                    out[f"node{node.index}-{path.name}"] = path.read_text(errors="replace")
        return out

    async def close(self) -> None:
        for node in self.nodes:
            self._continue(node)
        deadline = time.monotonic() + 20
        for node in self.nodes:
            if node.proc is not None:
                await asyncio.to_thread(node.proc.stop, max(deadline - time.monotonic(), 1))
            await node.proxy.close()
        await self.pg_proxy.close()
        self.redis.stop()
