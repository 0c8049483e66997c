"""tether.delivery: broadcasts put one encoded packet on each recipient's queue, in order, and
the Engine.IO writer's poll keeps python-engineio's contract."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import socketio
from engineio import exceptions as eio_exceptions
from engineio import packet as eio_packet

from tether import jsoncodec
from tether.delivery import BroadcastManager, TextPacket, _poll
from tether.ordering import HOLD


class FakeEioSocket:
    def __init__(self) -> None:
        self.queue: asyncio.Queue[Any] = asyncio.Queue()
        self.closed = False

    def texts(self) -> list[str]:
        out = []
        while not self.queue.empty():
            out.append(self.queue.get_nowait().encode())
        return out


@pytest.fixture
def server() -> socketio.AsyncServer:
    return socketio.AsyncServer(async_mode="asgi", client_manager=BroadcastManager(),
                                serializer=TextPacket, json=jsoncodec)


async def connect(server: socketio.AsyncServer, eio_sid: str) -> tuple[str, FakeEioSocket]:
    sock = FakeEioSocket()
    server.eio.sockets[eio_sid] = sock
    sid = await server.manager.pre_connect(eio_sid, "/")
    await server.manager.connect(sid, "/")
    return sid, sock


async def test_a_broadcast_reaches_every_member_once_in_emit_order(
    server: socketio.AsyncServer,
) -> None:
    members = [await connect(server, f"e{i}") for i in range(3)]
    outsider_sid, outsider = await connect(server, "x")
    for sid, _ in members:
        await server.enter_room(sid, "s:1")
    await server.emit("delta", {"chunk": 0, "text": "a"}, room="s:1")
    await server.emit("delta", {"chunk": 1, "text": "é"}, room="s:1", skip_sid=members[0][0])
    await server.emit("hello", ("two", 2), to=outsider_sid)
    first = '42["delta",{"chunk":0,"text":"a"}]'
    second = '42["delta",{"chunk":1,"text":"é"}]'
    assert members[0][1].texts() == [first]
    assert members[1][1].texts() == [first, second]
    assert members[2][1].texts() == [first, second]
    assert outsider.texts() == ['42["hello","two",2]']


async def test_a_session_s_messages_go_out_in_seq_order(server: socketio.AsyncServer) -> None:
    """tether.ordering in the manager: a message ahead of a gap waits (with its deltas) until
    the gap is filled, or until the hold is over."""
    sid, sock = await connect(server, "e")
    await server.enter_room(sid, "s:1")

    def seqs() -> list[object]:
        out = []
        for text in sock.texts():
            event, data = json.loads(text[2:])
            out.append(data["message"]["seq"] if event == "message" else data["chunk"])
        return out

    async def message(seq: int, mid: str) -> None:
        data = {"session_id": "1", "message": {"id": mid, "seq": seq}}
        await server.emit("message", data, room="s:1")

    async def delta(mid: str, chunk: int) -> None:
        data = {"session_id": "1", "message_id": mid, "chunk": chunk, "text": "x", "ops": []}
        await server.emit("delta", data, room="s:1")

    await message(1, "q")
    await message(3, "q2")  # the answer to seq 2's question, started on another node first
    await delta("q2", 0)
    assert seqs() == [1]
    await message(2, "a")
    assert seqs() == [2, 3, 0]  # 3, then its delta (chunk 0)
    await message(5, "x")  # a gap that is never filled: out after the hold
    assert seqs() == []
    await asyncio.sleep(HOLD + 0.1)
    assert seqs() == [5]


async def test_a_session_event_without_a_seq_is_delivered_as_it_is(
    server: socketio.AsyncServer,
) -> None:
    """Nothing to order it by (say a malformed publish from another node): it goes out at once
    and the session's order is untouched."""
    sid, sock = await connect(server, "e")
    await server.enter_room(sid, "s:1")
    await server.emit("message", {"session_id": "1", "message": {"id": "m"}}, room="s:1")
    await server.emit("delta", {"session_id": "1"}, room="s:1")
    await server.emit("message", {"session_id": "1", "message": {"id": "a", "seq": 1}},
                      room="s:1")
    assert [json.loads(text[2:])[0] for text in sock.texts()] == ["message", "delta", "message"]


async def test_closed_and_unknown_sockets_are_skipped(server: socketio.AsyncServer) -> None:
    (sid_a, a), (sid_b, b) = await connect(server, "a"), await connect(server, "b")
    for sid in (sid_a, sid_b):
        await server.enter_room(sid, "r")
    b.closed = True
    del server.eio.sockets["a"]
    await server.emit("message", {"m": 1}, room="r")  # no error
    assert a.texts() == [] and b.texts() == []


async def test_an_emit_with_a_callback_takes_python_socketios_path(
    server: socketio.AsyncServer,
) -> None:
    sid, sock = await connect(server, "a")
    calls: list[Any] = []

    async def send(eio_sid: str, data: str) -> None:
        calls.append((eio_sid, data))

    server.eio.send = send
    await server.emit("ask", {"q": 1}, to=sid, callback=lambda *a: None)
    assert calls == [("a", '21["ask",{"q":1}]')]  # with its ack id, through eio.send
    assert sock.texts() == []


class FakeServer:
    ping_interval = 0.05
    ping_timeout = 0.05


class PollingSocket:
    def __init__(self) -> None:
        self.queue: asyncio.Queue[Any] = asyncio.Queue()
        self.server = FakeServer()
        self.upgraded = False  # long-polling
        self.closed = False


async def test_poll_returns_queued_packets_in_order_and_stops_at_the_close_sentinel() -> None:
    sock = PollingSocket()
    packets = [eio_packet.Packet(eio_packet.MESSAGE, f"2[{i}]") for i in range(3)]
    for pkt in packets[:2]:
        sock.queue.put_nowait(pkt)
    sock.queue.put_nowait(None)
    sock.queue.put_nowait(packets[2])
    assert await _poll(sock) == packets[:2]  # type: ignore[arg-type]
    # As in python-engineio, the sentinel goes back at the end: what was queued behind it is
    # still written, then the writer stops.
    assert await _poll(sock) == [packets[2]]  # type: ignore[arg-type]
    assert await _poll(sock) == []  # type: ignore[arg-type]
    waiting = asyncio.ensure_future(_poll(sock))  # type: ignore[arg-type]
    await asyncio.sleep(0)
    sock.queue.put_nowait(packets[0])
    sock.queue.put_nowait(packets[1])
    assert await waiting == [packets[0], packets[1]]


async def test_poll_times_out_and_cancels_as_queue_empty() -> None:
    sock = PollingSocket()
    with pytest.raises(eio_exceptions.QueueEmpty):
        await _poll(sock)  # type: ignore[arg-type]  # after ping_interval + ping_timeout
    waiting = asyncio.ensure_future(_poll(sock))  # type: ignore[arg-type]
    await asyncio.sleep(0)
    waiting.cancel()
    with pytest.raises(eio_exceptions.QueueEmpty):
        await waiting


async def test_a_websocket_writer_waits_without_a_timer_and_stops_once_closed() -> None:
    sock = PollingSocket()
    sock.upgraded = True
    waiting = asyncio.ensure_future(_poll(sock))  # type: ignore[arg-type]
    await asyncio.sleep(0.2)  # longer than ping_interval + ping_timeout
    assert not waiting.done()
    close = eio_packet.Packet(eio_packet.CLOSE)
    sock.queue.put_nowait(close)
    sock.closed = True  # what AsyncSocket.close() does
    assert await waiting == [close]
    assert await _poll(sock) == []  # type: ignore[arg-type]


class FakeTransport:
    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.closing = False

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def is_closing(self) -> bool:
        return self.closing


class FakeWsProtocol:
    """What TextFrames reads of uvicorn's websockets-sansio protocol."""

    def __init__(self) -> None:
        from websockets.protocol import State

        self.transport = FakeTransport()
        self.writable = asyncio.Event()
        self.writable.set()
        self.handshake_complete, self.close_sent, self.disconnected = True, False, False
        self.conn = type("Conn", (), {"extensions": [], "state": State.OPEN})()


async def framed(server: socketio.AsyncServer, eio_sid: str) -> tuple[str, FakeEioSocket,
                                                                        FakeWsProtocol]:
    """A member whose WebSocket writer is parked on its empty queue, with TextFrames."""
    from tether.edge.frames import TextFrames

    sid, sock = await connect(server, eio_sid)
    ws = FakeWsProtocol()
    sock.tether_frames = TextFrames(ws)  # type: ignore[attr-defined,arg-type]
    sock.tether_parked = True  # type: ignore[attr-defined]
    await server.enter_room(sid, "r")
    return sid, sock, ws


async def test_a_broadcast_to_an_idle_writer_is_written_at_once_as_one_shared_frame(
    server: socketio.AsyncServer,
) -> None:
    from tether.edge.frames import text_frame

    members = [await framed(server, f"w{i}") for i in range(3)]
    await server.emit("delta", {"chunk": 0, "text": "é"}, room="r")
    frame = text_frame('42["delta",{"chunk":0,"text":"é"}]'.encode())
    await asyncio.sleep(0)  # the end of this pass of the loop: the cork is flushed
    for _, sock, ws in members:
        assert sock.texts() == []  # not queued: no writer wake-up
        assert ws.transport.written == [frame]
    assert members[0][2].transport.written[0] is members[1][2].transport.written[0]


async def test_a_broadcast_queues_behind_what_the_writer_still_has(
    server: socketio.AsyncServer,
) -> None:
    (_, queued, queued_ws), (_, busy, busy_ws), (_, paused, paused_ws), (_, direct, direct_ws) = [
        await framed(server, name) for name in ("queued", "busy", "paused", "direct")
    ]
    queued.queue.put_nowait(eio_packet.Packet(eio_packet.MESSAGE, "3earlier"))
    busy.tether_parked = False  # type: ignore[attr-defined]  # its writer is writing a batch
    paused_ws.writable.clear()  # the transport's buffer is over its high-water mark
    await server.emit("delta", {"chunk": 0}, room="r")
    await asyncio.sleep(0)  # the cork's flush
    event = '42["delta",{"chunk":0}]'
    assert queued.texts() == ["43earlier", event]  # in emit order, behind the earlier packet
    assert busy.texts() == [event] and paused.texts() == [event]
    assert queued_ws.transport.written == busy_ws.transport.written == []
    assert paused_ws.transport.written == []
    assert len(direct_ws.transport.written) == 1 and direct.texts() == []


async def test_a_closed_or_closing_connection_is_never_written_directly(
    server: socketio.AsyncServer,
) -> None:
    (_, closed, closed_ws), (_, closing, closing_ws) = [
        await framed(server, name) for name in ("closed", "closing")
    ]
    closed_ws.close_sent = True
    closing_ws.transport.closing = True
    await server.emit("delta", {"chunk": 0}, room="r")
    await asyncio.sleep(0)  # the cork's flush
    assert closed_ws.transport.written == closing_ws.transport.written == []
    assert closed.texts() == closing.texts() == ['42["delta",{"chunk":0}]']


async def test_broadcasts_of_one_pass_of_the_loop_are_one_write_per_connection_in_order(
    server: socketio.AsyncServer,
) -> None:
    from tether.edge.frames import text_frame

    members = [await framed(server, f"c{i}") for i in range(2)]
    for chunk in range(3):
        await server.emit("delta", {"chunk": chunk}, room="r")
    assert all(ws.transport.written == [] for _, _, ws in members)  # corked until the pass ends
    await asyncio.sleep(0)
    frames = b"".join(text_frame(f'42["delta",{{"chunk":{c}}}]'.encode()) for c in range(3))
    for _, sock, ws in members:
        assert ws.transport.written == [frames] and sock.texts() == []
    await server.emit("delta", {"chunk": 3}, room="r")  # a later pass: a write of its own
    await asyncio.sleep(0)
    assert members[0][2].transport.written[1] == text_frame(b'42["delta",{"chunk":3}]')


async def test_a_writer_s_message_goes_out_after_the_frames_still_corked(
    server: socketio.AsyncServer,
) -> None:
    from tether.edge.frames import text_frame

    _, sock, ws = await framed(server, "mixed")
    await server.emit("delta", {"chunk": 0}, room="r")
    sock.tether_frames.write_text("3probe")  # type: ignore[attr-defined]  # the writer's path
    assert ws.transport.written == [text_frame(b'42["delta",{"chunk":0}]'), text_frame(b"3probe")]
    await asyncio.sleep(0)
    assert len(ws.transport.written) == 2  # nothing written twice


async def test_frames_corked_when_the_connection_closes_are_dropped(
    server: socketio.AsyncServer,
) -> None:
    _, _, ws = await framed(server, "closing")
    await server.emit("delta", {"chunk": 0}, room="r")
    ws.close_sent = True  # a close frame went out in the same pass
    await asyncio.sleep(0)
    assert ws.transport.written == []


@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536])
def test_text_frames_are_what_the_websockets_library_reads(size: int) -> None:
    from websockets.frames import Frame, Opcode
    from websockets.streams import StreamReader

    from tether.edge.frames import text_frame

    payload = ("x" * size).encode()
    reader = StreamReader()
    reader.feed_data(text_frame(payload))
    reader.feed_eof()
    parsing = Frame.parse(reader.read_exact, mask=False)
    try:
        next(parsing)
    except StopIteration as done:
        frame = done.value
    else:
        raise AssertionError("the frame was incomplete")
    assert (frame.opcode, frame.fin, frame.data) == (Opcode.TEXT, True, payload)


async def rooms_after_churn(manager: socketio.AsyncManager) -> dict[Any, list[int]]:
    """Sockets connect, join and leave rooms and disconnect on ``manager``; its rooms after,
    with each sid as the index of its socket (sids are random)."""
    server = socketio.AsyncServer(async_mode="asgi", client_manager=manager)
    sids = []
    for i in range(4):
        server.eio.sockets[f"e{i}"] = FakeEioSocket()
        sids.append(await manager.pre_connect(f"e{i}", "/"))
        await manager.connect(sids[-1], "/")
    for i in (0, 1, 2):
        await manager.enter_room(sids[i], "/", "s:1")
    for i in (1, 3):
        await manager.enter_room(sids[i], "/", "u:a")
    await manager.leave_room(sids[1], "/", "s:1")
    await manager.disconnect(sids[1], "/")
    await manager.disconnect(sids[2], "/")
    await manager.enter_room(sids[3], "/", "s:1")
    await manager.disconnect(sids[0], "/")
    index = {sid: i for i, sid in enumerate(sids)}
    return {
        index.get(room, room): sorted(index[sid] for sid in members)
        for room, members in manager.rooms.get("/", {}).items()
    }


async def test_a_disconnect_leaves_the_rooms_python_socketios_own_manager_would() -> None:
    """BroadcastManager's disconnect leaves only the rooms it saw the sid join, instead of
    scanning every room: the rooms left are the same as upstream's."""
    ours = BroadcastManager()
    assert await rooms_after_churn(ours) == await rooms_after_churn(socketio.AsyncManager())
    assert await rooms_after_churn(BroadcastManager()) == {None: [3], 3: [3], "u:a": [3],
                                                           "s:1": [3]}
    # Nothing kept of the sockets gone: only the one still connected, in its four rooms.
    assert [len(rooms) for rooms in ours._rooms_of.values()] == [4]
