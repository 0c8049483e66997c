"""A session's ``running`` flag changes with its ``updated_at``, so a client can order two
states of it (issue 12 section 1, found by the fault test: a client's ``list_sessions`` row,
read while a run was on, arrived after the ``session`` event of its end, and with equal
``updated_at`` and ``head_seq`` the browser's rule took it: a session left running)."""

from __future__ import annotations

import uuid
from datetime import timedelta

from tests.cluster.faults.clients import fresher
from tether.accounts import User
from tether.store import Store, utcnow


async def test_a_claim_its_release_and_a_broken_claim_each_move_updated_at(
    store: Store, user: User
) -> None:
    sid = str(uuid.uuid4())
    await store.create_session(user.id, sid, "s", "echo")
    before = await store.session_by_id(sid)
    claimed = await store.claim_session(sid, "node-a", utcnow() + timedelta(seconds=10))
    assert before is not None and claimed is not None
    released = await store.release_session(sid, "node-a")
    assert released is not None
    assert (before["running"], claimed.session["running"], released["running"]) == (
        False, True, False)
    assert before["updated_at"] < claimed.session["updated_at"] < released["updated_at"]
    # The browser's SessionList rule (sessionlist.js isFresher) now orders them either way.
    assert fresher(released, claimed.session) and not fresher(claimed.session, released)

    again = await store.claim_session(sid, "node-b", utcnow() - timedelta(seconds=1))
    assert again is not None
    broken = await store.break_claim(sid)
    assert broken is not None and broken.session["running"] is False
    assert not fresher(again.session, broken.session)
