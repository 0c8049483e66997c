"""tether.metrics: the levels read at scrape time render as prometheus-client's Gauge does."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, Gauge, generate_latest

from tether.metrics import Level, Metrics


def test_a_level_renders_as_a_gauge_with_the_same_changes() -> None:
    gauge_registry, level_registry = CollectorRegistry(), CollectorRegistry()
    gauge = Gauge("tether_things", "Things open", registry=gauge_registry)
    level = Level("tether_things", "Things open", level_registry)
    for target in (gauge, level):
        target.inc()
        target.inc(3)
        target.dec()
        target.dec(2)
        target.inc()
    assert level.value == 2
    assert generate_latest(level_registry) == generate_latest(gauge_registry)


def test_the_connection_levels_keep_their_names_and_help() -> None:
    metrics = Metrics()
    metrics.connections.inc()
    metrics.subscriptions.inc(2)
    metrics.subscriptions.dec()
    text = metrics.render().decode()
    for line in (
        "# HELP tether_connections Open Socket.IO connections",
        "# TYPE tether_connections gauge",
        "tether_connections 1.0",
        "# HELP tether_subscriptions Session subscriptions of open connections",
        "# TYPE tether_subscriptions gauge",
        "tether_subscriptions 1.0",
    ):
        assert line in text.splitlines(), line


def test_a_level_name_is_registered_once() -> None:
    registry = CollectorRegistry()
    Level("tether_things", "Things open", registry)
    with pytest.raises(ValueError, match="Duplicated timeseries"):
        Gauge("tether_things", "Again", registry=registry)
