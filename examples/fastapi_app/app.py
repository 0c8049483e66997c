"""Tether inside a FastAPI app: the app's own cookie sign-in, a Python agent, routes that post
into a session (a whole message, and a streamed one), and the chat mounted at /chat.
Run: ``uvicorn app:app`` (see README.md)."""

import asyncio
import hashlib
import hmac
import os
from collections.abc import AsyncIterator
from typing import Literal

from fastapi import FastAPI, HTTPException, Request, Response
from pydantic import BaseModel

from tether.accounts import User
from tether.agents import AgentError, Turn
from tether.app import Tether
from tether.auth import Handshake
from tether.protocol import RequestError

SECRET = os.environ.get("APP_SECRET", "change me").encode()
USERS = {"alice": "Alice", "bob": "Bob"}  # a toy user list: the app's own, not Tether's


def sign(user_id: str) -> str:
    return user_id + "." + hmac.new(SECRET, user_id.encode(), hashlib.sha256).hexdigest()


def signed_in(cookie: str | None) -> User | None:
    user_id = (cookie or "").partition(".")[0]
    if user_id in USERS and hmac.compare_digest(cookie or "", sign(user_id)):
        return User(id=user_id, name=USERS[user_id])
    return None


async def from_session_cookie(handshake: Handshake) -> User | None:
    """Tether asks this for every connection (and its HTTP endpoints): None refuses it."""
    return signed_in(handshake.cookies.get("session"))


async def jarvis(turn: Turn) -> AsyncIterator[str]:
    """A Python agent: stream the answer as it is made (here: the question, word by word)."""
    question = turn.messages[-1].content
    if question == "fail":
        raise AgentError("I cannot do that")  # the user sees this; the answer ends failed
    for word in f"You said: {question}".split(" "):
        await asyncio.sleep(float(os.environ.get("AGENT_DELAY", "0.05")))
        yield word + " "


chat = Tether(agents={"jarvis": jarvis}, authenticate=from_session_cookie, migrate=True)
app = FastAPI(lifespan=chat.lifespan)
app.mount("/chat", chat)


class Login(BaseModel):
    user: str  # a toy login: no password


class Reminder(BaseModel):
    text: str
    role: Literal["user", "assistant"] = "assistant"
    respond: bool = False  # with role "user": the session's agent answers it
    key: str | None = None  # the same key twice stores the message once


class Digest(BaseModel):
    items: int = 5


@app.post("/login")
async def login(body: Login, response: Response) -> dict[str, str]:
    if body.user not in USERS:
        raise HTTPException(401, "unknown user")
    response.set_cookie("session", sign(body.user), httponly=True, samesite="lax")
    return {"user": body.user}


def user_of(request: Request) -> User:
    user = signed_in(request.cookies.get("session"))
    if user is None:
        raise HTTPException(401, "sign in first")
    return user


def refused(exc: RequestError) -> HTTPException:
    return HTTPException(404 if exc.code == "not_found" else 400, exc.message)


@app.post("/reminders/{session_id}")
async def remind(session_id: str, body: Reminder, request: Request) -> dict[str, object]:
    """Put a message into one of the user's sessions from the app: stored with the session's
    next seq before this returns, then seen by every open tab of the session (and replayed to
    the ones that subscribe later)."""
    user = user_of(request)
    try:
        message = await chat.post(session_id, body.text, role=body.role, key=body.key,
                                  respond=body.respond, user_id=user.id)
    except RequestError as exc:
        raise refused(exc) from None
    return {"id": message["id"], "seq": message["seq"]}


digests: set[asyncio.Task[None]] = set()


@app.post("/digests/{session_id}")
async def digest(session_id: str, body: Digest, request: Request) -> dict[str, object]:
    """An answer made outside any agent (a background job), streamed into the session as it
    is written: followers see it grow, and a tab that reconnects mid-way resumes it."""
    user = user_of(request)
    try:
        answer = await chat.publisher.open_stream(session_id, user_id=user.id)
    except RequestError as exc:
        raise refused(exc) from None

    async def write() -> None:
        async with answer:  # ends complete, or failed if this raises
            for n in range(body.items):
                await answer.write(f"item {n} ")
                await asyncio.sleep(float(os.environ.get("AGENT_DELAY", "0.05")))

    task = asyncio.create_task(write())
    digests.add(task)
    task.add_done_callback(digests.discard)
    return {"message_id": answer.message_id}
