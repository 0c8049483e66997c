"""Recovery: a client that comes back gets exactly what it missed, once, even mid-stream."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.client import Client
from tests.support.server import ServerProcess, start_server


async def test_resume_returns_exactly_the_missed_messages(clients: Callable[..., Client]) -> None:
    phone, laptop = clients(), clients()
    await phone.connect()
    await laptop.connect()
    sid = await laptop.new_session()
    await phone.ok("subscribe", {"session_id": sid})
    await laptop.ok("subscribe", {"session_id": sid})
    await laptop.send(sid, "before")
    await phone.wait_status(sid, "complete")
    last_seq = max(m["seq"] for m in phone.messages(sid))
    seen = {m["id"] for m in phone.messages(sid)}
    await phone.close()

    for text in ("missed one", "missed two", "missed three"):
        await laptop.send(sid, text)
    await laptop.wait_status(sid, "complete", count=4)

    back = clients(client_id=phone.client_id)
    await back.connect()
    ack = await back.ok("subscribe", {"session_id": sid, "after_seq": last_seq})
    assert ack["mode"] == "resume" and ack["head_seq"] == last_seq + 9
    got = ack["messages"]
    assert [m["seq"] for m in got] == sorted(m["seq"] for m in got)
    assert len({m["id"] for m in got}) == len(got) == 6  # 3 user + 3 assistant, once each
    assert not seen & {m["id"] for m in got}
    assert [m["content"] for m in got if m["role"] == "user"] == [
        "missed one", "missed two", "missed three",
    ]
    assert all(m["status"] == "complete" for m in got)


async def test_resume_mid_stream_adds_up_to_the_final_text(
    clients: Callable[..., Client], slow_server: ServerProcess
) -> None:
    writer, late = clients(url=slow_server.url), clients(url=slow_server.url)
    await writer.connect()
    await late.connect()
    sid = await writer.new_session()
    await writer.ok("subscribe", {"session_id": sid})
    words = " ".join(f"w{i}" for i in range(40))
    await writer.send(sid, words)
    await writer.wait_for(lambda: len(writer.of("delta", sid)) >= 5, what="some deltas")
    mark = len(late.events)
    ack = await late.ok("subscribe", {"session_id": sid, "after_seq": 1})
    [streaming] = [m for m in ack["messages"] if m["status"] == "streaming"]
    assert streaming["chunks"] >= 5 and streaming["content"]  # the text so far
    await late.wait_status(sid, "complete")
    view = late.view(sid, ack, since=mark)
    final = view.messages[streaming["id"]]
    assert final["status"] == "complete" and final["content"] == "Echo: " + words
    # The snapshot plus the live chunks after it rebuild the text chunk by chunk, too.
    rebuilt = streaming["content"] + "".join(
        d["text"] for d in late.of("delta", sid) if d["chunk"] >= streaming["chunks"]
    )
    assert rebuilt == "Echo: " + words


async def test_reset_when_ahead_or_too_far_behind(
    clients: Callable[..., Client], tmp_path: Path
) -> None:
    small = start_server(tmp_path / "data", {"TETHER_MAX_RESUME": "3"})
    try:
        c = clients(url=small.url)
        await c.connect()
        sid = await c.new_session()
        await c.ok("subscribe", {"session_id": sid})
        await c.send(sid, "a")
        await c.send(sid, "b")
        await c.wait_status(sid, "complete", count=2)
        ahead = await c.ok("subscribe", {"session_id": sid, "after_seq": 99})
        assert ahead["mode"] == "reset" and ahead["head_seq"] == 6
        assert [m["position"] for m in ahead["messages"]] == [1, 2, 3, 4]
        behind = await c.ok("subscribe", {"session_id": sid, "after_seq": 2})
        assert behind["mode"] == "reset"  # 4 changes since, max_resume is 3
        near = await c.ok("subscribe", {"session_id": sid, "after_seq": 3})
        assert near["mode"] == "resume" and [m["seq"] for m in near["messages"]] == [4, 6]
    finally:
        small.stop()


@pytest.fixture(scope="module")
def slow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    proc = start_server(tmp_path_factory.mktemp("slow"), {"TETHER_ECHO_DELAY": "0.05"})
    yield proc
    proc.stop()
