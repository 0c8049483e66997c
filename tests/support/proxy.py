"""A loopback TCP proxy with fault modes, put between a client and a server under test.

* ``drop_all()``: a *silent* drop, the way a phone's suspended network does it. Relaying stops in
  both directions (or only server to client) and neither end is told anything (no FIN, no RST),
  while new connections are still accepted and relayed normally.
* ``sever()``: a cut. Every carried connection is reset and new ones are refused until
  ``restore()``, the way a backing service (PostgreSQL, Redis) goes away without touching it.
* ``pause()``: a stall. Nothing is relayed (and nothing lost) until ``resume()``, the way a
  congested or briefly frozen link delays everything on it.

    proxy = await FaultProxy("127.0.0.1", server.port).start()
    page.goto(proxy.url)
    proxy.drop_all()      # every carried connection goes quiet, forever
    ...
    await proxy.close()   # finally aborts everything it held
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field


@dataclass(eq=False)
class Link:
    """One carried connection: the client side, the server side, and their two pumps."""

    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter
    pumps: list[asyncio.Task[None]] = field(default_factory=list)
    dropped: bool = False
    closed: bool = False
    #: The first line the client sent, e.g. ``GET /socket.io/?EIO=4&transport=websocket HTTP/1.1``.
    first_line: str = ""

    def abort(self) -> None:
        for pump in self.pumps:
            pump.cancel()
        for writer in (self.client, self.upstream):
            with contextlib.suppress(Exception):
                writer.transport.abort()
        self.closed = True


class FaultProxy:
    def __init__(self, target_host: str, target_port: int, host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self.host = host
        self.port = 0
        self.links: list[Link] = []
        self.accepted = 0
        #: While True (after ``sever()``), new connections are reset at once.
        self.cut = False
        #: Set while relaying; cleared by ``pause()``.
        self.flowing = asyncio.Event()
        self.flowing.set()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def live(self) -> list[Link]:
        """The links still relaying: not dropped, not closed."""
        return [link for link in self.links if not link.dropped and not link.closed]

    async def start(self) -> FaultProxy:
        self._server = await asyncio.start_server(self._accept, self.host, 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def drop_all(self, upstream: bool = True, only: str | None = None) -> int:
        """Stop relaying on every current connection without closing it; returns how many.

        The sockets stay open (the kernel still acknowledges what arrives), so the peers see a
        connection that is up but silent: no FIN, no RST, no data. With ``upstream=False`` only
        the server-to-client direction goes quiet: requests still reach the server but their
        acknowledgements are lost, the case the client's idempotent re-send exists for.
        ``only`` limits the drop to links whose first request line contains it (e.g.
        ``"/socket.io/"``), leaving idle keep-alive HTTP connections working.
        """
        count = 0
        for link in self.live:
            if only is not None and only not in link.first_line:
                continue
            link.dropped = True
            for pump in link.pumps if upstream else link.pumps[1:]:
                pump.cancel()
            count += 1
        return count

    def sever(self) -> None:
        """Cut: every carried connection is reset, and new ones are until ``restore()``."""
        self.cut = True
        for link in self.links:
            link.abort()
        self.links.clear()

    def restore(self) -> None:
        self.cut = False

    def pause(self) -> None:
        """Hold every byte in both directions, on every link, old and new, until ``resume()``."""
        self.flowing.clear()

    def resume(self) -> None:
        self.flowing.set()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        self.sever()
        self.resume()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=5)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 5)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        if self.cut:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.wait_for(asyncio.open_connection(*self.target), 5)
        except (OSError, TimeoutError):
            writer.transport.abort()
            return
        if self.cut:  # severed while connecting
            writer.transport.abort()
            up_writer.transport.abort()
            return
        link = Link(writer, up_writer)
        self.links.append(link)
        loop = asyncio.get_running_loop()
        link.pumps = [
            loop.create_task(self._pump(link, reader, up_writer, self.flowing)),
            loop.create_task(self._pump(link, up_reader, writer, self.flowing)),
        ]
        closer = loop.create_task(self._close_when_done(link))
        self._tasks.add(closer)
        closer.add_done_callback(self._tasks.discard)

    @staticmethod
    async def _close_when_done(link: Link) -> None:
        """Both directions ended on their own (not dropped): close both sockets."""
        await asyncio.gather(*link.pumps, return_exceptions=True)
        if not link.dropped and not link.closed:
            for writer in (link.client, link.upstream):
                writer.close()
            link.closed = True

    @staticmethod
    async def _pump(
        link: Link, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
        flowing: asyncio.Event,
    ) -> None:
        try:
            while data := await reader.read(65536):
                await flowing.wait()  # paused: hold this chunk (and, by backpressure, the rest)
                if not link.first_line and writer is link.upstream:
                    link.first_line = data.split(b"\r\n", 1)[0].decode("latin-1")
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        except asyncio.CancelledError:
            return  # dropped: leave both sockets open and silent
        if not link.dropped:
            # A real end of stream: pass the FIN on, like a transparent proxy.
            with contextlib.suppress(Exception):
                writer.write_eof()
