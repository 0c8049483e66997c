"""The cluster seam (:class:`Cluster`) and its two implementations; :func:`cluster_for` picks
the one the settings ask for."""

from __future__ import annotations

from tether.cluster.base import (
    CancelHandler,
    ClientRegistry,
    Cluster,
    News,
    NewsChannels,
    NewsListener,
)
from tether.cluster.local import LocalCluster
from tether.cluster.news import LocalNewsChannels
from tether.settings import Settings

__all__ = [
    "CancelHandler", "ClientRegistry", "Cluster", "LocalCluster", "LocalNewsChannels", "News",
    "NewsChannels", "NewsListener", "cluster_for",
]


def cluster_for(settings: Settings) -> Cluster:
    """A Redis cluster when ``redis_url`` is set, else this process alone."""
    if settings.redis_url:
        from tether.cluster.redis import RedisCluster

        return RedisCluster(settings.redis_url, settings.redis_prefix)
    return LocalCluster()
