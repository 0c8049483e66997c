"""The storage path's cost floor: what one stored send with its answer costs in statements,
each executed through SQLAlchemy Core as the store executes it and through the raw driver
(sqlite3, asyncpg) with the same SQL and parameters; CPU per send against the budget.

    python -m bench.statement_cost [sqlite|postgresql|all] [--iterations N] [--baseline-json F]

How: bench.count_statements counts the statements of 200 sends (1 and 20 sessions). Then one
more send is captured, statement by statement (its Core element and parameters, and the SQL
and parameters the driver got), on a database whose copy was taken just before it; on that
copy the captured send is replayed N times, each time inside a savepoint rolled back after
it, so every replay meets the state the real one met (the same ids, positions and seqs). Each
statement is timed on its own (``time.thread_time``: everything runs in this thread), once
through the raw driver on one connection, once through Core (SQLite: a synchronous
``Connection`` as the store's reader and writer threads use; PostgreSQL: an
``AsyncConnection`` as the store does), in alternating blocks.

The costs the replay leaves out are measured on their own and counted per send: a
transaction (SQLite: BEGIN and COMMIT of a one-row write, which the rolled-back replay never
pays; through Core, handed to a store thread as tether.store.sqlite_thread does), and on
PostgreSQL a pool checkout (its ping, tether.db.checkout.watch_checkouts) and BEGIN/COMMIT.

Budget: 0.5x the no-storage baseline's sends/s on one CPU-bound core is at most 2x its server
CPU per send. ``--baseline-json`` reads the baseline's figure (and Tether's) from a
``python -m bench run --only persistence --json`` file.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import shutil
import sqlite3
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from tests.support.services import PG_ADMIN_URL, fresh_pg_database

from bench.count_statements import Counts, Rig, count, statement_key
from tether.db.engine import async_url, create_engine, sqlite_thread_engine
from tether.store import compiled
from tether.store.sqlite_thread import SqliteThread, execute_plain

#: Statements that open or end a transaction: the capture's own, costed per transaction.
_CONTROL = {"BEGIN", "COMMIT", "ROLLBACK"}


@dataclass
class Executed:
    """One statement as the store executed it: what Core was given, what the driver got."""

    key: str
    element: Any  # a Core element, or the SQL string of exec_driver_sql
    core_params: Any
    sql: str
    driver_params: Any
    many: bool


@dataclass
class Costs:
    """CPU us per execution of each statement (by key), raw and through Core."""

    raw: dict[str, float] = field(default_factory=dict)
    core: dict[str, float] = field(default_factory=dict)
    #: SQLite: through tether.store.compiled, as the store now runs its hot statements
    #: (empty on PostgreSQL, where it falls back to Core).
    compiled: dict[str, float] = field(default_factory=dict)
    #: Per transaction (and, on PostgreSQL, per pool checkout): raw, Core.
    transaction: tuple[float, float] = (0.0, 0.0)
    checkout: tuple[float, float] = (0.0, 0.0)
    #: A checkout through Core without the ping (not counted per send: a comparison).
    checkout_unpinged: float = 0.0


@contextlib.contextmanager
def capture() -> Any:
    """Every statement executed through any Engine meanwhile, in order."""
    seen: list[Executed] = []
    pending = threading.local()

    def before_execute(conn: Any, clauseelement: Any, multiparams: Any, params: Any,
                       execution_options: Any) -> None:
        pending.core = (clauseelement, multiparams[0] if multiparams else (params or None))

    def before_cursor(conn: Any, cursor: Any, sql: str, parameters: Any, context: Any,
                      many: bool) -> None:
        element, core_params = getattr(pending, "core", (sql, None))
        pending.core = (sql, None)
        seen.append(Executed(statement_key(sql), element, core_params, sql, parameters, many))

    event.listen(Engine, "before_execute", before_execute)
    event.listen(Engine, "before_cursor_execute", before_cursor)
    try:
        yield seen
    finally:
        event.remove(Engine, "before_execute", before_execute)
        event.remove(Engine, "before_cursor_execute", before_cursor)


#: The writer's savepoints (tether.store.writer.run_group): a grouped write's, never a lone one's.
_SAVEPOINTS = [Executed(sql, sql, None, sql, (), False) for sql in ("SAVEPOINT member",
                                                                     "RELEASE member")]


def replayed(sequence: list[Executed]) -> list[Executed]:
    """What the replay runs: the captured statements but transaction control, and the
    writer's savepoints once (which a send alone does not pay, 20 sessions' grouped do)."""
    kept = [e for e in sequence if e.key.split(None, 1)[0].upper() not in _CONTROL]
    if not any(e.key == _SAVEPOINTS[0].key for e in kept):
        kept += _SAVEPOINTS
    return kept


async def _captured_send(url: str, session_id: str) -> list[Executed]:
    """The statements of one send into the session with its answer, on a store as warm as a
    server's (the session's owner cached) but for its pool; then the queue's read that a
    worker makes instead of a claim when the next question arrives during its run (as in
    the closed loop: a sender sends again as soon as its answer ends)."""
    async with Rig(url) as rig:
        await rig.store.session_owner(session_id)
        with capture() as sequence:
            await rig.send(session_id, "probe")
            await rig.settled()
            await rig.store.next_unanswered(session_id)
    return sequence


def _add(acc: dict[str, list[float]], key: str, seconds: float) -> None:
    acc.setdefault(key, []).append(seconds)


def _per_execution(acc: dict[str, list[float]]) -> dict[str, float]:
    """us per execution of each statement: the mean of its samples."""
    return {k: sum(v) / len(v) * 1e6 for k, v in acc.items()}


def _shape(sessions: int, sends: int) -> tuple[int, int]:
    """(sends per sender, senders per session) for ``sends`` in all: 20 senders in all, as
    in the persistence benchmark (1 session: 20 tabs of one user)."""
    senders = max(1, 20 // sessions)
    return max(1, sends // (sessions * senders)), senders


# -- SQLite --------------------------------------------------------------------------------

def _sqlite_raw(path: str, sequence: list[Executed], iterations: int,
                acc: dict[str, list[float]]) -> None:
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON"):
            db.execute(f"PRAGMA {pragma}")
        cur = db.cursor()
        cur.execute("BEGIN")
        for _ in range(iterations):
            cur.execute("SAVEPOINT probe")
            for e in sequence:
                t0 = time.thread_time()
                if e.many:
                    cur.executemany(e.sql, e.driver_params)
                else:
                    cur.execute(e.sql, e.driver_params)
                cur.fetchall()
                _add(acc, e.key, time.thread_time() - t0)
            cur.execute("ROLLBACK TO probe")
        cur.execute("ROLLBACK")
    finally:
        db.close()


def _core_execute(conn: Any, e: Executed) -> Any:
    if isinstance(e.element, str):
        return conn.exec_driver_sql(e.element, e.core_params or ())
    return conn.execute(e.element, e.core_params)


def _sqlite_core(engine: Engine, sequence: list[Executed], iterations: int,
                 acc: dict[str, list[float]]) -> None:
    with engine.connect() as conn, conn.begin() as transaction:
        for _ in range(iterations):
            conn.exec_driver_sql("SAVEPOINT probe")
            for e in sequence:
                t0 = time.thread_time()
                result = _core_execute(conn, e)
                if result.returns_rows:
                    result.all()
                _add(acc, e.key, time.thread_time() - t0)
            conn.exec_driver_sql("ROLLBACK TO probe")
        transaction.rollback()


def _sqlite_compiled(engine: Engine, sequence: list[Executed], iterations: int,
                     acc: dict[str, list[float]]) -> None:
    """As _sqlite_core, each Core element through tether.store.compiled (plain SQL, the
    writer's savepoints, as the store runs them: on the DBAPI connection)."""
    with engine.connect() as conn, conn.begin() as transaction:
        dbapi: Any = conn.connection.dbapi_connection
        for _ in range(iterations):
            dbapi.execute("SAVEPOINT probe")
            for e in sequence:
                t0 = time.thread_time()
                if isinstance(e.element, str):
                    execute_plain(conn, e.element)
                elif e.many:
                    compiled.executemany(conn, e.element, e.core_params)
                else:
                    compiled.execute(conn, e.element, e.core_params)
                _add(acc, e.key, time.thread_time() - t0)
            dbapi.execute("ROLLBACK TO probe")
        transaction.rollback()


def _sqlite_transactions(path: str, engine: Any, session_id: str, iterations: int,
                         ) -> tuple[float, float]:
    """us per write transaction beyond its statement: raw BEGIN, a one-row UPDATE, COMMIT
    less the UPDATE alone; through the store's way (a SqliteThread, Core), the same."""
    update = "UPDATE sessions SET title = ? WHERE id = ?"
    db = sqlite3.connect(path, isolation_level=None)
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON"):
        db.execute(f"PRAGMA {pragma}")
    t0 = time.thread_time()
    for i in range(iterations):
        db.execute("BEGIN")
        db.execute(update, (f"t{i}", session_id))
        db.execute("COMMIT")
    whole = time.thread_time() - t0
    db.execute("BEGIN")
    t0 = time.thread_time()
    for i in range(iterations):
        db.execute(update, (f"u{i}", session_id))
    alone = time.thread_time() - t0
    db.execute("ROLLBACK")
    db.close()
    raw = (whole - alone) / iterations * 1e6

    async def through_thread() -> float:
        thread = SqliteThread(engine, "probe-writer")
        statement = text("UPDATE sessions SET title = :t WHERE id = :s")
        try:
            await thread.transaction(lambda c: c.execute(statement, {"t": "w", "s": session_id}))
            c0 = time.process_time()  # the loop's thread and the store's
            for i in range(iterations):
                await thread.transaction(
                    lambda c, i=i: c.execute(statement, {"t": f"v{i}", "s": session_id})
                )
            return time.process_time() - c0
        finally:
            await thread.close()

    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        core_whole = runner.run(through_thread())
    sync = sqlite_thread_engine(engine)()
    with sync.connect() as conn, conn.begin() as transaction:
        statement = text("UPDATE sessions SET title = :t WHERE id = :s")
        t0 = time.thread_time()
        for i in range(iterations):
            conn.execute(statement, {"t": f"x{i}", "s": session_id})
        core_alone = time.thread_time() - t0
        transaction.rollback()
    sync.dispose()
    return raw, (core_whole - core_alone) / iterations * 1e6


async def _sqlite_costs(directory: Path, sessions: list[int], sends: int, iterations: int
                        ) -> tuple[dict[int, Counts], list[Executed], Costs]:
    path = directory / "t.db"
    url = f"sqlite:///{path}"
    counted = {n: await count(f"sqlite:///{directory}/s{n}.db", n, *_shape(n, sends))
               for n in sessions}
    async with Rig(url) as rig:
        sid = await rig.new_session()
        await rig.send(sid, "warm")
    clone = directory / "clone.db"
    with contextlib.closing(sqlite3.connect(path)) as src, \
            contextlib.closing(sqlite3.connect(clone)) as dst:
        src.backup(dst)
    sequence = await _captured_send(url, sid)
    seq = replayed(sequence)
    engine = create_engine(f"sqlite:///{clone}")
    sync = sqlite_thread_engine(engine)()
    raw: dict[str, list[float]] = {}
    core: dict[str, list[float]] = {}
    fast: dict[str, list[float]] = {}
    blocks = max(1, min(4, iterations))
    for _ in range(blocks):
        await asyncio.to_thread(_sqlite_raw, str(clone), seq, iterations // blocks or 1, raw)
        await asyncio.to_thread(_sqlite_core, sync, seq, iterations // blocks or 1, core)
        await asyncio.to_thread(_sqlite_compiled, sync, seq, iterations // blocks or 1, fast)
    sync.dispose()
    costs = Costs(_per_execution(raw), _per_execution(core), _per_execution(fast))
    costs.transaction = await asyncio.to_thread(
        _sqlite_transactions, str(clone), engine, sid, max(iterations, 10)
    )
    await engine.dispose()
    return counted, sequence, costs


# -- PostgreSQL ----------------------------------------------------------------------------

async def _pg_admin(sql: str) -> None:
    import asyncpg  # type: ignore[import-untyped]

    admin = await asyncpg.connect(PG_ADMIN_URL)
    try:
        await admin.execute(sql)
    finally:
        await admin.close()


@contextlib.asynccontextmanager
async def _pg_clone(url: str) -> AsyncIterator[str]:
    """A copy of ``url``'s database (none of its connections may be open), dropped after."""
    source = make_url(url).database
    name = f"{source}_c"
    await _pg_admin(f'CREATE DATABASE "{name}" TEMPLATE "{source}"')
    try:
        yield url.rsplit("/", 1)[0] + "/" + name
    finally:
        await _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _pg_raw(url: str, sequence: list[Executed], iterations: int,
                  acc: dict[str, list[float]]) -> None:
    import asyncpg  # type: ignore[import-untyped]

    conn = await asyncpg.connect(_dsn(url))
    try:
        await conn.execute("BEGIN")
        for _ in range(iterations):
            await conn.execute("SAVEPOINT probe")
            for e in sequence:
                t0 = time.thread_time()
                if e.many:
                    await conn.executemany(e.sql, e.driver_params)
                else:
                    await conn.fetch(e.sql, *e.driver_params)
                _add(acc, e.key, time.thread_time() - t0)
            await conn.execute("ROLLBACK TO SAVEPOINT probe")
        await conn.execute("ROLLBACK")
    finally:
        await conn.close()


async def _pg_core(engine: Any, sequence: list[Executed], iterations: int,
                   acc: dict[str, list[float]]) -> None:
    async with engine.connect() as conn:
        await conn.begin()
        for _ in range(iterations):
            await conn.exec_driver_sql("SAVEPOINT probe")
            for e in sequence:
                t0 = time.thread_time()
                if isinstance(e.element, str):
                    result = await conn.exec_driver_sql(e.element, e.core_params or ())
                else:
                    result = await conn.execute(e.element, e.core_params)
                if result.returns_rows:
                    result.all()
                _add(acc, e.key, time.thread_time() - t0)
            await conn.exec_driver_sql("ROLLBACK TO SAVEPOINT probe")
        await conn.rollback()


async def _pg_fixed(url: str, engine: Any, iterations: int) -> tuple[tuple[float, float],
                                                                     tuple[float, float]]:
    """us per transaction (BEGIN and COMMIT) and per pool checkout (its ping), raw and Core."""
    import asyncpg  # type: ignore[import-untyped]

    conn = await asyncpg.connect(_dsn(url))
    try:
        t0 = time.thread_time()
        for _ in range(iterations):
            await conn.execute("BEGIN")
            await conn.execute("COMMIT")
        raw_tx = time.thread_time() - t0
        t0 = time.thread_time()
        for _ in range(iterations):
            await conn.fetchrow(";")
        raw_ping = time.thread_time() - t0
    finally:
        await conn.close()
    core_checkout = await _checkouts(engine, iterations) * iterations / 1e6
    t0 = time.thread_time()
    for _ in range(iterations):
        async with engine.begin():
            pass
    core_tx = time.thread_time() - t0 - core_checkout  # engine.begin() checks out too
    per = 1e6 / iterations
    return (raw_tx * per, core_tx * per), (raw_ping * per, core_checkout * per)


async def _checkouts(engine: Any, iterations: int) -> float:
    """us per pool checkout (and return) of an autocommit connection, as the store's
    one-statement writes and reads make."""
    autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
    async with autocommit.connect():
        pass
    t0 = time.thread_time()
    for _ in range(iterations):
        async with autocommit.connect():
            pass
    return (time.thread_time() - t0) / iterations * 1e6


async def _pg_checkout_unpinged(url: str, iterations: int) -> float:
    """us per pool checkout through Core without tether.db.engine's ping (for comparison)."""
    bare = create_async_engine(async_url(url))
    try:
        return await _checkouts(bare, iterations)
    finally:
        await bare.dispose()


async def _pg_costs(sessions: list[int], sends: int, iterations: int
                    ) -> tuple[dict[int, Counts], list[Executed], Costs]:
    async with fresh_pg_database() as url:
        counted = {n: await count(url, n, *_shape(n, sends)) for n in sessions}
        async with Rig(url) as rig:
            sid = await rig.new_session()
            await rig.send(sid, "warm")
        async with _pg_clone(url) as clone_url:
            sequence = await _captured_send(url, sid)
            seq = replayed(sequence)
            engine = create_engine(clone_url)
            raw: dict[str, list[float]] = {}
            core: dict[str, list[float]] = {}
            blocks = max(1, min(4, iterations))
            for _ in range(blocks):
                await _pg_raw(clone_url, seq, iterations // blocks or 1, raw)
                await _pg_core(engine, seq, iterations // blocks or 1, core)
            costs = Costs(_per_execution(raw), _per_execution(core))
            costs.transaction, costs.checkout = await _pg_fixed(
                clone_url, engine, max(iterations, 10)
            )
            costs.checkout_unpinged = await _pg_checkout_unpinged(clone_url, max(iterations, 10))
            await engine.dispose()
    return counted, sequence, costs


# -- per send ------------------------------------------------------------------------------

@dataclass
class PerSend:
    """One store and shape: statements per send, and CPU us per send at the floor (raw
    driver) and through Core; ``unmeasured``: statements per send the replay did not time."""

    kind: str
    sessions: int
    statements: float
    transactions: float
    checkouts: float
    floor_us: float
    core_us: float
    #: Through tether.store.compiled (SQLite; None on PostgreSQL).
    compiled_us: float | None
    measured_cpu_ms: float
    unmeasured: dict[str, float]


def per_send(kind: str, sessions: int, counts: Counts, costs: Costs) -> PerSend:
    """Each statement's executions per send times its cost, plus transactions (and
    checkouts) times theirs; a BEGIN counted as a statement (SQLite) is in its transaction."""
    floor = core = fast = 0.0
    transactions = counts.transactions
    unmeasured: dict[str, float] = {}
    for key, n in counts.by_statement.items():
        if key.split(None, 1)[0].upper() in _CONTROL:
            continue
        if key in costs.raw:
            floor += n * costs.raw[key]
            core += n * costs.core[key]
            fast += n * costs.compiled.get(key, costs.core[key])
        else:
            unmeasured[key] = n
    floor += transactions * costs.transaction[0] + counts.checkouts * costs.checkout[0]
    core += transactions * costs.transaction[1] + counts.checkouts * costs.checkout[1]
    fast += transactions * costs.transaction[1] + counts.checkouts * costs.checkout[1]
    return PerSend(kind, sessions, counts.total, transactions, counts.checkouts, floor, core,
                   fast if costs.compiled else None, counts.cpu_ms, unmeasured)


def baseline_figures(path: str) -> dict[tuple[str, int], float]:
    """Server CPU ms per send by (server, sessions): ``baseline``, ``sqlite`` and
    ``postgresql``, with 1 and 20 sessions, from a ``bench run --only persistence --json``
    file (the closed loop's figure)."""
    data = json.loads(Path(path).read_text())["persistence"]
    shapes = {"one": 1, "many": 20}
    return {
        (server, shapes[shape]): float(data[f"{server}_{shape}"]["server_cpu_ms_per_send"])
        for server in ("baseline", "sqlite", "postgresql") for shape in shapes
        if f"{server}_{shape}" in data
    }


def report(results: list[PerSend], costs: dict[str, Costs], sequences: dict[str, list[Executed]],
           baseline: dict[tuple[str, int], float] | None) -> str:
    lines: list[str] = []
    for kind, c in costs.items():
        lines.append(f"{kind}: one send with its answer, replayed ({len(sequences[kind])} "
                     "statements); CPU us per execution, raw driver / Core"
                     + (" / compiled (tether.store.compiled):" if c.compiled else ":"))
        shown: set[str] = set()
        for e in replayed(sequences[kind]):
            if e.key in shown:
                continue
            shown.add(e.key)
            fast = f" / {c.compiled[e.key]:7.1f}" if c.compiled else ""
            lines.append(f"  {c.raw[e.key]:7.1f} / {c.core[e.key]:7.1f}{fast}  {e.key[:90]}")
        lines.append(f"  {c.transaction[0]:7.1f} / {c.transaction[1]:7.1f}  (a transaction)")
        if kind == "postgresql":
            lines.append(f"  {c.checkout[0]:7.1f} / {c.checkout[1]:7.1f}  (a pool checkout: ping)")
            lines.append(f"          {c.checkout_unpinged:7.1f}  (a checkout without the ping)")
    lines.append("per send: statements, transactions, checkouts; CPU ms: floor (raw), Core, "
                 "the whole send in process (bench.count_statements: background work included)")
    for r in results:
        line = (f"  {r.kind} {r.sessions:2d} session(s): {r.statements:5.2f} st, "
                f"{r.transactions:4.2f} tx, {r.checkouts:4.2f} co; floor {r.floor_us / 1e3:.3f}"
                f", Core {r.core_us / 1e3:.3f}"
                + ("" if r.compiled_us is None else f", compiled {r.compiled_us / 1e3:.3f}")
                + f", whole {r.measured_cpu_ms:.2f}")
        if r.unmeasured:
            line += f" (not replayed: {sum(r.unmeasured.values()):.2f} st per send)"
        lines.append(line)
        if baseline and ("baseline", r.sessions) in baseline:
            base = baseline[("baseline", r.sessions)]
            tether = baseline.get((r.kind, r.sessions), float("nan"))
            lines.append(
                f"    budget 2 x baseline {base:.3f} = {2 * base:.3f} ms per send; the server "
                f"measured {tether:.3f}; floor {r.floor_us / 1e3 / base:.2f}x, Core "
                f"{r.core_us / 1e3 / base:.2f}x the baseline's whole send")
        for key, n in sorted(r.unmeasured.items(), key=lambda kv: -kv[1])[:3]:
            lines.append(f"    not replayed {n:.2f} per send: {key[:80]}")
    return "\n".join(lines)


async def run(kinds: list[str], sessions: list[int], sends: int, iterations: int
              ) -> tuple[list[PerSend], dict[str, Costs], dict[str, list[Executed]]]:
    results: list[PerSend] = []
    costs: dict[str, Costs] = {}
    sequences: dict[str, list[Executed]] = {}
    for kind in kinds:
        if kind == "sqlite":
            directory = Path(tempfile.mkdtemp(prefix="statement-cost-"))
            try:
                counted, sequence, c = await _sqlite_costs(directory, sessions, sends, iterations)
            finally:
                shutil.rmtree(directory, ignore_errors=True)
        else:
            counted, sequence, c = await _pg_costs(sessions, sends, iterations)
        costs[kind], sequences[kind] = c, sequence
        results += [per_send(kind, n, counted[n], c) for n in sessions]
    return results, costs, sequences


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop, as tether serve runs by default, when it is installed."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def main(argv: list[str] | None = None, out: Callable[[str], None] = print) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.statement_cost")
    parser.add_argument("kind", nargs="?", default="all", choices=["sqlite", "postgresql", "all"])
    parser.add_argument("--sends", type=int, default=200, help="sends counted per shape")
    parser.add_argument("--iterations", type=int, default=2000, help="replays of the send")
    parser.add_argument("--baseline-json")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    kinds = ["sqlite", "postgresql"] if args.kind == "all" else [args.kind]
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        results, costs, sequences = runner.run(run(kinds, [1, 20], args.sends, args.iterations))
    baseline = baseline_figures(args.baseline_json) if args.baseline_json else None
    out(report(results, costs, sequences, baseline))


if __name__ == "__main__":
    main()
