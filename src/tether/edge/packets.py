"""Refuse Socket.IO binary packets: Tether's protocol has none.

python-socketio decodes a ``BINARY_EVENT`` header such as ``451000000-["send",…]`` and then keeps
every following binary Engine.IO message as an attachment of that packet, in memory, until the
announced count arrives (``AsyncServer._binary_packet``); nothing bounds the count or the bytes
(the CVE-2026-33151 class). The guard sits in front of python-socketio's Engine.IO ``message``
handler, registered through Engine.IO's public ``on()``: a binary Engine.IO message, or a
Socket.IO packet of type 5 (``BINARY_EVENT``) or 6 (``BINARY_ACK``), closes the connection before
python-socketio sees it, so no attachment is ever buffered.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import socketio
from socketio import packet

log = logging.getLogger("tether.edge")

BINARY_TYPES = (str(packet.BINARY_EVENT), str(packet.BINARY_ACK))


def is_binary(data: object) -> bool:
    """Whether an Engine.IO message is, or announces, a binary Socket.IO packet."""
    if isinstance(data, bytes | bytearray | memoryview):
        return True
    return isinstance(data, str) and data[:1] in BINARY_TYPES


def refuse_binary_packets(sio: socketio.AsyncServer) -> None:
    """Close any connection that sends a binary packet (call once, after building ``sio``)."""
    eio = sio.eio
    handle: Callable[[str, Any], Awaitable[None]] = eio.handlers["message"]

    async def message(eio_sid: str, data: Any) -> None:
        if is_binary(data):
            log.warning("[SocketIO] binary packet refused; closing eio_sid=%s", eio_sid)
            await eio.disconnect(eio_sid)
            return
        await handle(eio_sid, data)

    eio.on("message", message)
