"""Push endpoints are requested by the server, so they must not reach its private network."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp.abc import AbstractResolver, ResolveResult

from tests.push.pushservice import LocalPushService
from tests.support.client import Client
from tests.support.inprocess import InProcessServer, serve_in_process
from tests.support.wait import until
from tether.push.egress import PublicResolver, public, refused_host


@pytest.mark.parametrize(
    ("address", "expected"),
    [("8.8.8.8", True), ("2606:4700::1", True), ("127.0.0.1", False), ("10.1.2.3", False),
     ("172.16.0.1", False), ("192.168.1.1", False), ("169.254.169.254", False), ("::1", False),
     ("fd00::1", False), ("fe80::1%eth0", False), ("::ffff:127.0.0.1", False),
     ("224.0.0.1", False), ("0.0.0.0", False), ("not an address", False)],
)
def test_only_public_addresses_are_public(address: str, expected: bool) -> None:
    assert public(address) is expected


@pytest.mark.parametrize(
    ("host", "refused"),
    [("fcm.googleapis.com", False), ("8.8.8.8", False), ("localhost", True),
     ("push.localhost.", True), ("127.0.0.1", True), ("::1", True), ("169.254.169.254", True)],
)
def test_loopback_names_and_private_literals_are_refused_before_any_lookup(
    host: str, refused: bool
) -> None:
    assert (refused_host(host) is not None) is refused


class FixedResolver(AbstractResolver):
    """Resolves every name to the given addresses (a DNS answer the attacker controls)."""

    def __init__(self, *addresses: str) -> None:
        self.addresses = addresses

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        return [
            ResolveResult(hostname=host, host=a, port=port, family=socket.AF_INET, proto=0,
                          flags=socket.AI_NUMERICHOST)
            for a in self.addresses
        ]

    async def close(self) -> None:
        pass


async def test_the_resolver_keeps_public_addresses_and_fails_when_none_is_left() -> None:
    mixed = PublicResolver(FixedResolver("10.0.0.7", "8.8.8.8"))
    assert [r["host"] for r in await mixed.resolve("push.example", 443)] == ["8.8.8.8"]
    with pytest.raises(OSError, match="no public address"):
        await PublicResolver(FixedResolver("127.0.0.1")).resolve("push.example", 443)


async def test_a_name_resolving_to_loopback_is_never_connected_to(
    push_service: LocalPushService,
) -> None:
    port = int(push_service.origin.rsplit(":", 1)[1])
    url = f"http://push.example:{port}/push/unknown"
    # The same name through an unguarded resolver reaches the loopback service...
    connector = aiohttp.TCPConnector(resolver=FixedResolver("127.0.0.1"))
    async with aiohttp.ClientSession(connector=connector) as http:
        async with http.post(url, data=b"x") as response:
            assert response.status == 404
    # ...and through the guarded one it is never connected to.
    guarded = aiohttp.TCPConnector(resolver=PublicResolver(FixedResolver("127.0.0.1")))
    async with aiohttp.ClientSession(connector=guarded) as http:
        with pytest.raises(aiohttp.ClientConnectorError):
            await http.post(url, data=b"x")
    assert len(push_service.refused) == 1  # only the unguarded request arrived


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[InProcessServer]:
    # http allowed (the local service speaks it), private addresses not: the default's guard.
    async with serve_in_process(tmp_path / "data", push_allow_http=True, push_timeout=1.0) as s:
        yield s


async def test_a_private_endpoint_is_refused_at_subscribe_and_never_pushed(
    server: InProcessServer, push_service: LocalPushService
) -> None:
    client = Client(server.url)
    await client.connect()
    try:
        sub = push_service.subscription()
        for endpoint in (sub.endpoint, "http://localhost:9/push/x",
                         "http://169.254.169.254/latest/meta-data/"):
            reply = await client.call("push_subscribe", {**sub.json(), "endpoint": endpoint})
            assert reply["error"]["code"] == "invalid", reply
            assert "not a push service" in reply["error"]["message"]
        session_id = await client.new_session()
        owner = await server.tether.store.session_owner(session_id)
        assert owner is not None
        assert await server.tether.store.push_subscriptions_of(owner) == []

        # A row stored before the check existed is not pushed to either.
        await server.tether.store.save_push_subscription(
            owner, sub.endpoint, sub.p256dh, sub.json()["keys"]["auth"], None, keep=20
        )
        await client.ok("subscribe", {"session_id": session_id})
        await client.send(session_id, "hello")
        await client.wait_status(session_id, "complete", 1)
        sender = server.tether.push.sender
        await until(lambda: sender.counts.get("refused"), 10, "the push refused")
        assert push_service.pushes == [] and push_service.refused == []
    finally:
        await client.close()
