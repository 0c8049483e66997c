"""The address a sign-in link names: the outward interface's, never a host name that resolves to
loopback (stock Debian maps the machine's name to 127.0.1.1)."""

from __future__ import annotations

import socket

import pytest

from tether import netaddr
from tether.netaddr import lan_addresses, public_urls, usable


def test_the_outward_route_comes_first_and_the_others_are_listed() -> None:
    urls = public_urls(
        "0.0.0.0", 8000,
        route=lambda: "192.168.1.20",
        interfaces=lambda: ["127.0.0.1", "10.8.0.2", "192.168.1.20", "169.254.3.4"],
    )
    assert urls == ["http://192.168.1.20:8000/", "http://10.8.0.2:8000/"]


def test_without_a_route_an_interface_address_is_used() -> None:
    assert lan_addresses(route=lambda: None, interfaces=lambda: ["127.0.0.1", "10.0.0.7"]) == [
        "10.0.0.7"
    ]


def test_a_host_with_only_loopback_gets_a_loopback_link_not_its_name() -> None:
    urls = public_urls("0.0.0.0", 8000, route=lambda: None, interfaces=lambda: ["127.0.0.1"])
    assert urls == ["http://127.0.0.1:8000/"]


def test_a_host_name_resolving_to_loopback_is_never_printed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The fake resolver of a stock Debian VM named "vm": its name resolves to 127.0.1.1.
    monkeypatch.setattr(socket, "gethostname", lambda: "vm")
    real = socket.getaddrinfo

    def resolve(host: object, *args: object, **kwargs: object) -> object:
        if host == "vm":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.1.1", 0))]
        return real(host, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    urls = public_urls("0.0.0.0", 8000, route=lambda: "10.1.2.3", interfaces=lambda: [])
    assert urls == ["http://10.1.2.3:8000/"]
    assert not any("vm" in url or "127.0.1.1" in url for url in urls)


def test_an_explicit_bind_address_is_printed_as_bound() -> None:
    assert public_urls("192.168.1.5", 81) == ["http://192.168.1.5:81/"]
    assert public_urls("::1", 81) == ["http://[::1]:81/"]


@pytest.mark.parametrize(
    ("address", "ok"),
    [("10.0.0.1", True), ("127.0.1.1", False), ("0.0.0.0", False), ("169.254.0.9", False),
     ("224.0.0.1", False), ("vm", False)],
)
def test_usable(address: str, ok: bool) -> None:
    assert usable(address) is ok


def test_the_real_machine_gives_addresses_that_are_usable() -> None:
    # On this machine (whatever its network), every address offered is a usable one.
    assert all(usable(a) for a in lan_addresses())
    routed = netaddr.routed_address()
    assert routed is None or isinstance(routed, str)
