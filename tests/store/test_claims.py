"""Store contract of run claims, on SQLite and PostgreSQL: one runner per session, leases that
expire, and a takeover that ends the previous holder's answers in the claim's transaction, so a
stale holder is fenced and nothing stays ``streaming``."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta

from tether.accounts import User
from tether.store import Store, utcnow

A, B = "runner-a", "runner-b"


def live() -> datetime:
    return utcnow() + timedelta(seconds=30)


def expired() -> datetime:
    return utcnow() - timedelta(seconds=1)


async def new_session(store: Store, user: User) -> str:
    sid = str(uuid.uuid4())
    await store.create_session(user.id, sid, "t", "echo")
    await store.add_user_message(user.id, sid, "q1", "hello")
    return sid


async def answer_streaming(
    store: Store, user: User, until: datetime, text: str
) -> tuple[str, str]:
    """A new session claimed by runner A until ``until``, and the answer A has started there
    and checkpointed ``text`` of: (session id, message id)."""
    sid = await new_session(store, user)
    assert await store.claim_session(sid, A, until) is not None
    made = await store.create_assistant_message(sid, None, A)
    assert made is not None
    assert await store.checkpoint(made["id"], text, 3)
    return sid, str(made["id"])


async def test_a_claim_is_exclusive_while_its_lease_lasts(store: Store, user: User) -> None:
    sid = await new_session(store, user)
    taken = await store.claim_session(sid, A, live())
    assert taken is not None and taken.interrupted == []
    assert taken.session["running"] is True
    assert await store.claim_session(sid, B, live()) is None
    again = await store.claim_session(sid, A, live())  # the holder may claim again
    assert again is not None and again.session["running"] is True
    assert await store.claimed_sessions() == [sid]


async def test_renew_extends_only_the_runners_own_claims(store: Store, user: User) -> None:
    mine, theirs = await new_session(store, user), await new_session(store, user)
    assert await store.claim_session(mine, A, expired()) is not None
    assert await store.claim_session(theirs, B, live()) is not None
    assert await store.expired_claims() == [mine]
    assert await store.renew_claims(A, live()) == {mine}
    assert await store.expired_claims() == []
    assert await store.claim_session(mine, B, live()) is None  # renewed: live again
    assert await store.renew_claims("runner-c", live()) == set()


async def test_release_needs_the_holder(store: Store, user: User) -> None:
    sid = await new_session(store, user)
    assert await store.claim_session(sid, A, live()) is not None
    assert await store.release_session(sid, B) is None
    released = await store.release_session(sid, A)
    assert released is not None and released["running"] is False
    assert await store.claimed_sessions() == []
    assert await store.release_session(sid, A) is None


async def test_break_claim_only_breaks_expired_claims_unless_forced(
    store: Store, user: User
) -> None:
    held, stale, free = [await new_session(store, user) for _ in range(3)]
    assert await store.claim_session(held, A, live()) is not None
    assert await store.claim_session(stale, A, expired()) is not None
    assert await store.break_claim(held) is None
    assert await store.break_claim(free) is None
    assert await store.break_claim(free, force=True) is None  # nothing to break
    broken = await store.break_claim(stale)
    assert broken is not None and broken.session["running"] is False
    forced = await store.break_claim(held, force=True)
    assert forced is not None and forced.session["running"] is False
    assert await store.claimed_sessions() == []


async def test_claiming_an_expired_lease_interrupts_the_old_answer_in_the_claim(
    store: Store, user: User
) -> None:
    """Issue 12: a node claiming an expired lease through the normal path (a new question)
    must end the answer the previous holder left streaming, once, with its text kept."""
    sid, old = await answer_streaming(store, user, expired(), "half an ans")
    head = await store.head_seq(sid)

    taken = await store.claim_session(sid, B, live())
    assert taken is not None
    assert await store.streaming_in(sid) == []  # nothing left streaming
    [ended] = taken.interrupted
    assert ended["id"] == old and ended["status"] == "interrupted"
    assert ended["content"] == "half an ans" and ended["chunks"] == 3 and ended["error"]
    assert ended["seq"] == head + 1  # one change, with its own seq
    assert taken.session["head_seq"] == head + 1 and taken.session["running"] is True

    again = await store.claim_session(sid, B, live())
    assert again is not None and again.interrupted == []  # exactly once
    assert await store.head_seq(sid) == head + 1


async def test_a_stale_holder_is_fenced_after_a_takeover(store: Store, user: User) -> None:
    sid, old = await answer_streaming(store, user, expired(), "stale text")
    assert await store.claim_session(sid, B, live()) is not None
    head = await store.head_seq(sid)

    assert await store.renew_claims(A, live()) == set()  # A learns it lost the claim
    assert await store.create_assistant_message(sid, None, A) is None
    assert await store.checkpoint_many([(old, "late text", 9, None)]) == {old}
    assert await store.finish_message(sid, old, "complete", "late text", 9, None, A) is None
    assert await store.head_seq(sid) == head  # nothing the stale holder did was written
    [row] = [m for m in await store.changed_since(sid, 0) if m["id"] == old]
    assert (row["status"], row["content"]) == ("interrupted", "stale text")


async def test_a_holder_that_lost_its_claim_cannot_finish_even_while_streaming(
    store: Store, user: User
) -> None:
    """The claim fences the final write itself, not only the message's status."""
    sid, mine = await answer_streaming(store, user, live(), "text")
    assert await store.finish_message(sid, mine, "complete", "text!", 4, None, B) is None
    done = await store.finish_message(sid, mine, "complete", "text!", 4, None, A)
    assert done is not None and done["status"] == "complete"


async def test_breaking_an_expired_claim_interrupts_its_answers(
    store: Store, user: User
) -> None:
    sid, old = await answer_streaming(store, user, expired(), "cut off")
    broken = await store.break_claim(sid)
    assert broken is not None
    assert await store.streaming_in(sid) == []
    assert [(m["id"], m["status"], m["content"]) for m in broken.interrupted] == [
        (old, "interrupted", "cut off")
    ]
    assert broken.session["head_seq"] == await store.head_seq(sid)


async def test_an_answer_ended_already_is_not_ended_again_and_takes_no_seq(
    store: Store, user: User
) -> None:
    """The holder's final write (one statement on PostgreSQL) takes a seq only while the
    message is still streaming."""
    sid, mine = await answer_streaming(store, user, live(), "text")
    done = await store.finish_message(sid, mine, "complete", "text!", 4, None, A)
    assert done is not None and done["seq"] == await store.head_seq(sid)
    head = await store.head_seq(sid)
    assert await store.finish_message(sid, mine, "failed", "", 0, "again", A) is None
    assert await store.head_seq(sid) == head
    [row] = [m for m in await store.changed_since(sid, 0) if m["id"] == mine]
    assert (row["status"], row["content"], row["seq"]) == ("complete", "text!", head)


async def test_a_final_write_racing_a_takeover_ends_the_answer_once_at_the_next_seq(
    store: Store, user: User
) -> None:
    """A stale holder's final write and another runner's takeover, at once: exactly one of
    them ends the answer, and it takes exactly one seq (none taken in vain, no gap)."""
    for _ in range(8):
        sid, old = await answer_streaming(store, user, expired(), "so far")
        head = await store.head_seq(sid)
        finished, taken = await asyncio.gather(
            store.finish_message(sid, old, "complete", "all of it", 5, None, A),
            store.claim_session(sid, B, live()),
        )
        assert taken is not None  # the lease had run out: B's claim always succeeds
        assert (finished is None) == (len(taken.interrupted) == 1)
        assert await store.head_seq(sid) == head + 1
        [row] = [m for m in await store.changed_since(sid, 0) if m["id"] == old]
        assert row["seq"] == head + 1
        assert row["status"] == ("interrupted" if finished is None else "complete")
