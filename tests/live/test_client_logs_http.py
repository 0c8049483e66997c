"""POST /api/client-logs and `tether logs tail`."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import httpx
import orjson

from tests.support.chunked import post_endless_chunks
from tests.support.server import ServerProcess, start_server


def tail(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tether", "logs", "tail", "--no-follow", "--data-dir",
         str(data_dir), *args],
        capture_output=True, text=True, timeout=30,
    )


async def test_client_logs_are_written_and_tailed(server: ServerProcess) -> None:
    batch = {"client_id": "tab-1", "lines": [
        {"ts": "2026-11-24T00:00:00Z", "level": "info", "msg": "visibilitychange visible"},
        {"ts": "2026-11-24T00:00:01Z", "level": "warn", "msg": "heartbeat timed out"},
    ]}
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
        ok = await http.post("/api/client-logs", json=batch)
        assert ok.status_code == 200 and ok.json() == {"written": 2}
        for body, status in [
            (b"not json", 400),
            (b"[1, 2]", 400),
            (b'{"client_id": "bad id!", "lines": []}', 400),
            (b'{"client_id": "tab-1", "lines": "x"}', 400),
            (b"x" * 1_000_001, 413),
        ]:
            bad = await http.post("/api/client-logs", content=body)
            assert bad.status_code == status and bad.json()["error"], body[:40]
    frontend = tail(server.data_dir, "--frontend")
    assert frontend.returncode == 0
    assert "[tab-1]" in frontend.stdout and "heartbeat timed out" in frontend.stdout
    app = tail(server.data_dir, "-n", "5")
    assert app.returncode == 0 and "tether" in app.stdout


async def test_client_logs_need_a_token_when_tokens_exist(tmp_path: Path) -> None:
    data = tmp_path / "data"
    made = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "tether", "token", "create", "ann", "--data-dir", str(data)],
        capture_output=True, text=True, timeout=60, check=True,
    )
    token = made.stdout.strip().splitlines()[-1]
    srv = start_server(data)
    try:
        body = {"client_id": "tab-2", "lines": [{"level": "info", "msg": "hi"}]}
        async with httpx.AsyncClient(base_url=srv.url, timeout=10) as http:
            assert (await http.post("/api/client-logs", json=body)).status_code == 401
            wrong = {"Authorization": "Bearer tt_wrong"}
            refused = await http.post("/api/client-logs", json=body, headers=wrong)
            assert refused.status_code == 401
            good = {"Authorization": f"Bearer {token}"}
            assert (await http.post("/api/client-logs", json=body, headers=good)).status_code == 200
    finally:
        srv.stop()


def test_logs_tail_without_logs_is_a_clear_error(tmp_path: Path) -> None:
    result = tail(tmp_path / "nothing")
    assert result.returncode == 1 and "no logs in" in result.stderr


async def test_a_chunked_body_is_read_no_further_than_the_limit(server: ServerProcess) -> None:
    answer, written = await post_endless_chunks(server.port, "/api/client-logs")
    assert answer.startswith(b"HTTP/1.1 413"), answer[:100]
    assert written < 20_000_000, f"the server read {written} bytes of a 1 MB-limited body"


async def test_log_posts_from_another_origin_are_refused(server: ServerProcess) -> None:
    batch = {"client_id": "tab-origin", "lines": [{"msg": "hello"}]}
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
        for origin, status in [("http://evil.example", 403), ("null", 403),
                               (f"http://rebind.example:{server.port}", 403),
                               (server.url.rstrip("/"), 200), (None, 200)]:
            headers = {"Content-Type": "text/plain"} | ({"Origin": origin} if origin else {})
            answer = await http.post("/api/client-logs", content=orjson.dumps(batch),
                                     headers=headers)
            assert answer.status_code == status, origin


async def test_log_posts_are_rate_limited_and_capped_per_day(tmp_path: Path) -> None:
    server = await asyncio.to_thread(start_server, tmp_path / "data", {
        "TETHER_CLIENT_LOGS_RATE": "0.01", "TETHER_CLIENT_LOGS_BURST": "5",
        "TETHER_CLIENT_LOGS_BYTES_PER_DAY": "3000",
    })
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
            statuses = []
            for n, size in enumerate([1000, 1000, 1500, 0, 0, 0]):
                lines = [{"msg": "x" * size}] if size else []
                answer = await http.post("/api/client-logs",
                                         json={"client_id": f"new-id-{n}", "lines": lines})
                statuses.append(answer.status_code)
        assert statuses == [200, 200, 429, 200, 200, 429]
    finally:
        server.stop()
