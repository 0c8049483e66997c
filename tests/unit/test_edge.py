"""Pure parts of the edge: the Host rule, the send-queue byte count, the settings' choices."""

from __future__ import annotations

import asyncio

import pytest
from engineio import packet as eio_packet

from tether.edge.hosts import host_allowed, split_host
from tether.edge.packets import is_binary
from tether.edge.sendqueue import SendQueue, size_of
from tether.settings import Settings


@pytest.mark.parametrize(("header", "expected"), [
    ("localhost:8000", ("localhost", 8000)),
    ("LocalHost", ("localhost", None)),
    ("[::1]:8000", ("::1", 8000)),
    ("[::1]", ("::1", None)),
    ("::1", None),
    ("[::1", None),
    ("host:", None),
    ("host:80x", None),
    ("host:1234567", None),
    ("", None),
])
def test_split_host(header: str, expected: object) -> None:
    assert split_host(header) == expected


@pytest.mark.parametrize(("header", "allowed"), [
    ("localhost:8000", True), ("127.0.0.1:8000", True), ("127.9.9.9:8000", True),
    ("[::1]:8000", True), ("tab.localhost:8000", True),
    ("localhost", False), ("localhost:8001", False), ("attacker.example:8000", False),
    ("localhost.attacker.example:8000", False), ("[::2]:8000", False), ("", False),
])
def test_loopback_rule(header: str, allowed: bool) -> None:
    assert host_allowed(header, 8000, []) is allowed


def test_port_80_may_be_left_out() -> None:
    assert host_allowed("localhost", 80, [])
    assert host_allowed("chat.example.com", 8000, ["chat.example.com:80"])
    assert not host_allowed("chat.example.com:8443", 8000, ["chat.example.com:443"])


def test_allowed_host_list() -> None:
    allowed = ["chat.example.com", "*.corp.example", "10.0.0.5:8000"]
    assert host_allowed("chat.example.com:443", 8000, allowed)
    assert host_allowed("a.b.corp.example", 8000, allowed)
    assert not host_allowed("corp.example", 8000, allowed)
    assert not host_allowed("evilcorp.example", 8000, allowed)
    assert host_allowed("10.0.0.5:8000", 8000, allowed)
    assert not host_allowed("10.0.0.5:9000", 8000, allowed)
    assert not host_allowed("localhost:8000", 8000, allowed)
    assert host_allowed("anything", 8000, ["*"])


def test_binary_packets_are_recognised() -> None:
    assert is_binary(b"\x00" * 10) and is_binary('51-["send",{"_placeholder":true,"num":0}]')
    assert is_binary("61-[]")
    assert not is_binary('42["send",{}]') and not is_binary("40") and not is_binary("")


async def test_send_queue_counts_what_it_holds() -> None:
    queue = SendQueue(limit=1000, overflow=lambda q: None)
    big = eio_packet.Packet(eio_packet.MESSAGE, "x" * 300)
    queue.put_nowait(big)
    queue.put_nowait(eio_packet.Packet(eio_packet.PING))
    queue.put_nowait(None)
    assert queue.bytes == size_of(big) + 2 * size_of(None) == 300 + 3 * 16
    queue.get_nowait()
    await asyncio.wait_for(queue.get(), 1)
    assert queue.bytes == size_of(None)
    queue.get_nowait()
    assert queue.bytes == 0


def test_settings_choose_by_reach() -> None:
    local, public = Settings(host="127.0.0.1"), Settings(host="0.0.0.0")
    assert local.metrics_open and not public.metrics_open
    assert Settings(host="0.0.0.0", metrics_public=True).metrics_open
    assert not Settings(host="127.0.0.1", metrics_token="t").metrics_open
    assert local.connections_per_address == 0 and public.connections_per_address == 64
    assert Settings(host="0.0.0.0", max_connections_per_address=0).connections_per_address == 0


def test_send_queue_refuses_messages_past_its_limit_once() -> None:
    overflows: list[SendQueue] = []
    queue = SendQueue(limit=700, overflow=overflows.append)
    message = eio_packet.Packet(eio_packet.MESSAGE, "x" * 300)
    queue.put_nowait(message)
    queue.put_nowait(message)
    assert overflows == [] and queue.qsize() == 2
    queue.put_nowait(message)
    queue.put_nowait(message)
    assert overflows == [queue] and queue.qsize() == 2 and queue.overflowed
    queue.put_nowait(eio_packet.Packet(eio_packet.PING))
    queue.put_nowait(None)  # control packets and the close sentinel still go in
    assert queue.qsize() == 4
