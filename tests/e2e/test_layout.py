"""Issue 15, items 6 and 8 on a phone: the composer's placeholder fits, table headers never break
inside a word, "+ New chat" leaves focus in the chat (not on a button of the closed drawer), and
the sidebar names a chat from its first message with a relative date."""

from __future__ import annotations

from typing import Any

from tests.e2e.conftest import PHONE
from tests.e2e.pages import open_app, send_from_page, wait_messages
from tests.support.inprocess import InProcessServer
from tether.titles import title_from_message

PLACEHOLDER_FITS = """() => {
  const el = document.querySelector('[data-testid=composer-input]');
  const style = getComputedStyle(el);
  const ctx = document.createElement('canvas').getContext('2d');
  ctx.font = `${style.fontSize} ${style.fontFamily}`;
  const room = el.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
  return { text: el.placeholder, width: ctx.measureText(el.placeholder).width, room };
}"""

HEADERS_ON_ONE_LINE = """() => [...document.querySelectorAll('[data-role=assistant] th')]
  .map(th => {
  const range = document.createRange();
  range.selectNodeContents(th);
  return { text: th.textContent, lines: new Set([...range.getClientRects()].map(r => r.top)).size };
})"""

TABLE = (
    "| Configuration | Description | Requirements | Alternatives |\n"
    "|---|---|---|---|---|\n| alpha | beta | gamma | delta | epsilon |"
)


async def test_phone_layout_new_chat_focus_placeholder_tables_and_names(
    browser: Any, server: InProcessServer
) -> None:
    context = await browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    page = await context.new_page()
    await open_app(page, server.url)
    fit = await page.evaluate(PLACEHOLDER_FITS)
    assert fit["width"] <= fit["room"], fit

    await page.click("#menu")
    await page.wait_for_selector("#app.sidebar-open", timeout=5_000)
    await page.click("[data-testid=new-session]")
    await page.wait_for_function("() => location.hash.startsWith('#/s/')", timeout=10_000)
    await page.wait_for_selector("#app:not(.sidebar-open)", timeout=5_000)
    in_drawer = await page.evaluate(
        "document.querySelector('#sidebar').contains(document.activeElement)"
    )
    assert not in_drawer, await page.evaluate("document.activeElement.outerHTML")
    session_id = (await page.evaluate("location.hash")).removeprefix("#/s/")

    await send_from_page(page, TABLE)
    await wait_messages(page, "ms.some(m => m.role === 'assistant' && m.status === 'complete')")
    headers = await page.evaluate(HEADERS_ON_ONE_LINE)
    assert [h["text"] for h in headers] == [
        "Echo:", "Configuration", "Description", "Requirements", "Alternatives",
    ]
    assert all(h["lines"] == 1 for h in headers), headers

    item = f"[data-testid=session-item][data-session-id='{session_id}']"
    title = title_from_message(TABLE)
    assert title is not None and title.endswith("…")
    await page.wait_for_selector(f"{item} .title:text-is('{title}')", state="attached",
                                 timeout=10_000)
    assert await page.text_content(f"{item} [data-testid=session-when]") == "now"
    preview = await page.text_content(f"{item} [data-testid=session-preview]") or ""
    assert preview.startswith("Echo: | Configuration"), preview
    assert await page.text_content("#chat-title") == title
    await context.close()
