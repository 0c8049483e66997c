"""The example FastAPI app, driven by a real Socket.IO client through its own cookie sign-in."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import socketio

from tests.embed.example import Example, run_example
from tests.support.client import Client

pytest.importorskip("fastapi")


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Example]:
    with run_example(tmp_path_factory.mktemp("example")) as running:
        yield running


@pytest.fixture
async def alice(example: Example) -> AsyncIterator[Client]:
    client = Client(example.url, headers={"Cookie": example.cookie("alice")},
                    socketio_path="/chat/socket.io")
    await client.connect()
    yield client
    await client.close()


async def refusal(example: Example, cookie: str | None) -> list[object]:
    sio = socketio.AsyncClient(reconnection=False)
    errors: list[object] = []
    sio.on("connect_error", errors.append)
    with pytest.raises(socketio.exceptions.ConnectionError):
        await sio.connect(example.url, auth={"client_id": "stranger"}, transports=["websocket"],
                          headers={"Cookie": cookie} if cookie else {},
                          socketio_path="/chat/socket.io", wait_timeout=10)
    return errors


async def test_the_apps_cookie_signs_in_and_a_wrong_one_is_refused(
    example: Example, alice: Client
) -> None:
    assert alice.hello is not None and alice.hello["user"] == {"id": "alice", "name": "Alice"}
    assert [a["name"] for a in alice.hello["agents"]] == ["jarvis"]
    forged = "session=bob." + "0" * 64
    assert await refusal(example, forged) == [{"message": "unauthorized"}]
    assert await refusal(example, None) == [{"message": "unauthorized"}]


async def test_the_python_agent_streams_its_answer(alice: Client) -> None:
    sid = await alice.new_session()
    assert (await alice.ok("subscribe", {"session_id": sid}))["session"]["agent"] == "jarvis"
    await alice.send(sid, "hello there")
    await alice.wait_for(lambda: alice.of("delta", sid), what="a streamed delta")
    [answer] = await alice.wait_status(sid, "complete")
    assert answer["content"] == "You said: hello there "
    assert len(alice.of("delta", sid)) >= 2, "the answer came in one piece, not streamed"


async def test_cancel_stops_the_agent(alice: Client) -> None:
    sid = await alice.new_session()
    await alice.ok("subscribe", {"session_id": sid})
    await alice.send(sid, " ".join(["word"] * 200))
    await alice.wait_for(lambda: alice.of("delta", sid), what="the answer started")
    await alice.ok("cancel", {"session_id": sid})
    [answer] = await alice.wait_status(sid, "cancelled")
    whole = "You said: " + "word " * 200
    assert whole.startswith(answer["content"]) and len(answer["content"]) < len(whole)


async def test_an_agent_that_raises_ends_failed_and_the_server_goes_on(alice: Client) -> None:
    sid = await alice.new_session()
    await alice.ok("subscribe", {"session_id": sid})
    await alice.send(sid, "fail")
    [failed] = await alice.wait_status(sid, "failed")
    assert "I cannot do that" in (failed.get("error") or failed["content"])
    await alice.send(sid, "still there?")
    [answer] = await alice.wait_status(sid, "complete")
    assert answer["content"] == "You said: still there? "


async def test_the_apps_route_posts_into_a_session_a_follower_sees(
    example: Example, alice: Client
) -> None:
    sid = await alice.new_session()
    await alice.ok("subscribe", {"session_id": sid})
    async with httpx.AsyncClient(base_url=example.url) as http:
        refused = await http.post(f"/reminders/{sid}", json={"text": "x"})
        assert refused.status_code == 401
        posted = await http.post(f"/reminders/{sid}",
                                 json={"text": "remind me", "role": "user", "respond": True},
                                 headers={"Cookie": example.cookie("alice")})
    assert posted.status_code == 200, posted.text
    await alice.wait_for(
        lambda: any(m["content"] == "remind me" for m in alice.messages(sid)), what="the post"
    )
    [answer] = await alice.wait_status(sid, "complete")
    assert answer["content"] == "You said: remind me "


async def post_as(example: Example, user: str, path: str, body: object) -> httpx.Response:
    async with httpx.AsyncClient(base_url=example.url, timeout=10) as http:
        return await http.post(path, json=body, headers={"Cookie": example.cookie(user)})


async def test_a_post_while_nobody_follows_is_replayed_by_a_later_subscribe(
    example: Example, alice: Client
) -> None:
    sid = await alice.new_session()
    body = {"text": "Your report is ready", "key": "report-1"}
    first = await post_as(example, "alice", f"/reminders/{sid}", body)
    again = await post_as(example, "alice", f"/reminders/{sid}", body)  # the key: stored once
    assert first.status_code == again.status_code == 200, first.text
    assert first.json() == again.json() == {"id": first.json()["id"], "seq": 1}
    bobs = await post_as(example, "bob", f"/reminders/{sid}", {"text": "hi"})
    assert bobs.status_code == 404  # not bob's session
    ack = await alice.ok("subscribe", {"session_id": sid})
    assert [(m["role"], m["content"]) for m in ack["messages"]] == [
        ("assistant", "Your report is ready")
    ]


async def test_a_post_reaches_a_live_follower(example: Example, alice: Client) -> None:
    sid = await alice.new_session()
    await alice.ok("subscribe", {"session_id": sid})
    posted = await post_as(example, "alice", f"/reminders/{sid}", {"text": "heads up"})
    assert posted.status_code == 200, posted.text
    [live] = await alice.wait_for(lambda: alice.messages(sid), what="the post, live")
    assert (live["id"], live["content"], live["status"]) == (
        posted.json()["id"], "heads up", "complete"
    )


async def test_a_streamed_post_is_resumed_mid_stream_by_a_client_that_reconnects(
    example: Example, alice: Client
) -> None:
    sid = await alice.new_session()
    await alice.ok("subscribe", {"session_id": sid})
    started = await post_as(example, "alice", f"/digests/{sid}", {"items": 40})  # about 2 s
    assert started.status_code == 200, started.text
    message_id = started.json()["message_id"]
    await alice.wait_for(lambda: len(alice.of("delta", sid)) >= 3, what="the digest streaming")
    last_seq = max(m["seq"] for m in alice.messages(sid))
    await alice.close()
    back = Client(example.url, client_id=alice.client_id, socketio_path="/chat/socket.io",
                  headers={"Cookie": example.cookie("alice")})
    await back.connect()
    try:
        mark = len(back.events)
        ack = await back.ok("subscribe", {"session_id": sid, "after_seq": last_seq})
        assert ack["mode"] == "resume"
        [streaming] = [m for m in ack["messages"] if m["id"] == message_id]
        assert streaming["status"] == "streaming" and streaming["content"].startswith("item 0 ")
        await back.wait_status(sid, "complete")
        view = back.view(sid, ack, since=mark)
        whole = "".join(f"item {n} " for n in range(40))
        assert view.messages[message_id]["content"] == whole  # all of it, once
        assert view.messages[message_id]["status"] == "complete"
    finally:
        await back.close()


async def test_the_publish_endpoint_under_the_prefix_uses_the_apps_sign_in(
    example: Example, alice: Client
) -> None:
    sid = await alice.new_session()
    path = f"/chat/api/sessions/{sid}/messages"
    body = {"content": "from another service", "role": "assistant"}
    async with httpx.AsyncClient(base_url=example.url, timeout=10) as http:
        assert (await http.post(path, json=body)).status_code == 401
        forged = await http.post(path, json=body, headers={"Cookie": "session=alice." + "0" * 64})
        assert forged.status_code == 401
    assert (await post_as(example, "bob", path, body)).status_code == 404
    posted = await post_as(example, "alice", path, body)
    assert posted.status_code == 201, posted.text
    ack = await alice.ok("subscribe", {"session_id": sid})
    assert [m["content"] for m in ack["messages"]] == ["from another service"]


async def test_client_logs_under_the_prefix_use_the_apps_sign_in(
    example: Example, alice: Client
) -> None:
    body = {"client_id": alice.client_id, "lines": [{"ts": 1, "level": "info", "msg": "hi"}]}
    async with httpx.AsyncClient(base_url=example.url) as http:
        assert (await http.post("/chat/api/client-logs", json=body)).status_code == 401
        ok = await http.post("/chat/api/client-logs", json=body,
                             headers={"Cookie": example.cookie("alice")})
        assert ok.status_code == 200, ok.text
        page = await http.get("/chat/")
        assert page.status_code == 200 and 'src="static/js/app/main.js"' in page.text
        script = await http.get("/chat/static/js/app/main.js")
        assert script.status_code == 200 and "BASE_PATH" in script.text
