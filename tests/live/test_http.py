from __future__ import annotations

import httpx

from tests.support.client import Client
from tests.support.server import ServerProcess


async def test_health_ready_metrics_and_index(server: ServerProcess, client: Client) -> None:
    sid = await client.new_session()
    await client.ok("subscribe", {"session_id": sid})
    await client.call("subscribe", {"session_id": 5})
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
        assert (await http.get("/healthz")).json() == {"status": "ok"}
        ready = await http.get("/readyz")
        assert ready.status_code == 200 and ready.json() == {"status": "ready"}
        metrics = (await http.get("/metrics")).text
        index = await http.get("/")
    assert index.status_code == 200 and "Tether" in index.text
    for line in (
        "tether_connections 1.0",
        'tether_requests_total{event="subscribe",outcome="ok"}',
        'tether_requests_total{event="subscribe",outcome="invalid"} 1.0',
        'tether_subscribe_modes_total{mode="recent"}',
        "tether_subscriptions 1.0",
        "tether_runs_active 0.0",
        'tether_request_seconds_bucket{event="create_session"',
    ):
        assert line in metrics, line
