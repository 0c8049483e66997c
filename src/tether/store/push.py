"""Web Push storage: each user's push subscriptions (one per device's browser), and which tabs
are watching which session (so nobody is pushed an answer they are looking at)."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, delete, func, insert, or_, select, update

from tether.db.schema import push_presence, push_subscriptions
from tether.store.base import StoreBase
from tether.store.rows import utcnow


@dataclass(frozen=True, slots=True)
class PushSubscriptionRow:
    """A stored push subscription: where to send, and the keys to encrypt for."""

    id: str
    user_id: str
    endpoint: str
    p256dh: str
    auth: str
    device: str | None

    def info(self) -> dict[str, object]:
        """The subscription as the browser's ``PushSubscription.toJSON()`` gives it (what
        pywebpush takes)."""
        return {"endpoint": self.endpoint, "keys": {"p256dh": self.p256dh, "auth": self.auth}}


def endpoint_hash(endpoint: str) -> str:
    return hashlib.sha256(endpoint.encode()).hexdigest()


_COLUMNS = (
    push_subscriptions.c.id,
    push_subscriptions.c.user_id,
    push_subscriptions.c.endpoint,
    push_subscriptions.c.p256dh,
    push_subscriptions.c.auth,
    push_subscriptions.c.device,
)


class PushQueries(StoreBase):
    async def save_push_subscription(
        self, user_id: str, endpoint: str, p256dh: str, auth: str, device: str | None,
        *, keep: int,
    ) -> PushSubscriptionRow:
        """Store (or refresh) the subscription of ``endpoint`` for ``user_id``. An endpoint is
        one browser's: registered again by another user (a shared computer, a new sign-in), it
        moves to that user. A user keeps at most ``keep`` subscriptions: the least recently
        registered go first."""
        now, key = utcnow(), endpoint_hash(endpoint)
        values = {"user_id": user_id, "endpoint": endpoint, "p256dh": p256dh, "auth": auth,
                  "device": device, "updated_at": now}
        async with self._write() as conn:
            found = (
                await conn.execute(
                    select(push_subscriptions.c.id).where(
                        push_subscriptions.c.endpoint_hash == key
                    )
                )
            ).scalar()
            if found is None:
                found = str(uuid.uuid4())
                await conn.execute(insert(push_subscriptions).values(
                    id=found, endpoint_hash=key, created_at=now, **values
                ))
            else:
                await conn.execute(
                    update(push_subscriptions).where(push_subscriptions.c.id == found)
                    .values(**values)
                )
            extra = (
                await conn.execute(
                    select(push_subscriptions.c.id)
                    .where(push_subscriptions.c.user_id == user_id)
                    .order_by(push_subscriptions.c.updated_at.desc(), push_subscriptions.c.id)
                    .offset(keep)
                )
            ).scalars().all()
            if extra:
                await conn.execute(
                    delete(push_subscriptions).where(push_subscriptions.c.id.in_(extra))
                )
        return PushSubscriptionRow(found, user_id, endpoint, p256dh, auth, device)

    async def delete_push_subscription(self, user_id: str, endpoint: str) -> bool:
        """Forget the user's subscription of ``endpoint``; False when the user had none."""
        async with self._write() as conn:
            result = await conn.execute(delete(push_subscriptions).where(and_(
                push_subscriptions.c.endpoint_hash == endpoint_hash(endpoint),
                push_subscriptions.c.user_id == user_id,
            )))
        return bool(result.rowcount)

    async def drop_push_subscription(self, subscription_id: str) -> None:
        """Forget a subscription the push service says is gone (404, 410)."""
        async with self._write() as conn:
            await conn.execute(
                delete(push_subscriptions).where(push_subscriptions.c.id == subscription_id)
            )

    def cached_owner(self, session_id: str) -> str | None:
        """The session's owner if this store remembers it (no I/O; None when not known):
        for the push sender to skip an answer's end without a task (a session's owner never
        changes, so what is remembered stays true)."""
        return self._owners.get(session_id)

    async def push_subscriptions_of(self, user_id: str) -> list[PushSubscriptionRow]:
        async with self._reads.connect() as conn:
            rows = (
                await conn.execute(
                    select(*_COLUMNS).where(push_subscriptions.c.user_id == user_id)
                    .order_by(push_subscriptions.c.created_at)
                )
            ).all()
        return [PushSubscriptionRow(*row) for row in rows]

    async def set_presence(
        self, sid: str, user_id: str, session_id: str | None, until: datetime
    ) -> None:
        """Tab ``sid`` shows ``session_id`` (None: nothing, or the tab is hidden) until
        ``until`` unless renewed."""
        async with self._write() as conn:
            # Rows of tabs that stopped renewing (their node died) go with the next change.
            await conn.execute(delete(push_presence).where(or_(
                push_presence.c.sid == sid,
                and_(push_presence.c.user_id == user_id,
                     push_presence.c.visible_until < utcnow()),
            )))
            if session_id is not None:
                await conn.execute(insert(push_presence).values(
                    sid=sid, user_id=user_id, session_id=session_id, visible_until=until
                ))

    async def clear_presence(self, sid: str) -> None:
        await self.set_presence(sid, "", None, utcnow())

    async def watched(self, user_id: str, session_id: str) -> bool:
        """True while a tab of the user shows the session (and has said so recently)."""
        async with self._reads.connect() as conn:
            count = (
                await conn.execute(
                    select(func.count()).select_from(push_presence).where(and_(
                        push_presence.c.user_id == user_id,
                        push_presence.c.session_id == session_id,
                        push_presence.c.visible_until > utcnow(),
                    ))
                )
            ).scalar()
        return bool(count)
