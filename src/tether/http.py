"""The HTTP endpoints beside the socket (PROTOCOL.md section 7)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

if TYPE_CHECKING:
    from tether.app import Tether

STATIC = Path(__file__).with_name("static")
READY_TIMEOUT = 2.0

PLACEHOLDER = """<!doctype html><meta charset=utf-8><title>Tether</title>
<h1>Tether</h1><p>The server is running. Connect a Socket.IO client to this address.</p>"""


def routes(tether: Tether) -> list[BaseRoute]:
    async def index(request: Request) -> Response:
        page = STATIC / "index.html"
        if page.is_file():
            return FileResponse(page, headers={"Cache-Control": "no-cache"})
        return HTMLResponse(PLACEHOLDER)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        problems = await tether.readiness_problems(READY_TIMEOUT)
        if problems:
            return JSONResponse({"status": "unavailable", "problems": problems}, status_code=503)
        return JSONResponse({"status": "ready"})

    async def metrics(request: Request) -> Response:
        return Response(tether.metrics.render(), media_type="text/plain; version=0.0.4")

    return [
        Route("/", index),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics),
        Mount("/static", StaticFiles(directory=STATIC, check_dir=False), name="static"),
    ]


async def probe(name: str, check: object, timeout: float) -> str | None:
    """None when ``check()`` succeeds within ``timeout``, else a line saying what failed."""
    try:
        await asyncio.wait_for(check(), timeout)  # type: ignore[operator]
    except Exception as exc:
        return f"{name}: {type(exc).__name__}: {exc}".strip()
    return None
