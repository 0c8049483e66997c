"""Which users have a push subscription, remembered by each node and kept right on every node.

Most users have none, and every answer's end would otherwise start a task to find that out.
Each node remembers, per user, whether the database last said they have any; an answer whose
owner has none is then not even given a task. A change of a user's subscriptions (subscribe,
unsubscribe, a gone one deleted) on any node is told to every node, which forgets what it
remembered of that user, so a subscription made through one node is pushed to by every node
from its next answer on.

The news travels on the cluster's news channel :data:`CHANNEL` (over Redis for several nodes,
in the process for one: whichever cluster the app was given). It is delivered at most once, so
nothing is believed while a node is not listening, and everything is forgotten when it listens
again (what it missed meanwhile is not replayed); a read that raced with a change is not
remembered. A node that could not tell a change (Redis gone for it alone) is covered by
:data:`BELIEVED_SECONDS`.
"""

from __future__ import annotations

from tether.cache import Cache
from tether.cluster import LocalNewsChannels, NewsChannels
from tether.store import PushSubscriptionRow, Store

#: The cluster's news channel (:meth:`tether.cluster.Cluster.news`) on which a node tells every
#: node that a user's subscriptions changed: each message is a user id.
CHANNEL = "push-subscribers"
#: The longest an answer from the database is believed without news: only a change whose news
#: was lost (its node could not tell it) is seen this late.
BELIEVED_SECONDS = 300.0
#: Users remembered per node (least recently used go first).
USERS_REMEMBERED = 100_000


class SubscribedUsers:
    """Per user, whether the database last said they have a push subscription (this node's
    memory, kept right by the news channel :data:`CHANNEL` of ``channels``: the cluster's;
    by default this process's alone)."""

    def __init__(self, store: Store, channels: NewsChannels | None = None) -> None:
        self.store = store
        self._known: Cache[str, bool] = Cache(USERS_REMEMBERED, ttl=BELIEVED_SECONDS)
        #: Counts every change heard: a read that started before one is not remembered.
        self._changes = 0
        self.news = (channels or LocalNewsChannels()).news(CHANNEL, self)

    def has_none(self, user_id: str) -> bool:
        """True only when the user is known to have no subscription (so: no push to try)."""
        return self._known.get(user_id) is False

    async def of(self, user_id: str) -> list[PushSubscriptionRow]:
        """The user's subscriptions, from the database; whether there are any is remembered."""
        before = self._changes
        subscriptions = await self.store.push_subscriptions_of(user_id)
        if self.news.listening and before == self._changes:
            self._known.put(user_id, bool(subscriptions))
        return subscriptions

    async def changed(self, user_id: str) -> None:
        """The user's subscriptions changed through this node: forget, and tell every node."""
        self.changed_elsewhere(user_id)
        await self.news.tell(user_id)

    def changed_elsewhere(self, user_id: str) -> None:
        """The user's subscriptions changed (through another node, or this one's news heard
        back): forget them."""
        self._changes += 1
        self._known.discard(user_id)

    def heard(self, text: str) -> None:
        """News on :data:`CHANNEL`: a user id."""
        self.changed_elsewhere(text)

    def forget_all(self) -> None:
        """Listening (re)started: every belief may be stale."""
        self._changes += 1
        self._known.clear()
