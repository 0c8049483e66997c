"""Prometheus metrics of one server (its own registry, so tests can run several apps)."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector


class Level(Collector):
    """A gauge kept as a plain number and read when /metrics is scraped.

    prometheus-client's ``Gauge.inc``/``dec`` take a lock on every change, so that threads may
    share it; Tether changes these levels only from its event loop, on every connect,
    disconnect and subscribe (a thousand of each in a reconnect storm), and reads them once per
    scrape. The output is a ``Gauge``'s: the same name, help, type and value."""

    def __init__(self, name: str, documentation: str, registry: CollectorRegistry) -> None:
        self.name = name
        self.documentation = documentation
        self.value = 0
        registry.register(self)

    def inc(self, amount: int = 1) -> None:
        self.value += amount

    def dec(self, amount: int = 1) -> None:
        self.value -= amount

    def collect(self) -> Iterator[GaugeMetricFamily]:
        yield GaugeMetricFamily(self.name, self.documentation, value=self.value)

    def describe(self) -> Iterator[GaugeMetricFamily]:
        # Registration reads the names from here, without a value, so it never calls collect.
        yield GaugeMetricFamily(self.name, self.documentation)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.connections = Level(
            "tether_connections", "Open Socket.IO connections", self.registry
        )
        self.subscriptions = Level(
            "tether_subscriptions", "Session subscriptions of open connections", self.registry
        )
        self.requests = Counter(
            "tether_requests", "Requests by event and outcome (ok or an error code)",
            ["event", "outcome"], registry=self.registry,
        )
        self.subscribe_modes = Counter(
            "tether_subscribe_modes", "Subscribe answers by mode", ["mode"], registry=self.registry
        )
        self.runs_active = Gauge(
            "tether_runs_active", "Assistant answers streaming now", registry=self.registry
        )
        self.request_seconds = Histogram(
            "tether_request_seconds", "Time to answer a request", ["event"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=self.registry,
        )
        self.takeovers = Counter(
            "tether_takeovers", "Connections replaced by a newer one with the same client_id",
            registry=self.registry,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
