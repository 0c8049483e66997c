"""Who a connection is: the ``authenticate`` seam the gateway calls, and its default, Tether's
bearer tokens."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from tether.accounts import Accounts, User


@dataclass(frozen=True, slots=True)
class Handshake:
    """What a connection brings when it opens."""

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


#: Returns the user a connection stands for, or None to refuse it (``unauthorized``).
Authenticate = Callable[[Handshake], Awaitable[User | None]]


def token_authenticator(accounts: Accounts, *, local_allowed: bool) -> Authenticate:
    """Tether's own sign-in: ``auth.token`` is a bearer token (or, in local mode, absent)."""

    async def authenticate(handshake: Handshake) -> User | None:
        auth = handshake.auth
        token = auth.get("token") if isinstance(auth, dict) else None
        return await accounts.authenticate(token, local_allowed=local_allowed)

    return authenticate
