"""Which ``Host`` headers the server answers to: the guard against DNS rebinding.

A page on ``rebind.attacker.example`` whose name is later re-pointed at 127.0.0.1 talks to a
local-mode Tether as same-origin, so Origin checks and CORS never fire; only the ``Host`` header
still names the attacker. On loopback the server therefore answers only to loopback names and
addresses with the port it serves on; ``TETHER_ALLOWED_HOSTS`` lists the names a deployment
behind a proxy is reached by.

Starlette's ``TrustedHostMiddleware`` is not used: it drops the port (the check here keeps it)
and splits ``[::1]:8000`` at the first colon, so an IPv6 literal can never match.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from starlette.types import ASGIApp, Receive, Scope, Send

LOOPBACK_NAMES = ("localhost",)


def split_host(value: str) -> tuple[str, int | None] | None:
    """``name[:port]`` or ``[v6]:port`` as (lower-case name, port); None when malformed."""
    value = value.strip().lower()
    if value.startswith("["):
        end = value.find("]")
        if end < 0:
            return None
        name, rest = value[1:end], value[end + 1 :]
    elif value.count(":") == 1:
        name, _, port_text = value.partition(":")
        rest = ":" + port_text
    elif ":" in value:
        return None  # a bare IPv6 address must be bracketed in a Host header
    else:
        name, rest = value, ""
    if not name:
        return None
    if not rest:
        return name, None
    if not rest.startswith(":") or not rest[1:].isdigit() or len(rest) > 6:
        return None
    return name, int(rest[1:])


def is_loopback_name(name: str) -> bool:
    """``localhost``, ``*.localhost`` (RFC 6761: always loopback) or a loopback address."""
    if name in LOOPBACK_NAMES or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def host_allowed(header: str, served_port: int, allowed: Sequence[str]) -> bool:
    """Whether a request with this ``Host`` header may be served.

    ``allowed`` empty: loopback names and addresses, with ``served_port`` (80 when the header
    names no port). Otherwise each entry is ``*`` (anything), ``name``, ``*.domain`` (any
    subdomain), each optionally with ``:port`` (then the port must match).
    """
    parsed = split_host(header)
    if parsed is None:
        return False
    name, port = parsed
    if not allowed:
        return is_loopback_name(name) and (port or 80) == served_port
    for entry in allowed:
        if entry == "*":
            return True
        subdomains = entry.startswith("*.")
        want = split_host(entry[1:] if subdomains else entry)
        if want is None:
            continue
        want_name, want_port = want
        if want_port is not None and want_port != (port or 80):
            continue
        if name.endswith(want_name) if subdomains else name == want_name:
            return True
    return False


class HostGuard:
    """ASGI middleware: HTTP requests and WebSocket handshakes with a refused ``Host`` get
    421 Misdirected Request (a WebSocket handshake gets it as its HTTP denial response)."""

    def __init__(self, app: ASGIApp, allowed: Sequence[str], enforce: bool) -> None:
        self.app = app
        self.allowed = list(allowed)
        self.enforce = enforce or bool(allowed)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.enforce or scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        host = ""
        for key, value in scope["headers"]:
            if key == b"host":
                host = value.decode("latin-1")
                break
        server = scope.get("server") or ("", 80)
        if host_allowed(host, int(server[1] or 80), self.allowed):
            await self.app(scope, receive, send)
            return
        await refuse(scope, send, 421, b"this server does not answer to that Host header\n")


async def refuse(scope: Scope, send: Send, status: int, body: bytes) -> None:
    """A plain-text refusal, for HTTP or as a WebSocket handshake's denial response."""
    prefix = "websocket.http." if scope["type"] == "websocket" else "http."
    headers = [(b"content-type", b"text/plain; charset=utf-8"),
               (b"content-length", str(len(body)).encode())]
    await send({"type": prefix + "response.start", "status": status, "headers": headers})
    await send({"type": prefix + "response.body", "body": body})
