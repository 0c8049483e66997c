"""Issue 15, the offline shell: the app opens with the network off (a service worker serves it)
and shows the chats and messages this browser last had (IndexedDB); a message composed then is
delivered exactly once when the network returns; a cold start paints the cached messages
before the server's ``hello``; a new shell version replaces the old one; all of it under a mount
prefix too. "Offline" is both the browser's flag (``context.set_offline``) and the proxy cutting
every connection, so nothing can reach the server whatever Chromium does with the flag."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

import tether.http
from tests.e2e.conftest import ARTIFACTS, DESKTOP, PHONE, PROXIED_HOSTS
from tests.e2e.pages import CONNECTED, assert_each_once, messages, send_from_page, wait_messages
from tests.e2e.test_security import new_token
from tests.embed.test_mounted import in_starlette
from tests.support.client import Client
from tests.support.inprocess import InProcessServer, serve_in_process
from tests.support.proxy import FaultProxy
from tests.support.wait import until
from tether.shell import Shell

BANNER = "#banner"
WAIT = 15_000

#: The first time a message is on screen: when, the connection's state then, and how many.
FIRST_PAINT = """
window.__firstPaint = null;
new MutationObserver(() => {
  if (window.__firstPaint || !document.querySelector('[data-testid=message]')) return;
  window.__firstPaint = {
    at: Date.now(),
    ms: performance.now(),
    state: document.querySelector('[data-testid=connection-status]').dataset.state,
    count: document.querySelectorAll('[data-testid=message]').length,
  };
}).observe(document, { subtree: true, childList: true });
"""

#: When the server's hello reached the client (its log line): ms since the epoch, and since the
#: navigation started.
HELLO_AT = """() => {
  const line = window.tether.logbook.lines.find((l) => l.msg.includes('[Client] hello'));
  return line ? [Date.parse(line.ts), Date.parse(line.ts) - performance.timeOrigin] : null;
}"""


async def chat_with_an_answer(client: Client, text: str) -> str:
    session_id = await client.new_session()
    await client.ok("subscribe", {"session_id": session_id})
    await client.send(session_id, text)
    await client.wait_status(session_id, "complete")
    return session_id


async def stored_contents(client: Client, session_id: str) -> list[str]:
    ack = await client.ok("subscribe", {"session_id": session_id, "limit": 200})
    return [m["content"] for m in ack["messages"]]


async def open_chat(page: Any, base: str, session_id: str) -> None:
    await page.goto(f"{base}/#/s/{session_id}", timeout=WAIT)
    await page.wait_for_selector(CONNECTED, timeout=WAIT)


async def new_chat(page: Any) -> str:
    """Start a new chat from the empty screen; its session id."""
    await page.click("#empty-new")
    await page.wait_for_function("() => location.hash.startsWith('#/s/')", timeout=WAIT)
    return str(await page.evaluate("location.hash")).removeprefix("#/s/")


async def wait_worker(page: Any) -> str:
    """Wait until the service worker controls the page; returns its scope."""
    await page.wait_for_function("() => !!navigator.serviceWorker.controller", timeout=WAIT)
    return str(await page.evaluate("navigator.serviceWorker.ready.then((r) => r.scope)"))


async def go_offline(context: Any, proxy: FaultProxy) -> None:
    await context.set_offline(True)
    proxy.sever()


async def go_online(context: Any, proxy: FaultProxy) -> None:
    proxy.restore()
    await context.set_offline(False)


async def offline_round_trip(
    browser: Any, proxy: FaultProxy, device: Client, base: str, screenshots: Path | None = None
) -> str:
    """The whole offline story on a phone-sized page; returns the worker's scope."""
    session_id = await chat_with_an_answer(device, "kept for the tunnel")
    context = await browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    try:
        page = await context.new_page()
        await open_chat(page, base, session_id)
        await wait_messages(page, "ms.length === 2 && ms[1].status === 'complete'")
        scope = await wait_worker(page)
        await page.evaluate("window.tether.cache.flush()")

        await go_offline(context, proxy)
        # A reload without network: the shell from the worker, the chat from storage.
        await page.reload(timeout=WAIT)
        await wait_messages(
            page, "ms.length === 2 && ms[1].text.trim() === 'Echo: kept for the tunnel'"
        )
        await page.wait_for_selector(f"{BANNER}[data-state=offline]", timeout=WAIT)
        assert await page.locator("[data-testid=session-item]").count() == 1
        # A new tab (no tab storage at all): everything comes from IndexedDB.
        cold = await context.new_page()
        await cold.goto(f"{base}/#/s/{session_id}", timeout=WAIT)
        await wait_messages(cold, "ms.length === 2 && ms[0].text.trim() === 'kept for the tunnel'")
        assert await cold.locator("[data-testid=session-item]").count() == 1
        await cold.close()

        await send_from_page(page, "written in the tunnel")
        await wait_messages(
            page, "ms.some(m => m.text.trim() === 'written in the tunnel' && m.status == 'pending')"
        )
        await device.send(session_id, "sent meanwhile from elsewhere")
        if screenshots is not None:
            await page.screenshot(path=str(screenshots / "offline-shell.png"))

        await go_online(context, proxy)
        await page.wait_for_selector(CONNECTED, timeout=WAIT)
        await wait_messages(
            page, "ms.length === 6 && ms.every(m => m.id && m.status === 'complete')", 20
        )
        rows = await messages(page)
        assert_each_once(rows)
        texts = [row["text"].strip() for row in rows]
        assert texts.count("written in the tunnel") == 1
        assert texts.count("sent meanwhile from elsewhere") == 1
        stored = await stored_contents(device, session_id)
        assert stored.count("written in the tunnel") == 1, stored
        assert len(stored) == 6, stored

        await page.reload(timeout=WAIT)  # online again: still once each
        await page.wait_for_selector(CONNECTED, timeout=WAIT)
        await wait_messages(page, "ms.length === 6")
        assert_each_once(await messages(page))
        return scope
    finally:
        await context.close()


async def test_offline_reload_shows_the_chats_and_a_message_composed_then_is_delivered_once(
    browser: Any, server: InProcessServer, proxy: FaultProxy, other: Any, screenshots: Path
) -> None:
    client = await other(server.url)
    scope = await offline_round_trip(browser, proxy, client, proxy.url, screenshots)
    assert scope == f"{proxy.url}/"


async def test_the_offline_shell_works_mounted_under_a_prefix(
    browser: Any, tmp_path: Path
) -> None:
    async with serve_in_process(tmp_path / "data", mount=in_starlette,
                                allowed_hosts=PROXIED_HOSTS) as srv:
        proxy = await FaultProxy("127.0.0.1", srv.port).start()
        client = Client(srv.url, socketio_path="/chat/socket.io")
        await client.connect()
        try:
            scope = await offline_round_trip(browser, proxy, client, f"{proxy.url}/chat")
            assert scope == f"{proxy.url}/chat/"  # the prefix, not the host's other pages
        finally:
            await client.close()
            await proxy.close()


def record_cold_start(paint_ms: float, hello_ms: float) -> None:
    """Append the figures to test-artifacts/offline.jsonl (ms since the navigation started)."""
    ARTIFACTS.mkdir(exist_ok=True)
    with (ARTIFACTS / "offline.jsonl").open("a") as file:
        file.write(json.dumps({"cold_start_paint_ms": round(paint_ms, 1),
                               "hello_ms": round(hello_ms, 1)}) + "\n")


async def test_a_cold_start_paints_the_cached_messages_before_hello_then_merges_what_is_new(
    browser: Any, server: InProcessServer, proxy: FaultProxy, other: Any
) -> None:
    device = await other(server.url)
    session_id = await chat_with_an_answer(device, "painted from the cache")
    context = await browser.new_context(viewport=PHONE)
    try:
        page = await context.new_page()
        await open_chat(page, proxy.url, session_id)
        await wait_messages(page, "ms.length === 2 && ms[1].status === 'complete'")
        await page.evaluate("window.tether.cache.flush()")
        await page.close()

        await device.send(session_id, "said while the app was closed")
        await device.wait_status(session_id, "complete", count=2)

        page = await context.new_page()  # a new tab: nothing in its own storage
        await page.add_init_script(FIRST_PAINT)
        await page.goto(f"{proxy.url}/#/s/{session_id}", timeout=WAIT)
        await page.wait_for_selector(CONNECTED, timeout=WAIT)
        await wait_messages(page, "ms.length === 4 && ms.every(m => m.status === 'complete')")
        first = await page.evaluate("window.__firstPaint")
        hello = await page.evaluate(HELLO_AT)
        assert first is not None and hello is not None
        hello_at, hello_ms = hello
        record_cold_start(first["ms"], hello_ms)
        assert first["count"] == 2, first  # the cached two, before the server said anything
        assert first["state"] != "connected", first
        assert first["at"] <= hello_at, (first, hello_at)
        # What was new was merged onto the cached view (resumed from its lastSeq), once each.
        rows = await messages(page)
        assert_each_once(rows)
        assert [r["text"].strip() for r in rows].count("said while the app was closed") == 1
        sync = await page.evaluate(
            f"window.tether.followers.get({session_id!r}).lastSync.mode"
        )
        assert sync == "resume"
    finally:
        await context.close()


async def test_a_new_shell_version_replaces_the_old_one_online_at_once_and_offline_after(
    browser: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    static = tmp_path / "static"
    shutil.copytree(tether.http.STATIC, static)
    monkeypatch.setattr(tether.http, "STATIC", static)
    old = Shell(static).snapshot().version
    async with serve_in_process(tmp_path / "data", allowed_hosts=PROXIED_HOSTS) as srv:
        proxy = await FaultProxy("127.0.0.1", srv.port).start()
        context = await browser.new_context(viewport=PHONE)
        try:
            page = await context.new_page()
            await page.goto(f"{proxy.url}/", timeout=WAIT)
            await page.wait_for_selector(CONNECTED, timeout=WAIT)
            await wait_worker(page)
            assert await page.evaluate("caches.keys()") == [f"tether-shell-{old}"]

            # The upgrade: a changed page (any changed shell file is a new version).
            index = static / "index.html"
            index.write_text(index.read_text().replace(
                "<title>Tether</title>", '<title>Tether</title><meta name="shell" content="v2">'
            ))
            new = Shell(static).snapshot().version
            assert new != old
            # Network-first: the first reload online is the new app already.
            await page.reload(timeout=WAIT)
            await page.wait_for_selector("meta[name=shell][content=v2]", state="attached",
                                         timeout=WAIT)
            # The browser checks the worker on navigation: the new version's cache replaces
            # the old one.
            await page.wait_for_function(
                f"() => caches.keys().then((k) => k.length === 1 && k[0] === 'tether-shell-{new}')",
                timeout=WAIT, polling=100,
            )
            await go_offline(context, proxy)
            await page.reload(timeout=WAIT)
            await page.wait_for_selector("meta[name=shell][content=v2]", state="attached",
                                         timeout=WAIT)
            await page.wait_for_selector(f"{BANNER}[data-state=offline]", timeout=WAIT)
        finally:
            await context.close()
            await proxy.close()


#: Every record of the chat cache in IndexedDB, as one JSON string.
CACHED_RECORDS = """() => window.tether.cache.flush().then(() => new Promise((resolve, reject) => {
  const open = indexedDB.open('tether-cache', 1);
  open.onerror = () => reject(open.error);
  open.onsuccess = () => {
    const all = open.result.transaction('records').objectStore('records').getAll();
    all.onsuccess = () => resolve(JSON.stringify(all.result));
    all.onerror = () => reject(all.error);
  };
}))"""


async def test_switching_account_leaves_nothing_of_the_previous_users_chats(
    browser: Any, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    alice, bob = new_token(data, "alice"), new_token(data, "bob")
    async with serve_in_process(data) as srv:
        context = await browser.new_context(viewport=DESKTOP)
        try:
            page = await context.new_page()
            await page.goto(f"{srv.url}/?token={alice}", timeout=WAIT)
            await page.wait_for_selector(CONNECTED, timeout=WAIT)
            await new_chat(page)
            await send_from_page(page, "alice's own words")
            await wait_messages(page, "ms.length === 2 && ms[1].status === 'complete'")
            assert "alice's own words" in await page.evaluate(CACHED_RECORDS)

            await page.goto(f"{srv.url}/?token={bob}", timeout=WAIT)
            await page.locator("[data-testid=switch-account-confirm]").click()
            await page.wait_for_function(
                "() => document.querySelector('[data-testid=signed-in-user]').textContent"
                " === 'bob'", timeout=WAIT,
            )
            await page.wait_for_selector(CONNECTED, timeout=WAIT)
            assert await messages(page) == []
            assert await page.locator("[data-testid=session-item]").count() == 0
            assert "alice's own words" not in await page.evaluate(CACHED_RECORDS)
            # A cold start as bob: nothing of alice's comes back from the cache either.
            cold = await context.new_page()
            await cold.goto(f"{srv.url}/", timeout=WAIT)
            await cold.wait_for_selector(CONNECTED, timeout=WAIT)
            assert await cold.locator("[data-testid=session-item]").count() == 0
            assert "alice's own words" not in await cold.evaluate(CACHED_RECORDS)
        finally:
            await context.close()


async def test_chromium_reads_the_manifest_relative_to_the_prefix_and_finds_it_installable(
    browser: Any, tmp_path: Path
) -> None:
    async with serve_in_process(tmp_path / "data", mount=in_starlette) as srv:
        context = await browser.new_context()
        try:
            page = await context.new_page()
            await page.goto(f"{srv.url}/chat/", timeout=WAIT)
            await wait_worker(page)
            cdp = await context.new_cdp_session(page)
            found = await cdp.send("Page.getAppManifest")
            assert found["url"] == f"{srv.url}/chat/manifest.webmanifest"
            assert found["errors"] == []
            app = found["manifest"]
            assert (app["startUrl"], app["scope"]) == (f"{srv.url}/chat/", f"{srv.url}/chat/")
            assert app["display"] == "kStandalone" and app["name"] == "Tether"
            assert {icon["sizes"] for icon in app["icons"]} == {"192x192", "512x512"}
            # Playwright's contexts are incognito-like; nothing else stands in the way.
            errors = (await cdp.send("Page.getInstallabilityErrors"))["installabilityErrors"]
            assert [e["errorId"] for e in errors if e["errorId"] != "in-incognito"] == []
        finally:
            await context.close()


#: An outbox entry as the outbox stored it before entries named their account.
UNTAGGED_ENTRY = """(sessionId) => localStorage.setItem('tether.outbox.old-1', JSON.stringify({
  client_msg_id: 'old-1', session_id: sessionId, content: 'queued before the tags',
  created_at: Date.now(), state: 'pending', attempts: 0, error: null, n: 0,
}))"""

#: This browser's outbox entries in localStorage, whoever's (account.js tags each).
STORED_OUTBOX = """() => Object.keys(localStorage).filter((k) => k.startsWith('tether.outbox.'))
  .map((k) => JSON.parse(localStorage.getItem(k)))"""


async def switch_account(page: Any, base: str, token: str) -> None:
    """Follow a sign-in link to another account and confirm the switch."""
    await page.goto(f"{base}/?token={token}", timeout=WAIT)
    await page.locator("[data-testid=switch-account-confirm]").click()
    await page.locator("[data-testid=switch-account]").wait_for(state="hidden", timeout=WAIT)


async def signed_in_as(page: Any, name: str) -> None:
    """Wait until the server's hello names the user (so: connected as them)."""
    await page.wait_for_function(
        "(name) => document.querySelector('[data-testid=signed-in-user]')?.textContent === name",
        arg=name, timeout=WAIT,
    )
    await page.wait_for_selector(CONNECTED, timeout=WAIT)


async def test_a_message_queued_offline_is_kept_for_its_account_through_another_accounts_sign_in(
    browser: Any, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    alice, bob = new_token(data, "alice"), new_token(data, "bob")
    async with serve_in_process(data, allowed_hosts=PROXIED_HOSTS) as srv:
        proxy = await FaultProxy("127.0.0.1", srv.port).start()
        device = Client(srv.url, token=alice)  # alice elsewhere: what the server stored
        await device.connect()
        context = await browser.new_context(viewport=DESKTOP)
        try:
            page = await context.new_page()
            await page.goto(f"{proxy.url}/?token={alice}", timeout=WAIT)
            await page.wait_for_selector(CONNECTED, timeout=WAIT)
            session_id = await new_chat(page)
            await wait_worker(page)

            await go_offline(context, proxy)
            await send_from_page(page, "typed offline by alice")
            await wait_messages(page, "ms.some(m => m.status === 'pending')")
            [queued] = await page.evaluate(STORED_OUTBOX)
            assert queued["content"] == "typed offline by alice" and queued["owner"], queued

            # Still offline, the browser signs in as bob; then the network returns.
            await switch_account(page, proxy.url, bob)
            await go_online(context, proxy)
            await signed_in_as(page, "bob")
            # bob's own message goes through the same outbox, oldest first, one at a time: once
            # it is answered, alice's older entry would have gone first were it sent as bob.
            await new_chat(page)
            await send_from_page(page, "bob's own words")
            await wait_messages(page, "ms.length === 2 && ms[1].status === 'complete'")
            texts = [m["text"].strip() for m in await messages(page)]
            assert "typed offline by alice" not in texts
            assert await page.evaluate("window.tether.outbox.entries.length") == 0
            [kept] = await page.evaluate(STORED_OUTBOX)
            assert (kept["client_msg_id"], kept["state"], kept["attempts"]) == (
                queued["client_msg_id"], "pending", queued["attempts"]
            ), kept
            assert "typed offline by alice" not in await stored_contents(device, session_id)

            # An entry from before the tags (no owner) for alice's chat: bob's connection offers
            # it, the server refuses it (not bob's session), and it stays, shown to nobody.
            await page.evaluate(UNTAGGED_ENTRY, session_id)
            await page.reload(timeout=WAIT)
            await signed_in_as(page, "bob")
            await page.wait_for_function(
                "() => window.tether.logbook.lines"
                ".some((l) => l.msg.includes('unclaimed old-1 refused'))",
                timeout=WAIT,
            )
            assert await page.evaluate("window.tether.outbox.entries.length") == 0
            assert len(await page.evaluate(STORED_OUTBOX)) == 2

            # alice signs in again: her messages are delivered, once each, and shown to her.
            await switch_account(page, proxy.url, alice)
            await signed_in_as(page, "alice")
            for text in ("typed offline by alice", "queued before the tags"):
                await until(lambda t=text: stored_contents_has(device, session_id, t),
                            WAIT / 1000, f"{text!r} stored")
            stored = await stored_contents(device, session_id)
            assert stored.count("typed offline by alice") == 1, stored
            assert stored.count("queued before the tags") == 1, stored
            await page.wait_for_function(
                "() => Object.keys(localStorage).every((k) => !k.startsWith('tether.outbox.'))",
                timeout=WAIT,
            )
            await open_chat(page, proxy.url, session_id)
            await wait_messages(
                page, "ms.some(m => m.text.trim() === 'typed offline by alice' && m.id)"
            )
        finally:
            await context.close()
            await device.close()
            await proxy.close()


async def stored_contents_has(client: Client, session_id: str, text: str) -> bool:
    return text in await stored_contents(client, session_id)
