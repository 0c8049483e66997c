"""Notifications by Web Push: VAPID keys, subscriptions, presence, and the pushes themselves.

docs/protocol.md ("Web Push") has the requests and the payload; docs/web-client.md what the
browser does with them.
"""

from tether.push.bus import NotifyingBus
from tether.push.sender import PushSender
from tether.push.service import PushService
from tether.push.vapid import VapidKeys, load_keys

__all__ = ["NotifyingBus", "PushSender", "PushService", "VapidKeys", "load_keys"]
