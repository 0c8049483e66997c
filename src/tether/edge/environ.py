"""Let go of the connect request's body reader once its Engine.IO session is open.

python-engineio's ASGI ``translate_request`` puts in every request's environ a ``wsgi.input``
that reads the request body, an instance of a class it defines anew on each call: a class object
is about 2.4 KiB. The environ of the request that opened a session lives as long as the session
(python-socketio keeps it for ``get_environ``, and for a WebSocket the running request handler
holds it), so every connection carried a class of its own. The request that opens a session is a
GET (python-engineio answers it before reading any body), and a long-polling session's later
POSTs come with their own environ, so nothing reads the opening request's ``wsgi.input`` after
the Engine.IO ``connect`` handler: the wrapper here, registered through Engine.IO's public
``on()`` in front of python-socketio's handler, drops it then.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import socketio


def drop_connect_body_reader(sio: socketio.AsyncServer) -> None:
    """Remove ``wsgi.input`` from each new session's environ after ``connect`` (call once)."""
    eio = sio.eio
    handle: Callable[..., Awaitable[Any]] = eio.handlers["connect"]

    async def connect(eio_sid: str, environ: dict[str, Any], *args: Any) -> Any:
        try:
            return await handle(eio_sid, environ, *args)
        finally:
            environ.pop("wsgi.input", None)

    eio.on("connect", connect)
