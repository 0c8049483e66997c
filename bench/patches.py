"""Experimental server optimisations, applied only by the bench launcher (BENCH_PATCHES=name).

Each function patches the running process; docs/performance.md reports what each one bought.
None of this ships: the proposals there say how to make each change in the real code.
"""

from __future__ import annotations

from typing import Any


def direct_fanout() -> None:
    """Room emits without a task per recipient.

    python-socketio's AsyncManager.emit encodes a broadcast once but then creates one asyncio
    task per recipient (``_send_eio_packet``) and waits for them all. Each recipient's Engine.IO
    socket already has its own queue and writer task, so the packet can go straight into it.
    """
    from engineio import packet as eio_packet
    from socketio import packet
    from socketio.async_manager import AsyncManager

    original = AsyncManager.emit

    async def emit(self: Any, event: str, data: Any, namespace: str, room: Any = None,
                   skip_sid: Any = None, callback: Any = None, to: Any = None,
                   **kwargs: Any) -> None:
        if callback is not None or namespace not in self.rooms:
            return await original(self, event, data, namespace, room=room, skip_sid=skip_sid,
                                  callback=callback, to=to, **kwargs)
        room = to or room
        if isinstance(data, tuple):
            data = list(data)
        elif data is not None:
            data = [data]
        else:
            data = []
        if not isinstance(skip_sid, list):
            skip_sid = [skip_sid]
        encoded = self.server.packet_class(packet.EVENT, namespace=namespace,
                                           data=[event, *data]).encode()
        if not isinstance(encoded, list):
            encoded = [encoded]
        pkts = [eio_packet.Packet(eio_packet.MESSAGE, p) for p in encoded]
        sockets = self.server.eio.sockets
        for sid, eio_sid in self.get_participants(namespace, room):
            if sid in skip_sid:
                continue
            sock = sockets.get(eio_sid)
            if sock is None or sock.closed:
                continue
            for p in pkts:
                sock.queue.put_nowait(p)
        return None

    AsyncManager.emit = emit
