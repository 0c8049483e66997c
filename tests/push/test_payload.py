"""What a push says (the page's notify.js says the same: tests/js/notify.test.mjs)."""

from __future__ import annotations

from typing import Any

from tether.push.payload import answer_payload, ends_answer, notification_body


def message(**fields: Any) -> Any:
    return {"id": "m1", "session_id": "s1", "role": "assistant", "status": "complete",
            "content": "", "error": None, **fields}


def test_only_an_answers_notified_end_counts() -> None:
    assert [ends_answer(message(status=s)) for s in ("complete", "failed", "interrupted")] == [
        True, True, True]
    assert not ends_answer(message(status="cancelled"))
    assert not ends_answer(message(status="streaming"))
    assert not ends_answer(message(role="user"))


def test_the_body_is_one_line_like_the_pages() -> None:
    assert notification_body(message(content="Hello\n\n  world")) == "Hello world"
    assert notification_body(message(status="failed", error="boom")) == "Failed: boom"
    assert notification_body(message(status="interrupted")) == "The answer was interrupted."
    assert notification_body(message(status="interrupted", content="half")) == "Interrupted: half"
    long = notification_body(message(content="x" * 500))
    assert len(long) == 140 and long.endswith("…")


def test_the_payload_names_the_session_and_the_message() -> None:
    assert answer_payload("Chat", message(content="hi")) == {
        "type": "answer", "session_id": "s1", "message_id": "m1", "status": "complete",
        "title": "Chat", "body": "hi",
    }
