"""next_unanswered's cost against the session's length: a session of N answered questions
(and one waiting), in-process, the read repeated; CPU us per read.

    python -m bench.queue_cost sqlite|postgresql
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time

from tests.support.services import fresh_pg_database

from tether.accounts import Accounts
from tether.db.engine import create_engine
from tether.db.migrate import upgrade
from tether.store import Store


async def run(url, lengths, reads=2000):
    engine = create_engine(url)
    await upgrade(engine)
    store = Store(engine)
    user = await Accounts(engine).ensure_user("bench")
    out = {}
    for n in lengths:
        s, _ = await store.create_session(user.id, None, "t", "echo")
        sid = s["id"]
        for i in range(n):
            q = await store.add_user_message(user.id, sid, f"c{i}", "q")
            a = await store.create_assistant_message(sid, q[0]["id"])
            await store.finish_message(sid, a["id"], "complete", "a", 1)
        await store.add_user_message(user.id, sid, "last", "q")
        assert (await store.next_unanswered(sid))["content"] == "q"
        for _ in range(200):
            await store.next_unanswered(sid)
        c0, w0 = time.process_time(), time.perf_counter()
        for _ in range(reads):
            await store.next_unanswered(sid)
        out[n] = (
            (time.process_time() - c0) / reads * 1e6,
            (time.perf_counter() - w0) / reads * 1e6,
        )
    await store.close()
    return out


async def main():
    kind = sys.argv[1]
    lengths = [10, 5000]
    if kind == "sqlite":
        d = tempfile.mkdtemp()
        res = await run(f"sqlite:///{d}/t.db", lengths)
    else:
        async with fresh_pg_database() as url:
            res = await run(url, lengths)
    for n, (cpu, wall) in res.items():
        print(f"{kind} answered={n}: {cpu:.0f} us CPU, {wall:.0f} us wall per read")


asyncio.run(main())
