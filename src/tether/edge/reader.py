"""python-engineio's WebSocket reader without a task and a timeout timer per received message.

``AsyncSocket._websocket_handler`` reads each message from the client by starting a task for
``ws.wait()`` and waiting for it under ``asyncio.wait_for(task, ping_interval + ping_timeout)``:
a task, its coroutine, a waiter future, a timeout timer, done callbacks and context copies, made
for every message and freed at the next. An idle connection receives one message per ping
round (its PONG), so these were about 20 of the 29 tracked objects it renewed per round, the
renewal that grows the garbage collector's youngest generation into the pauses behind the
heartbeat p99 (docs/performance.md, "Idle: heartbeat p99 at 5,000").

The handler installed here is upstream's (4.15.1, fingerprinted in
tests/unit/test_upstream_shapes.py) with the reader awaiting ``ws.wait()`` itself. The silence
limit is kept by a :class:`~tether.edge.pings.SocketWheel` instead: the socket notes when it
starts waiting (``tether_waiting_since``, a float), the wheel looks at it once per limit
(``ping_interval + ping_timeout``), moves it on when something was read meanwhile, and
otherwise cancels the reader's wait, which then ends as upstream's ends on a timeout: the writer
is stopped, the socket closed with ``TRANSPORT_CLOSE``. A socket costs the wheel a slot in a
bucket's list per limit, not an object per message. The upgrade from long polling, the size
limit, binary messages, the client's close and errors behave as upstream's.
"""

from __future__ import annotations

import asyncio
from typing import Any

from engineio import exceptions, packet
from engineio.async_socket import AsyncSocket

from tether.edge.pings import SocketWheel, server_wheel

#: python-engineio's own ``AsyncSocket._websocket_handler``, kept before
#: :func:`install_pinned_reader` replaces it.
UPSTREAM_WEBSOCKET_HANDLER = AsyncSocket._websocket_handler

#: How late the silence check may come (a limit is tens of seconds).
RESOLUTION = 0.5


def silence_limit(sock: AsyncSocket) -> float:
    """How long upstream's reader waits for a message before it gives the connection up."""
    server = sock.server
    return server.ping_interval + server.ping_timeout  # type: ignore[no-any-return]


def silence_wheel(sock: AsyncSocket) -> SocketWheel:
    """The wheel that checks the silence of ``sock``'s server's readers."""
    return server_wheel(
        sock.server, "tether_silence_wheel", min(RESOLUTION, silence_limit(sock) / 10),
        _check_silence,
    )


def _check_silence(sock: AsyncSocket) -> None:
    state = sock.__dict__
    reader: asyncio.Task[Any] | None = state.get("tether_reader")
    if reader is None or reader.done():
        return  # its reader has ended: the socket leaves the wheel
    wheel = silence_wheel(sock)
    since: float | None = state.get("tether_waiting_since")
    if since is None:  # busy with a message (its handler is slow): look again soon
        wheel.add(sock, wheel.resolution)
        return
    left = since + silence_limit(sock) - wheel.loop.time()
    if left > 0:
        wheel.add(sock, left)
        return
    sock.server.logger.info("%s: no message within %ss, closing", sock.sid,
                            silence_limit(sock))
    state["tether_silent"] = True
    reader.cancel()


async def _websocket_handler(self: AsyncSocket, ws: Any) -> None:
    """``AsyncSocket._websocket_handler`` with the pinned reader (see the module docstring)."""
    async def websocket_wait() -> Any:
        data = await ws.wait()
        if data and len(data) > self.server.max_http_buffer_size:
            raise ValueError('packet is too large')
        return data

    if self.connected:
        # the socket was already connected, so this is an upgrade
        self.upgrading = True  # hold packet sends during the upgrade

        try:
            pkt = await websocket_wait()
        except OSError:  # pragma: no cover
            return
        decoded_pkt = packet.Packet(encoded_packet=pkt)
        if decoded_pkt.packet_type != packet.PING or \
                decoded_pkt.data != 'probe':
            self.server.logger.info(
                '%s: Failed websocket upgrade, no PING packet', self.sid)
            self.upgrading = False
            return
        await ws.send(packet.Packet(packet.PONG, data='probe').encode())
        await self.queue.put(packet.Packet(packet.NOOP))  # end poll

        try:
            pkt = await websocket_wait()
        except OSError:  # pragma: no cover
            self.upgrading = False
            return
        decoded_pkt = packet.Packet(encoded_packet=pkt)
        if decoded_pkt.packet_type != packet.UPGRADE:
            self.upgraded = False
            self.server.logger.info(
                ('%s: Failed websocket upgrade, expected UPGRADE packet, '
                 'received %s instead.'),
                self.sid, pkt)
            self.upgrading = False
            return
        self.upgraded = True
        self.upgrading = False
    else:
        self.connected = True
        self.upgraded = True

    # start separate writer thread
    async def writer() -> None:
        while True:
            packets = None
            try:
                packets = await self.poll()
            except exceptions.QueueEmpty:
                break
            if not packets:
                # empty packet list returned -> connection closed
                break
            try:
                for pkt in packets:
                    await ws.send(pkt.encode())
            except:  # noqa: E722 (upstream's)
                break
        await ws.close()

    writer_task = asyncio.ensure_future(writer())

    self.server.logger.info(
        '%s: Upgrade to websocket successful', self.sid)

    state = self.__dict__
    reader = asyncio.current_task()
    loop = asyncio.get_running_loop()
    state["tether_reader"] = reader
    state["tether_waiting_since"] = loop.time()
    silence_wheel(self).add(self, silence_limit(self))
    try:
        limit = self.server.max_http_buffer_size
        while True:
            p = None
            state["tether_waiting_since"] = loop.time()
            try:
                p = await ws.wait()  # websocket_wait() inlined: a coroutine less per message
                if p and len(p) > limit:
                    raise ValueError('packet is too large')
            except asyncio.CancelledError:
                # Upstream's reader ends on a cancelled wait too; the silence check's cancel
                # is taken back, so the code below runs as after upstream's timeout.
                if state.pop("tether_silent", False) and reader is not None:
                    reader.uncancel()
                break
            except:  # noqa: E722 (upstream's: a size error, a disconnect)
                break
            finally:
                state["tether_waiting_since"] = None
            if p is None:
                # connection closed by client
                break
            pkt = packet.Packet(encoded_packet=p)
            try:
                await self.receive(pkt)
            except exceptions.UnknownPacketError:  # pragma: no cover
                pass
            except exceptions.SocketIsClosedError:  # pragma: no cover
                self.server.logger.info('Receive error -- socket is closed')
                break
            except:  # pragma: no cover  # noqa: E722
                # if we get an unexpected exception we log the error and exit
                # the connection properly
                self.server.logger.exception('Unknown receive error')
            # Not kept while waiting for the next one: tracked objects outliving their use.
            del pkt, p
    finally:
        state["tether_reader"] = None

    await self.queue.put(None)  # unlock the writer task so it can exit
    await asyncio.wait_for(writer_task, timeout=None)
    await self.close(wait=False, abort=True,
                     reason=self.server.reason.TRANSPORT_CLOSE)
    # The connection is over: the wheels may still hold the socket until its next check, but
    # not its WebSocket protocol (tether.delivery writes only to open sockets).
    state.pop("tether_frames", None)


def install_pinned_reader() -> None:
    """Make every Engine.IO WebSocket read without a task per message (process-wide,
    idempotent)."""
    AsyncSocket._websocket_handler = _websocket_handler
