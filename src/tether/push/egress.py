"""Where the server may send a push: public addresses only.

A push endpoint is a URL the *client* gives and the *server* requests, so without a check any
signed-in user could have the server POST to an address only the server can reach (its own
loopback, the cloud metadata service, a database on the private network). Two guards:

- at subscribe, an endpoint naming a non-public IP address, or ``localhost``, is refused;
- at send, the connection resolves names through :class:`PublicResolver`, which drops every
  non-public address, so a name that resolves (or is later re-pointed, DNS rebinding) to one is
  never connected to: the check and the connection use the same addresses.

``TETHER_PUSH_ALLOW_PRIVATE=true`` turns both off (tests against a local push service).
"""

from __future__ import annotations

import ipaddress
import socket

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver


def public(address: str) -> bool:
    """Whether ``address`` (an IPv4 or IPv6 literal) is a public, routable address."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def refused_host(hostname: str) -> str | None:
    """Why a push endpoint's host is refused before any lookup, or None. Names are checked at
    send time (:class:`PublicResolver`); literals and ``localhost`` can be refused at once."""
    name = hostname.strip("[]").rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return "a loopback name"
    try:
        ipaddress.ip_address(name.split("%", 1)[0])
    except ValueError:
        return None
    return None if public(name) else "a private or reserved address"


class PublicResolver(AbstractResolver):
    """aiohttp's resolver, keeping public addresses only (none left: the lookup fails)."""

    def __init__(self, inner: AbstractResolver | None = None) -> None:
        self.inner = inner or DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await self.inner.resolve(host, port, family)
        kept = [r for r in found if public(r["host"])]
        if not kept:
            raise OSError(f"push endpoint host {host!r} has no public address")
        return kept

    async def close(self) -> None:
        await self.inner.close()
