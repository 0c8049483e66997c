"""How much the service worker adds to a cold start: new tabs on a cached chat, in a Chromium
context with the worker and in one with service workers blocked, interleaved.

    PYTHONPATH=. .venv/bin/python scripts/offline_start.py [loads]

Prints the medians and every figure (ms since the navigation started) of DOMContentLoaded, the
cache read, and the server's hello. Wall times: on a shared machine, run it more than once.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
from pathlib import Path

from playwright.async_api import async_playwright
from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.e2e.test_offline import chat_with_an_answer, open_chat, wait_worker
from tests.support.client import Client
from tests.support.inprocess import serve_in_process

TIMES = """() => {
  const at = (s) => {
    const line = tether.logbook.lines.find((l) => l.msg.includes(s));
    return line ? Math.round(Date.parse(line.ts) - performance.timeOrigin) : null;
  };
  const nav = performance.getEntriesByType('navigation')[0];
  return { dcl: Math.round(nav.domContentLoadedEventEnd), cache: at('[Cache] loaded'),
           hello: at('[Client] hello') };
}"""


async def main(loads: int) -> None:
    async with serve_in_process(Path(tempfile.mkdtemp()) / "data") as server:
        device = Client(server.url)
        await device.connect()
        session_id = await chat_with_an_answer(device, "a cached chat")
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            contexts = {"worker": await browser.new_context(),
                        "blocked": await browser.new_context(service_workers="block")}
            for name, context in contexts.items():
                page = await context.new_page()
                await open_chat(page, server.url, session_id)
                if name == "worker":
                    await wait_worker(page)
                await page.evaluate("tether.cache.flush()")
                await page.close()
            rows: dict[str, list[dict[str, int]]] = {name: [] for name in contexts}
            for _ in range(loads):
                for name, context in contexts.items():
                    page = await context.new_page()
                    await open_chat(page, server.url, session_id)
                    rows[name].append(await page.evaluate(TIMES))
                    await page.close()
            await browser.close()
        await device.close()
    for name, found in rows.items():
        for key in ("dcl", "cache", "hello"):
            values = [row[key] for row in found]
            print(f"{name:8} {key:6} median {statistics.median(values):7.0f} ms  all {values}")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 8))
