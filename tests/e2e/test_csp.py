"""The web app under its Content-Security-Policy: it loads, connects, sends and renders an
answer's markdown with no policy violation, and the policy does block what it is meant to."""

from __future__ import annotations

import uuid
from typing import Any

from tests.e2e.conftest import DESKTOP
from tests.e2e.pages import open_app, send_from_page, wait_messages
from tests.support.server import ServerProcess

# Collects every violation the page reports, from its first script on.
RECORD_VIOLATIONS = """window.__violations = [];
document.addEventListener('securitypolicyviolation',
  e => window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));"""


async def test_the_app_works_under_its_policy(
    browser: Any, server: ServerProcess, other: Any
) -> None:
    device = await other(server.url)
    session_id = await device.new_session(title="CSP")
    context = await browser.new_context(viewport=DESKTOP)
    await context.add_init_script(RECORD_VIOLATIONS)
    page = await context.new_page()
    console: list[str] = []
    page.on("console", lambda m: console.append(m.text))
    try:
        response = await page.goto(server.url, timeout=15_000)
        assert "frame-ancestors 'none'" in (await response.all_headers())[
            "content-security-policy"]
        await open_app(page, server.url, session_id)
        text = f"**bold** and `code` {uuid.uuid4().hex[:6]}"
        await send_from_page(page, text)
        await wait_messages(page, "ms.some(m => m.role === 'assistant' && "
                                  "m.status === 'complete' && m.text.includes('bold'))")
        assert await page.evaluate("window.__violations") == []
        assert not [line for line in console if "Content Security Policy" in line], console
        # And the policy is in force: a remote image and an inline script are refused.
        await page.evaluate("""() => {
          const img = document.createElement('img'); img.src = 'http://192.0.2.1/x.png';
          document.body.append(img);
          const s = document.createElement('script'); s.textContent = 'window.__ran = 1';
          document.body.append(s);
        }""")
        await page.wait_for_function("() => window.__violations.length >= 2", timeout=5_000)
        assert await page.evaluate("window.__ran") is None
    finally:
        await context.close()
