"""Which address of this host to print in a sign-in link, so that a phone on the LAN can open it.

A host name is no answer: stock Debian and Ubuntu map the machine's own name to 127.0.1.1 in
/etc/hosts, so a link made from it points a phone at itself. The address to use is the one of
the interface that routes outward (the source address the kernel would choose for a packet to
a public address; asking costs no packet: ``connect`` on a UDP socket only picks a route), and
the other interfaces' addresses are listed beside it for a machine on several networks.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable

#: Any routable address will do: a UDP ``connect`` sends nothing, it only selects the route.
#: 192.0.2.1 is TEST-NET-1 (RFC 5737), reserved for documentation.
_PROBE_V4 = ("192.0.2.1", 9)

Route = Callable[[], str | None]
Interfaces = Callable[[], Iterable[str]]


def routed_address() -> str | None:
    """The IPv4 source address of the outward route, or None without one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(_PROBE_V4)
        except OSError:
            return None
        return str(probe.getsockname()[0])


def interface_addresses() -> list[str]:
    """Every IPv4 address on this host's interfaces (psutil reads them portably)."""
    import psutil

    return [
        entry.address
        for entries in psutil.net_if_addrs().values()
        for entry in entries
        if entry.family == socket.AF_INET
    ]


def usable(address: str) -> bool:
    """Whether another machine could reach this host at ``address``."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return not (ip.is_loopback or ip.is_unspecified or ip.is_link_local or ip.is_multicast)


def lan_addresses(
    route: Route = routed_address, interfaces: Interfaces = interface_addresses
) -> list[str]:
    """This host's addresses that other machines can use, the outward route's first; empty
    when it has none (then only loopback can reach it)."""
    found: list[str] = []
    for address in (route(), *interfaces()):
        if address is not None and usable(address) and address not in found:
            found.append(address)
    return found


def url_for(host: str, port: int) -> str:
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}/"


def public_urls(
    host: str, port: int, route: Route = routed_address,
    interfaces: Interfaces = interface_addresses,
) -> list[str]:
    """The URLs to print for a server bound to ``host``: for a wildcard bind, one per LAN
    address (the outward one first), else loopback; otherwise the bound address itself."""
    if host in ("0.0.0.0", "::", ""):
        addresses = lan_addresses(route, interfaces) or ["127.0.0.1"]
        return [url_for(a, port) for a in addresses]
    return [url_for(host, port)]
