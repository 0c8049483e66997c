"""Benchmark 6, the browser: one long answer streamed into the web app in Chromium.

A page (the real app, signed in with a token) follows a session of the ``bench`` agent and asks
for ``"prose <tokens> <rate>"``: markdown prose, a paragraph every 60 tokens. While it streams, the
benchmark samples Chromium's own count of main-thread task time (CDP ``Performance.getMetrics``,
``TaskDuration``: script, style, layout and paint together) and how many ``delta`` chunks the
page has applied. The figure is main-thread milliseconds per delta over the first and the last
tenth of the answer's chunks: if rendering a delta cost the length of the answer so far, the end
would be many times the start (target: the end within 1.5x of the start).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
import uuid
from typing import Any

from bench.procs import ServerProcess
from bench.scenarios.common import auth_for, expect_ok, open_clients

CHROMIUM = os.environ.get("TETHER_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]

# The streaming answer's progress as the page's client holds it (cheap: no text is copied).
PROGRESS = """(sid) => {
  const f = window.tether.followers.get(sid);
  const m = f && [...f.view.messages.values()].find((m) => m.role === "assistant");
  return m ? [m.chunks, m.status, m.content.length] : null;
}"""


def browser_missing() -> str | None:
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        return "Playwright is not installed"
    if not (os.path.exists(CHROMIUM) or shutil.which(CHROMIUM)):
        return f"no Chromium at {CHROMIUM}"
    return None


def per_delta_ms(samples: list[tuple[int, float]], first: int, last: int) -> float:
    """Main-thread ms per delta between the samples nearest to chunk counts ``first``, ``last``."""
    start = min(samples, key=lambda s: abs(s[0] - first))
    end = min(samples, key=lambda s: abs(s[0] - last))
    return (end[1] - start[1]) * 1000 / max(1, end[0] - start[0])


async def run_browser(server: ServerProcess, tokens: dict[str, str], count: int,
                      rate: float) -> dict[str, Any]:
    from playwright.async_api import async_playwright

    [client] = await open_clients(server.url, [auth_for(tokens, "b0")], None)
    session = await expect_ok(client.call(
        "create_session", {"id": str(uuid.uuid4()), "agent": "bench", "title": "browser"}))
    sid = session["session"]["id"]
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = await chromium.new_page(viewport={"width": 1280, "height": 800})
        await page.goto(f"{server.url}/?token={tokens['b0']}#/s/{sid}", timeout=30_000)
        await page.wait_for_selector("[data-testid=connection-status][data-state=connected]",
                                     timeout=30_000)
        cdp = await page.context.new_cdp_session(page)
        await cdp.send("Performance.enable")
        box = page.locator("[data-testid=composer-input]")
        await box.fill(f"prose {count} {rate}")
        await box.press("Enter")
        samples: list[tuple[int, float]] = []
        deadline = time.monotonic() + count / rate * 3 + 60
        status, length = "streaming", 0
        while time.monotonic() < deadline:
            progress = await page.evaluate(PROGRESS, sid)
            metrics = await cdp.send("Performance.getMetrics")
            task = next(m["value"] for m in metrics["metrics"] if m["name"] == "TaskDuration")
            if progress:
                chunks, status, length = progress
                if chunks:
                    samples.append((chunks, task))
                if status != "streaming":
                    break
            await asyncio.sleep(0.2)
        shown = await page.evaluate(
            "() => document.querySelector('[data-testid=message][data-role=assistant] .body')"
            "?.textContent.length ?? 0")
        await chromium.close()
    await client.close()
    chunks = samples[-1][0] if samples else 0
    return {
        "tokens": count, "deltas": chunks, "status": status, "content_chars": length,
        "shown_chars": shown,
        "start_ms_per_delta": per_delta_ms(samples, 1, chunks // 10) if samples else float("nan"),
        "end_ms_per_delta": (per_delta_ms(samples, chunks - chunks // 10, chunks)
                             if samples else float("nan")),
    }


def check(result: dict[str, Any]) -> list[str]:
    problems = []
    if result["status"] != "complete":
        problems.append(f"the answer ended {result['status']}")
    if result["deltas"] < 10:
        problems.append(f"only {result['deltas']} deltas")
    if result["shown_chars"] < result["content_chars"] * 0.8:
        problems.append(f"{result['shown_chars']} of {result['content_chars']} chars shown")
    return problems
