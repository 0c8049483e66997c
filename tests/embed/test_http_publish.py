"""``POST /api/sessions/{id}/messages``: the publish API over HTTP, authenticated like a
connection, with the protocol's error codes, and nothing half-written on an error."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from tests.support.chunked import post_endless_chunks
from tests.support.client import Client
from tests.support.inprocess import InProcessServer, serve_in_process

MAX_CHARS = 100


@dataclass
class Setup:
    server: InProcessServer
    http: httpx.AsyncClient
    ann: str  # tokens
    bob: str
    ann_client: Client
    sid: str  # ann's session, followed by ann_client

    def path(self, sid: str | None = None) -> str:
        return f"/api/sessions/{sid or self.sid}/messages"

    async def post(self, body: Any, token: str | None = None, sid: str | None = None,
                   **headers: str) -> httpx.Response:
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        content = body if isinstance(body, bytes) else orjson.dumps(body)
        return await self.http.post(self.path(sid), content=content, headers=headers)

    async def stored(self) -> list[dict[str, Any]]:
        rows = (await self.server.tether.messages(self.sid))["messages"]
        return [dict(m) for m in rows]


@pytest.fixture
async def setup(tmp_path: Path) -> AsyncIterator[Setup]:
    async with serve_in_process(tmp_path / "data", max_message_chars=MAX_CHARS) as server:
        ann = await server.tether.accounts.create_token("ann")
        bob = await server.tether.accounts.create_token("bob")
        client = Client(server.url, token=ann)
        await client.connect()
        sid = await client.new_session()
        await client.ok("subscribe", {"session_id": sid})
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
            yield Setup(server, http, ann, bob, client, sid)
        await client.close()


def code(response: httpx.Response) -> tuple[int, str]:
    body = response.json()
    assert body["ok"] is False and body["error"]["message"], body
    return response.status_code, body["error"]["code"]


async def test_a_post_is_stored_and_reaches_the_follower(setup: Setup) -> None:
    answer = await setup.post({"content": "from cron", "role": "assistant"}, setup.ann)
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["ok"] is True and body["duplicate"] is False
    assert body["message"]["seq"] == 1 and body["message"]["role"] == "assistant"
    client = setup.ann_client
    await client.wait_for(lambda: client.messages(setup.sid), what="the post, live")
    assert client.messages(setup.sid)[0]["id"] == body["message"]["id"]


async def test_no_or_wrong_credentials_are_refused(setup: Setup) -> None:
    assert code(await setup.post({"content": "x"})) == (401, "unauthorized")
    assert code(await setup.post({"content": "x"}, "not-a-token")) == (401, "unauthorized")
    refused = await setup.post({"content": "x"}, setup.ann, Origin="http://evil.example")
    assert code(refused) == (403, "unauthorized")
    assert await setup.stored() == []


async def test_another_users_session_and_an_unknown_one_are_not_found(setup: Setup) -> None:
    assert code(await setup.post({"content": "x"}, setup.bob)) == (404, "not_found")
    unknown = await setup.post({"content": "x"}, setup.ann, sid="no-such-session")
    assert code(unknown) == (404, "not_found")
    assert await setup.stored() == []


async def test_bad_bodies_are_invalid(setup: Setup) -> None:
    for body in (
        b"not json", b"[1, 2]", b"", {}, {"content": ""}, {"content": 5},
        {"content": "x", "role": "system"}, {"content": "x", "respond": "yes"},
        {"content": "x", "role": "assistant", "respond": True}, {"content": "x", "key": ""},
        {"content": "x", "key": "k" * 65}, {"content": "nul\u0000"},
    ):
        assert code(await setup.post(body, setup.ann)) == (400, "invalid"), body
    assert await setup.stored() == []


async def test_oversize_is_too_large_and_a_chunked_body_is_read_no_further(
    setup: Setup,
) -> None:
    too_long = await setup.post({"content": "x" * (MAX_CHARS + 1)}, setup.ann)
    assert code(too_long) == (413, "too_large")
    huge = await setup.post({"content": "x" * 100_000}, setup.ann)
    assert code(huge) == (413, "too_large")
    head, written = await post_endless_chunks(
        setup.server.port, setup.path(), f"Authorization: Bearer {setup.ann}\r\n", 20_000_000
    )
    assert head.startswith(b"HTTP/1.1 413"), head[:100]
    assert written < 5_000_000, f"the server read {written} bytes of a small-limited body"
    assert await setup.stored() == []


async def test_the_key_is_honoured_twice_is_one_message(setup: Setup) -> None:
    body = {"content": "nightly digest", "role": "assistant", "key": "digest-2026-12-02"}
    first = await setup.post(body, setup.ann)
    second = await setup.post(body, setup.ann)
    assert (first.status_code, second.status_code) == (201, 200)
    assert second.json()["duplicate"] is True
    assert second.json()["message"]["id"] == first.json()["message"]["id"]
    other = await setup.post({**body, "content": "another digest"}, setup.ann)
    assert code(other) == (409, "conflict")
    assert [m["content"] for m in await setup.stored()] == ["nightly digest"]


async def test_respond_has_the_sessions_agent_answer(setup: Setup) -> None:
    posted = await setup.post({"content": "hello agent", "respond": True}, setup.ann)
    assert posted.status_code == 201, posted.text
    [answer] = await setup.ann_client.wait_status(setup.sid, "complete")
    assert answer["content"] == "Echo: hello agent"
    assert answer["reply_to"] == posted.json()["message"]["id"]
