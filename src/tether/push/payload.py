"""What a push says: pure functions, no I/O."""

from __future__ import annotations

from typing import TypedDict

from tether.protocol import MessageStatus
from tether.store import MessageRow

#: The ends of an answer worth telling: not ``cancelled`` (the user stopped it themselves).
NOTIFIED: frozenset[str] = frozenset(
    {MessageStatus.COMPLETE, MessageStatus.FAILED, MessageStatus.INTERRUPTED}
)
#: Characters of the answer a notification shows (push services take about 4 KB in all).
BODY_CHARS = 140


class PushPayload(TypedDict):
    """The JSON a push carries to the service worker (docs/protocol.md, "Web Push")."""

    type: str  # "answer"
    session_id: str
    message_id: str
    status: str
    #: The chat's title: the notification's title.
    title: str
    #: The start of the answer, or why it failed or stopped.
    body: str


def ends_answer(message: MessageRow) -> bool:
    """True for the one change that ends an assistant's answer in a notified way."""
    return message["role"] == "assistant" and message["status"] in NOTIFIED


def answer_payload(title: str, message: MessageRow) -> PushPayload:
    return {
        "type": "answer",
        "session_id": message["session_id"],
        "message_id": message["id"],
        "status": message["status"],
        "title": title,
        "body": notification_body(message),
    }


def notification_body(message: MessageRow) -> str:
    """One line: the answer's start, or what went wrong (the page's notify.js says the same)."""
    text = " ".join(message["content"].split())
    if message["status"] == MessageStatus.FAILED:
        line = f"Failed: {message['error'] or 'the agent failed'}"
    elif message["status"] == MessageStatus.INTERRUPTED:
        line = f"Interrupted: {text}" if text else "The answer was interrupted."
    else:
        line = text or "Answered."
    return line if len(line) <= BODY_CHARS else line[: BODY_CHARS - 1] + "…"
