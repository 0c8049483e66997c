"""Leases: this process's claims on sessions, kept alive, and the claims of dead ones, ended.

To answer a session a process *claims* it (``sessions.runner``) with a lease it renews every
``lease/3`` seconds, so one run at a time per session holds across processes and nodes. A
claim changes hands only together with the end (``interrupted``, text so far kept) of every
answer its holder left streaming, in one transaction (tether.store.claims); so a process that
loses its claim (it stalled, or was presumed dead) finds its answer already ended and is
fenced: it can no longer create or end messages there.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection, Mapping
from datetime import datetime, timedelta

from tether.bus import Bus
from tether.runs.state import Run
from tether.store import Store, Takeover, utcnow

log = logging.getLogger("tether.runs")


class Leases:
    def __init__(
        self,
        store: Store,
        bus: Bus,
        *,
        runner_id: str,
        lease: float,
        active: Mapping[str, Run],
        working: Collection[str],
        wake: Callable[[str], None],
    ) -> None:
        """``active``: this process's runs by session; ``working``: the sessions a worker of
        this process looks after; ``wake``: have a worker answer a session's queue."""
        self.store = store
        self.bus = bus
        self.runner_id = runner_id
        self.lease = lease
        self._active = active
        self._working = working
        self._wake = wake
        self._task: asyncio.Task[None] | None = None

    def until(self) -> datetime:
        return utcnow() + timedelta(seconds=self.lease)

    async def claim(
        self, session_id: str, *, queued: bool = False, answer_id: str | None = None
    ) -> Takeover | None:
        """Claim the session for this process (None: another holds it, or with ``queued``
        no question is queued; see Store.claim_session, also for ``answer_id``), publishing
        whatever the claim ended of a previous holder's."""
        taken = await self.store.claim_session(
            session_id, self.runner_id, self.until(), queued=queued, answer_id=answer_id
        )
        if taken is not None:
            await self.publish(taken)
        return taken

    async def publish(self, taken: Takeover) -> None:
        sid = taken.session["id"]
        if taken.interrupted:
            log.warning("took over session %s from a runner that stopped", sid)
        for message in taken.interrupted:
            log.warning("interrupted message %s of session %s: its runner stopped",
                        message["id"], sid)
            await self.bus.message(sid, message)
        owner = await self.store.session_owner(sid)
        if owner is not None:
            await self.bus.session(owner, taken.session)

    async def recover_all(self) -> None:
        """A single process (no other shares the database) knows every claim it finds is
        stale: end them at once, then end answers streaming without a claim (left by a
        process older than claims); nobody can be writing them."""
        for session_id in await self.store.claimed_sessions():
            await self.recover(session_id, force=True)
        for message in await self.store.streaming_messages():
            ended = await self.store.interrupt(message)
            if ended is not None:
                log.warning("interrupted message %s of session %s: its process stopped",
                            ended["id"], ended["session_id"])
                await self.bus.message(ended["session_id"], ended)

    def start(self) -> None:
        self._task = asyncio.create_task(self._maintain(), name="run-leases")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _maintain(self) -> None:
        interval = max(self.lease / 3, 0.2)
        while True:
            await asyncio.sleep(interval)
            try:
                await self._renew()
                for session_id in await self.store.expired_claims():
                    if session_id in self._working:
                        # This process's own worker claims or answers it: a lease that ran
                        # out while its claim waited for the write lock is renewed next
                        # time, never broken here (that interrupted a live answer).
                        continue
                    await self.recover(session_id, force=False)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("run lease upkeep failed: %s", exc)

    async def _renew(self) -> None:
        held = await self.store.renew_claims(self.runner_id, self.until())
        for session_id, run in list(self._active.items()):
            if session_id not in held:
                log.warning("lost the claim on session %s; stopping its run", session_id)
                run.fence()
        for session_id in held - set(self._working):
            # Claimed here, but no worker runs it (it died on an error): recover it like a
            # dead node's, or its streaming answer would stay streaming for ever.
            await self.recover(session_id, force=True)

    async def recover(self, session_id: str, *, force: bool) -> None:
        """End a dead runner's claim (and with it its streaming answers); what is still
        queued gets answered here."""
        taken = await self.store.break_claim(session_id, force=force)
        if taken is None:
            return
        await self.publish(taken)
        self._wake(session_id)

    async def settle(self, session_id: str, message_id: str) -> None:
        """This process could not end its answer: its claim is gone. Whoever took the claim
        ended the answer in the claim's transaction; check rather than assume, and if it is
        still streaming, claim the session (which ends it) and go on with its queue."""
        if all(m["id"] != message_id for m in await self.store.streaming_in(session_id)):
            log.warning("message %s was ended by the runner that took session %s over; "
                        "this run's result is dropped", message_id, session_id)
            return
        if await self.claim(session_id) is None:
            log.error("message %s is still streaming and session %s is claimed by another "
                      "runner: it is theirs to end", message_id, session_id)
            return
        self._wake(session_id)
