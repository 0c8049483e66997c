"""A node whose database is away while it starts waits for it instead of exiting (issue 12
section 1, found by the fault test: a node restarted during a PostgreSQL cut logged
"listening", then exited with code 3 when its start-up recovery could not reach the database)."""

from __future__ import annotations

import asyncio
import threading
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from tests.support.client import Client
from tests.support.proxy import FaultProxy
from tests.support.server import ServerProcess, start_server
from tests.support.services import fresh_pg_database
from tests.support.wait import until
from tether.accounts import Accounts
from tether.app import Tether
from tether.db.engine import create_engine
from tether.server import bind, prepare_database
from tether.settings import Settings
from tether.store import MessageRow, Store


class AwayStore(Store):
    """A database that is unreachable until ``away`` is cleared, for the calls a server makes
    while it starts and when it is asked whether it is ready."""

    away = True

    def _check(self) -> None:
        if self.away:
            raise ConnectionRefusedError("connection refused (the database is away)")

    async def ping(self) -> None:
        self._check()
        await super().ping()

    async def claimed_sessions(self) -> list[str]:
        self._check()
        return await super().claimed_sessions()

    async def unanswered(self) -> list[MessageRow]:
        self._check()
        return await super().unanswered()


async def test_a_server_whose_database_is_away_in_its_lifespan_serves_unready_then_recovers(
    tmp_path: Path,
) -> None:
    """Before the fix the lifespan failed on the first storage call, and uvicorn exited
    (SystemExit 3, the exit code of the nodes in the fault test)."""
    settings = Settings(host="127.0.0.1", port=0, data_dir=tmp_path, echo_delay=0.01)
    settings.logs_dir.mkdir(parents=True)
    await prepare_database(settings)
    engine = create_engine(settings.resolved_database_url)
    # A question left unanswered by a process that died: the recovery at start answers it.
    user = await Accounts(engine).ensure_user("local")
    store = AwayStore(engine)
    sid = str(uuid.uuid4())
    await store.create_session(user.id, sid, "left", "echo")
    await store.add_user_message(user.id, sid, "c1", "still there?")
    tether = Tether(settings, store=store)
    sock = bind("127.0.0.1", 0)
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    server = uvicorn.Server(uvicorn.Config(
        tether.asgi, log_config=None, log_level="warning", lifespan="on",
        timeout_graceful_shutdown=5,
    ))
    serving = asyncio.get_running_loop().create_task(server.serve(sockets=[sock]))
    try:
        await until(lambda: server.started or serving.done(), 15, "the server to start")
        assert not serving.done(), "the server stopped while its database was away"
        async with httpx.AsyncClient(base_url=url, timeout=10) as http:
            unready = await http.get("/readyz")
            assert unready.status_code == 503
            assert "database" in unready.text
            store.away = False

            async def ready() -> bool:
                return (await http.get("/readyz")).status_code == 200

            await until(ready, 10, "ready once the database is back")
        await asyncio.wait_for(tether.runs.recovered(), 10)
        client = Client(url)
        await client.connect()
        try:
            ack = await client.ok("subscribe", {"session_id": sid})

            async def answered() -> Any:
                found = await store.changed_since(sid, 0)
                return [m for m in found if m["role"] == "assistant"
                        and m["status"] == "complete"]

            [answer] = await until(answered, 15, "the left question answered")
            assert answer["content"] == "Echo: still there?"
            assert ack["session"]["id"] == sid
        finally:
            await client.close()
    finally:
        server.should_exit = True
        await asyncio.wait_for(serving, 15)
        sock.close()


@pytest.mark.postgres
async def test_a_node_started_during_a_postgres_cut_comes_up_when_it_returns(
    tmp_path: Path,
) -> None:
    """Before the fix ``tether serve`` gave up at once ("cannot open the database")."""
    async with fresh_pg_database() as pg_url:
        proxy = await FaultProxy("127.0.0.1", 5432).start()
        try:
            proxy.sever()
            via = pg_url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
            started: list[ServerProcess] = []
            failed: list[BaseException] = []

            def start() -> None:
                try:
                    started.append(start_server(tmp_path / "node", {
                        "TETHER_DATABASE_URL": via, "TETHER_STARTUP_WAIT": "30",
                    }, timeout=40))
                except BaseException as exc:  # reported below
                    failed.append(exc)

            thread = threading.Thread(target=start)
            thread.start()
            stderr = tmp_path / "node" / "server.stderr"
            await until(lambda: failed or (stderr.exists() and "waits for the database"
                                           in stderr.read_text()), 30, "the node to wait")
            assert not failed, failed  # it waits for the database...
            proxy.restore()  # ...and comes up when it is back
            await asyncio.to_thread(thread.join, 45)
            assert not failed, failed
            [node] = started
            try:
                async with httpx.AsyncClient(base_url=node.url, timeout=10) as http:
                    assert (await http.get("/readyz")).status_code == 200
                client = Client(node.url)
                await client.connect()
                sid = await client.new_session()
                await client.ok("subscribe", {"session_id": sid})
                await client.send(sid, "hello")
                await client.wait_status(sid, "complete")
                await client.close()
            finally:
                node.stop()
        finally:
            await proxy.close()
