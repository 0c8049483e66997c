"""The HTTP and Engine.IO edge: what a request or connection must pass before Tether's own code
sees it. docs/security.md says what each part defends against and which setting governs it.

- :func:`guard` wraps the whole ASGI application (HTTP routes and both Engine.IO transports):
  the ``Host`` check (:mod:`.hosts`) and the security headers (:mod:`.headers`).
- :func:`harden` sets up the Socket.IO server: binary packets refused (:mod:`.packets`),
  sessions that never join closed (:mod:`.handshake`), send queues bounded (:mod:`.sendqueue`),
  the opening request's body reader dropped (:mod:`.environ`), pings on timers (:mod:`.pings`),
  the WebSocket reader without a task per message (:mod:`.reader`).
- :func:`.connections.protocol_options` is for uvicorn: per-address cap, header/body deadlines.
"""

from __future__ import annotations

import socketio
from starlette.types import ASGIApp

from tether.edge.environ import drop_connect_body_reader
from tether.edge.handshake import close_unjoined_sessions
from tether.edge.headers import SecurityHeaders
from tether.edge.hosts import HostGuard
from tether.edge.packets import refuse_binary_packets
from tether.edge.pings import install_ping_timers
from tether.edge.reader import install_pinned_reader
from tether.edge.sendqueue import bound_send_queues
from tether.settings import Settings


def guard(app: ASGIApp, settings: Settings) -> ASGIApp:
    """``app`` behind the Host check and with security headers on every HTTP response."""
    return SecurityHeaders(HostGuard(app, settings.allowed_hosts, enforce=settings.is_loopback))


def harden(sio: socketio.AsyncServer, settings: Settings) -> None:
    """Install the Engine.IO-level limits on ``sio``, and what trims the memory each of its
    connections holds (once, right after building it)."""
    refuse_binary_packets(sio)
    close_unjoined_sessions(sio, settings.connect_timeout)
    bound_send_queues(sio.eio, settings.send_queue_bytes)
    drop_connect_body_reader(sio)
    install_ping_timers()
    install_pinned_reader()
