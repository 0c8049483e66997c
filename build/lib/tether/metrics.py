"""Prometheus metrics of one server (its own registry, so tests can run several apps)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.connections = Gauge(
            "tether_connections", "Open Socket.IO connections", registry=self.registry
        )
        self.subscriptions = Gauge(
            "tether_subscriptions", "Session subscriptions of open connections",
            registry=self.registry,
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
