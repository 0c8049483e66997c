"""Who a connection is: the ``authenticate`` seam the gateway calls, and its default, Tether's
bearer tokens."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from starlette.requests import HTTPConnection, cookie_parser

from tether.accounts import Accounts, User


@dataclass(frozen=True, slots=True)
class Handshake:
    """What a connection brings when it opens: a Socket.IO connection, or an HTTP request to one
    of Tether's endpoints (client logs), so one ``authenticate`` serves both."""

    #: The Socket.IO ``auth`` payload (``{"token": ..., "client_id": ...}`` from Tether's client).
    auth: object
    #: The request environ python-socketio builds (``HTTP_*`` headers, ``asgi.scope``).
    environ: Mapping[str, Any]

    @property
    def scope(self) -> Mapping[str, Any]:
        """The ASGI scope of the request that opened the connection."""
        scope = self.environ.get("asgi.scope")
        return scope if isinstance(scope, Mapping) else {}

    def header(self, name: str) -> str | None:
        """A request header (case-insensitive), or None."""
        value = self.environ.get("HTTP_" + name.upper().replace("-", "_"))
        return value if isinstance(value, str) else None

    @property
    def cookies(self) -> dict[str, str]:
        """The request's cookies by name (an app's own session cookie, say)."""
        return cookie_parser(self.header("cookie") or "")

    @classmethod
    def from_http(cls, connection: HTTPConnection, auth: object) -> Handshake:
        """The handshake of an HTTP request: its headers as python-socketio's environ names
        them, and its scope, so an ``authenticate`` written for the socket reads it the same."""
        environ: dict[str, Any] = {"asgi.scope": connection.scope}
        for name, value in connection.headers.items():
            key = "HTTP_" + name.upper().replace("-", "_")
            environ[key] = f"{environ[key]},{value}" if key in environ else value
        return cls(auth, environ)


#: Returns the user a connection stands for, or None to refuse it (``unauthorized``).
Authenticate = Callable[[Handshake], Awaitable[User | None]]


def token_authenticator(accounts: Accounts, *, local_allowed: bool) -> Authenticate:
    """Tether's own sign-in: ``auth.token`` is a bearer token (or, in local mode, absent)."""

    async def authenticate(handshake: Handshake) -> User | None:
        auth = handshake.auth
        token = auth.get("token") if isinstance(auth, dict) else None
        return await accounts.authenticate(token, local_allowed=local_allowed)

    return authenticate


def app_authenticator(accounts: Accounts, authenticate: Authenticate) -> Authenticate:
    """An application's own ``authenticate``, with each user it returns given a row of its own
    the first time (:meth:`Accounts.adopt`): the app's ids are the users' ids."""
    adopted: set[str] = set()

    async def adopting(handshake: Handshake) -> User | None:
        user = await authenticate(handshake)
        if user is not None and user.id not in adopted:
            await accounts.adopt(user)
            adopted.add(user.id)
        return user

    return adopting
