"""Sessions: create, read, list, update; the agent's stored state."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import and_, bindparam, func, select, update
from sqlalchemy.exc import IntegrityError

from tether.db.schema import messages, sessions
from tether.store import compiled, statements
from tether.store.base import StoreBase
from tether.store.rows import (
    _SESSION_COLUMNS,
    DEFAULT_TITLE,
    ListedSessionRow,
    SessionRow,
    SessionTaken,
    new_epoch,
    parse_iso,
    session_out,
    utcnow,
)

#: Characters of a session's latest message that ``list_sessions`` carries as its ``preview``.
PREVIEW_CHARS = 120

#: The start of a session's latest message, read with the list (not kept on the session row, so
#: the hot paths that store messages write nothing more).
_PREVIEW = (
    select(func.substr(messages.c.content, 1, PREVIEW_CHARS))
    .where(messages.c.session_id == sessions.c.id)
    .order_by(messages.c.position.desc())
    .limit(1)
    .scalar_subquery()
    .label("preview")
)


class SessionQueries(StoreBase):
    async def create_session(
        self, user_id: str, session_id: str | None, title: str | None, agent: str
    ) -> tuple[SessionRow, bool]:
        """Create a session, or return the existing one with this id: (session, created)."""
        session_id = session_id or str(uuid.uuid4())
        now = utcnow()
        try:
            async with self._write() as conn:
                existing = (
                    await conn.execute(
                        select(sessions.c.user_id, *_SESSION_COLUMNS).where(
                            sessions.c.id == session_id
                        )
                    )
                ).first()
                if existing is not None:
                    if existing.user_id != user_id:
                        raise SessionTaken(session_id)
                    self._owners.put(session_id, user_id)
                    return session_out(existing), False
                row = (
                    await conn.execute(
                        sessions.insert()
                        .values(
                            id=session_id,
                            user_id=user_id,
                            title=title or DEFAULT_TITLE,
                            agent=agent,
                            head_seq=0,
                            message_count=0,
                            running=False,
                            archived=False,
                            epoch=new_epoch(),
                            created_at=now,
                            updated_at=now,
                        )
                        .returning(*_SESSION_COLUMNS)
                    )
                ).one()
            self._owners.put(session_id, user_id)
            return session_out(row), True
        except IntegrityError:
            # Created concurrently by another request with the same id.
            again = await self.get_session(user_id, session_id)
            if again is None:
                raise SessionTaken(session_id) from None
            return again, False

    async def get_session(self, user_id: str, session_id: str) -> SessionRow | None:
        async with self._reads.connect() as conn:
            row = (
                await conn.execute(
                    select(*_SESSION_COLUMNS).where(
                        sessions.c.id == session_id, sessions.c.user_id == user_id
                    )
                )
            ).first()
        return None if row is None else session_out(row)

    async def session_by_id(self, session_id: str) -> SessionRow | None:
        async with self._reads.connect() as conn:
            row = (
                await conn.execute(select(*_SESSION_COLUMNS).where(sessions.c.id == session_id))
            ).first()
        return None if row is None else session_out(row)

    async def session_owner(self, session_id: str) -> str | None:
        """The user id owning the session, or None when there is no such session; read from
        the database once per session (see StoreBase._owners)."""
        owner = self._owners.get(session_id)
        if owner is None:
            owner = await self._read(
                lambda conn: compiled.scalar(conn, statements.OWNER, {"p_session": session_id})
            )
            if owner is not None:
                self._owners.put(session_id, owner)
        return owner

    async def list_sessions(
        self, user_id: str, limit: int, before: str | None
    ) -> tuple[list[ListedSessionRow], bool]:
        """The user's sessions, latest activity first, ``limit`` of them after the cursor."""
        query = select(*_SESSION_COLUMNS, _PREVIEW).where(sessions.c.user_id == user_id)
        if before is not None:
            query = query.where(sessions.c.updated_at < parse_iso(before))
        query = query.order_by(sessions.c.updated_at.desc(), sessions.c.id.desc()).limit(limit + 1)
        async with self._reads.connect() as conn:
            rows = (await conn.execute(query)).all()
        listed: list[ListedSessionRow] = [
            {**session_out(r), "preview": r.preview or ""} for r in rows[:limit]
        ]
        return listed, len(rows) > limit

    async def update_session(
        self, user_id: str, session_id: str, title: str | None, archived: bool | None
    ) -> SessionRow | None:
        values: dict[str, Any] = {"updated_at": utcnow()}
        if title is not None:
            values["title"] = title or DEFAULT_TITLE
        if archived is not None:
            values["archived"] = archived
        return await self._update_session(
            and_(sessions.c.id == session_id, sessions.c.user_id == user_id), **values
        )

    async def name_untitled(self, session_id: str, title: str) -> SessionRow | None:
        """Give a session still titled by default this title; None when it has another title
        (the user's own name always wins, even one given a moment before)."""
        return await self._update_session(
            and_(sessions.c.id == session_id, sessions.c.title == DEFAULT_TITLE),
            title=title, updated_at=utcnow(),
        )

    async def set_agent_state(self, session_id: str, state: str | None) -> None:
        await self._write_session(
            statements.SET_AGENT_STATE, {"p_session": session_id, "p_state": state}
        )

    async def renew_epochs(self, session_ids: list[str] | None = None) -> int:
        """Give sessions (every one, by default) a new epoch, so clients that saw them before
        rebuild their view at the next subscribe (``reset``); how many were renewed.

        Run after restoring the database from a backup: the restored rows carry the epochs
        clients saw before, on a history that has since been cut back (see tether.recovery)."""
        async with self._write() as conn:
            query = select(sessions.c.id)
            if session_ids is not None:
                query = query.where(sessions.c.id.in_(session_ids))
            ids = [row[0] for row in await conn.execute(query)]
            if ids:
                await conn.execute(
                    update(sessions)
                    .where(sessions.c.id == bindparam("p_id"))
                    .values(epoch=bindparam("p_epoch")),
                    [{"p_id": i, "p_epoch": new_epoch()} for i in ids],
                )
        return len(ids)
