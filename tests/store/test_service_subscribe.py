"""ChatService.subscribe over a real store (SQLite and PostgreSQL): who may subscribe, when the
room is joined, and which reads it takes. Runs, agents and sockets are not involved."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from tether import protocol as p
from tether.accounts import Accounts, User
from tether.agents import AgentRegistry
from tether.agents.echo import EchoAgent
from tether.bus import NullBus
from tether.db.schema import messages, sessions
from tether.metrics import Metrics
from tether.protocol import ErrorCode, RequestError
from tether.runs import RunManager
from tether.service import ChatService
from tether.settings import Settings
from tether.store import Store
from tether.streams import LocalStreams


@pytest.fixture
def service(store: Store) -> ChatService:
    streams, bus, metrics = LocalStreams(), NullBus(), Metrics()
    agents = AgentRegistry([EchoAgent()], default="echo")
    runs = RunManager(store, streams, bus, agents, metrics, runner_id="test")
    return ChatService(store, runs, streams, bus, agents, metrics, Settings())


def owner_reads(statements: list[str]) -> int:
    """Ownership look-ups among the statements run: selecting a session's user_id alone."""
    return sum(1 for s in statements if s.lstrip().upper().startswith("SELECT SESSIONS.USER_ID"))


async def created_elsewhere(store: Store, user: User, session_id: str) -> None:
    """Create a session as another node would: this store has never seen it."""
    await Store(store.engine).create_session(user.id, session_id, "t", "echo")


class Room:
    """The join callback, recording whether it ran."""

    def __init__(self) -> None:
        self.joined = 0

    async def __call__(self) -> None:
        self.joined += 1


async def test_resubscribe_asks_only_for_the_snapshot(
    service: ChatService, user: User, statements: list[str]
) -> None:
    store = service.store
    sid = str(uuid.uuid4())
    await created_elsewhere(store, user, sid)
    for i in range(3):
        await store.add_user_message(user.id, sid, f"c{i}", f"m{i}")
    room = Room()
    statements.clear()
    first = await service.subscribe(user, p.Subscribe(session_id=sid), room)
    assert first["mode"] == "recent" and first["head_seq"] == 3 and len(first["messages"]) == 3
    assert owner_reads(statements) == 1 and room.joined == 1
    statements.clear()
    again = await service.subscribe(user, p.Subscribe(session_id=sid, after_seq=2), room)
    assert owner_reads(statements) == 0 and room.joined == 2
    assert again["mode"] == "resume" and again["head_seq"] == 3
    assert again["session"]["head_seq"] == 3
    assert [m["seq"] for m in again["messages"]] == [3]
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert len(selects) == 2  # the session row (its head), then the messages


async def test_another_users_session_is_not_found_and_not_joined(
    service: ChatService, user: User, store: Store
) -> None:
    bob = await Accounts(store.engine).ensure_user("bob")
    created = await service.create_session(user, p.CreateSession())
    sid = created["session"]["id"]
    uncached = str(uuid.uuid4())
    await created_elsewhere(store, user, uncached)
    room = Room()
    for session_id in (sid, uncached, uncached, str(uuid.uuid4())):
        with pytest.raises(RequestError) as refused:
            await service.subscribe(bob, p.Subscribe(session_id=session_id), room)
        assert refused.value.code == ErrorCode.NOT_FOUND
        for request in (
            service.history(bob, p.History(session_id=session_id, before_position=9)),
            service.cancel(bob, p.Cancel(session_id=session_id)),
        ):
            with pytest.raises(RequestError):
                await request
    assert room.joined == 0
    # The owner is still welcome, from the cache or not.
    for session_id in (sid, uncached):
        ack = await service.subscribe(user, p.Subscribe(session_id=session_id), room)
        assert ack["session"]["id"] == session_id
    assert room.joined == 2


async def test_a_session_created_after_a_miss_is_found(
    service: ChatService, user: User
) -> None:
    sid = str(uuid.uuid4())
    room = Room()
    with pytest.raises(RequestError):
        await service.subscribe(user, p.Subscribe(session_id=sid), room)
    await created_elsewhere(service.store, user, sid)
    ack = await service.subscribe(user, p.Subscribe(session_id=sid), room)
    assert ack["mode"] == "recent" and room.joined == 1


async def backup(store: Store) -> dict[str, list[dict[str, object]]]:
    """Every session and message row as it is now: what a dump of the database holds."""
    async with store.engine.connect() as conn:
        return {
            table.name: [dict(row._mapping) for row in await conn.execute(select(table))]
            for table in (sessions, messages)
        }


async def restore(store: Store, saved: dict[str, list[dict[str, object]]]) -> None:
    """Put the rows of ``backup`` back, as restoring that dump would (users are kept)."""
    async with store.engine.begin() as conn:
        await conn.execute(messages.delete())
        await conn.execute(sessions.delete())
        for table in (sessions, messages):
            if saved[table.name]:
                await conn.execute(table.insert(), saved[table.name])


async def say(service: ChatService, user: User, sid: str, *contents: str) -> None:
    for content in contents:
        await service.store.add_user_message(user.id, sid, str(uuid.uuid4()), content)


async def test_a_restored_database_is_a_reset_once_its_epochs_are_renewed(
    service: ChatService, user: User
) -> None:
    store, room = service.store, Room()
    sid = (await service.create_session(user, p.CreateSession()))["session"]["id"]
    await say(service, user, sid, "m1", "m2", "m3")
    saved = await backup(store)  # taken at seq 3
    await say(service, user, sid, "m4", "m5")
    seen = await service.subscribe(user, p.Subscribe(session_id=sid), room)
    last_seq, epoch = seen["head_seq"], seen["session"]["epoch"]
    assert last_seq == 5 and epoch

    await restore(store, saved)  # back to seq 3, with the epoch of then
    assert await store.renew_epochs() == 1  # `tether db new-epoch`, as a restore requires
    await say(service, user, sid, "r4", "r5", "r6", "r7")  # grows past the client's last_seq

    old_view = p.Subscribe(session_id=sid, after_seq=last_seq, epoch=epoch)
    ack = await service.subscribe(user, old_view, room)
    assert ack["mode"] == "reset" and ack["head_seq"] == 7
    assert [m["content"] for m in ack["messages"]] == ["m1", "m2", "m3", "r4", "r5", "r6", "r7"]
    renewed = ack["session"]["epoch"]
    assert renewed != epoch and ack["session"] == await store.get_session(user.id, sid)
    # Rebuilt from that reply, the client resumes in the new epoch.
    again = await service.subscribe(
        user, p.Subscribe(session_id=sid, after_seq=7, epoch=renewed), room
    )
    assert again["mode"] == "resume" and again["messages"] == []
    # An older client sends no epoch and is judged on its seq alone, as before epochs.
    blind = await service.subscribe(user, p.Subscribe(session_id=sid, after_seq=last_seq), room)
    assert blind["mode"] == "resume"
    assert [m["content"] for m in blind["messages"]] == ["r6", "r7"]


async def test_a_session_recreated_in_a_new_database_is_a_reset(
    service: ChatService, user: User
) -> None:
    store, room = service.store, Room()
    sid = str(uuid.uuid4())
    first = await service.create_session(user, p.CreateSession(id=sid))
    await say(service, user, sid, "old 1", "old 2")
    epoch = first["session"]["epoch"]

    await restore(store, {"sessions": [], "messages": []})  # an empty, new database
    # The client creates its session again by the same id (creation is idempotent by id).
    second = await service.create_session(user, p.CreateSession(id=sid))
    assert second["session"]["epoch"] != epoch
    await say(service, user, sid, "new 1", "new 2", "new 3")
    ack = await service.subscribe(
        user, p.Subscribe(session_id=sid, after_seq=2, epoch=epoch), room
    )
    assert ack["mode"] == "reset"
    assert [m["content"] for m in ack["messages"]] == ["new 1", "new 2", "new 3"]
