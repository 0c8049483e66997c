"""Guards on the private code of python-socketio, python-engineio and uvicorn that Tether stands
in for or extends.

tether.delivery and tether.cluster.fanout replace or wrap a few private methods of exactly the
pinned releases; tether.edge subclasses uvicorn's httptools protocol (``uvicorn.Config(http=)``
takes a protocol class, but the methods it extends are uvicorn's own) and wraps the Engine.IO
``message`` handler it finds in ``eio.handlers`` (pyproject.toml; docs/performance.md says
why pinning, not public hooks). Each check below fails the moment an upgrade changes one of
those methods, and says what to re-read before updating its fingerprint. Fingerprint: sha256
of ``inspect.getsource``, first 16 digits.
"""

from __future__ import annotations

import hashlib
import inspect
import re
from collections.abc import Callable
from importlib.metadata import version
from typing import Any

import pytest
import socketio
from engineio import async_socket
from engineio.async_drivers import asgi as eio_asgi
from engineio.async_server import AsyncServer as EngineServer
from engineio.async_socket import AsyncSocket
from socketio.async_pubsub_manager import AsyncPubSubManager
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.protocols.websockets import websockets_sansio_impl
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from tether.delivery import UPSTREAM_POLL, UPSTREAM_WEBSOCKET
from tether.edge.pings import UPSTREAM_SCHEDULE_PING
from tether.edge.reader import UPSTREAM_WEBSOCKET_HANDLER

PINNED = {"python-socketio": "5.18.1", "python-engineio": "4.15.1", "uvicorn": "0.54.0"}

#: (upstream function, its fingerprint, what depends on it and what to re-check).
GUARDED: list[tuple[str, Callable[..., Any], str, str]] = [
    ("AsyncRedisManager._publish", socketio.AsyncRedisManager._publish, "033e4da7cc8768b4",
     "TrackedRedisManager._publish wraps it and takes a None result as 'gave up': check it "
     "still returns Redis's answer on success and None after its last attempt"),
    ("AsyncRedisManager._redis_listen_with_retries",
     socketio.AsyncRedisManager._redis_listen_with_retries, "ad347f253fd3423a",
     "TrackedRedisManager._redis_listen_with_retries replaces it: port any change (how it "
     "connects, subscribes, retries) into the copy"),
    ("AsyncRedisManager._listen", socketio.AsyncRedisManager._listen, "3e74fdd1084b4e13",
     "it must still iterate _redis_listen_with_retries for the override to take effect"),
    ("AsyncPubSubManager.initialize", AsyncPubSubManager.initialize, "e8a2b026ecea320f",
     "TrackedRedisManager.stop cancels the listener task this keeps in self.thread: check it "
     "still starts one there"),
    ("AsyncPubSubManager.emit", AsyncPubSubManager.emit, "6cc46e0ff9b6d7cf",
     "it must still deliver locally through super().emit (BroadcastManager) and then call "
     "_publish; FanoutRepair relies on ignore_queue=True meaning 'this node only'"),
    ("BaseManager.basic_disconnect", socketio.AsyncManager.basic_disconnect,
     "2933b50bc4b2ea7b",
     "BroadcastManager.basic_disconnect is a copy that leaves only the sid's rooms: port any "
     "change (what else it forgets of a sid) into the copy"),
    ("BaseManager.basic_enter_room", socketio.AsyncManager.basic_enter_room,
     "3f509586d2d7f47e",
     "BroadcastManager keeps each sid's rooms from this and basic_leave_room: check they are "
     "still the only places a sid joins or leaves a room"),
    ("BaseManager.basic_leave_room", socketio.AsyncManager.basic_leave_room,
     "e27f3eea06d1c6a6",
     "BroadcastManager keeps each sid's rooms from this and basic_enter_room: check they are "
     "still the only places a sid joins or leaves a room"),
    ("AsyncManager.emit", socketio.AsyncManager.emit, "01ccd5b82b4f955e",
     "BroadcastManager.emit replaces its no-callback path: compare how it encodes the packet, "
     "picks participants and skips sids"),
    ("AsyncServer._send_eio_packet", socketio.AsyncServer._send_eio_packet, "64cf72a2ab7d75b1",
     "BroadcastManager puts packets on the socket queue instead of calling this: check it "
     "still ends in engineio's send"),
    ("engineio AsyncServer.send_packet", EngineServer.send_packet, "c54317440865030d",
     "BroadcastManager skips this lookup of the socket: check it adds nothing else"),
    ("engineio AsyncSocket.send", AsyncSocket.send, "0437276ccba7ab09",
     "BroadcastManager skips its ping-timeout check and logging and puts on self.queue: check "
     "the queue is still where the writer reads"),
    ("engineio AsyncSocket.poll", UPSTREAM_POLL, "826f58a9f3606db2",
     "tether.delivery._poll replaces it for the whole process: port any change of batching, "
     "the close sentinel or QueueEmpty into it"),
    ("engineio asgi WebSocket.__call__", UPSTREAM_WEBSOCKET.__call__, "abbf7a49b2256d37",
     "tether.delivery.DirectWebSocket extends it: check it still reads asgi.send from the "
     "environ, accepts, then runs the handler (a bound method of the AsyncSocket)"),
    ("engineio asgi WebSocket.send", UPSTREAM_WEBSOCKET.send, "0af97629973f3c51",
     "DirectWebSocket.send writes text through TextFrames instead: check it adds nothing else"),
    ("engineio AsyncSocket._upgrade_websocket", AsyncSocket._upgrade_websocket,
     "820b83efe96adb98",
     "DirectWebSocket is made here from server._async['websocket'] with the socket's bound "
     "_websocket_handler: check both"),
    ("engineio AsyncSocket._websocket_handler", UPSTREAM_WEBSOCKET_HANDLER,
     "27f120df4d717a24",
     "tether.edge.reader replaces it with a copy whose reader awaits ws.wait() without a task "
     "and wait_for (its silence limit kept by a wheel): port any change (upgrade, writer, "
     "reader loop, close) into the copy; broadcasts write directly only while its writer is "
     "parked in poll() on an empty queue: check the writer still writes everything poll() "
     "returns before polling again"),
    *[
        (f"uvicorn WebSocketsSansIOProtocol.{name}", getattr(WebSocketsSansIOProtocol, name),
         expected,
         "tether.edge.frames writes frames past it: check the state it reads (handshake_complete,"
         " close_sent, disconnected, writable, conn) and that handle_connect still builds "
         "self.scope with an 'extensions' dict; FramedWebSocketProtocol replaces the queue and "
         "the writable event __init__ makes with tether.edge.slim's: check they are still made "
         "there and used only through the calls test_slim_queue_and_event_cover_what_upstream_"
         "calls lists")
        for name, expected in [
            ("handle_connect", "fc648c2161ff8e13"),
            ("send", "d4919ed760ce9f7b"),
            ("connection_lost", "dd116afc4d8034e1"),
            ("__init__", "631dcd744eab875f"),
            ("receive", "1dc0e715390021a1"),
            ("pause_writing", "4830f7e0d81f877d"),
            ("resume_writing", "ef79384e5fff077c"),
        ]
    ],
    *[
        (f"engineio AsyncSocket.{name}", function, expected,
         "tether.edge.pings replaces schedule_ping with a timer that does what _send_ping does: "
         "port any change of when a ping is scheduled (receive on PONG), what it sends, or what "
         "check_ping_timeout reads (last_ping) into it")
        for name, function, expected in [
            ("schedule_ping", UPSTREAM_SCHEDULE_PING, "fe316639159cd70d"),
            ("_send_ping", AsyncSocket._send_ping, "67db82a704ea49d0"),
            ("receive", AsyncSocket.receive, "a91ae36ec2fb5340"),
            ("check_ping_timeout", AsyncSocket.check_ping_timeout, "77616d5ca7809257"),
        ]
    ],
    ("engineio asgi translate_request", eio_asgi.translate_request, "39e74733f1fe46aa",
     "tether.edge.environ drops the environ's wsgi.input after connect: check it is still only "
     "the request body's reader, and that nothing else in the environ refers to it"),
    ("engineio AsyncServer._handle_connect", EngineServer._handle_connect, "5bd7edc1d1ae115a",
     "tether.edge.environ relies on a session being opened by a GET whose body is never read: "
     "check the connect request still reads no wsgi.input"),
    ("engineio AsyncServer.on", EngineServer.on, "7b5457b52dc7fd22",
     "tether.edge.packets wraps the handler on() stores in self.handlers['message']: check "
     "handlers are still kept there, by event name"),
    ("engineio AsyncServer._trigger_event", EngineServer._trigger_event, "4a09b6e47eb66532",
     "tether.edge.packets' wrapper is called as handlers['message'](sid, data): check the call"),
    ("engineio AsyncServer.create_queue", EngineServer.create_queue, "5ff5673a0c017681",
     "tether.edge.sendqueue installs its byte-bounded queue through this: check every socket "
     "queue still comes from it"),
    *[
        (f"uvicorn HttpToolsProtocol.{name}", getattr(HttpToolsProtocol, name), expected,
         "tether.edge.connections extends it (deadlines, per-address cap): check when it is "
         "called and what it does before and after the super() call")
        for name, expected in [
            ("connection_made", "6efb565ff3d36b91"),
            ("connection_lost", "c91a4c9bf2e29c55"),
            ("data_received", "010a7ae59a5d3b1a"),
            ("on_message_begin", "96d377fdc7c2baef"),
            ("on_headers_complete", "1ea8589acfad92d8"),
            ("on_message_complete", "1fbad42dc31fc01f"),
            ("handle_websocket_upgrade", "179c4f769386ab89"),
        ]
    ],
]


#: What tether.edge.slim's queue and event offer (the calls upstream makes on the objects
#: Tether replaces with them).
SLIM_QUEUE_CALLS = {"empty", "get", "get_nowait", "join", "put", "put_nowait", "qsize",
                    "task_done"}
SLIM_EVENT_CALLS = {"clear", "is_set", "set", "wait"}


def test_slim_queue_and_event_cover_what_upstream_calls() -> None:
    """uvicorn's receive queue and writable event, and engineio's socket queue, are slim ones
    under Tether: every method upstream calls on them must be one they have."""
    uvicorn_source = inspect.getsource(websockets_sansio_impl)
    engineio_source = inspect.getsource(async_socket)
    used_queue = set(re.findall(r"self\.queue\.(\w+)", uvicorn_source + engineio_source))
    used_event = set(re.findall(r"self\.writable\.(\w+)", uvicorn_source))
    assert "put_nowait" in used_queue and "wait" in used_event  # the scan found them
    assert used_queue <= SLIM_QUEUE_CALLS, f"upstream calls {used_queue - SLIM_QUEUE_CALLS}"
    assert used_event <= SLIM_EVENT_CALLS, f"upstream calls {used_event - SLIM_EVENT_CALLS}"
    from tether.edge.slim import SlimEvent, SlimQueue
    assert all(callable(getattr(SlimQueue, name)) for name in SLIM_QUEUE_CALLS)
    assert all(callable(getattr(SlimEvent, name)) for name in SLIM_EVENT_CALLS)


def fingerprint(function: Callable[..., Any]) -> str:
    return hashlib.sha256(inspect.getsource(function).encode()).hexdigest()[:16]


@pytest.mark.parametrize("package", sorted(PINNED))
def test_the_pinned_release_is_installed(package: str) -> None:
    assert version(package) == PINNED[package], (
        f"{package} {version(package)} is installed, but Tether's copies of its private code "
        f"were checked against {PINNED[package]}: re-check every GUARDED function here"
    )


@pytest.mark.parametrize(("name", "function", "expected", "recheck"), GUARDED,
                         ids=[g[0] for g in GUARDED])
def test_the_code_tether_stands_in_for_is_unchanged(
    name: str, function: Callable[..., Any], expected: str, recheck: str
) -> None:
    assert fingerprint(function) == expected, f"upstream {name} changed: {recheck}"
