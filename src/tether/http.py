"""The HTTP endpoints beside the socket (PROTOCOL.md section 7)."""

from __future__ import annotations

import asyncio
import hmac
import logging
from pathlib import Path
from typing import TYPE_CHECKING

import orjson
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from tether.auth import Handshake
from tether.client_logs import LogQuotaExceeded
from tether.protocol import CONNECT_UNAUTHORIZED as UNAUTHORIZED
from tether.protocol import ErrorCode, RequestError
from tether.publish import post_request
from tether.ratelimit import RateLimits
from tether.shell import MANIFEST, Shell
from tether.store import is_unavailable

if TYPE_CHECKING:
    from tether.app import Tether

log = logging.getLogger("tether.http")

STATIC = Path(__file__).with_name("static")
READY_TIMEOUT = 2.0
MAX_LOG_BODY = 1_000_000

#: The HTTP status of each error code of the publish endpoint.
STATUS = {
    UNAUTHORIZED: 401,
    ErrorCode.INVALID: 400,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.TOO_LARGE: 413,
    ErrorCode.CONFLICT: 409,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.UNAVAILABLE: 503,
    ErrorCode.INTERNAL: 500,
}
internal = RequestError(ErrorCode.INTERNAL, "internal error")
unavailable = RequestError(ErrorCode.UNAVAILABLE, "storage unavailable; retry")

PLACEHOLDER = """<!doctype html><meta charset=utf-8><title>Tether</title>
<h1>Tether</h1><p>The server is running. Connect a Socket.IO client to this address.</p>"""


def routes(tether: Tether, *, web: bool = True) -> list[BaseRoute]:
    """Tether's HTTP routes; ``web=False`` leaves out the web app's page and static files.

    The page refers to its files by relative URLs (``static/...``), so it works under any
    prefix Tether is mounted at without rewriting it."""

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

    settings = tether.settings
    log_buckets = RateLimits(settings.client_logs_rate, settings.client_logs_burst)

    async def metrics(request: Request) -> Response:
        if settings.metrics_token is not None:
            given = (bearer(request) or "").encode()
            if not hmac.compare_digest(given, settings.metrics_token.encode()):
                return error(401, "unauthorized")
        elif not settings.metrics_open:
            return error(404, "not found")
        return Response(tether.metrics.render(), media_type="text/plain; version=0.0.4")

    async def client_logs(request: Request) -> Response:
        """Browser log batches: ``{"client_id": str, "lines": [{ts, level, msg}]}``. Works
        while the socket is down; it is authenticated as a connection is (``authenticate``,
        with the bearer token as ``auth.token``)."""
        if not same_origin(request, settings.cors_origins):
            return error(403, "cross-origin log posts are refused")
        user = await tether.authenticate(Handshake.from_http(request, {"token": bearer(request)}))
        if user is None:
            return error(401, "unauthorized")
        if not log_buckets.take(user.id):
            return error(429, "too many log batches; slow down")
        body = await read_body(request, MAX_LOG_BODY)
        if body is None:
            return error(413, f"body larger than {MAX_LOG_BODY} bytes")
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            return error(400, "body is not JSON")
        client_id, lines = (data.get("client_id"), data.get("lines")) if isinstance(
            data, dict
        ) else (None, None)
        if not isinstance(client_id, str) or not isinstance(lines, list):
            return error(400, 'body must be {"client_id": str, "lines": [...]}')
        try:
            written = await asyncio.to_thread(tether.frontend_logs.write, client_id, lines)
        except LogQuotaExceeded as exc:
            return error(429, str(exc))
        except ValueError as exc:
            return error(400, str(exc))
        return JSONResponse({"written": written})

    post_buckets = RateLimits(settings.rate_limit, settings.rate_burst)
    # A body holding the longest message, every character escaped (\uXXXX), and the rest.
    max_post_body = 6 * settings.max_message_chars + 4096

    async def post_message(request: Request) -> Response:
        """``POST /api/sessions/{id}/messages``: tether.publish's ``post`` for other processes,
        authenticated as a connection is; errors carry the protocol's codes."""
        if not same_origin(request, settings.cors_origins):  # a page elsewhere, with cookies
            refused = RequestError(UNAUTHORIZED, "cross-origin posts are refused")
            return JSONResponse(refused.ack(), status_code=403)
        try:
            user = await tether.authenticate(
                Handshake.from_http(request, {"token": bearer(request)})
            )
            if user is None:
                raise RequestError(UNAUTHORIZED, "sign in: Authorization: Bearer <token>")
            if not post_buckets.take(user.id):
                raise RequestError(ErrorCode.RATE_LIMITED, "too many posts; slow down")
            body = await read_body(request, max_post_body)
            if body is None:
                raise RequestError(ErrorCode.TOO_LARGE, f"body larger than {max_post_body} bytes")
            try:
                data = orjson.loads(body)
            except orjson.JSONDecodeError:
                raise RequestError(ErrorCode.INVALID, "body is not JSON") from None
            message, duplicate = await tether.publisher.publish(
                request.path_params["session_id"], post_request(data), user.id
            )
        except RequestError as exc:
            return JSONResponse(exc.ack(), status_code=STATUS[exc.code])
        except Exception as exc:
            if not is_unavailable(exc):
                log.exception("POST %s failed", request.url.path)
                return JSONResponse(internal.ack(), status_code=500)
            log.warning("POST %s: storage unavailable: %s", request.url.path, exc)
            return JSONResponse(unavailable.ack(), status_code=503)
        return JSONResponse({"ok": True, "message": message, "duplicate": duplicate},
                            status_code=200 if duplicate else 201)

    api: list[BaseRoute] = [
        Route("/api/client-logs", client_logs, methods=["POST"]),
        Route("/api/sessions/{session_id}/messages", post_message, methods=["POST"]),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics),
    ]
    if not web:
        return api
    return [
        Route("/", index),
        *shell_routes(Shell(STATIC)),
        *api,
        Mount("/static", StaticFiles(directory=STATIC, check_dir=False), name="static"),
    ]


def shell_routes(shell: Shell) -> list[BaseRoute]:
    """The offline shell (tether/shell.py): the service worker at the app's root (its scope is
    then the app, under any mount prefix), the module naming what it precaches, the manifest."""
    fresh = {"Cache-Control": "no-cache"}

    async def worker(request: Request) -> Response:
        return Response(shell.worker(), media_type="text/javascript", headers=fresh)

    async def shell_module(request: Request) -> Response:
        return Response(shell.module(), media_type="text/javascript", headers=fresh)

    async def manifest(request: Request) -> Response:
        return FileResponse(shell.static / MANIFEST, media_type="application/manifest+json",
                            headers=fresh)

    return [
        Route("/sw.js", worker),
        Route("/static/js/sw/shell.js", shell_module),
        Route(f"/{MANIFEST}", manifest),
    ]


def bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    return header[7:].strip() if header.lower().startswith("bearer ") else None


def same_origin(request: Request, allowed: list[str]) -> bool:
    """True without an ``Origin`` header (not a browser), or when it names this server (the
    ``Host`` the request came to) or one of ``allowed``. A page on another origin can post a
    ``text/plain`` body or a form without any CORS preflight: this is what stops it."""
    origin = request.headers.get("origin")
    if origin is None:
        return True
    if origin in allowed:
        return True
    scheme, _, rest = origin.partition("://")
    return scheme in ("http", "https") and rest == request.headers.get("host")


async def read_body(request: Request, limit: int) -> bytes | None:
    """The body, read no further than ``limit`` bytes: None when it is longer (a chunked body
    declares no length, so the limit is checked as it arrives)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)


def error(status: int, message: str) -> Response:
    return JSONResponse({"error": message}, status_code=status)


async def probe(name: str, check: object, timeout: float) -> str | None:
    """None when ``check()`` succeeds within ``timeout``, else a line saying what failed."""
    try:
        await asyncio.wait_for(check(), timeout)  # type: ignore[operator]
    except Exception as exc:
        return f"{name}: {type(exc).__name__}: {exc}".strip()
    return None
