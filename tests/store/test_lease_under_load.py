"""A process never breaks its own claim on a session it is answering (the streaming
benchmark's ``final_mismatch`` at 1,200 streams, docs/performance.md).

Under a long write queue a claim's lease is computed when it is asked for but written only when
the claim's transaction gets the write lock, possibly after the lease has run out; a renewal that
ran just before it does not include it. The lease upkeep then found the process's *own* claim
expired and broke it like a dead runner's: the answer streaming there was ended ``interrupted``
with the text of its last checkpoint (none yet), and the run's full text, which its followers had
already seen in deltas, was dropped.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from tether.accounts import User
from tether.store import Store, Takeover

from .test_run_streams import (
    CountingStore,
    RecordingBus,
    WordsAgent,
    final_answers,
    manager,
    sessions_with_a_question,
    wait_answered,
)

LEASE = 0.6


class LateClaimStore(CountingStore):
    """A claim that waited in the write queue behind a renewal and longer than its lease: it
    commits right after that renewal, already expired, before the upkeep looks for expired
    claims; the upkeep's break of it, a write too, comes after the answer has started."""

    renewed: asyncio.Event
    claimed: asyncio.Event

    async def renew_claims(self, runner: str, until: datetime) -> set[str]:
        held = await super().renew_claims(runner, until)
        self.renewed.set()
        return held

    async def claim_session(
        self, session_id: str, runner: str, until: datetime, *, queued: bool = False,
        answer_id: str | None = None,
    ) -> Takeover | None:
        await self.renewed.wait()
        taken = await super().claim_session(session_id, runner,
                                            until - timedelta(seconds=2 * LEASE), queued=queued,
                                            answer_id=answer_id)
        self.claimed.set()
        return taken

    async def expired_claims(self) -> list[str]:
        await self.claimed.wait()
        return await super().expired_claims()

    async def break_claim(self, session_id: str, *, force: bool = False) -> Takeover | None:
        while not await self.streaming_in(session_id):  # noqa: ASYNC110 - polls the database
            await asyncio.sleep(0.01)
        return await super().break_claim(session_id, force=force)


async def test_an_answer_whose_own_claim_was_written_expired_is_not_interrupted(
    store: Store, user: User
) -> None:
    bus = RecordingBus()
    words = 40
    runs = manager(store, WordsAgent(words, 0.03), bus, kind=LateClaimStore, lease=LEASE,
                   delta_interval=0.01, checkpoint_interval=0.05)
    assert isinstance(runs.store, LateClaimStore)
    runs.store.renewed, runs.store.claimed = asyncio.Event(), asyncio.Event()
    [sid] = await sessions_with_a_question(store, user, 1)
    try:
        await runs.start(single_process=True)
        runs.wake(sid)
        await wait_answered(store, [sid])
        await asyncio.sleep(0.1)
    finally:
        await runs.shutdown()
    [answer] = await final_answers(store, sid)
    assert answer["status"] == "complete", answer
    assert answer["content"] == "".join(f"w{i} " for i in range(words))
    finals = [m["status"] for kind, m in bus.events
              if kind == "message" and m.get("id") == answer["id"]]
    assert finals == ["streaming", "complete"]
