"""Tether inside a FastAPI app: the app's own cookie sign-in, a Python agent, a route that posts
into a session, and the chat mounted at /chat. Run: ``uvicorn app:app`` (see README.md)."""

import asyncio
import hashlib
import hmac
import os
from collections.abc import AsyncIterator

from fastapi import FastAPI, HTTPException, Request, Response
from pydantic import BaseModel

from tether import protocol
from tether.accounts import User
from tether.agents import AgentError, Turn
from tether.app import Tether
from tether.auth import Handshake

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


@app.post("/login")
async def login(body: Login, response: Response) -> dict[str, str]:
    if body.user not in USERS:
        raise HTTPException(401, "unknown user")
    response.set_cookie("session", sign(body.user), httponly=True, samesite="lax")
    return {"user": body.user}


@app.post("/reminders/{session_id}")
async def remind(session_id: str, body: Reminder, request: Request) -> dict[str, object]:
    """Put a message into one of the user's sessions from the app; its agent answers it, and
    every open tab of the session sees both (stored first, then fanned out)."""
    user = signed_in(request.cookies.get("session"))
    if user is None:
        raise HTTPException(401, "sign in first")
    message_id = os.urandom(8).hex()
    send = protocol.Send(session_id=session_id, client_msg_id=message_id, content=body.text)
    ack = await chat.service.send(user, send)
    return {"seq": ack["message"]["seq"]}
