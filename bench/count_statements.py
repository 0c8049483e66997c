"""Statements per stored send with its answer: SESSIONS sessions, each a sender that sends,
wakes the RunManager and waits for the answer's end (200 sends in all); SQLAlchemy
before_cursor_execute on every Engine (the SQLite reader/writer threads' engines included),
and the pool's checkouts (on PostgreSQL each costs a ping, tether.db.checkout.watch_checkouts).
CPU ms per send too.

    python -m bench.count_statements sqlite|postgresql SESSIONS [SENDERS_PER_SESSION]

``count`` is also what bench.statement_cost counts with.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import logging
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.pool import Pool
from tests.support.services import fresh_pg_database

from tether.accounts import Accounts
from tether.agents import AgentRegistry
from tether.db.engine import create_engine
from tether.db.migrate import upgrade
from tether.metrics import Metrics
from tether.runs import RunManager
from tether.store import Store
from tether.streams import LocalStreams


class OneWord:
    kind = "one"
    history = True
    name = "one"

    async def stream(self, turn):
        yield "answer"


class Bus:
    def __init__(self):
        self.done = collections.defaultdict(asyncio.Queue)

    async def message(self, sid, m):
        if m["role"] == "assistant" and m["status"] != "streaming":
            self.done[sid].put_nowait(m)

    async def delta(self, *a):
        pass

    async def session(self, *a):
        pass


def statement_key(statement: str) -> str:
    """A statement's text on one line: what two executions of the same statement share."""
    return " ".join(statement.split())


@dataclass
class Counts:
    """Per stored send with its answer: executions of each statement (by statement_key),
    transactions (not those of autocommit connections), pool checkouts, and the process's CPU
    ms."""

    by_statement: dict[str, float]
    transactions: float
    checkouts: float
    cpu_ms: float

    @property
    def total(self) -> float:
        return sum(self.by_statement.values())

    def by_verb(self) -> dict[str, float]:
        verbs: dict[str, float] = collections.Counter()
        for key, n in self.by_statement.items():
            verbs[key.split(None, 1)[0].upper()] += n
        return dict(verbs)


class Rig:
    """A store, a RunManager answering with one word, and a user: one send with its answer
    at a time per session (``send``)."""

    def __init__(self, url: str) -> None:
        self.url = url

    async def __aenter__(self) -> Rig:
        self.engine = create_engine(self.url)
        await upgrade(self.engine)
        self.store = Store(self.engine)
        self.user = await Accounts(self.engine).ensure_user("count")
        self.bus = Bus()
        self.manager = RunManager(
            self.store, LocalStreams(), self.bus, AgentRegistry([OneWord()], default="one"),
            Metrics(), runner_id="count", delta_interval=0.01,
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.manager.shutdown()
        await self.store.close()

    async def new_session(self) -> str:
        return (await self.store.create_session(self.user.id, None, "t", "one"))[0]["id"]

    async def send(self, sid: str, client_msg_id: str) -> None:
        await self.store.add_user_message(self.user.id, sid, client_msg_id, "q")
        self.manager.wake(sid)
        await asyncio.wait_for(self.bus.done[sid].get(), 30)

    async def settled(self) -> None:
        """Return once no worker is left (the last answer's release is done)."""
        while workers := list(self.manager._workers.values()):
            await asyncio.wait(workers)


async def count(url: str, sessions: int, sends: int, senders: int = 1) -> Counts:
    """Run ``senders`` senders into each of ``sessions`` sessions, ``sends`` sends each (after
    2 each to warm up), and count. Several senders of one session wait for any answer of it,
    so one run may answer several of their questions under one claim, as in the benchmark's
    "1 session" (20 tabs of one user)."""
    seen: collections.Counter[str] = collections.Counter()
    checkouts = transactions = 0

    def record(conn: Any, cursor: Any, statement: str, *a: Any) -> None:
        seen[statement_key(statement)] += 1

    def began(conn: Any) -> None:
        nonlocal transactions
        if conn.get_execution_options().get("isolation_level") != "AUTOCOMMIT":
            transactions += 1

    def checked_out(*a: Any) -> None:
        nonlocal checkouts
        checkouts += 1

    async with Rig(url) as rig:
        sids = [await rig.new_session() for _ in range(sessions)]

        async def sender(sid: str, n: int, tag: str) -> None:
            for i in range(n):
                await rig.send(sid, f"{tag}{i}")

        tabs = [(s, f"{i}-") for s in sids for i in range(senders)]
        await asyncio.gather(*(sender(s, 2, f"w{tag}") for s, tag in tabs))  # warm up
        await rig.settled()
        event.listen(Engine, "before_cursor_execute", record)
        event.listen(Pool, "checkout", checked_out)
        event.listen(Engine, "begin", began)
        try:
            c0 = time.process_time()
            await asyncio.gather(*(sender(s, sends, f"c{tag}") for s, tag in tabs))
            await rig.settled()
            cpu = time.process_time() - c0
        finally:
            event.remove(Engine, "before_cursor_execute", record)
            event.remove(Pool, "checkout", checked_out)
            event.remove(Engine, "begin", began)
    total = sessions * senders * sends
    return Counts({k: v / total for k, v in seen.items()}, transactions / total,
                  checkouts / total, cpu / total * 1e3)


#: Sends in all, spread over the sessions' senders.
SENDS = 200


def parse_args(argv: list[str]) -> argparse.Namespace:
    """The command line; exits 2 with a message (argparse's) on bad input."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.count_statements",
        description="Statements per stored send with its answer.")
    parser.add_argument("kind", choices=("sqlite", "postgresql"))
    parser.add_argument("sessions", type=int)
    parser.add_argument("senders", type=int, nargs="?", default=1,
                        help="senders per session (default 1)")
    args = parser.parse_args(argv)
    if args.sessions < 1 or args.senders < 1 or args.sessions * args.senders > SENDS:
        parser.error(f"sessions and senders must be at least 1, and sessions x senders at most "
                     f"{SENDS}")
    return args


async def main(argv: list[str]) -> None:
    args = parse_args(argv)
    kind, sessions, senders = args.kind, args.sessions, args.senders
    sends = SENDS // (sessions * senders)
    logging.basicConfig(level=logging.WARNING)
    if kind == "sqlite":
        res = await count(f"sqlite:///{tempfile.mkdtemp()}/t.db", sessions, sends)
    else:
        async with fresh_pg_database() as url:
            res = await count(url, sessions, sends, senders)
    print(
        f"{kind} {sessions} sessions x {senders} senders: {res.total:.2f} statements per send "
        f"({res.transactions:.2f} transactions, {res.checkouts:.2f} pool checkouts), "
        f"{res.cpu_ms:.2f} ms CPU per send;",
        ", ".join(f"{k} {v:.2f}" for k, v in sorted(res.by_verb().items())),
    )


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
