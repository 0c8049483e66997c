"""Web Push end to end on the server side: a real Tether in-process, a protocol client that
subscribes with a test subscription, and a local push service that decrypts each push with the
subscriber's keys and checks its VAPID JWT."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.push.pushservice import BrowserSubscription, LocalPushService
from tests.support.client import Client
from tests.support.inprocess import InProcessServer, serve_in_process
from tests.support.wait import until


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[InProcessServer]:
    async with serve_in_process(
        tmp_path / "data", push_allow_http=True, push_allow_private=True, push_timeout=1.0
    ) as s:
        yield s


@pytest.fixture
async def client(server: InProcessServer) -> AsyncIterator[Client]:
    client = Client(server.url)
    await client.connect()
    yield client
    await client.close()


async def subscribe(client: Client, sub: BrowserSubscription, **extra: Any) -> dict[str, Any]:
    return await client.ok("push_subscribe", {**sub.json(), "device": "test phone", **extra})


async def chat(client: Client, **fields: Any) -> str:
    """A new session the client follows."""
    session_id = await client.new_session(**fields)
    await client.ok("subscribe", {"session_id": session_id})
    return session_id


async def answered(client: Client, session_id: str, text: str, count: int = 1) -> None:
    await client.send(session_id, text)
    await client.wait_status(session_id, "complete", count)


async def test_a_finished_answer_is_pushed_encrypted_and_signed(
    server: InProcessServer, client: Client, push_service: LocalPushService
) -> None:
    sub = push_service.subscription()
    assert client.hello is not None
    public_key = client.hello["push"]["public_key"]
    await subscribe(client, sub)
    session_id = await chat(client, title="Plans for the weekend")
    await answered(client, session_id, "hello there")

    [push] = await until(lambda: push_service.to(sub), 10, "the push")
    [answer] = [m for m in client.messages(session_id)
                if m["role"] == "assistant" and m["status"] == "complete"]
    assert push.payload == {
        "type": "answer", "session_id": session_id, "message_id": answer["id"],
        "status": "complete", "title": "Plans for the weekend", "body": answer["content"],
    }
    assert push.vapid_key == public_key  # signed with the key the page subscribed with
    assert push.claims["aud"] == push_service.origin
    assert push.claims["sub"] == "mailto:admin@localhost"
    assert push.ttl == "3600"
    assert push_service.refused == []


async def test_a_gone_subscription_is_deleted_and_never_pushed_again(
    server: InProcessServer, client: Client, push_service: LocalPushService
) -> None:
    gone, kept = push_service.subscription(status=410), push_service.subscription()
    await subscribe(client, gone)
    await subscribe(client, kept)
    store = server.tether.store
    session_id = await chat(client)
    owner = await store.session_owner(session_id)
    assert owner is not None
    assert len(await store.push_subscriptions_of(owner)) == 2
    await answered(client, session_id, "one")

    await until(lambda: push_service.to(gone) and push_service.to(kept), 10, "both pushes")
    endpoints = await until(
        lambda: _endpoints_if(store.push_subscriptions_of(owner), 1), 10, "the gone one deleted"
    )
    assert endpoints == [kept.endpoint]

    await answered(client, session_id, "two", count=2)
    await until(lambda: len(push_service.to(kept)) == 2, 10, "the second push")
    assert len(push_service.to(gone)) == 1


async def _endpoints_if(rows: Any, count: int) -> list[str] | None:
    endpoints = [row.endpoint for row in await rows]
    return endpoints if len(endpoints) == count else None


async def test_no_push_while_a_tab_shows_the_session_and_one_once_it_is_hidden(
    server: InProcessServer, client: Client, push_service: LocalPushService
) -> None:
    sub = push_service.subscription()
    await subscribe(client, sub)
    watched, other = await chat(client), await chat(client)
    # Another tab of the same user shows `watched`: its answers are not pushed, others' are.
    tab = Client(server.url)
    await tab.connect()
    try:
        ack = await tab.ok("presence", {"visible": True, "session_id": watched})
        assert ack["ttl"] == 120
        await answered(client, watched, "seen")
        await answered(client, other, "not seen")
        [push] = await until(lambda: push_service.to(sub), 10, "the push of the other session")
        assert push.payload["session_id"] == other
        sender = server.tether.push.sender
        await until(lambda: sender.counts.get("watched") == 1, 10, "the watched answer skipped")

        await tab.ok("presence", {"visible": False})  # the tab went to the background
        await answered(client, watched, "now hidden", count=2)
        await until(lambda: len(push_service.to(sub)) == 2, 10, "the push once hidden")
        assert push_service.to(sub)[1].payload["session_id"] == watched

        await tab.ok("presence", {"visible": True, "session_id": watched})
    finally:
        await tab.close()  # a tab that disconnects is no longer looking
    await answered(client, watched, "tab closed", count=3)
    await until(lambda: len(push_service.to(sub)) == 3, 10, "the push after the tab closed")


async def test_a_stalled_push_service_never_holds_up_the_answer(
    server: InProcessServer, client: Client, push_service: LocalPushService
) -> None:
    sub = push_service.subscription()
    await subscribe(client, sub)
    push_service.stall = True  # it never answers; push_timeout is 1 s
    session_id = await chat(client)
    started = time.monotonic()
    await answered(client, session_id, "quick")
    assert time.monotonic() - started < 5
    await answered(client, session_id, "and again", count=2)  # the queue goes on meanwhile
    sender = server.tether.push.sender
    await until(lambda: sender.tasks.running == 0, 10, "both pushes given up")
    assert sender.counts == {"failed": 2}
    assert push_service.pushes == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"keys": {"p256dh": "AAAA", "auth": "AAAAAAAAAAAAAAAAAAAAAA"}}, "p256dh"),
        ({"keys": {"p256dh": None}}, "keys"),
        ({"endpoint": "ftp://push.example/x"}, "endpoint: must be an https or http URL"),
        ({"endpoint": 7}, "endpoint"),
        ({"device": "x" * 101}, "device"),
    ],
)
async def test_a_bad_subscription_is_refused_invalid_and_nothing_is_stored(
    server: InProcessServer, client: Client, push_service: LocalPushService,
    change: dict[str, Any], message: str,
) -> None:
    payload = {**push_service.subscription().json(), **change}
    ack = await client.call("push_subscribe", payload)
    assert ack["ok"] is False and ack["error"]["code"] == "invalid"
    assert message in ack["error"]["message"]
    session_id = await chat(client)
    owner = await server.tether.store.session_owner(session_id)
    assert owner is not None
    assert await server.tether.store.push_subscriptions_of(owner) == []


async def test_presence_on_a_session_that_is_not_yours_is_not_found(
    server: InProcessServer, client: Client
) -> None:
    ack = await client.call("presence", {"visible": True, "session_id": "no-such-session"})
    assert ack == {"ok": False, "error": {"code": "not_found", "message": "no such session"}}
    ack = await client.call("presence", {"visible": "yes"})
    assert ack["ok"] is False and ack["error"]["code"] == "invalid"


async def test_unsubscribe_removes_the_device_and_says_whether_it_had_one(
    server: InProcessServer, client: Client, push_service: LocalPushService
) -> None:
    sub = push_service.subscription()
    await subscribe(client, sub)
    assert (await client.ok("push_unsubscribe", {"endpoint": sub.endpoint}))["removed"] is True
    assert (await client.ok("push_unsubscribe", {"endpoint": sub.endpoint}))["removed"] is False
    session_id = await chat(client)
    await answered(client, session_id, "nobody to tell")
    await asyncio.sleep(0.3)
    assert push_service.pushes == []


async def test_https_only_unless_allowed(tmp_path: Path, push_service: LocalPushService) -> None:
    async with serve_in_process(tmp_path / "strict") as strict:
        client = Client(strict.url)
        await client.connect()
        try:
            ack = await client.call("push_subscribe", push_service.subscription().json())
            assert ack["ok"] is False
            assert ack["error"] == {"code": "invalid", "message": "endpoint: must be an https URL"}
        finally:
            await client.close()


async def test_subscribing_after_answers_without_one_is_pushed_at_once(
    server: InProcessServer, client: Client, push_service: LocalPushService
) -> None:
    session_id = await chat(client)
    await answered(client, session_id, "nobody subscribed yet")  # remembered: none
    sub = push_service.subscription()
    await subscribe(client, sub)
    await answered(client, session_id, "now someone is", count=2)
    [push] = await until(lambda: push_service.to(sub), 10, "the push")
    assert push.payload["body"] == "Echo: now someone is"


async def test_a_posted_assistant_message_is_pushed_by_the_same_rule_as_an_answers_end(
    server: InProcessServer, client: Client, push_service: LocalPushService
) -> None:
    sub = push_service.subscription()
    await subscribe(client, sub)
    chat_api = server.tether
    sender = chat_api.push.sender
    session_id = await chat(client, title="Orders")
    posted = await chat_api.post(session_id, "Your order shipped.", role="assistant")
    [push] = await until(lambda: push_service.to(sub), 10, "the posted message's push")
    assert push.payload == {
        "type": "answer", "session_id": session_id, "message_id": posted["id"],
        "status": "complete", "title": "Orders", "body": "Your order shipped.",
    }

    # A user message posted for the user is not announced (nor is a user's own send): the
    # next push is the next assistant message's.
    await chat_api.post(session_id, "Thanks!", role="user")
    second = await chat_api.post(session_id, "You're welcome.", role="assistant")
    await until(lambda: len(push_service.to(sub)) == 2, 10, "the second push")
    assert [p.payload["message_id"] for p in push_service.to(sub)] == [posted["id"], second["id"]]

    # An answer the app streams (chat.stream) is pushed once it ends, as an agent's is.
    async with chat_api.stream(session_id) as answer:
        await answer.write("Streamed ")
        await answer.write("by the app.")
    await until(lambda: len(push_service.to(sub)) == 3, 10, "the streamed answer's push")
    streamed = push_service.to(sub)[2].payload
    assert (streamed["message_id"], streamed["body"]) == (answer.message_id, "Streamed by the app.")

    # A tab showing the session: not pushed, as an answer's end is not.
    tab = Client(server.url)
    await tab.connect()
    try:
        await tab.ok("presence", {"visible": True, "session_id": session_id})
        await chat_api.post(session_id, "Seen already.", role="assistant")
        await until(lambda: sender.counts.get("watched") == 1, 10, "the watched post skipped")
    finally:
        await tab.close()
    assert len(push_service.to(sub)) == 3
