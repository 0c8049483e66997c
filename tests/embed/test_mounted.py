"""Tether mounted under a prefix, in FastAPI and in plain Starlette: the protocol, the web app in
Chromium (and its recovery after a silent drop, as at ``/``), client logs; and the lifespan."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route

from tests.e2e.conftest import PROXIED_HOSTS, browser  # noqa: F401 (a fixture)
from tests.e2e.test_recovery import frozen_page_recovers
from tests.support.client import Client
from tests.support.inprocess import serve_in_process
from tests.support.proxy import FaultProxy
from tether.app import Tether


async def own_page(request: Request) -> PlainTextResponse:
    return PlainTextResponse("the app's own page")


def in_starlette(chat: Tether) -> Starlette:
    return Starlette(routes=[Route("/", own_page), Mount("/chat", chat)], lifespan=chat.lifespan)


def in_fastapi(chat: Tether) -> Any:
    fastapi = pytest.importorskip("fastapi")
    app = fastapi.FastAPI(lifespan=chat.lifespan)
    app.add_api_route("/", own_page)
    app.mount("/chat", chat)
    return app


MOUNTS = [pytest.param(in_starlette, id="starlette"), pytest.param(in_fastapi, id="fastapi")]


@pytest.mark.parametrize("mount", MOUNTS)
async def test_the_socket_and_the_http_routes_answer_under_the_prefix(
    mount: Callable[[Tether], Any], tmp_path: Path
) -> None:
    async with serve_in_process(tmp_path / "data", mount=mount) as server:
        client = Client(server.url, socketio_path="/chat/socket.io")
        await client.connect()
        try:
            sid = await client.new_session()
            await client.ok("subscribe", {"session_id": sid})
            await client.send(sid, "under a prefix")
            [answer] = await client.wait_status(sid, "complete")
            assert answer["content"] == "Echo: under a prefix"
        finally:
            await client.close()
        async with httpx.AsyncClient(base_url=server.url) as http:
            assert (await http.get("/")).text == "the app's own page"
            page = await http.get("/chat/")
            assert page.status_code == 200 and 'href="static/css/app.css"' in page.text
            assert (await http.get("/chat/static/css/app.css")).status_code == 200
            assert (await http.get("/chat/healthz")).json() == {"status": "ok"}
            logs = {"client_id": client.client_id, "lines": [{"ts": 1, "level": "info",
                                                              "msg": "from /chat"}]}
            assert (await http.post("/chat/api/client-logs", json=logs)).json() == {"written": 1}
            # Not under the prefix: the app's, not Tether's.
            assert (await http.get("/static/css/app.css")).status_code == 404
            assert (await http.get("/chatroom/healthz")).status_code == 404


async def test_web_false_mounts_only_the_socket(tmp_path: Path) -> None:
    def socket_only(chat: Tether) -> Starlette:
        return in_starlette(Tether(chat.settings, web=False))

    async with serve_in_process(tmp_path / "data", mount=socket_only) as server:
        async with httpx.AsyncClient(base_url=server.url) as http:
            assert (await http.get("/chat/")).status_code == 404
            assert (await http.get("/chat/static/css/app.css")).status_code == 404
            assert (await http.get("/chat/healthz")).status_code == 200
        client = Client(server.url, socketio_path="/chat/socket.io")
        await client.connect()
        await client.close()


@pytest.mark.browser
@pytest.mark.parametrize("mount", MOUNTS)
async def test_the_web_app_under_a_prefix_recovers_after_a_silent_drop(
    mount: Callable[[Tether], Any], tmp_path: Path, browser: Any  # noqa: F811
) -> None:
    async with serve_in_process(
        tmp_path / "data", mount=mount, allowed_hosts=PROXIED_HOSTS
    ) as server:
        proxy = await FaultProxy("127.0.0.1", server.port).start()
        device = Client(server.url, socketio_path="/chat/socket.io")
        await device.connect()
        try:
            page = await frozen_page_recovers(
                browser, device, proxy, f"{proxy.url}/chat", f"mounted-{mount.__name__}", 5.0
            )
            assert page.url.startswith(f"{proxy.url}/chat/")
            await page.context.close()
        finally:
            await device.close()
            await proxy.close()
