"""Web Push on several nodes (PostgreSQL + Redis): each answer is pushed once, by the node that
ended it, and a tab on one node showing a session keeps the other nodes from pushing it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from py_vapid import Vapid02

from tests.push.pushservice import LocalPushService
from tests.support.client import Client
from tests.support.server import ServerProcess
from tests.support.wait import until

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


def push_env() -> dict[str, str]:
    """A node's settings: push to the local push service, with the deployment's one key."""
    return {"TETHER_PUSH_ALLOW_HTTP": "true", "TETHER_PUSH_ALLOW_PRIVATE": "true",
            "TETHER_VAPID_PRIVATE_KEY": shared_key()}


def shared_key() -> str:
    vapid = Vapid02()
    vapid.generate_keys()
    return str(vapid.private_pem().decode())


async def test_each_answer_is_pushed_once_and_a_tab_on_another_node_stops_it(
    nodes: Callable[..., ServerProcess], push_service: LocalPushService
) -> None:
    env = push_env()
    a, b = nodes(env=env), nodes(env=env)
    phone, desktop = Client(a.url), Client(b.url)
    await phone.connect()
    await desktop.connect()
    try:
        assert phone.hello and desktop.hello
        assert phone.hello["push"] == desktop.hello["push"]  # one key for the deployment
        sub = push_service.subscription()
        await phone.ok("push_subscribe", sub.json())
        session_id = await desktop.new_session()
        await desktop.ok("subscribe", {"session_id": session_id})
        for n in range(3):  # answered by whichever node claims the session
            await desktop.send(session_id, f"question {n}")
        answers = await desktop.wait_status(session_id, "complete", 3, timeout=30)
        await until(lambda: len(push_service.to(sub)) >= 3, 15, "three pushes")
        await asyncio.sleep(1.0)  # time for a second node's push, were there one
        pushed = [p.payload["message_id"] for p in push_service.to(sub)]
        assert sorted(pushed) == sorted(m["id"] for m in answers)
        assert push_service.refused == []

        # The desktop tab (node b) shows the session: the answer is not pushed, whichever
        # node ends it; an answer in another chat still is.
        await desktop.ok("presence", {"visible": True, "session_id": session_id})
        await phone.ok("subscribe", {"session_id": session_id})
        await phone.send(session_id, "seen on the desktop")
        await desktop.wait_status(session_id, "complete", 4, timeout=30)
        other = await phone.new_session()
        await phone.ok("subscribe", {"session_id": other})
        await phone.send(other, "not looked at")
        await phone.wait_status(other, "complete", timeout=30)
        await until(lambda: len(push_service.to(sub)) >= 4, 15, "the other chat's push")
        await asyncio.sleep(1.0)
        assert [p.payload["session_id"] for p in push_service.to(sub)][3:] == [other]
    finally:
        await phone.close()
        await desktop.close()


async def test_the_node_that_ends_a_dead_nodes_answer_pushes_it_once(
    nodes: Callable[..., ServerProcess], push_service: LocalPushService
) -> None:
    env = push_env()
    a = nodes(env={**env, "TETHER_ECHO_DELAY": "0.1", "TETHER_CHECKPOINT_INTERVAL": "0.3"})
    b = nodes(env=env)
    phone, watcher = Client(a.url), Client(b.url)
    await phone.connect()
    await watcher.connect()
    try:
        sub = push_service.subscription()
        await watcher.ok("push_subscribe", sub.json())
        session_id = await phone.new_session(title="Long answer")
        await watcher.ok("subscribe", {"session_id": session_id})
        await phone.send(session_id, " ".join(f"w{i}" for i in range(200)))
        await watcher.wait_for(lambda: len(watcher.of("delta", session_id)) >= 8,
                               what="deltas on B")
        a.kill()  # node A streams the answer, and dies: B ends it `interrupted` and pushes
        [ended] = await watcher.wait_status(session_id, "interrupted", timeout=20)
        [push] = await until(lambda: push_service.to(sub), 15, "the interrupted answer's push")
        assert push.payload["message_id"] == ended["id"]
        assert push.payload["status"] == "interrupted"
        assert push.payload["body"].startswith("Interrupted: Echo: w0")
        await asyncio.sleep(1.0)
        assert len(push_service.to(sub)) == 1
    finally:
        await phone.close()
        await watcher.close()


async def test_a_subscription_made_through_one_node_is_pushed_to_by_another_at_once(
    nodes: Callable[..., ServerProcess], push_service: LocalPushService
) -> None:
    # Node a remembers that the user has no subscription (so its answers' ends get no push
    # task); the user subscribes through node b; a's very next answer is pushed: b's news made
    # a forget (without it, a would believe "none" for minutes: BELIEVED_SECONDS).
    env = push_env()
    a = nodes(env=env)
    b = nodes(env=env)
    async with connected(a.url) as desktop, connected(b.url) as phone:
        session_id = await desktop.new_session(title="Reports")

        async def post_on_a(text: str) -> str:
            async with httpx.AsyncClient(base_url=a.url, timeout=10) as http:
                response = await http.post(f"/api/sessions/{session_id}/messages",
                                           json={"content": text, "role": "assistant"})
            assert response.status_code == 201, response.text
            return str(response.json()["message"]["id"])

        await post_on_a("nobody subscribed yet")  # a's push task reads: none
        await asyncio.sleep(0.5)  # (that read done)
        await post_on_a("still nobody")  # a now skips without a task
        sub = push_service.subscription()
        await phone.ok("push_subscribe", sub.json())
        pushed_id = await post_on_a("now the phone is subscribed")
        [push] = await until(lambda: push_service.to(sub), 10, "a's push after b's subscribe")
        assert push.payload["message_id"] == pushed_id

        # Unsubscribed through b: a's answers are not pushed any more.
        assert (await phone.ok("push_unsubscribe", {"endpoint": sub.endpoint}))["removed"]
        await post_on_a("after unsubscribing")
        await asyncio.sleep(1.0)  # time for a push, were there one
        assert len(push_service.to(sub)) == 1


@contextlib.asynccontextmanager
async def connected(url: str) -> AsyncIterator[Client]:
    client = Client(url)
    await client.connect()
    try:
        yield client
    finally:
        await client.close()
