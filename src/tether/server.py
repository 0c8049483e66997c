"""``tether serve``: check the data dir and database, migrate, then run uvicorn."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import socket
import sys
from collections.abc import Callable

import segno
import uvicorn

from tether.accounts import Accounts
from tether.agents import UnknownAgent
from tether.agents.config import AgentConfigError
from tether.app import Tether
from tether.db.engine import check_sqlite_directory, create_engine, describe_error
from tether.db.migrate import upgrade
from tether.edge.connections import protocol_options
from tether.netaddr import public_urls
from tether.runs.retry import patiently
from tether.settings import Settings

log = logging.getLogger("tether.server")


class StartupError(Exception):
    """The server cannot start; the message says why and what to do."""


def check_data_dir(settings: Settings) -> None:
    try:
        settings.logs_dir.mkdir(parents=True, exist_ok=True)
        probe = settings.data_dir / ".write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        reason = exc.strerror or exc
        raise StartupError(f"cannot use data dir {settings.data_dir}: {reason}") from None


async def prepare_database(settings: Settings) -> tuple[bool, str | None]:
    """Apply migrations; whether any token exists, and the ``--signin`` token if asked for.
    A database that is unreachable (not one that refuses) is waited for, up to
    ``settings.startup_wait`` seconds: a node started while PostgreSQL restarts comes up."""
    try:
        check_sqlite_directory(settings.resolved_database_url)
    except ValueError as exc:
        raise StartupError(str(exc)) from None
    engine = create_engine(
        settings.resolved_database_url, sqlite_busy_timeout=settings.sqlite_busy_timeout
    )
    try:
        await patiently(lambda: upgrade(engine), "start-up", patience=settings.startup_wait)
        accounts = Accounts(engine)
        # Not retried: a token created whose reply was lost would be created twice.
        token = await accounts.create_token(settings.signin) if settings.signin else None
        has_tokens = await patiently(
            accounts.has_tokens, "start-up", patience=settings.startup_wait
        )
        return has_tokens, token
    except Exception as exc:
        raise StartupError(f"cannot open the database: {describe_error(exc)}") from None
    finally:
        await engine.dispose()


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, as getaddrinfo would give: asyncio's own loop sets TCP_NODELAY on accepted
    # connections only for sockets that say they are TCP (uvloop sets it on any).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise StartupError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.listen(2048)
    sock.setblocking(False)
    return sock


def dump_tasks() -> None:
    """Log the stack of every asyncio task (``kill -USR1 <pid>``), to see what a stuck server
    is waiting for."""
    import io

    out = io.StringIO()
    for task in asyncio.all_tasks():
        out.write(f"--- {task.get_name()}\n")
        task.print_stack(limit=12, file=out)
    log.warning("asyncio tasks on SIGUSR1:\n%s", out.getvalue())


#: The garbage collector's thresholds under ``tether serve`` (CPython's are 700, 10, 10).
COLLECTOR_THRESHOLDS = (10_000, 10, 10)


def tune_collector() -> None:
    """Collect the youngest generation every 10,000 net allocations instead of 700.

    A reconnect allocates a few hundred tracked objects that live as long as the connection,
    and many that live for one request; at 700 the collector walks the young ones so often
    that a thousand reconnects cost about 300 young and 30 middle collections, and promoting
    what is alive at each (the half-finished handshakes) sets off full collections, of every
    connection's objects, two or three per storm: about a third of the server's CPU per
    reconnect (docs/performance.md, "Reconnects, third pass"). A young collection of 10,000
    objects takes a few milliseconds. Only for ``tether serve``: a mounted Tether leaves the
    host process's collector alone."""
    gc.set_threshold(*COLLECTOR_THRESHOLDS)


#: Makes the server's Tether from its settings (``Tether`` itself, or a caller's own parts).
Build = Callable[[Settings], Tether]


async def serve(settings: Settings, build: Build = Tether) -> None:
    tune_collector()
    check_data_dir(settings)
    has_tokens, signin_token = await prepare_database(settings)
    if not settings.is_loopback and not has_tokens:
        raise StartupError(
            f"refusing to serve on {settings.host}, reachable from other machines, while no "
            "token exists: create one with `tether token create NAME` first"
        )
    try:
        tether = build(settings)
    except (AgentConfigError, UnknownAgent) as exc:
        raise StartupError(str(exc).strip("'\"")) from None
    sock = bind(settings.host, settings.port)
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        tether.asgi,
        log_level="warning",
        access_log=False,
        ws_ping_interval=None,
        ws_ping_timeout=None,
        lifespan="on",
        timeout_graceful_shutdown=5,
        **protocol_options(settings),
    )
    server = uvicorn.Server(config)
    url, *other_urls = public_urls(settings.host, port)
    mode = "tokens required" if has_tokens or not settings.is_loopback else "local mode, no token"
    print(f"Tether {tether.server_id} listening on {url} ({mode})", flush=True)
    if other_urls:
        print(f"Also reachable at: {', '.join(other_urls)}", flush=True)
    if signin_token is not None:
        link = f"{url}?token={signin_token}"
        print(f"Sign-in link for {settings.signin} (a new token; open it on your phone):")
        print(link, flush=True)
        segno.make(link, error="m").terminal(compact=True)
    elif not settings.is_loopback:
        print(
            f"Sign a browser in with `tether serve --signin NAME`, or a link from "
            f"`tether token create NAME --url {url}`; both print a QR code.",
            flush=True,
        )
    log.info("serving on %s, database %s", url, settings.resolved_database_url.split("@")[-1])
    asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, dump_tasks)
    await server.serve(sockets=[sock])


def loop_factory(choice: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """The event loop ``tether serve`` runs on: uvloop when asked for, or for ``auto`` when
    it is installed; None for the standard library's."""
    if choice == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        if choice == "uvloop":
            raise StartupError("TETHER_EVENT_LOOP=uvloop, but uvloop is not installed") from None
        return None
    return uvloop.new_event_loop


def run(settings: Settings, build: Build = Tether) -> int:
    try:
        with asyncio.Runner(loop_factory=loop_factory(settings.event_loop)) as runner:
            runner.run(serve(settings, build))
    except StartupError as exc:
        print(f"tether: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    return 0
