"""Close Engine.IO sessions that never join the namespace.

An Engine.IO session (a polling handshake, or a WebSocket that answers pings) costs the server
memory and a file descriptor before the client has said who it is: authentication happens only
when it sends Socket.IO's CONNECT. A session that has not joined ``/`` within ``timeout`` seconds
is closed. The timer starts in front of python-socketio's Engine.IO ``connect`` handler,
registered through Engine.IO's public ``on()``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import socketio

log = logging.getLogger("tether.edge")


def close_unjoined_sessions(
    sio: socketio.AsyncServer, timeout: float, namespace: str = "/"
) -> None:
    """Arm a ``timeout`` for every new Engine.IO session of ``sio`` (call once)."""
    eio = sio.eio
    handle: Callable[..., Awaitable[Any]] = eio.handlers["connect"]
    closing: set[asyncio.Task[None]] = set()

    def check(eio_sid: str) -> None:
        # A timer, not a sleeping task per session: most sessions join at once.
        if eio_sid in eio.sockets and sio.manager.sid_from_eio_sid(eio_sid, namespace) is None:
            log.info("[SocketIO] no CONNECT within %gs; closing eio_sid=%s", timeout, eio_sid)
            task = asyncio.get_running_loop().create_task(eio.disconnect(eio_sid))
            closing.add(task)
            task.add_done_callback(closing.discard)

    async def connect(eio_sid: str, environ: dict[str, Any], *args: Any) -> Any:
        result = await handle(eio_sid, environ, *args)
        if result is not False:
            asyncio.get_running_loop().call_later(timeout, check, eio_sid)
        return result

    eio.on("connect", connect)
