"""Server settings: flags override ``TETHER_*`` environment variables, which override defaults."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every setting of ``tether serve``; the environment variable is ``TETHER_`` + the name."""

    model_config = SettingsConfigDict(env_prefix="TETHER_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    data_dir: Path = Path("./tether-data")
    #: SQLAlchemy URL; ``sqlite:///path`` and ``postgresql://...`` are accepted as written.
    database_url: str | None = None
    #: Redis URL for several nodes (fan-out, shared stream state); None for a single process.
    redis_url: str | None = None
    #: Prefix of every Redis key and channel, so several deployments can share one Redis.
    redis_prefix: str = Field("tether", min_length=1, max_length=64)
    #: The agent of sessions created without naming one.
    agent: str = "echo"
    echo_delay: float = Field(0.03, ge=0)
    ping_interval: float = Field(25, gt=0)
    ping_timeout: float = Field(20, gt=0)
    history_limit: int = Field(15, ge=1, le=200)
    max_resume: int = Field(1000, ge=1)
    max_message_chars: int = Field(32000, ge=1)
    #: Requests per second per connection (token bucket), and the burst it allows.
    rate_limit: float = Field(50, gt=0)
    rate_burst: int = Field(100, ge=1)
    #: Failed sign-ins allowed per client address at once, and how many more per minute after;
    #: past that every attempt from the address is refused ``rate_limited`` (tether.limits).
    auth_failures_burst: int = Field(20, ge=1)
    auth_failures_per_minute: float = Field(20, gt=0)
    #: Per user: open connections (on each node), stored sessions, and requests per second
    #: (with their burst) across all the user's connections on a node.
    max_connections_per_user: int = Field(50, ge=1)
    max_sessions_per_user: int = Field(10_000, ge=1)
    user_rate_limit: float = Field(100, gt=0)
    user_rate_burst: int = Field(200, ge=1)
    #: How often each node checks that the tokens of its open connections still exist; a
    #: revoked token's connections are closed within about this long (tether.revocation).
    token_recheck_seconds: float = Field(5.0, gt=0)
    #: How often a streaming message's text so far is written to its row.
    checkpoint_interval: float = Field(1.0, gt=0)
    #: At most one ``delta`` per stream per this many seconds.
    delta_interval: float = Field(0.015, ge=0)
    #: How long a process's claim on a session's runs holds without renewal (renewed every
    #: third of it); a node that died is noticed within about this long.
    lease_seconds: float = Field(10.0, gt=0)
    #: How long ``tether serve`` waits for a database that is unreachable at start (a node
    #: started while PostgreSQL restarts) before it gives up; 0 gives up at once.
    startup_wait: float = Field(60.0, ge=0)
    #: SQLite only: how long a writer waits for a lock before the request answers ``unavailable``.
    sqlite_busy_timeout: float = Field(5.0, ge=0)
    #: SQLite only: run the store's transactions on the event loop's thread (a lock held by
    #: another process is waited for in a thread); false (the default) runs them in threads.
    #: Off by default: cheaper per send at a given rate, but measured slower where the
    #: server saturates its core (docs/performance.md, branch ``inline``).
    sqlite_inline: bool = False
    #: ``auto`` runs on uvloop where it is installed (it comes with uvicorn[standard]), as
    #: uvicorn's own ``--loop auto`` does; ``asyncio`` forces the standard library's loop.
    event_loop: Literal["auto", "uvloop", "asyncio"] = "auto"
    cors_origins: list[str] = Field(default_factory=list)
    #: Host header values the server answers to (``name`` or ``name:port``, ``*.example.com``
    #: for subdomains, ``*`` for any). Empty: on loopback only the loopback names and
    #: addresses with the served port (a DNS-rebinding guard); beyond loopback any host.
    allowed_hosts: list[str] = Field(default_factory=list)
    #: Seconds an Engine.IO session may stay without joining the namespace (sending CONNECT).
    connect_timeout: float = Field(10.0, gt=0)
    #: Seconds a client may take to send a request's headers, and then its body.
    header_timeout: float = Field(10.0, gt=0)
    body_timeout: float = Field(30.0, gt=0)
    #: Open TCP connections per client address; 0 is no cap. Default: 64 beyond loopback,
    #: none on loopback (every local client shares 127.0.0.1).
    max_connections_per_address: int | None = Field(None, ge=0)
    #: Bytes that may wait in one connection's send queue; a connection whose client reads
    #: slower than it is sent to is dropped past this (it resumes with ``after_seq``).
    send_queue_bytes: int = Field(8_000_000, ge=1024)
    #: Seconds data sent to a client may stay unacknowledged (it stopped reading, or vanished)
    #: before the kernel drops the connection (Linux ``TCP_USER_TIMEOUT``).
    send_timeout: float = Field(60.0, gt=0)
    #: ``/metrics``: with a token, only ``Authorization: Bearer <it>`` may read it; without,
    #: it is open on loopback and closed (404) beyond, unless ``metrics_public`` opens it.
    metrics_token: str | None = None
    metrics_public: bool = False
    #: Browser logs (``POST /api/client-logs``): bytes a day for all clients together, and
    #: batches per second per user (with the burst allowed).
    client_logs_bytes_per_day: int = Field(200_000_000, ge=1)
    client_logs_rate: float = Field(2.0, gt=0)
    client_logs_burst: int = Field(20, ge=1)
    log_level: str = "INFO"
    #: Web Push (tether.push): answers that end while nobody looks are pushed to the devices
    #: that subscribed. The VAPID private key (PEM or base64url; several nodes must share one)
    #: defaults to one generated into the data dir; ``vapid_subject`` is the contact push
    #: services see (a ``mailto:`` or ``https:`` URL; Apple's refuses ``localhost``).
    push_enabled: bool = True
    vapid_private_key: str | None = None
    vapid_subject: str = Field("mailto:admin@localhost", pattern=r"^(mailto:|https://)")
    #: Requests to push services at once, seconds each may take, and how long a push service
    #: keeps a push for a device that is offline.
    push_concurrency: int = Field(8, ge=1)
    push_timeout: float = Field(10.0, gt=0)
    push_ttl: int = Field(3600, ge=0)
    #: Subscriptions kept per user (the least recently registered go first).
    push_max_per_user: int = Field(20, ge=1)
    #: Seconds a tab's ``presence`` report holds unless renewed.
    push_presence_seconds: float = Field(120.0, gt=0)
    #: Accept ``http://`` push endpoints (tests against a local push service only).
    push_allow_http: bool = False
    #: Accept push endpoints on loopback, private and reserved addresses (tests against a local
    #: push service only; see tether.push.egress).
    push_allow_private: bool = False
    #: ``tether serve --signin NAME``: mint a token for NAME at start and print its sign-in
    #: link and QR code (for a phone on the same network).
    signin: str | None = None

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        value = value.upper()
        if value not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError("must be DEBUG, INFO, WARNING or ERROR")
        return value

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str | None) -> str | None:
        if value:
            from tether.db.engine import async_url

            async_url(value)  # raises BadDatabaseURL (a ValueError) with the reason
        return value or None

    @property
    def resolved_database_url(self) -> str:
        """The database URL, defaulting to ``tether.db`` in the data dir."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'tether.db').resolve()}"

    @property
    def logs_dir(self) -> Path:
        return self.data_dir / "logs"

    @property
    def connections_per_address(self) -> int:
        """The per-address connection cap in force (0: none)."""
        if self.max_connections_per_address is not None:
            return self.max_connections_per_address
        return 0 if self.is_loopback else 64

    @property
    def metrics_open(self) -> bool:
        """Whether ``/metrics`` answers without a token."""
        return self.metrics_token is None and (self.metrics_public or self.is_loopback)

    @property
    def is_loopback(self) -> bool:
        """True when the server is reachable from this machine only."""
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False
