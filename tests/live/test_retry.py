"""The `retry` request (issue 15, item 5): regenerate, a new answer to the same question, queued
like an answer; the old answer is kept; a repeated retry of the same answer regenerates once."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.support.client import Client
from tests.support.server import start_server


async def test_retry_answers_the_same_question_again_and_keeps_the_old_answer(
    client: Client,
) -> None:
    sid = await client.new_session()
    await client.ok("subscribe", {"session_id": sid})
    question = (await client.send(sid, "answer me twice"))["message"]
    [first] = await client.wait_status(sid, "complete")
    assert first["reply_to"] == question["id"]

    assert (await client.ok("retry", {"session_id": sid, "message_id": first["id"]})) == {
        "ok": True, "queued": True,
    }
    answers = await client.wait_status(sid, "complete", count=2)
    [second] = [m for m in answers if m["id"] != first["id"]]
    assert second["reply_to"] == question["id"]
    assert second["position"] > first["position"]
    assert second["content"] == "Echo: answer me twice"

    # The old answer is kept, and retrying it again (a resend after a lost ack) starts nothing.
    again = await client.ok("retry", {"session_id": sid, "message_id": first["id"]})
    assert again["queued"] is False
    ack = await client.ok("subscribe", {"session_id": sid})
    assert [(m["role"], m["id"]) for m in ack["messages"]] == [
        ("user", question["id"]), ("assistant", first["id"]), ("assistant", second["id"]),
    ]
    # The newest answer may be regenerated in turn.
    third = await client.ok("retry", {"session_id": sid, "message_id": second["id"]})
    assert third["queued"] is True
    await client.wait_status(sid, "complete", count=3)


async def test_retry_refuses_what_is_not_a_finished_answer(
    clients: Callable[..., Client], tmp_path: Path
) -> None:
    slow = start_server(tmp_path / "data", {"TETHER_ECHO_DELAY": "0.1"})
    try:
        c = clients(url=slow.url)
        await c.connect()
        sid = await c.new_session()
        await c.ok("subscribe", {"session_id": sid})
        await c.send(sid, " ".join(["word"] * 30))
        await c.wait_for(lambda: len(c.of("delta", sid)) >= 2, what="deltas")
        [streaming] = [m for m in c.messages(sid) if m["status"] == "streaming"]
        busy = await c.call("retry", {"session_id": sid, "message_id": streaming["id"]})
        assert busy["error"]["code"] == "conflict"
        other = await c.new_session()
        elsewhere = await c.call("retry", {"session_id": other, "message_id": streaming["id"]})
        assert elsewhere["error"]["code"] == "not_found"
    finally:
        slow.stop()


async def test_retry_refuses_a_user_message(clients: Callable[..., Client]) -> None:
    owner = clients()
    await owner.connect()
    sid = await owner.new_session()
    await owner.ok("subscribe", {"session_id": sid})
    question = (await owner.send(sid, "mine"))["message"]
    await owner.wait_status(sid, "complete")
    not_an_answer = await owner.call("retry", {"session_id": sid, "message_id": question["id"]})
    assert not_an_answer["error"]["code"] == "not_found"
    missing = await owner.call("retry", {"session_id": sid})
    assert missing["error"]["code"] == "invalid"
