"""Issue 15, items 5 and 11: a failed answer shows its error inside the message with its partial
text, Retry regenerates it (a new answer to the same question, the old one kept), the new answer
quotes the question it replies to, an answer can be copied and the last message edited and resent.
Takes the screenshot of a failed answer with its Retry."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import PHONE
from tests.e2e.pages import open_app, send_from_page, wait_messages
from tests.support.server import ServerProcess, start_server

MODULE = '''
from tether.agents import AgentError

calls = {"n": 0}

async def flaky(turn):
    calls["n"] += 1
    yield "partial words "
    if calls["n"] == 1:
        raise AgentError("the model is overloaded")
    yield "and a full answer"
'''

AGENTS = """
[agents.flaky]
kind = "python"
entrypoint = "tether_e2e_flaky:flaky"
"""


@pytest.fixture
def flaky_server(tmp_path: Path) -> Iterator[ServerProcess]:
    data = tmp_path / "data"
    data.mkdir()
    (data / "tether_e2e_flaky.py").write_text(textwrap.dedent(MODULE))
    (data / "agents.toml").write_text(AGENTS)
    proc = start_server(data)
    yield proc
    proc.stop()


async def test_a_failed_answer_says_why_and_retry_answers_the_question_again(
    browser: Any, flaky_server: ServerProcess, other: Any, screenshots: Path
) -> None:
    device = await other(flaky_server.url)
    session_id = await device.new_session(agent="flaky")
    context = await browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    await context.grant_permissions(["clipboard-read", "clipboard-write"])
    page = await context.new_page()
    await open_app(page, flaky_server.url, session_id)
    await send_from_page(page, "question one")
    failed = "[data-testid=message][data-role=assistant][data-status=failed]"
    await page.wait_for_selector(failed, timeout=15_000)
    error = page.locator(f"{failed} .bubble [data-testid=message-error]")
    assert await error.text_content() == "Failed: the model is overloaded"
    assert (await page.locator(f"{failed} .body").text_content() or "").strip() == "partial words"
    # Readable: white on dark red, at least WCAG AA's 4.5:1 for small text.
    colours = await error.evaluate(
        "el => [getComputedStyle(el).color, getComputedStyle(el).backgroundColor]"
    )
    assert contrast(*colours) >= 4.5, colours
    await page.screenshot(path=str(screenshots / "answer-failed-retry.png"))
    old_id = await page.get_attribute(failed, "data-message-id")

    await page.click(f"{failed} [data-testid=answer-retry]")
    await wait_messages(
        page, "ms.some(m => m.role === 'assistant' && m.status === 'complete')", 15
    )
    complete = "[data-testid=message][data-role=assistant][data-status=complete]"
    # The old answer is kept; the new one replies to the same question and quotes it, since it
    # is no longer right under it.
    assert await page.get_attribute(failed, "data-message-id") == old_id
    user = "[data-testid=message][data-role=user]"
    question_id = await page.get_attribute(user, "data-message-id")
    assert await page.get_attribute(complete, "data-reply-to") == question_id
    assert await page.get_attribute(failed, "data-reply-to") == question_id
    quote = page.locator(f"{complete} [data-testid=reply-quote]")
    assert await quote.text_content() == "↪ question one"
    assert await page.locator(f"{failed} [data-testid=reply-quote]").is_hidden()
    assert await page.locator(f"{complete} [data-testid=answer-retry]").is_hidden()

    await page.click(f"{complete} [data-testid=answer-copy]")
    copied = await page.evaluate("navigator.clipboard.readText()")
    assert copied == "partial words and a full answer"

    await page.click("[data-testid=message][data-role=user] [data-testid=message-edit]")
    assert await page.input_value("[data-testid=composer-input]") == "question one"
    await context.close()


def contrast(foreground: str, background: str) -> float:
    """WCAG contrast ratio of two ``rgb(r, g, b)`` colours."""

    def luminance(colour: str) -> float:
        parts = [int(x) for x in colour[colour.index("(") + 1 : colour.index(")")].split(",")[:3]]
        linear = [(c / 255) / 12.92 if c / 255 <= 0.03928 else ((c / 255 + 0.055) / 1.055) ** 2.4
                  for c in parts]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    light, dark = sorted((luminance(foreground), luminance(background)), reverse=True)
    return (light + 0.05) / (dark + 0.05)
