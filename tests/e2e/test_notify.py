"""Issue 15, notifications, in Chromium: never asked on first load; an answer that ends while
the page is hidden is announced by the Notification API and a tap opens its chat; the service
worker shows a Web Push (delivered with CDP ``ServiceWorker.deliverPushMessage``) and its tap
opens the chat; ``?session=ID`` opens that chat.

Chromium here cannot reach a real push service, so ``PushManager.subscribe`` is replaced by one
that returns a subscription of the test's local push service (tests/push/pushservice.py): the
server's real push then arrives there, is decrypted with the subscriber's keys, and is handed to
the browser's service worker by CDP, as the browser's push service would."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.e2e.conftest import DESKTOP
from tests.e2e.pages import open_app, set_visibility
from tests.push.pushservice import LocalPushService
from tests.support.inprocess import InProcessServer, serve_in_process
from tests.support.wait import until

BELL = "[data-testid=notify-toggle]"

#: Records every Notification the page makes, and every permission request.
RECORD = """() => {
  window.__asked = 0;
  window.__notifications = [];
  const Real = window.Notification;
  const request = Real.requestPermission.bind(Real);
  class Recorded extends Real {
    constructor(title, options) { super(title, options); window.__notifications.push(this); }
  }
  Recorded.requestPermission = (...args) => { window.__asked += 1; return request(...args); };
  Object.defineProperty(Recorded, "permission", { get: () => Real.permission });
  window.Notification = Recorded;
}"""

#: PushManager.subscribe answering with the test's subscription (no push service is reachable).
FAKE_SUBSCRIBE = """(sub) => {
  PushManager.prototype.subscribe = async function () {
    return { endpoint: sub.endpoint, options: {}, toJSON: () => sub,
             unsubscribe: async () => true };
  };
}"""

READ_SW_NOTIFICATIONS = """async () => {
  const registration = await navigator.serviceWorker.ready;
  return (await registration.getNotifications()).map(
    (n) => ({ title: n.title, body: n.body, tag: n.tag, data: n.data }));
}"""


@pytest.fixture
async def push_server(tmp_path: Any) -> AsyncIterator[InProcessServer]:
    async with serve_in_process(
        tmp_path / "data", allowed_hosts=["127.0.0.1"], push_allow_http=True,
        push_allow_private=True,
    ) as server:
        yield server


@pytest.fixture
async def push_service() -> AsyncIterator[LocalPushService]:
    service = await LocalPushService().start()
    yield service
    await service.close()


async def new_page(browser: Any, url: str, *, grant: bool, init: list[tuple[str, Any]]) -> Any:
    context = await browser.new_context(viewport=DESKTOP)
    if grant:
        await context.grant_permissions(["notifications"], origin=url)
    page = await context.new_page()
    for script, arg in init:
        await page.add_init_script(f"({script})({json.dumps(arg)})")
    return page


async def test_permission_is_never_asked_on_first_load_only_from_the_bell(
    browser: Any, push_server: InProcessServer
) -> None:
    page = await new_page(browser, push_server.url, grant=False, init=[(RECORD, None)])
    await open_app(page, push_server.url)
    await asyncio.sleep(0.5)  # whatever the app does after connecting, it does not ask
    assert await page.evaluate("window.__asked") == 0
    assert await page.evaluate("Notification.permission") == "default"
    bell = page.locator(BELL)
    assert await bell.get_attribute("data-state") == "off"
    assert "off" in (await bell.get_attribute("aria-label") or "")
    await page.context.close()


async def test_denied_notifications_show_as_blocked_and_stay_off(
    browser: Any, push_server: InProcessServer
) -> None:
    page = await new_page(browser, push_server.url, grant=False, init=[])
    target = await (await page.context.new_cdp_session(page)).send("Target.getTargetInfo")
    cdp = await browser.new_browser_cdp_session()
    await cdp.send("Browser.setPermission", {
        "permission": {"name": "notifications"}, "setting": "denied", "origin": push_server.url,
        "browserContextId": target["targetInfo"]["browserContextId"],
    })
    await open_app(page, push_server.url)
    bell = page.locator(BELL)
    await page.wait_for_selector(f"{BELL}[data-state=denied]", timeout=5_000)
    assert await bell.is_disabled()
    assert "blocked" in (await bell.get_attribute("title") or "")
    await page.context.close()


async def test_an_answer_ending_while_hidden_notifies_and_the_tap_opens_its_chat(
    browser: Any, push_server: InProcessServer, other: Any
) -> None:
    device = await other(push_server.url)
    asked = await device.new_session(title="Trip notes")
    elsewhere = await device.new_session(title="Elsewhere")
    page = await new_page(browser, push_server.url, grant=True, init=[(RECORD, None)])
    await open_app(page, push_server.url, asked)
    await page.locator(BELL).click()
    await page.wait_for_selector(f"{BELL}[data-state=on]", timeout=5_000)
    assert await page.evaluate("window.__asked") == 1

    await device.send(asked, "while you look")  # visible: nothing to announce
    await device.ok("subscribe", {"session_id": asked})
    await device.wait_status(asked, "complete")
    await asyncio.sleep(0.3)
    assert await page.evaluate("window.__notifications.length") == 0

    await set_visibility(page, "hidden")
    await device.send(asked, "while you are away")
    [_, answer] = await device.wait_status(asked, "complete", 2)
    await page.wait_for_function("() => window.__notifications.length === 1", timeout=10_000)
    shown = await page.evaluate(
        "(({title, body, tag}) => ({title, body, tag}))(window.__notifications[0])"
    )
    assert shown == {"title": "Trip notes", "body": answer["content"],
                     "tag": f"answer-{answer['id']}"}

    # The user went elsewhere meanwhile; the tap brings them back to the chat that answered.
    await page.evaluate(f"location.hash = '#/s/{elsewhere}'")
    await wait_title(page, "Elsewhere")
    await page.evaluate("window.__notifications[0].dispatchEvent(new Event('click'))")
    await page.wait_for_function(f"() => location.hash === '#/s/{asked}'", timeout=5_000)
    await wait_title(page, "Trip notes")
    await page.context.close()


async def test_a_push_is_shown_by_the_service_worker_and_its_tap_opens_the_chat(
    browser: Any, push_server: InProcessServer, push_service: LocalPushService, other: Any
) -> None:
    sub = push_service.subscription()
    device = await other(push_server.url)
    asked = await device.new_session(title="Frozen phone")
    elsewhere = await device.new_session(title="Another chat")
    page = await new_page(
        browser, push_server.url, grant=True, init=[(RECORD, None), (FAKE_SUBSCRIBE, sub.json())]
    )
    await open_app(page, push_server.url, elsewhere)
    await page.locator(BELL).click()
    await page.wait_for_selector(f"{BELL}[data-state=on]", timeout=5_000)
    owner = await push_server.tether.store.session_owner(asked)
    assert owner is not None
    await until(lambda: _count(push_server, owner), 10, "the page's subscription stored")

    # The page goes to the background (a phone that then freezes it): the server pushes.
    await set_visibility(page, "hidden")
    await device.send(asked, "are you there")
    [push] = await until(lambda: push_service.to(sub), 10, "the push at the push service")
    assert push.payload["session_id"] == asked and push.payload["title"] == "Frozen phone"

    cdp = await page.context.new_cdp_session(page)
    # Push to the registration whose worker is activated: a push delivered to one still
    # installing (or to a registration being replaced) is dropped.
    versions: list[dict[str, Any]] = []
    cdp.on("ServiceWorker.workerVersionUpdated", lambda event: versions.extend(event["versions"]))
    await cdp.send("ServiceWorker.enable")
    active = await until(
        lambda: [v["registrationId"] for v in versions if v["status"] == "activated"], 10,
        "the service worker's active version",
    )
    await cdp.send("ServiceWorker.deliverPushMessage", {
        "origin": push_server.url, "registrationId": active[-1],
        "data": json.dumps(push.payload),
    })
    shown = await until(lambda: page.evaluate(READ_SW_NOTIFICATIONS), 10, "the notification")
    assert shown == [{
        "title": "Frozen phone", "body": push.payload["body"],
        "tag": f"answer-{push.payload['message_id']}", "data": {"session_id": asked},
    }]
    assert await page.evaluate("window.__notifications.length") == 0  # not shown twice

    # The tap, in the service worker: the open tab is told to open the chat.
    [worker] = page.context.service_workers
    await worker.evaluate("""async () => {
      const [n] = await self.registration.getNotifications();
      self.dispatchEvent(new NotificationEvent("notificationclick", { notification: n }));
    }""")
    await page.wait_for_function(f"() => location.hash === '#/s/{asked}'", timeout=5_000)
    await wait_title(page, "Frozen phone")
    await page.context.close()


async def wait_title(page: Any, title: str) -> None:
    """Wait until the chat on screen is the one titled ``title``."""
    await page.wait_for_function(
        "(t) => document.querySelector('#chat-title').textContent === t", arg=title,
        timeout=10_000,
    )


async def _count(server: InProcessServer, owner: str) -> bool:
    return bool(await server.tether.store.push_subscriptions_of(owner))


async def test_the_address_a_notification_opens_shows_that_chat(
    browser: Any, push_server: InProcessServer, other: Any
) -> None:
    device = await other(push_server.url)
    wanted = await device.new_session(title="Opened from a tap")
    await device.new_session(title="The latest one")
    page = await new_page(browser, push_server.url, grant=False, init=[])
    await page.goto(f"{push_server.url}/?session={wanted}", timeout=15_000)
    await page.wait_for_function(f"() => location.hash === '#/s/{wanted}'", timeout=10_000)
    assert "session=" not in page.url
    await wait_title(page, "Opened from a tap")
    await page.context.close()
