"""Limits on the TCP connections themselves, below ASGI: a cap per client address, and
deadlines for a request's headers and body.

uvicorn has a keep-alive timeout between requests, but nothing bounds how long a client may take
to send one (a slow-header or slow-body client holds its connection for as long as it likes), and
its ``limit_concurrency`` is one count for everyone. :func:`guarded_protocol` makes a subclass of
uvicorn's httptools protocol (``uvicorn.Config(http=...)`` takes a protocol class) that adds both,
using only the asyncio ``Protocol`` methods and the parser callbacks httptools calls.

Each accepted socket also gets Linux's ``TCP_USER_TIMEOUT``: data the client leaves
unacknowledged (it stopped reading: its window stays shut) for that long makes the kernel drop the
connection, which ends the ASGI connection too; nothing in user space can abort a WebSocket whose
writer is blocked on a peer that never reads.

Connections are counted by transport, not by protocol object, because a WebSocket upgrade hands
the transport to another protocol; a transport that is closing no longer counts.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections import defaultdict
from typing import TYPE_CHECKING, Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from tether.edge.frames import FramedWebSocketProtocol

if TYPE_CHECKING:
    from tether.settings import Settings

log = logging.getLogger("tether.edge")

TOO_MANY = (
    b"HTTP/1.1 429 Too Many Requests\r\ncontent-type: text/plain; charset=utf-8\r\n"
    b"content-length: 38\r\nconnection: close\r\n\r\ntoo many connections from this address\n"
)


class AddressBook:
    """The open transports of each client address."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.open: defaultdict[str, set[asyncio.BaseTransport]] = defaultdict(set)

    def admit(self, address: str, transport: asyncio.BaseTransport) -> bool:
        """Count ``transport`` for ``address``; False (not counted) when the cap is reached."""
        if not self.cap:
            return True
        live = {t for t in self.open.get(address, ()) if not t.is_closing()}
        if len(live) >= self.cap:
            self.open[address] = live
            return False
        live.add(transport)
        self.open[address] = live
        return True

    def release(self, address: str, transport: asyncio.BaseTransport) -> None:
        live = self.open.get(address)
        if live is not None:
            live.discard(transport)
            if not live:
                del self.open[address]


def set_send_timeout(transport: asyncio.BaseTransport, seconds: float) -> None:
    """``TCP_USER_TIMEOUT`` on the transport's socket, where the platform has it."""
    sock = transport.get_extra_info("socket")
    option = getattr(socket, "TCP_USER_TIMEOUT", None)
    if sock is not None and option is not None:
        try:
            sock.setsockopt(socket.IPPROTO_TCP, option, int(seconds * 1000))
        except OSError:
            pass  # not a TCP socket (a Unix socket in tests, say)


def guarded_protocol(
    header_timeout: float, body_timeout: float, per_address: int, send_timeout: float = 60.0
) -> type[HttpToolsProtocol]:
    """uvicorn's httptools protocol with the deadlines and the cap (see the module docstring)."""
    book = AddressBook(per_address)

    class GuardedProtocol(HttpToolsProtocol):
        _deadline: asyncio.TimerHandle | None = None
        _address: str | None = None
        _refused = False

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            peer = transport.get_extra_info("peername")
            address = str(peer[0]) if isinstance(peer, tuple) and peer else None
            if address is not None and not book.admit(address, transport):
                log.warning("refused a connection from %s: %d already open", address, book.cap)
                transport.write(TOO_MANY)
                transport.close()
                self.transport = transport
                self._refused = True
                return
            self._address = address
            set_send_timeout(transport, send_timeout)
            super().connection_made(transport)
            self._arm(header_timeout, "headers")

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            if self._address is not None:
                book.release(self._address, self.transport)
            if not self._refused:
                super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            if not self._refused:
                super().data_received(data)

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._arm(header_timeout, "headers")

        def on_headers_complete(self) -> None:
            self._arm(body_timeout, "body")
            super().on_headers_complete()

        def on_message_complete(self) -> None:
            self._disarm()
            super().on_message_complete()

        def handle_websocket_upgrade(self) -> None:
            self._disarm()
            super().handle_websocket_upgrade()

        def _arm(self, seconds: float, part: str) -> None:
            self._disarm()
            self._deadline = self.loop.call_later(seconds, self._expired, part)

        def _disarm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _expired(self, part: str) -> None:
            self._deadline = None
            log.info("closed a connection from %s: its request %s took too long",
                     self._address, part)
            self.transport.close()

    return GuardedProtocol


def protocol_options(settings: Settings) -> dict[str, Any]:
    """The ``uvicorn.Config`` options that install the guard for ``settings``, and the
    WebSocket protocol that lets delivery write frames itself (tether.edge.frames)."""
    return {
        "http": guarded_protocol(
            settings.header_timeout, settings.body_timeout, settings.connections_per_address,
            settings.send_timeout,
        ),
        "ws": FramedWebSocketProtocol,
    }
