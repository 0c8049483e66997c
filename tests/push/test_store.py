"""Push subscriptions and presence in the store, on SQLite and PostgreSQL alike."""

from __future__ import annotations

from datetime import timedelta

from tether.accounts import Accounts, User
from tether.store import Store, utcnow

P256DH = "B" + "A" * 86
AUTH = "A" * 22


async def test_a_subscription_is_stored_once_per_endpoint_and_moves_to_a_new_owner(
    store: Store, user: User
) -> None:
    endpoint = "https://push.example/s/1"
    first = await store.save_push_subscription(user.id, endpoint, P256DH, AUTH, "phone", keep=5)
    again = await store.save_push_subscription(user.id, endpoint, P256DH, "B" * 22, None, keep=5)
    assert again.id == first.id
    [row] = await store.push_subscriptions_of(user.id)
    assert (row.endpoint, row.auth, row.device) == (endpoint, "B" * 22, None)
    assert row.info() == {"endpoint": endpoint, "keys": {"p256dh": P256DH, "auth": "B" * 22}}

    bob = await Accounts(store.engine).ensure_user("bob")
    await store.save_push_subscription(bob.id, endpoint, P256DH, AUTH, None, keep=5)
    assert await store.push_subscriptions_of(user.id) == []
    assert [r.endpoint for r in await store.push_subscriptions_of(bob.id)] == [endpoint]


async def test_a_user_keeps_the_latest_few_and_can_delete_only_their_own(
    store: Store, user: User
) -> None:
    for n in range(4):
        await store.save_push_subscription(user.id, f"https://p.example/{n}", P256DH, AUTH,
                                           None, keep=3)
    kept = sorted(r.endpoint for r in await store.push_subscriptions_of(user.id))
    assert kept == [f"https://p.example/{n}" for n in (1, 2, 3)]
    bob = await Accounts(store.engine).ensure_user("bob")
    assert await store.delete_push_subscription(bob.id, "https://p.example/1") is False
    assert await store.delete_push_subscription(user.id, "https://p.example/1") is True
    [gone] = [r for r in await store.push_subscriptions_of(user.id) if r.endpoint.endswith("2")]
    await store.drop_push_subscription(gone.id)
    assert [r.endpoint for r in await store.push_subscriptions_of(user.id)] == [
        "https://p.example/3"
    ]


async def test_presence_holds_until_hidden_cleared_or_expired(store: Store, user: User) -> None:
    soon = utcnow() + timedelta(seconds=60)
    assert await store.watched(user.id, "s1") is False
    await store.set_presence("sid-a", user.id, "s1", soon)
    assert await store.watched(user.id, "s1") is True
    assert await store.watched(user.id, "s2") is False
    await store.set_presence("sid-a", user.id, "s2", soon)  # the tab switched chats
    assert (await store.watched(user.id, "s1"), await store.watched(user.id, "s2")) == (
        False, True)
    await store.set_presence("sid-a", user.id, None, soon)  # hidden
    assert await store.watched(user.id, "s2") is False
    await store.set_presence("sid-b", user.id, "s1", soon)
    await store.clear_presence("sid-b")  # disconnected
    assert await store.watched(user.id, "s1") is False
    await store.set_presence("sid-c", user.id, "s1", utcnow() - timedelta(seconds=1))
    assert await store.watched(user.id, "s1") is False  # a tab that stopped renewing
