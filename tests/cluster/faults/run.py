"""One run of the fault test: start the cluster, let the clients talk while the seed's faults
strike, heal, let everything settle, check. Bounded in time throughout; everything it started
is stopped at the end, whatever happened."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from tests.cluster.faults.checks import check_store, check_views, settle
from tests.cluster.faults.clients import FaultClient
from tests.cluster.faults.cluster import LEASE, FaultCluster
from tests.cluster.faults.plan import Fault, plan
from tests.support.client import Client
from tether.db.engine import create_engine
from tether.store import Store

NODES = 3
SESSIONS = 6
CLIENTS_PER_SESSION = 2
#: Seconds between an agent's words.
AGENT_DELAY = 0.08


@dataclass
class Report:
    seed: int
    seconds: float
    faults: list[Fault] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    answers: Counter[str] = field(default_factory=Counter)
    sent: int = 0
    duplicates: int = 0
    connects: int = 0
    resumed_at_end: int = 0
    #: Faults of the schedule that found their node still down from an earlier one.
    skipped: int = 0
    took: float = 0.0
    started: float = field(default_factory=time.monotonic)

    def log(self, line: str) -> None:
        self.lines.append(f"{time.monotonic() - self.started:7.2f} {line}")

    def summary(self) -> str:
        kinds = Counter(str(f.kind) for f in self.faults)
        return (
            f"seed {self.seed}: {len(self.faults)} faults in {self.seconds:.0f} s "
            f"({', '.join(f'{n} {k}' for k, n in sorted(kinds.items()))}; {self.skipped} "
            f"skipped: their node was still down); {self.sent} sends "
            f"acknowledged ({self.duplicates} as duplicates of a lost ack), answers "
            f"{dict(sorted(self.answers.items()))}, {self.connects} connects, "
            f"{self.resumed_at_end} view(s) resumed at the end; {len(self.problems)} problem(s); "
            f"{self.took:.0f} s in all"
        )


async def run(seed: int, seconds: float, workdir: Path, pg_url: str) -> Report:
    report = Report(seed, seconds)
    report.faults = plan(seed, seconds, NODES, LEASE)
    cluster = FaultCluster(workdir, pg_url, report.log)
    store = Store(create_engine(pg_url))  # straight to PostgreSQL, for the checks
    clients: list[FaultClient] = []
    try:
        async with asyncio.timeout(seconds + 300):
            await cluster.start(NODES, AGENT_DELAY)
            session_ids = await create_sessions(cluster.urls[0])
            clients = [
                FaultClient(f"c{i}", sid, seed * 1000 + i, lambda: cluster.urls, report.log)
                for i, sid in enumerate(s for s in session_ids for _ in range(CLIENTS_PER_SESSION))
            ]
            await exercise(report, cluster, clients, seconds)
            report.problems += cluster.exits()
            left = await settle(store, session_ids, timeout=60)
            report.problems += [f"60 s after healing: {line}" for line in left]
            problems, report.answers = await check_store(store, session_ids, clients)
            report.problems += problems
            views, report.resumed_at_end = await check_views(store, clients, live_wait=15)
            report.problems += views
    except TimeoutError:
        report.problems.append("the run did not finish in time")
    finally:
        for c in clients:
            report.sent += len(c.outbox.acked)
            report.duplicates += c.outbox.duplicates
            report.connects += c.connects
            with contextlib.suppress(Exception):
                await c.close()
        await cluster.close()
        await store.close()
        report.took = time.monotonic() - report.started
        if report.problems:
            save(report, cluster, workdir)
    return report


async def create_sessions(url: str) -> list[str]:
    setup = Client(url)
    await setup.connect()
    try:
        return [await setup.new_session(agent="slow") for _ in range(SESSIONS)]
    finally:
        await setup.close()


async def exercise(
    report: Report, cluster: FaultCluster, clients: list[FaultClient], seconds: float
) -> None:
    """The clients talk for ``seconds`` while the faults strike, then everything heals and the
    clients send what their outboxes still hold."""
    began = time.monotonic()
    talking = [asyncio.create_task(c.run(began + seconds + 2)) for c in clients]
    striking: list[asyncio.Task[None]] = []
    for fault in report.faults:
        await asyncio.sleep(max(began + fault.at - time.monotonic(), 0))
        striking.append(asyncio.create_task(cluster.inflict(fault)))
    for outcome in await asyncio.gather(*striking, return_exceptions=True):
        if isinstance(outcome, BaseException):
            report.problems.append(f"a fault could not be done or undone: {outcome!r}")
        elif outcome is False:
            report.skipped += 1
    await cluster.heal()
    report.log("healed")
    for outcome in await asyncio.gather(*talking, return_exceptions=True):
        if isinstance(outcome, BaseException):
            report.problems.append(f"a client failed: {outcome!r}")
    drain = time.monotonic() + 60
    await asyncio.gather(*(c.flush(drain) for c in clients))
    report.log("outboxes empty" if not any(c.outbox.pending for c in clients) else "outboxes left")


def save(report: Report, cluster: FaultCluster, workdir: Path) -> None:
    """Keep what a failed run leaves to read, under test-artifacts/faults/seed-N/."""
    root = Path(__file__).resolve().parents[3] / "test-artifacts" / "faults" / f"seed-{report.seed}"
    root.mkdir(parents=True, exist_ok=True)
    (root / "run.log").write_text("\n".join(
        [report.summary(), *map(str, report.faults), *report.problems, "", *report.lines]
    ) + "\n")
    for name, text in cluster.logs().items():
        (root / name).write_text(text)
