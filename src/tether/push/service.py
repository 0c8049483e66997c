"""The push requests (``push_subscribe``, ``push_unsubscribe``, ``presence``) and the push
side's start and stop. Knows nothing of Socket.IO."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import TypedDict
from urllib.parse import urlsplit

from tether import protocol as p
from tether.accounts import User
from tether.cluster import NewsChannels
from tether.protocol import ErrorCode, RequestError, not_found
from tether.push.egress import refused_host
from tether.push.sender import PushSender
from tether.push.subscribers import SubscribedUsers
from tether.push.vapid import VapidKeys, load_keys
from tether.service import NoFields
from tether.settings import Settings
from tether.store import Store, utcnow

log = logging.getLogger("tether.push")


class PushHello(TypedDict):
    """``hello.push``: what a page needs to subscribe."""

    #: The server's VAPID public key (base64url): ``applicationServerKey``.
    public_key: str


class PresenceAck(TypedDict):
    #: Seconds the report holds; the tab sends it again before then while it stays visible.
    ttl: float


class UnsubscribeAck(TypedDict):
    removed: bool


class PushService:
    def __init__(self, store: Store, settings: Settings, cluster: NewsChannels) -> None:
        """``cluster``: the app's (tether.app), on whose news channel every node tells the
        others of a changed subscription."""
        self.store = store
        self.settings = settings
        self.keys: VapidKeys | None = None
        self.subscribers = SubscribedUsers(store, cluster)
        self.sender = PushSender(
            store,
            concurrency=settings.push_concurrency,
            timeout=settings.push_timeout,
            ttl=settings.push_ttl,
            allow_private=settings.push_allow_private,
            subscribers=self.subscribers,
        )
        #: This node's connections with a presence row (so a disconnect costs a write only
        #: for them).
        self._present: set[str] = set()

    def start(self) -> None:
        """Load (or make, the first time) the VAPID key pair; pushes go out from now on."""
        if not self.settings.push_enabled:
            return
        s = self.settings
        try:
            keys = load_keys(s.data_dir, s.vapid_private_key, s.vapid_subject)
        except Exception as exc:
            # A data dir that cannot be written, a bad key given, a key library that cannot
            # make one: the server runs, without push (hello offers none), and says why.
            log.error("Web Push is off: no VAPID key (%s: %s)", type(exc).__name__, exc)
            return
        self.keys = self.sender.keys = keys

    async def close(self) -> None:
        await self.sender.close()

    def hello(self) -> PushHello | None:
        return None if self.keys is None else {"public_key": self.keys.public_key}

    async def subscribe(self, user: User, req: p.PushSubscribe) -> NoFields:
        if self.keys is None:
            raise RequestError(ErrorCode.INVALID, "push notifications are off on this server")
        self._check_endpoint(req.endpoint)
        await self.store.save_push_subscription(
            user.id, req.endpoint, req.keys.p256dh, req.keys.auth, req.device,
            keep=self.settings.push_max_per_user,
        )
        await self.subscribers.changed(user.id)
        log.info("push subscription stored for user=%s device=%s", user.name, req.device)
        return {}

    async def unsubscribe(self, user: User, req: p.PushUnsubscribe) -> UnsubscribeAck:
        removed = await self.store.delete_push_subscription(user.id, req.endpoint)
        if removed:
            await self.subscribers.changed(user.id)
        return {"removed": removed}

    async def presence(self, user: User, sid: str, req: p.Presence) -> PresenceAck:
        ttl = self.settings.push_presence_seconds
        shown = req.session_id if req.visible else None
        if shown is not None and await self.store.session_owner(shown) != user.id:
            raise not_found()
        await self.store.set_presence(sid, user.id, shown, utcnow() + timedelta(seconds=ttl))
        if shown is None:
            self._present.discard(sid)
        else:
            self._present.add(sid)
        return {"ttl": ttl}

    async def disconnected(self, sid: str) -> None:
        if sid in self._present:
            self._present.discard(sid)
            await self.store.clear_presence(sid)

    def _check_endpoint(self, endpoint: str) -> None:
        url = urlsplit(endpoint)
        schemes = ("https", "http") if self.settings.push_allow_http else ("https",)
        if url.scheme not in schemes or not url.hostname or url.username or url.password:
            raise RequestError(
                ErrorCode.INVALID, f"endpoint: must be an {' or '.join(schemes)} URL"
            )
        if not self.settings.push_allow_private and (why := refused_host(url.hostname)):
            raise RequestError(ErrorCode.INVALID, f"endpoint: {why} is not a push service")
