"""Wiring: one Tether = store + cluster + runs + service + Socket.IO gateway + HTTP routes.

``Tether(settings)`` builds every part from settings; each part can be handed in instead
(``agents=``, ``authenticate=``, ``store=``, ``cluster=``), which is how the CLI, the benchmarks
and an application embedding Tether choose their own. The object is an ASGI application, and
:meth:`Tether.lifespan` starts and stops everything it owns. It runs as the top-level app or
mounted under a prefix (``app.mount("/chat", chat)``, docs/embedding.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import uuid
from collections.abc import AsyncIterator, Mapping
from typing import Any

import socketio
from starlette.applications import Starlette
from starlette.types import Receive, Scope, Send

from tether import jsoncodec
from tether.accounts import Accounts
from tether.agents import AgentRegistry
from tether.agents.config import load_agents
from tether.agents.python import as_agent
from tether.auth import Authenticate, app_authenticator, token_authenticator
from tether.client_logs import FrontendLogWriter
from tether.cluster import Cluster, cluster_for
from tether.db.engine import create_engine
from tether.db.migrate import upgrade
from tether.delivery import TextPacket, install_fast_writer
from tether.edge import guard, harden
from tether.edge.pings import advertised_ping_interval
from tether.gateway import Gateway, SocketBus
from tether.http import probe, routes
from tether.metrics import Metrics
from tether.packetlog import engineio_logger
from tether.publish import Publisher
from tether.push import NotifyingBus, PushService
from tether.revocation import TokenWatch
from tether.runs import RunManager
from tether.service import ChatService
from tether.settings import Settings
from tether.store import Store


def new_server_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


class Tether:
    """One server process's parts; an ASGI application.

    :param settings: every setting (``Settings()``, from ``TETHER_*`` variables, by default).
    :param agents: the agents sessions can use: an :class:`AgentRegistry`, or a mapping of
        name to an async generator function or agent object (default: the built-in echo agent
        and ``agents.toml``).
    :param default_agent: with a mapping, the agent new sessions get when they name none
        (default: the mapping's first).
    :param authenticate: who a connection (and a request to Tether's HTTP endpoints) is
        (default: Tether's bearer tokens).
    :param store: storage (default: the database of ``settings.database_url``).
    :param cluster: local, or several nodes over Redis (default: as ``settings.redis_url``
        says).
    :param web: serve the web app (the page and its static files); False mounts only the
        socket and the API endpoints.
    :param migrate: make the data dir and bring the database schema up to date when the
        lifespan starts (what ``tether serve`` does before it builds its Tether; an app
        embedding Tether wants it).
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        agents: AgentRegistry | Mapping[str, object] | None = None,
        default_agent: str | None = None,
        authenticate: Authenticate | None = None,
        store: Store | None = None,
        cluster: Cluster | None = None,
        web: bool = True,
        migrate: bool = False,
    ) -> None:
        self.settings = settings = settings or Settings()
        self.migrate = migrate
        self.server_id = new_server_id()
        self.metrics = Metrics()
        self.store = store or Store(
            create_engine(
                settings.resolved_database_url, sqlite_busy_timeout=settings.sqlite_busy_timeout
            ),
            sqlite_inline=settings.sqlite_inline,
        )
        self.accounts = Accounts(self.store.engine)
        self.agents = registry(agents, default_agent) if agents is not None else load_agents(
            settings.data_dir, settings.agent, settings.echo_delay, dict(os.environ)
        )
        self.cluster = cluster or cluster_for(settings)
        install_fast_writer()
        self.sio = socketio.AsyncServer(
            async_mode="asgi",
            client_manager=self.cluster.manager,
            serializer=TextPacket,
            ping_interval=advertised_ping_interval(settings.ping_interval),
            ping_timeout=settings.ping_timeout,
            cors_allowed_origins=settings.cors_origins or None,
            json=jsoncodec,
            engineio_logger=engineio_logger(),
        )
        harden(self.sio, settings)
        bus = SocketBus(self.sio)
        self.push = PushService(self.store, settings, self.cluster)
        # The ends of answers are pushed too, whether an agent's (the runs) or an app's (the
        # publish API's whole assistant messages).
        notifying = NotifyingBus(bus, self.push.sender)
        self.runs = RunManager(
            self.store,
            self.cluster.streams,
            notifying,
            self.agents,
            self.metrics,
            runner_id=self.server_id,
            delta_interval=settings.delta_interval,
            checkpoint_interval=settings.checkpoint_interval,
            lease=settings.lease_seconds,
            cancels=self.cluster,
        )
        self.cluster.on_cancel(self.runs.cancel_here)
        self.service = ChatService(
            self.store, self.runs, self.cluster.streams, bus, self.agents, self.metrics, settings
        )
        #: The publish API (tether.publish): messages into sessions, and reads, from Python.
        self.publisher = Publisher(self.store, self.runs, self.service, notifying, settings)
        self.post = self.publisher.post
        self.stream = self.publisher.stream
        self.sessions = self.publisher.sessions
        self.messages = self.publisher.messages
        #: Who a connection or an HTTP request is (the gateway and tether.http both ask it).
        self.authenticate: Authenticate = (
            app_authenticator(self.accounts, authenticate) if authenticate is not None
            else token_authenticator(self.accounts, local_allowed=settings.is_loopback)
        )
        self.gateway = Gateway(
            self.sio,
            self.service,
            self.authenticate,
            self.agents,
            self.metrics,
            settings,
            self.server_id,
            self.cluster.clients,
            push=self.push,
        )
        # Revoked tokens lose their open connections; an app's own authenticate decides for
        # itself who may stay, so there is nothing of Tether's to recheck then.
        self.token_watch: TokenWatch | None = None
        if authenticate is None:
            self.token_watch = TokenWatch(
                self.accounts, self.gateway.connections, self.sio.disconnect,
                settings.token_recheck_seconds,
            )
        self.frontend_logs = FrontendLogWriter(
            settings.logs_dir / "frontend", max_day_bytes=settings.client_logs_bytes_per_day
        )
        self.http = Starlette(routes=routes(self, web=web), lifespan=self.lifespan)
        self.asgi: Any = guard(socketio.ASGIApp(self.sio, other_asgi_app=self.http), settings)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.asgi(unmounted(scope), receive, send)

    @contextlib.asynccontextmanager
    async def lifespan(self, app: object = None) -> AsyncIterator[None]:
        """Start the cluster and the runs; at the end stop everything, in order: connection
        work, runs (answers in flight end ``interrupted``), the cluster, the store.

        ``app`` is ignored: Starlette and FastAPI pass themselves (``lifespan=chat.lifespan``);
        inside an app's own lifespan, ``async with chat.lifespan():``."""
        if self.migrate:
            self.settings.logs_dir.mkdir(parents=True, exist_ok=True)  # and the data dir
            await upgrade(self.store.engine)
        self.push.start()
        await self.cluster.start()
        if self.token_watch is not None:
            self.token_watch.start()
        try:
            await self.runs.start(single_process=self.cluster.single_process)
            yield
        finally:
            if self.token_watch is not None:
                await self.token_watch.stop()
            await self.gateway.close()
            await self.runs.shutdown()
            await self.push.close()
            await self.cluster.stop()
            await self.store.close()

    async def readiness_problems(self, timeout: float) -> list[str]:
        checks = [probe("database", self.store.ping, timeout)]
        checks += [probe(name, check, timeout) for name, check in self.cluster.probes().items()]
        return [p for p in await asyncio.gather(*checks) if p]


def registry(agents: AgentRegistry | Mapping[str, object], default: str | None) -> AgentRegistry:
    """The registry of ``agents``: as given, or made of a mapping of name to agent function or
    object (see :func:`tether.agents.python.as_agent`)."""
    if isinstance(agents, AgentRegistry):
        if default is not None:
            raise ValueError("default_agent goes with a mapping of agents; a registry has its own")
        return agents
    if not agents:
        raise ValueError("agents: give at least one")
    return AgentRegistry(
        [as_agent(name, value) for name, value in agents.items()], default or next(iter(agents))
    )


def unmounted(scope: Scope) -> Scope:
    """The scope as Tether sees it when mounted under a prefix: ``path`` without the prefix.

    Starlette's ``Mount`` (and uvicorn's ``--root-path``) keep the full path in ``path`` and
    put the prefix in ``root_path``; python-socketio's ASGIApp matches ``/socket.io/`` against
    ``path`` alone. So the prefix is taken off here, once, and ``root_path`` emptied so that
    Tether's own routes do not take it off a second time (``/chat/chat/...``); the prefix stays
    readable as ``tether.root_path``."""
    root = scope.get("root_path", "")
    path = scope.get("path", "")
    if scope["type"] not in ("http", "websocket") or not root or not path.startswith(root):
        return scope
    rest = path[len(root):]
    if rest and not rest.startswith("/"):
        return scope  # "/chatroom" is not under "/chat"
    raw = scope.get("raw_path")
    if isinstance(raw, bytes) and raw.startswith(root.encode()):
        raw = raw[len(root.encode()):] or b"/"
    return {**scope, "path": rest or "/", "raw_path": raw, "root_path": "",
            "tether.root_path": root}


def create_app(settings: Settings | None = None) -> Any:
    """The ASGI application (for uvicorn and tests)."""
    return Tether(settings or Settings()).asgi
