"""Sending pushes: in background tasks, bounded and timed out, never in the answer's way.

The node that ended an answer (wrote its final status: tether.runs) calls
:meth:`PushSender.answer_ended` once, so on several nodes exactly one node pushes. The push goes
to each of the session owner's subscriptions unless a tab of that user is showing the session
(``presence``, kept in the database so every node sees every tab). A subscription the push
service calls gone (404, 410) is deleted. An answer whose owner is known to have no subscription
(tether.push.subscribers) gets no task at all.
"""

from __future__ import annotations

import asyncio
import logging
from urllib.parse import urlsplit

import aiohttp
import orjson
from aiohttp import TCPConnector
from pywebpush import WebPushException, webpush_async

from tether.push.egress import PublicResolver, refused_host
from tether.push.payload import answer_payload, ends_answer
from tether.push.subscribers import SubscribedUsers
from tether.push.vapid import VapidKeys
from tether.store import MessageRow, PushSubscriptionRow, Store
from tether.tasks import TaskOwner

log = logging.getLogger("tether.push")

#: What the push service answers for a subscription that no longer exists.
GONE = frozenset({404, 410})


class PushSender:
    """Pushes of this process; at most ``concurrency`` requests to push services at once, each
    given up after ``timeout`` seconds, at most ``max_pending`` answers waiting their turn
    (past that a push is dropped and logged: an answer is never held up)."""

    def __init__(
        self,
        store: Store,
        keys: VapidKeys | None = None,
        *,
        concurrency: int = 8,
        timeout: float = 10.0,
        ttl: int = 3600,
        max_pending: int = 1000,
        allow_private: bool = False,
        subscribers: SubscribedUsers | None = None,
    ) -> None:
        self.store = store
        #: Who has a subscription, as this node knows it (kept right across nodes).
        self.subscribers = subscribers if subscribers is not None else SubscribedUsers(store)
        #: None until the server starts (tether.push.service): nothing is pushed before.
        self.keys = keys
        self.timeout = timeout
        self.ttl = ttl
        self.max_pending = max_pending
        self.allow_private = allow_private
        self.tasks = TaskOwner("push")
        self._slots = asyncio.Semaphore(concurrency)
        self._http: aiohttp.ClientSession | None = None
        #: Pushes by outcome ("sent", "gone", "failed", "refused", "watched", "dropped", and
        #: "none": an answer whose owner has no subscription, given no task), for tests and
        #: diagnostics.
        self.counts: dict[str, int] = {}

    def answer_ended(self, session_id: str, message: MessageRow) -> None:
        """An answer ended here: tell its owner's devices, in the background."""
        if self.keys is None or not ends_answer(message):
            return
        owner = self.store.cached_owner(session_id)
        if owner is not None and self.subscribers.has_none(owner):
            self._count("none")
            return
        if self.tasks.running >= self.max_pending:
            self._count("dropped")
            log.warning("push for message %s dropped: %d pushes pending", message["id"],
                        self.tasks.running)
            return
        self.tasks.spawn(self._notify(session_id, message), name=f"notify:{message['id']}")

    async def close(self) -> None:
        await self.tasks.close()
        if self._http is not None:
            await self._http.close()

    async def _notify(self, session_id: str, message: MessageRow) -> None:
        owner = await self.store.session_owner(session_id)
        if owner is None or self.subscribers.has_none(owner):
            return
        subscriptions = await self.subscribers.of(owner)
        if not subscriptions:
            return
        if await self.store.watched(owner, session_id):
            self._count("watched")
            return
        session = await self.store.session_by_id(session_id)
        title = session["title"] if session is not None else "Tether"
        data = orjson.dumps(answer_payload(title, message)).decode()
        await asyncio.gather(*(self.send(sub, data) for sub in subscriptions))

    async def send(self, subscription: PushSubscriptionRow, data: str) -> int | None:
        """Push ``data`` to one subscription: the push service's status, or None when it did
        not answer in time or could not be reached. A gone subscription is deleted."""
        assert self.keys is not None, "push sender not started"
        host = urlsplit(subscription.endpoint).hostname or ""
        if not self.allow_private and (why := refused_host(host)):
            # (refused at subscribe too; this covers rows stored before that check)
            self._count("refused")
            log.warning("push to subscription %s not sent: its endpoint is %s", subscription.id,
                        why)
            return None
        async with self._slots:
            if self._http is None:
                self._http = aiohttp.ClientSession(
                    timeout=aiohttp.ClientTimeout(self.timeout),
                    # names resolve to public addresses only (tether.push.egress)
                    connector=None if self.allow_private else TCPConnector(
                        resolver=PublicResolver()),
                )
            try:
                async with asyncio.timeout(self.timeout):
                    response = await webpush_async(
                        subscription.info(),
                        data,
                        vapid_private_key=self.keys.vapid,
                        vapid_claims=self.keys.claims(subscription.endpoint),
                        ttl=self.ttl,
                        aiohttp_session=self._http,
                        timeout=aiohttp.ClientTimeout(self.timeout),
                    )
            except WebPushException as exc:
                # (the aiohttp response's; pywebpush 2.5's status_code reads the same)
                status: int | None = getattr(exc.response, "status", None)
                if status in GONE:
                    self._count("gone")
                    log.info("push subscription %s is gone (%s): deleted", subscription.id,
                             status)
                    await self.store.drop_push_subscription(subscription.id)
                    await self.subscribers.changed(subscription.user_id)
                else:
                    self._count("failed")
                    log.warning("push to subscription %s refused: %s", subscription.id, status)
                return status
            except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                self._count("failed")
                log.warning("push to subscription %s failed: %s", subscription.id,
                            type(exc).__name__)
                return None
        self._count("sent")
        return int(response.status)

    def _count(self, outcome: str) -> None:
        self.counts[outcome] = self.counts.get(outcome, 0) + 1
