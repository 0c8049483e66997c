"""Statements per stored send with its answer: 20 sessions, each a sender that sends, wakes
the RunManager and waits for the answer's end, 10 times; SQLAlchemy before_cursor_execute on
every Engine (the SQLite reader/writer threads' engines included). CPU ms per send too.

    python -m bench.count_statements sqlite|postgresql SESSIONS
"""

from __future__ import annotations

import asyncio
import collections
import logging
import sys
import tempfile
import time

from sqlalchemy import Engine, event
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


async def run(url, sessions, sends):
    engine = create_engine(url)
    await upgrade(engine)
    store = Store(engine)
    user = await Accounts(engine).ensure_user("count")
    bus = Bus()
    mgr = RunManager(
        store,
        LocalStreams(),
        bus,
        AgentRegistry([OneWord()], default="one"),
        Metrics(),
        runner_id="count",
        delta_interval=0.01,
    )
    sids = [
        (await store.create_session(user.id, None, "t", "one"))[0]["id"] for _ in range(sessions)
    ]
    seen = collections.Counter()

    def record(conn, cursor, statement, *a):
        seen[statement.split(None, 1)[0].upper()] += 1

    async def sender(sid, n, tag):
        for i in range(n):
            await store.add_user_message(user.id, sid, f"{tag}{i}", "q")
            mgr.wake(sid)
            await asyncio.wait_for(bus.done[sid].get(), 30)

    logging.basicConfig(level=logging.WARNING)
    await asyncio.gather(*(sender(s, 2, "w") for s in sids))  # warm up
    event.listen(Engine, "before_cursor_execute", record)
    c0 = time.process_time()
    await asyncio.gather(*(sender(s, sends, "c") for s in sids))
    cpu = time.process_time() - c0
    event.remove(Engine, "before_cursor_execute", record)
    await mgr.shutdown()
    await store.close()
    total = sessions * sends
    return {k: v / total for k, v in seen.items()}, sum(seen.values()) / total, cpu / total * 1e3


async def main():
    kind, sessions = sys.argv[1], int(sys.argv[2])
    sends = 200 // sessions
    if kind == "sqlite":
        res = await run(f"sqlite:///{tempfile.mkdtemp()}/t.db", sessions, sends)
    else:
        async with fresh_pg_database() as url:
            res = await run(url, sessions, sends)
    by, total, cpu = res
    print(
        f"{kind} {sessions} sessions: {total:.2f} statements per send, {cpu:.2f} ms CPU per send;",
        ", ".join(f"{k} {v:.2f}" for k, v in sorted(by.items())),
    )


asyncio.run(main())
