"""The publish API from Python (tether.publish) against a real server in the test's loop:
posts, streamed answers, and the server-side reads."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.client import Client
from tests.support.inprocess import InProcessServer, serve_in_process
from tether.agents.events import Reasoning, ToolCall, ToolOutput
from tether.protocol import RequestError
from tether.publish import AnswerEnded


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[InProcessServer]:
    async with serve_in_process(tmp_path / "data", echo_delay=0.05) as running:
        yield running


@pytest.fixture
async def client(server: InProcessServer) -> AsyncIterator[Client]:
    c = Client(server.url)
    await c.connect()
    yield c
    await c.close()


async def followed(client: Client) -> str:
    """A new session of the client's, subscribed to."""
    sid = await client.new_session()
    await client.ok("subscribe", {"session_id": sid})
    return sid


async def code_of(call: object) -> str:
    with pytest.raises(RequestError) as raised:
        await call  # type: ignore[misc]
    return raised.value.code


async def test_a_post_while_nobody_follows_is_replayed_by_a_later_subscribe(
    server: InProcessServer, client: Client
) -> None:
    sid = await client.new_session()
    chat = server.tether
    posted = await chat.post(sid, "Your report is ready", role="assistant")
    assert (posted["seq"], posted["position"], posted["status"]) == (1, 1, "complete")
    ack = await client.ok("subscribe", {"session_id": sid})
    assert [(m["id"], m["content"]) for m in ack["messages"]] == [
        (posted["id"], "Your report is ready")
    ]
    resumed = await client.ok("subscribe", {"session_id": sid, "after_seq": 0})
    assert resumed["mode"] == "resume" and resumed["head_seq"] == 1


async def test_a_post_reaches_a_live_follower_and_a_key_stores_it_once(
    server: InProcessServer, client: Client
) -> None:
    sid = await followed(client)
    chat = server.tether
    first = await chat.post(sid, "ping", role="assistant", key="job-1")
    again = await chat.post(sid, "ping", role="assistant", key="job-1")
    assert again["id"] == first["id"]
    assert await code_of(chat.post(sid, "pong", role="assistant", key="job-1")) == "conflict"
    assert await code_of(chat.post(sid, "ping", key="job-1")) == "conflict"  # other role
    await client.wait_for(lambda: client.messages(sid), what="the post, live")
    await asyncio.sleep(0.2)
    assert [m["id"] for m in client.messages(sid)] == [first["id"]]  # once
    history = await chat.messages(sid)
    assert [m["content"] for m in history["messages"]] == ["ping"]


async def test_bad_posts_are_refused_with_the_protocols_codes_and_store_nothing(
    server: InProcessServer, client: Client
) -> None:
    sid = await client.new_session()
    chat = server.tether
    too_long = "x" * (chat.settings.max_message_chars + 1)
    assert await code_of(chat.post(sid, too_long)) == "too_large"
    assert await code_of(chat.post(sid, "")) == "invalid"
    assert await code_of(chat.post(sid, "hi", role="system")) == "invalid"  # type: ignore[arg-type]
    assert await code_of(chat.post(sid, "hi", role="assistant", respond=True)) == "invalid"
    assert await code_of(chat.post(sid, "nul \x00")) == "invalid"
    assert await code_of(chat.post("no-such-session", "hi")) == "not_found"
    assert await code_of(chat.post(sid, "hi", user_id="someone-else")) == "not_found"
    ack = await client.ok("subscribe", {"session_id": sid})
    assert ack["head_seq"] == 0 and ack["messages"] == []


async def test_a_user_message_is_answered_only_with_respond(
    server: InProcessServer, client: Client
) -> None:
    sid = await followed(client)
    chat = server.tether
    await chat.post(sid, "for the record")  # context, not a question
    await chat.post(sid, "answer me", respond=True)
    [answer] = await client.wait_status(sid, "complete")
    assert answer["content"] == "Echo: answer me"
    await client.send(sid, "and me")
    await client.wait_status(sid, "complete", count=2)
    await asyncio.sleep(0.3)
    answers = [m for m in (await chat.messages(sid))["messages"] if m["role"] == "assistant"]
    assert [m["content"] for m in answers] == ["Echo: answer me", "Echo: and me"]
    # The unanswered post stays unanswered after a restart too (it is not queued).
    assert await server.tether.store.unanswered() == []


async def test_a_streamed_answer_reaches_a_follower_and_ends_complete(
    server: InProcessServer, client: Client
) -> None:
    sid = await followed(client)
    async with server.tether.stream(sid) as answer:
        assert answer.message["status"] == "streaming"
        for word in ("one ", "two ", "three"):
            await answer.write(word)
            await asyncio.sleep(0.05)
    [done] = await client.wait_status(sid, "complete")
    assert done["id"] == answer.message_id and done["content"] == "one two three"
    streamed = "".join(d["text"] for d in client.of("delta", sid))
    assert streamed == "one two three" and len(client.of("delta", sid)) >= 2


async def test_a_streamed_answer_carries_structured_parts(
    server: InProcessServer, client: Client
) -> None:
    sid = await followed(client)
    async with server.tether.stream(sid) as answer:
        await answer.write(Reasoning("looking it up"))
        await answer.write(ToolCall("call-1", "search"))
        await answer.write(ToolOutput("call-1", {"hits": 3}))
        await answer.write("Found 3.")
    [done] = await client.wait_status(sid, "complete")
    kinds = [(part["type"], part.get("state")) for part in done["parts"]]
    assert kinds == [("reasoning", "done"), ("tool", "output-available"), ("text", None)]
    assert done["content"] == "Found 3." and done["parts"][1]["output"] == {"hits": 3}


async def test_an_exception_in_the_block_ends_the_answer_failed(
    server: InProcessServer, client: Client
) -> None:
    sid = await followed(client)
    with pytest.raises(ZeroDivisionError):
        async with server.tether.stream(sid) as answer:
            await answer.write("half an ")
            1 / 0  # noqa: B018
    [failed] = await client.wait_status(sid, "failed")
    assert failed["content"] == "half an " and "ZeroDivisionError" in (failed["error"] or "")


async def test_a_cancel_ends_a_streamed_answer_and_the_next_write_ends_the_block(
    server: InProcessServer, client: Client
) -> None:
    sid = await followed(client)
    writes = 0
    async with server.tether.stream(sid) as answer:
        await answer.write("start ")
        await client.wait_for(lambda: client.of("delta", sid), what="the first delta")
        assert (await client.ok("cancel", {"session_id": sid}))["cancelled"] is True
        for _ in range(100):
            await answer.write("more ")
            writes += 1
    assert writes == 0 and answer.done
    [cancelled] = await client.wait_status(sid, "cancelled")
    assert cancelled["content"] == "start "
    with pytest.raises(AnswerEnded):
        await answer.write("late")


async def test_a_streamed_answer_waits_for_the_agents_answer_and_never_races_it(
    server: InProcessServer, client: Client
) -> None:
    sid = await followed(client)
    await client.send(sid, " ".join(["word"] * 12))  # about 0.6 s of echo
    await client.wait_for(lambda: client.of("delta", sid), what="the agent streaming")
    async with server.tether.stream(sid) as answer:
        await answer.write("after the agent")
    rows = (await server.tether.messages(sid))["messages"]
    assert [(m["role"], m["status"]) for m in rows] == [
        ("user", "complete"), ("assistant", "complete"), ("assistant", "complete")
    ]
    assert rows[1]["content"].startswith("Echo: word") and rows[2]["content"] == "after the agent"
    assert rows[2]["seq"] > rows[1]["seq"]  # opened after the agent's answer ended


async def test_two_streams_into_one_session_take_turns(
    server: InProcessServer, client: Client
) -> None:
    sid = await followed(client)

    async def write(name: str) -> str:
        async with server.tether.stream(sid) as answer:
            for n in range(5):
                await answer.write(f"{name}{n} ")
                await asyncio.sleep(0.02)
        return answer.message_id

    first, second = await asyncio.gather(write("a"), write("b"))
    rows = (await server.tether.messages(sid))["messages"]
    assert sorted(m["id"] for m in rows) == sorted([first, second])
    assert [m["status"] for m in rows] == ["complete", "complete"]
    # One at a time: the second was created only once the first had ended.
    assert rows[1]["created_at"] >= rows[0]["updated_at"]
    assert [m["seq"] for m in rows] == [2, 4]  # created 1, ended 2; created 3, ended 4


async def test_shutdown_interrupts_a_streamed_answer(tmp_path: Path) -> None:
    data = tmp_path / "data"
    async with serve_in_process(data) as server:
        c = Client(server.url)
        await c.connect()
        sid = await c.new_session()
        await c.close()
        answer = await server.tether.publisher.open_stream(sid)
        await answer.write("cut short")
    assert answer.done and await answer.end() is None
    with pytest.raises(AnswerEnded):
        await answer.write("after the end")
    async with serve_in_process(data) as again:
        rows = (await again.tether.messages(sid))["messages"]
    assert [(m["status"], m["content"]) for m in rows] == [("interrupted", "cut short")]


async def test_server_side_reads_page_sessions_and_messages(
    server: InProcessServer, client: Client
) -> None:
    sids = [await client.new_session(title=f"chat {n}") for n in range(3)]
    chat = server.tether
    assert client.hello is not None
    user_id = client.hello["user"]["id"]
    for n in range(5):
        await chat.post(sids[0], f"note {n}", role="assistant")
    page = await chat.sessions(user_id, limit=2)
    assert page["has_more"] is True and len(page["sessions"]) == 2
    rest = await chat.sessions(user_id, limit=2, before=page["sessions"][-1]["updated_at"])
    listed = [s["id"] for s in page["sessions"] + rest["sessions"]]
    assert sorted(listed) == sorted(sids) and rest["has_more"] is False
    assert (await chat.sessions("nobody"))["sessions"] == []
    latest = await chat.messages(sids[0], limit=2)
    assert [m["content"] for m in latest["messages"]] == ["note 3", "note 4"]
    assert latest["has_more"] is True
    older = await chat.messages(sids[0], before=latest["messages"][0]["position"], limit=10)
    assert [m["content"] for m in older["messages"]] == ["note 0", "note 1", "note 2"]
    assert older["has_more"] is False
    assert await code_of(chat.messages("no-such-session")) == "not_found"
    assert await code_of(chat.messages(sids[0], limit=0)) == "invalid"
    assert await code_of(chat.sessions(user_id, before="yesterday")) == "invalid"


async def test_a_takeover_ends_a_streamed_answer_and_fences_it(tmp_path: Path) -> None:
    async with serve_in_process(tmp_path / "data", lease_seconds=0.9) as server:
        client = Client(server.url)
        await client.connect()
        sid = await followed(client)
        answer = await server.tether.publisher.open_stream(sid)
        await answer.write("before the takeover ")
        await client.wait_for(lambda: client.of("delta", sid), what="the first delta")
        await asyncio.sleep(1.1)  # past a checkpoint
        # Another node takes the session over: the claim changes hands with the answer ended.
        taken = await server.tether.store.break_claim(sid, force=True)
        assert taken is not None and [m["id"] for m in taken.interrupted] == [answer.message_id]
        await client.wait_for(lambda: answer.done, timeout=5, what="the run fenced")
        with pytest.raises(AnswerEnded):
            await answer.write("after it")
        assert await answer.end() is None  # this process wrote nothing more
        [row] = (await server.tether.messages(sid))["messages"]
        assert (row["status"], row["content"]) == ("interrupted", "before the takeover ")
        await client.close()
