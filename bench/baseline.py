"""Baseline: a minimal python-socketio server, what a user would otherwise run.

Plain ``socketio.AsyncServer`` (stdlib json) under uvicorn, configured like ``tether serve``.
It speaks the subset of Tether's protocol the benchmarks use, with no storage, no recovery and no
coalescing: ``heartbeat`` answers the time; ``create_session`` and ``subscribe`` keep a dict and
join a room; ``send`` emits the user message to the room and answers with the same event
sequence a Tether run produces (``session`` running, assistant ``message`` streaming, ``delta``
per agent token emitted straight to the room, ``message`` complete, ``session`` idle). Sequence
numbers are an in-memory counter.

    python -m bench.baseline [--port 0]     prints "listening on http://127.0.0.1:PORT/"
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import socketio
import uvicorn

from bench.agent import bench_tokens

sio = socketio.AsyncServer(async_mode="asgi", ping_interval=25, ping_timeout=20)
app = socketio.ASGIApp(sio)
sessions: dict[str, dict[str, Any]] = {}


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def message(session: dict[str, Any], role: str, content: str, status: str,
            client_msg_id: str | None = None, chunks: int = 0) -> dict[str, Any]:
    session["head_seq"] += 1
    session["count"] += 1
    stamp = now()
    return {"id": str(uuid.uuid4()), "session_id": session["id"], "position": session["count"],
            "seq": session["head_seq"], "role": role, "content": content, "status": status,
            "client_msg_id": client_msg_id, "chunks": chunks, "error": None, "reply_to": None,
            "created_at": stamp, "updated_at": stamp}


def session_out(session: dict[str, Any], running: bool) -> dict[str, Any]:
    return {"id": session["id"], "title": "New chat", "agent": "bench",
            "head_seq": session["head_seq"], "running": running, "archived": False,
            "created_at": session["created_at"], "updated_at": now()}


@sio.on("heartbeat")
async def heartbeat(sid: str, data: Any = None) -> dict[str, Any]:
    return {"ok": True, "server_time": time.time()}


@sio.on("create_session")
async def create_session(sid: str, data: dict[str, Any]) -> dict[str, Any]:
    session_id = data.get("id") or str(uuid.uuid4())
    session = sessions.setdefault(
        session_id, {"id": session_id, "head_seq": 0, "count": 0, "created_at": now()}
    )
    return {"ok": True, "session": session_out(session, False)}


@sio.on("subscribe")
async def subscribe(sid: str, data: dict[str, Any]) -> dict[str, Any]:
    session = sessions.get(data.get("session_id", ""))
    if session is None:
        return {"ok": False, "error": {"code": "not_found", "message": "no such session"}}
    await sio.enter_room(sid, "s:" + session["id"])
    return {"ok": True, "session": session_out(session, False), "mode": "recent",
            "head_seq": session["head_seq"], "messages": []}


@sio.on("send")
async def send(sid: str, data: dict[str, Any]) -> dict[str, Any]:
    session = sessions.get(data.get("session_id", ""))
    if session is None:
        return {"ok": False, "error": {"code": "not_found", "message": "no such session"}}
    user = message(session, "user", data["content"], "complete", data.get("client_msg_id"))
    room = "s:" + session["id"]
    await sio.emit("message", {"session_id": session["id"], "message": user}, room=room)
    asyncio.get_running_loop().create_task(reply(session, data["content"]))
    return {"ok": True, "message": user, "duplicate": False}


async def reply(session: dict[str, Any], prompt: str) -> None:
    room, session_id = "s:" + session["id"], session["id"]
    await sio.emit("session", {"session": session_out(session, True)}, room=room)
    answer = message(session, "assistant", "", "streaming")
    await sio.emit("message", {"session_id": session_id, "message": answer}, room=room)
    text, chunk = [], 0
    async for token in bench_tokens(prompt):
        text.append(token)
        await sio.emit("delta", {"session_id": session_id, "message_id": answer["id"],
                                 "chunk": chunk, "text": token}, room=room)
        chunk += 1
    final = dict(answer, content="".join(text), status="complete", chunks=chunk,
                 seq=session["head_seq"] + 1, updated_at=now())
    session["head_seq"] += 1
    await sio.emit("message", {"session_id": session_id, "message": final}, room=room)
    await sio.emit("session", {"session": session_out(session, False)}, room=room)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.baseline")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    # IPPROTO_TCP, as `uvicorn.run(app)` gets from getaddrinfo: asyncio then sets TCP_NODELAY on
    # each connection, as a user's server would have (protocol 0 left Nagle's algorithm on).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", args.port))
    sock.listen(2048)
    sock.setblocking(False)
    config = uvicorn.Config(app, log_level="warning", access_log=False, ws_ping_interval=None,
                            ws_ping_timeout=None, lifespan="off")
    print(f"baseline listening on http://127.0.0.1:{sock.getsockname()[1]}/ "
          f"(python-socketio, started {time.time():.0f})", flush=True)
    asyncio.run(uvicorn.Server(config).serve(sockets=[sock]))


if __name__ == "__main__":
    main()
