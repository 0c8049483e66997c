"""The Socket.IO side: connection auth, ``hello``, client_id takeover, and thin request handlers.

Handlers validate the payload (tether.protocol), call the service, and return the ack. This module
also implements the Bus by emitting to rooms (named in tether.cluster.names): a session's
followers, and all of a user's sockets. Who a connection is comes from the ``authenticate`` seam
(tether.auth); which socket holds a client_id, from the cluster's registry.
"""

from __future__ import annotations

import logging
import re
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import socketio

from tether import protocol as p
from tether.accounts import User, hash_token
from tether.agents import AgentRegistry
from tether.auth import Authenticate, Handshake
from tether.cluster import ClientRegistry
from tether.cluster.names import session_room, user_room
from tether.limits import AuthAttempts, UserQuotas
from tether.metrics import Metrics
from tether.parts import Op
from tether.protocol import ErrorCode, Event, RequestError
from tether.push import PushService
from tether.ratelimit import TokenBucket
from tether.service import ChatService, NoFields, SessionAck, SubscribeAck
from tether.settings import Settings
from tether.store import MessageRow, SessionRow, is_unavailable
from tether.tasks import TaskOwner

log = logging.getLogger("tether.socketio")

CLIENT_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
RECENT_CLIENT_IDS = 10_000


def client_address(environ: dict[str, Any]) -> str:
    """The peer's address as the ASGI server saw it (Engine.IO's REMOTE_ADDR is a constant)."""
    client = environ.get("asgi.scope", {}).get("client")
    return str(client[0]) if client else "unknown"


@dataclass(slots=True)
class Connection:
    """What the server keeps per socket."""

    sid: str
    user: User
    client_id: str
    bucket: TokenBucket
    #: The sha256 of the token it signed in with; None in local mode (tether.revocation).
    token_hash: str | None = None
    subscriptions: set[str] = field(default_factory=set)


class SocketBus:
    """The Bus over Socket.IO rooms."""

    def __init__(self, sio: socketio.AsyncServer) -> None:
        self.sio = sio

    async def message(self, session_id: str, message: MessageRow) -> None:
        await self.sio.emit(
            Event.MESSAGE, {"session_id": session_id, "message": message},
            room=session_room(session_id),
        )

    async def delta(
        self, session_id: str, message_id: str, chunk: int, text: str, ops: list[Op]
    ) -> None:
        # The client manager's emit, which AsyncServer.emit only calls after an info log per
        # event: one delta per token per stream is the hottest path there is.
        await self.sio.manager.emit(
            Event.DELTA,
            {"session_id": session_id, "message_id": message_id, "chunk": chunk, "text": text,
             "ops": ops},
            "/",
            room=session_room(session_id),
        )

    async def session(self, user_id: str, session: SessionRow) -> None:
        await self.sio.emit(Event.SESSION, {"session": session}, room=user_room(user_id))


class Gateway:
    def __init__(
        self,
        sio: socketio.AsyncServer,
        service: ChatService,
        authenticate: Authenticate,
        agents: AgentRegistry,
        metrics: Metrics,
        settings: Settings,
        server_id: str,
        clients: ClientRegistry,
        quotas: UserQuotas | None = None,
        push: PushService | None = None,
    ) -> None:
        self.sio = sio
        self.service = service
        self._authenticate = authenticate
        self.agents = agents
        self.metrics = metrics
        self.settings = settings
        self.server_id = server_id
        self.connections: dict[str, Connection] = {}
        self.clients = clients
        self.push = push
        self.auth_attempts = AuthAttempts(
            settings.auth_failures_burst, settings.auth_failures_per_minute
        )
        self.quotas = quotas or UserQuotas(settings, service.store.engine)
        #: The work that follows each accepted connection (hello, takeover), cancelled by
        #: :meth:`close`.
        self.tasks = TaskOwner("gateway")
        self._seen: OrderedDict[tuple[str, str], None] = OrderedDict()
        sio.on("connect", self.on_connect)
        sio.on("disconnect", self.on_disconnect)
        service_calls: dict[str, Callable[[Connection, Any], Awaitable[Mapping[str, Any]]]] = {
            Event.CREATE_SESSION: self._create_session,
            Event.LIST_SESSIONS: lambda c, r: service.list_sessions(c.user, r),
            Event.UPDATE_SESSION: lambda c, r: service.update_session(c.user, r),
            Event.SUBSCRIBE: self._subscribe,
            Event.UNSUBSCRIBE: self._unsubscribe,
            Event.SEND: lambda c, r: service.send(c.user, r),
            Event.CANCEL: lambda c, r: service.cancel(c.user, r),
            Event.RETRY: lambda c, r: service.retry(c.user, r),
            Event.HISTORY: lambda c, r: service.history(c.user, r),
            Event.HEARTBEAT: lambda c, r: service.heartbeat(c.user, r),
        }
        if push is not None:
            service_calls |= {
                Event.PUSH_SUBSCRIBE: lambda c, r: push.subscribe(c.user, r),
                Event.PUSH_UNSUBSCRIBE: lambda c, r: push.unsubscribe(c.user, r),
                Event.PRESENCE: lambda c, r: push.presence(c.user, c.sid, r),
            }
        for event, call in service_calls.items():
            sio.on(event, self._handler(event, call))

    # -- connections ------------------------------------------------------------------------

    async def authenticate(self, handshake: Handshake) -> User:
        """The user a connection stands for; ConnectionRefusedError otherwise."""
        user = await self._authenticate(handshake)
        if user is None:
            raise socketio.exceptions.ConnectionRefusedError(p.CONNECT_UNAUTHORIZED)
        return user

    async def on_connect(self, sid: str, environ: dict[str, Any], auth: object = None) -> None:
        client_id = auth.get("client_id") if isinstance(auth, dict) else None
        if not isinstance(client_id, str) or not CLIENT_ID.match(client_id):
            raise socketio.exceptions.ConnectionRefusedError(
                p.CONNECT_INVALID, {"detail": "auth.client_id must be 1-64 of [A-Za-z0-9_-]"}
            )
        address = client_address(environ)
        if not self.auth_attempts.allowed(address):
            log.info("[SocketIO] refused sid=%s address=%s: too many failed sign-ins", sid, address)
            raise socketio.exceptions.ConnectionRefusedError(
                ErrorCode.RATE_LIMITED, {"detail": "too many failed sign-ins; wait a minute"}
            )
        try:
            user = await self.authenticate(Handshake(auth, environ))
        except socketio.exceptions.ConnectionRefusedError:
            self.auth_attempts.failed(address)
            log.info("[SocketIO] refused sid=%s client_id=%s: unauthorized", sid, client_id)
            raise
        except Exception as exc:
            if is_unavailable(exc):
                raise socketio.exceptions.ConnectionRefusedError(ErrorCode.UNAVAILABLE) from None
            raise
        # A connection that takes over one of the user's (same client_id) is let in at the limit:
        # the takeover frees a place at once, and it is how a phone comes back.
        if self.quotas.at_limit(user.id) and not any(
            c.user.id == user.id and c.client_id == client_id for c in self.connections.values()
        ):
            log.info("[SocketIO] refused sid=%s user=%s: too many connections", sid, user.name)
            raise socketio.exceptions.ConnectionRefusedError(
                ErrorCode.RATE_LIMITED, {"detail": "too many open connections for this user"}
            )
        self.quotas.connect(user.id)
        now = time.monotonic()
        token = auth.get("token") if isinstance(auth, dict) else None
        conn = Connection(
            sid, user, client_id,
            TokenBucket(self.settings.rate_limit, self.settings.rate_burst, now),
            hash_token(token) if isinstance(token, str) and token else None,
        )
        self.connections[sid] = conn
        key = (user.id, client_id)
        try:
            previous = await self.clients.claim(f"{user.id}:{client_id}", sid)
        except BaseException:  # refused after all: python-socketio sends no disconnect for it
            del self.connections[sid]
            self.quotas.disconnect(user.id)
            raise
        returning = key in self._seen or previous is not None
        self._seen[key] = None
        self._seen.move_to_end(key)
        if len(self._seen) > RECENT_CLIENT_IDS:
            self._seen.popitem(last=False)
        await self.sio.enter_room(sid, user_room(user.id))
        self.metrics.connections.inc()
        transport = self.sio.transport(sid)
        log.info(
            "[SocketIO] %s user=%s client_id=%s sid=%s transport=%s",
            "reconnect" if returning else "connect", user.name, client_id, sid, transport,
        )
        # hello must follow the connection's acceptance, which python-socketio sends when this
        # handler returns; a task scheduled now runs after that.
        self.tasks.spawn(self._after_connect(conn, previous), name=f"hello:{sid}")

    def hello(self, user: User) -> dict[str, Any]:
        """The ``hello`` payload: who the user is and this server's limits."""
        eio = self.sio.eio
        push = self.push.hello() if self.push is not None else None
        return {
            "protocol": p.PROTOCOL_VERSION,
            "server_id": self.server_id,
            "user": user.out(),
            "limits": {
                "max_message_chars": self.settings.max_message_chars,
                "history_limit": self.settings.history_limit,
                "max_resume": self.settings.max_resume,
                # Engine.IO's own settings, in milliseconds as in its handshake.
                "ping_interval": round(eio.ping_interval * 1000),
                "ping_timeout": round(eio.ping_timeout * 1000),
            },
            "agents": self.agents.describe(),
            "default_agent": self.agents.default,
            # Web Push: the VAPID public key to subscribe with; absent when push is off.
            **({"push": push} if push is not None else {}),
        }

    async def _after_connect(self, conn: Connection, previous: str | None) -> None:
        await self.sio.emit(Event.HELLO, self.hello(conn.user), to=conn.sid)
        # The registry forgets a socket when it disconnects, so a previous holder is a live
        # connection, on this node or another.
        if previous is not None and previous != conn.sid:
            self.metrics.takeovers.inc()
            log.info(
                "[SocketIO] takeover user=%s client_id=%s sid=%s replaces sid=%s",
                conn.user.name, conn.client_id, conn.sid, previous,
            )
            await self.sio.disconnect(previous)

    async def close(self) -> None:
        """Cancel the connection work still under way (at shutdown)."""
        await self.tasks.close()

    async def on_disconnect(self, sid: str, reason: object = None) -> None:
        conn = self.connections.pop(sid, None)
        if conn is None:
            return
        # Forgets the client_id only if it still points here: a takeover has already moved it.
        await self.clients.release(f"{conn.user.id}:{conn.client_id}", sid)
        self.quotas.disconnect(conn.user.id)
        if self.push is not None:
            await self.push.disconnected(sid)
        self.metrics.connections.dec()
        self.metrics.subscriptions.dec(len(conn.subscriptions))
        log.info(
            "[SocketIO] disconnect user=%s client_id=%s sid=%s reason=%s",
            conn.user.name, conn.client_id, sid, reason,
        )

    # -- requests ---------------------------------------------------------------------------

    def _handler(
        self, event: str, call: Callable[[Connection, Any], Awaitable[Mapping[str, Any]]]
    ) -> Callable[..., Awaitable[dict[str, Any]]]:
        requests = self.metrics.requests
        latency = self.metrics.request_seconds.labels(event)

        async def handle(sid: str, data: object = None, *extra: object) -> dict[str, Any]:
            started = time.perf_counter()
            try:
                conn = self.connections.get(sid)
                if conn is None:
                    raise RequestError(ErrorCode.UNAVAILABLE, "connection is closing")
                if event != Event.HEARTBEAT and not (
                    conn.bucket.take(time.monotonic()) and self.quotas.request(conn.user.id)
                ):
                    raise RequestError(ErrorCode.RATE_LIMITED, "too many requests; slow down")
                result = await call(conn, p.parse_request(event, data))
                ack = {"ok": True, **result}
                outcome = "ok"
            except RequestError as exc:
                ack, outcome = exc.ack(), exc.code
            except Exception as exc:
                if is_unavailable(exc):
                    log.warning("%s: storage unavailable: %s", event, exc)
                    ack = RequestError(ErrorCode.UNAVAILABLE, "storage unavailable; retry").ack()
                    outcome = ErrorCode.UNAVAILABLE
                else:
                    log.exception("%s failed", event)
                    ack = RequestError(ErrorCode.INTERNAL, "internal error").ack()
                    outcome = ErrorCode.INTERNAL
            requests.labels(event, outcome).inc()
            latency.observe(time.perf_counter() - started)
            return ack

        return handle

    async def _create_session(self, conn: Connection, req: p.CreateSession) -> SessionAck:
        if not await self.quotas.may_create_session(conn.user.id) and not (
            req.id is not None and await self.service.store.session_owner(req.id) == conn.user.id
        ):  # (an idempotent retry of a creation that worked still answers)
            raise RequestError(ErrorCode.RATE_LIMITED, "too many sessions for this user")
        return await self.service.create_session(conn.user, req)

    async def _subscribe(self, conn: Connection, req: p.Subscribe) -> SubscribeAck:
        async def join() -> None:
            await self.sio.enter_room(conn.sid, session_room(req.session_id))
            if req.session_id not in conn.subscriptions:
                conn.subscriptions.add(req.session_id)
                self.metrics.subscriptions.inc()

        return await self.service.subscribe(conn.user, req, join)

    async def _unsubscribe(self, conn: Connection, req: p.Unsubscribe) -> NoFields:
        async def leave() -> None:
            await self.sio.leave_room(conn.sid, session_room(req.session_id))
            if req.session_id in conn.subscriptions:
                conn.subscriptions.discard(req.session_id)
                self.metrics.subscriptions.dec()

        return await self.service.unsubscribe(conn.user, req, leave)
