"""Run claims: which process answers a session, until when (see tether.runs)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, select, update

from tether.db.schema import sessions
from tether.store import statements
from tether.store.base import StoreBase
from tether.store.rows import SessionRow, utcnow


class ClaimQueries(StoreBase):
    async def claim_session(
        self, session_id: str, runner: str, until: datetime
    ) -> SessionRow | None:
        """Make ``runner`` the session's runner until ``until``, unless another runner holds a
        live claim. The session (now ``running``) on success, else None."""
        return await self._write_session(
            statements.CLAIM,
            {"p_session": session_id, "p_runner": runner, "p_until": until, "p_now": utcnow()},
        )

    async def renew_claims(self, runner: str, until: datetime) -> set[str]:
        """Extend every claim ``runner`` still holds; the ids of those sessions."""
        async with self._write() as conn:
            rows = (
                await conn.execute(
                    update(sessions)
                    .where(sessions.c.runner == runner)
                    .values(runner_lease=until)
                    .returning(sessions.c.id)
                )
            ).all()
        return {r[0] for r in rows}

    async def release_session(self, session_id: str, runner: str) -> SessionRow | None:
        """Give up ``runner``'s claim; the session (not ``running``), or None if not held."""
        return await self._write_session(
            statements.RELEASE, {"p_session": session_id, "p_runner": runner}
        )

    async def expired_claims(self) -> list[str]:
        async with self.engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(sessions.c.id).where(
                        sessions.c.runner.is_not(None), sessions.c.runner_lease < utcnow()
                    )
                )
            ).all()
        return [r[0] for r in rows]

    async def break_claim(self, session_id: str, *, force: bool = False) -> SessionRow | None:
        """Clear a session's claim if it has expired (or, with ``force``, whatever it is);
        the session, or None when the claim was live (or there was none)."""
        condition = and_(sessions.c.id == session_id, sessions.c.runner.is_not(None))
        if not force:
            condition = and_(condition, sessions.c.runner_lease < utcnow())
        return await self._update_session(condition, runner=None, runner_lease=None, running=False)

    async def claimed_sessions(self) -> list[str]:
        async with self.engine.connect() as conn:
            rows = (
                await conn.execute(select(sessions.c.id).where(sessions.c.runner.is_not(None)))
            ).all()
        return [r[0] for r in rows]
