"""Wiring: one Tether server = store + runs + service + Socket.IO gateway + HTTP routes."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import uuid
from collections.abc import AsyncIterator
from typing import Any

import socketio
from starlette.applications import Starlette

from tether import jsoncodec
from tether.accounts import Accounts
from tether.agents.config import load_agents
from tether.client_logs import FrontendLogWriter
from tether.cluster import (
    FanoutRepair,
    LocalClients,
    RedisClients,
    RedisControl,
    TrackedRedisManager,
)
from tether.db.engine import create_engine
from tether.delivery import BroadcastManager, TextPacket, install_fast_writer
from tether.gateway import Gateway, SocketBus
from tether.http import probe, routes
from tether.metrics import Metrics
from tether.packetlog import engineio_logger
from tether.revocation import TokenWatch
from tether.runs import RunManager
from tether.service import ChatService
from tether.settings import Settings
from tether.store import Store
from tether.streams import LocalStreams, RedisStreams


def new_server_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


class Tether:
    """One server process's parts, built from settings."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.server_id = new_server_id()
        self.metrics = Metrics()
        self.engine = create_engine(
            settings.resolved_database_url, sqlite_busy_timeout=settings.sqlite_busy_timeout
        )
        self.store = Store(self.engine)
        self.accounts = Accounts(self.engine)
        self.agents = load_agents(
            settings.data_dir, settings.agent, settings.echo_delay, dict(os.environ)
        )
        self.redis: Any = None
        self.control: RedisControl | None = None
        self.streams: LocalStreams
        clients: LocalClients | RedisClients
        manager: BroadcastManager
        if settings.redis_url:
            import redis.asyncio

            prefix = settings.redis_prefix
            self.redis = redis.asyncio.Redis.from_url(
                settings.redis_url, socket_timeout=5, socket_connect_timeout=5
            )
            self.repair = FanoutRepair(None, self.redis.ping)
            manager = TrackedRedisManager(
                settings.redis_url,
                f"{prefix}:socketio",
                self.repair.publish_failed,
                self.repair.listen_restored,
            )
            self.streams = RedisStreams(self.redis, prefix)
            self.control = RedisControl(self.redis, prefix)
            clients = RedisClients(self.redis, prefix)
        else:
            self.streams = LocalStreams()
            clients = LocalClients()
            manager = BroadcastManager()
        install_fast_writer()
        self.sio = socketio.AsyncServer(
            async_mode="asgi",
            client_manager=manager,
            serializer=TextPacket,
            ping_interval=settings.ping_interval,
            ping_timeout=settings.ping_timeout,
            cors_allowed_origins=settings.cors_origins or None,
            json=jsoncodec,
            engineio_logger=engineio_logger(),
        )
        if settings.redis_url:
            self.repair.sio = self.sio
        bus = SocketBus(self.sio)
        self.runs = RunManager(
            self.store,
            self.streams,
            bus,
            self.agents,
            self.metrics,
            runner_id=self.server_id,
            delta_interval=settings.delta_interval,
            checkpoint_interval=settings.checkpoint_interval,
            lease=settings.lease_seconds,
            relay=self.control,
        )
        self.service = ChatService(
            self.store, self.runs, self.streams, bus, self.agents, self.metrics, settings
        )
        self.gateway = Gateway(
            self.sio,
            self.service,
            self.accounts,
            self.agents,
            self.metrics,
            settings,
            self.server_id,
            clients,
        )
        self.token_watch = TokenWatch(
            self.accounts, self.gateway.connections, self.sio.disconnect,
            settings.token_recheck_seconds,
        )
        self.frontend_logs = FrontendLogWriter(settings.logs_dir / "frontend")
        self.http = Starlette(routes=routes(self), lifespan=self._lifespan)
        self.asgi: Any = socketio.ASGIApp(self.sio, other_asgi_app=self.http)

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: Starlette) -> AsyncIterator[None]:
        if self.control is not None:
            self.control.start(self.runs.cancel_local)
        await self.runs.start(single_process=self.settings.redis_url is None)
        self.token_watch.start()
        try:
            yield
        finally:
            await self.token_watch.stop()
            await self.runs.shutdown()
            if self.control is not None:
                await self.control.stop()
            await self.store.close()
            if self.redis is not None:
                await self.redis.aclose()

    async def readiness_problems(self, timeout: float) -> list[str]:
        checks = [probe("database", self.store.ping, timeout)]
        if self.redis is not None:
            checks.append(probe("redis", self.redis.ping, timeout))
        return [p for p in await asyncio.gather(*checks) if p]


def create_app(settings: Settings | None = None) -> Any:
    """The ASGI application (for uvicorn and tests)."""
    return Tether(settings or Settings()).asgi
