"""The Host check (DNS rebinding) and the security headers, on HTTP and both Engine.IO
transports."""

from __future__ import annotations

import httpx

from tests.live.edge_support import get, raw_request, response_head, server_with, status_of
from tests.support.server import ServerProcess


def upgrade(host: str) -> bytes:
    """A WebSocket handshake for Engine.IO's websocket transport."""
    return (
        "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n"
        f"Host: {host}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
        "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    ).encode()

PATHS = ["/", "/healthz", "/api/client-logs", "/socket.io/?EIO=4&transport=polling"]


async def test_local_mode_refuses_a_rebound_host_on_every_path(server: ServerProcess) -> None:
    port = server.port
    for host in ("rebind.attacker.example", f"rebind.attacker.example:{port}",
                 f"localhost:{port + 1}", f"127.0.0.1.attacker.example:{port}", ""):
        for path in PATHS:
            response = await raw_request(port, get(path, host))
            assert status_of(response) == 421, (host, path, response[:200])
        ws = await raw_request(port, upgrade(host))
        assert status_of(ws) == 421, (host, ws[:200])


async def test_local_mode_answers_loopback_hosts(server: ServerProcess) -> None:
    port = server.port
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}",
                 f"app.localhost:{port}", f"127.0.0.2:{port}"):
        assert status_of(await raw_request(port, get("/healthz", host))) == 200, host
        polling = await raw_request(port, get("/socket.io/?EIO=4&transport=polling", host))
        assert status_of(polling) == 200 and b'"sid"' in polling, host
        assert status_of(await response_head(port, upgrade(host))) == 101, host


proxied = server_with({"TETHER_ALLOWED_HOSTS": '["chat.example.com", "*.internal.example"]'})


async def test_allowed_hosts_replace_the_loopback_names(proxied: ServerProcess) -> None:
    port = proxied.port
    for host, status in [("chat.example.com", 200), (f"chat.example.com:{port}", 200),
                         ("a.internal.example", 200), ("internal.example", 421),
                         ("rebind.attacker.example", 421), (f"127.0.0.1:{port}", 421)]:
        assert status_of(await raw_request(port, get("/healthz", host))) == status, host


async def test_every_response_carries_the_security_headers(server: ServerProcess) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
        responses = [
            await http.get("/"),
            await http.get("/healthz"),
            await http.get("/static/js/app/main.js"),
            await http.get("/socket.io/?EIO=4&transport=polling"),
            await http.post("/api/client-logs", content=b"not json"),
            await http.get("/no-such-page"),
        ]
    for response in responses:
        csp = response.headers.get("content-security-policy", "")
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp, response.url
        assert "img-src 'self' data:" in csp and "'unsafe-inline'" not in csp
        assert response.headers.get("x-content-type-options") == "nosniff"
        assert response.headers.get("referrer-policy") == "no-referrer"
