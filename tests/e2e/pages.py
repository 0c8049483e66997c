"""What the end-to-end tests do to and read from a page, through PROTOCOL.md section 8's hooks
only. Every wait has a timeout."""

from __future__ import annotations

import json
import time
from typing import Any

Page = Any  # playwright.async_api.Page

CONNECTED = "[data-testid=connection-status][data-state=connected]"

# Read every rendered message: the test hooks, plus the text and whether markup got through.
READ_MESSAGES = """() => [...document.querySelectorAll('[data-testid=message]')].map(el => ({
  id: el.dataset.messageId ?? null, seq: el.dataset.seq ?? null, role: el.dataset.role,
  status: el.dataset.status, text: el.querySelector('.body')?.textContent ?? '',
}))"""

SET_VISIBILITY = """(state) => {
  for (const [name, value] of [['visibilityState', state], ['hidden', state === 'hidden']]) {
    Object.defineProperty(document, name, { configurable: true, get: () => value });
  }
  document.dispatchEvent(new Event('visibilitychange'));
  if (state === 'visible') {
    window.dispatchEvent(new PageTransitionEvent('pageshow', { persisted: true }));
    window.dispatchEvent(new Event('focus'));
  }
}"""


async def open_app(page: Page, base_url: str, session_id: str | None = None) -> None:
    url = f"{base_url}/" + (f"#/s/{session_id}" if session_id else "")
    await page.goto(url, timeout=15_000)
    await page.wait_for_selector(CONNECTED, timeout=15_000)


async def messages(page: Page) -> list[dict[str, Any]]:
    return await page.evaluate(READ_MESSAGES)  # type: ignore[no-any-return]


async def wait_messages(page: Page, predicate_js: str, timeout: float = 15) -> None:
    """Wait until ``predicate_js`` (a JS expression over ``ms``, the READ_MESSAGES rows) holds."""
    await page.wait_for_function(
        f"() => {{ const ms = ({READ_MESSAGES})(); return {predicate_js}; }}",
        polling=10, timeout=timeout * 1000,
    )


async def wait_ids_complete(page: Page, ids: list[str], timeout: float = 15) -> float:
    """Wait until every message id in ``ids`` is on screen in a final state; returns seconds."""
    started = time.monotonic()
    await wait_messages(
        page,
        f"{json.dumps(ids)}.every(id => ms.some(m => m.id === id && m.status !== 'streaming'))",
        timeout,
    )
    return time.monotonic() - started


async def set_visibility(page: Page, state: str) -> None:
    await page.evaluate(SET_VISIBILITY, state)


async def send_from_page(page: Page, text: str) -> None:
    box = page.locator("[data-testid=composer-input]")
    await box.fill(text)
    await box.press("Enter")


def assert_each_once(rows: list[dict[str, Any]]) -> None:
    ids = [row["id"] for row in rows if row["id"]]
    duplicates = {i for i in ids if ids.count(i) > 1}
    assert not duplicates, f"messages shown more than once: {duplicates}"


async def echoed_answer(
    browser: Any, base_url: str, text: str, viewport: dict[str, int]
) -> tuple[Any, Page, list[str]]:
    """A new context whose page opens a new chat, sends ``text`` and waits for the echo agent
    to answer it back (as markdown): the context, the page, and every URL the context asked for."""
    context = await browser.new_context(viewport=viewport)
    requested: list[str] = []
    context.on("request", lambda request: requested.append(request.url))
    page = await context.new_page()
    await open_app(page, base_url)
    await page.locator("#empty-new").click()
    await page.wait_for_function("() => location.hash.startsWith('#/s/')", timeout=10_000)
    await send_from_page(page, text)
    await wait_messages(page, "ms.some(m => m.role === 'assistant' && m.status === 'complete')")
    return context, page, requested
