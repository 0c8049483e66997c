"""Issue 15, item 10: images in answers. A remote image is never fetched: it is a link that opens it
in a new tab (the page's CSP, ``img-src 'self' data:``, would refuse a "load image" button, so a
click loads it in a tab of its own instead); ``data:`` and same-origin images are shown."""

from __future__ import annotations

from typing import Any

from tests.e2e.conftest import DESKTOP
from tests.e2e.pages import echoed_answer
from tests.support.server import ServerProcess

REMOTE = "https://images.example.invalid/cat.png?user=42"
PIXEL = "data:image/gif;base64,R0lGODlhAQABAIAAAP///wAAACH5BAEAAAAALAAAAAABAAEAAAICRAEAOw=="
ANSWER = f"![a cat]({REMOTE}) and ![a dot]({PIXEL}) and ![ours](/static/own-image.png)"

READ_IMAGES = """() => {
  const bodies = [...document.querySelectorAll('[data-testid=message][data-role=assistant] .body')];
  const body = bodies[bodies.length - 1];
  return {
    images: [...body.querySelectorAll('img')].map(i => ({
      src: i.getAttribute('src'), alt: i.alt, shown: i.complete && i.naturalWidth > 0 })),
    links: [...body.querySelectorAll('a.remote-image')].map(a => ({
      href: a.getAttribute('href'), target: a.target, rel: a.rel, text: a.textContent })),
  };
}"""


async def test_remote_images_are_links_data_and_same_origin_images_are_shown(
    browser: Any, server: ServerProcess
) -> None:
    context, page, requested = await echoed_answer(browser, server.url, ANSWER, DESKTOP)
    await page.wait_for_function(
        "() => [...document.querySelectorAll('.body img')].every(i => i.complete)", timeout=5_000
    )
    found = await page.evaluate(READ_IMAGES)

    assert [i["src"] for i in found["images"]] == [PIXEL, "/static/own-image.png"], found
    assert found["images"][0]["shown"], "the data: image is shown"
    assert any(url == f"{server.url}/static/own-image.png" for url in requested), (
        "the same-origin image is requested (and would show; this one does not exist)"
    )
    assert found["links"] == [{
        "href": REMOTE, "target": "_blank", "rel": "noopener noreferrer nofollow",
        "text": "Image: a cat (images.example.invalid)",
    }], found
    assert not [url for url in requested if "example.invalid" in url], requested

    # A click opens the image in a new tab (where the app's CSP does not apply): that tab, and
    # only after the click, asks for it (here the name does not resolve: a browser error page).
    async with context.expect_page(timeout=10_000) as opened:
        await page.click("a.remote-image")
    tab = await opened.value
    await tab.wait_for_load_state(timeout=10_000)
    assert REMOTE in requested, requested
    assert page.url.startswith(server.url), "the app stays where it was"
    await context.close()
