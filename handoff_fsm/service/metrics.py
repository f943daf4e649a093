"""`GET /metrics`: Prometheus text metrics of the service (prometheus-client).

Theory of operation: counters and the acknowledgement-latency histogram are updated as requests
are answered; queue lengths and the oldest wait are read from the centers' queue views when
Prometheus scrapes, so they are exact at that moment and cost nothing between scrapes. Each
service has its own registry (two services in one process, as in tests, do not collide).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from handoff_fsm.events import JsonValue

CONTENT_TYPE = CONTENT_TYPE_LATEST
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class ServiceMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.steps = Counter(
            "handoff_steps",
            "Steps answered, by center and status (applied, refused, duplicate, invalid).",
            ["center", "status"],
            registry=self.registry,
        )
        self.refusals = Counter(
            "handoff_refusals",
            "Refused steps, by center and refusal code.",
            ["center", "code"],
            registry=self.registry,
        )
        self.bad_requests = Counter(
            "handoff_bad_requests",
            "Requests answered with an error before reaching a center, by code.",
            ["code"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "handoff_ack_seconds",
            "Seconds from a step's arrival to its acknowledgement (durable).",
            ["center"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.queue_length = Gauge(
            "handoff_queue_length",
            "Conversations waiting in a queue.",
            ["center", "queue"],
            registry=self.registry,
        )
        self.oldest_wait = Gauge(
            "handoff_oldest_wait_seconds",
            "How long the longest-waiting conversation of a queue has waited (0: none waits).",
            ["center", "queue"],
            registry=self.registry,
        )

    def step(self, center: str, status: str, code: str | None, seconds: float) -> None:
        self.steps.labels(center, status).inc()
        if code is not None and status == "refused":
            self.refusals.labels(center, code).inc()
        self.latency.labels(center).observe(seconds)

    def queues(self, center: str, views: list[dict[str, JsonValue]]) -> None:
        for view in views:
            queue = str(view["queue"])
            length, oldest = view["length"], view["oldest_wait"]
            self.queue_length.labels(center, queue).set(
                float(length) if isinstance(length, int) else 0.0
            )
            self.oldest_wait.labels(center, queue).set(
                float(oldest) if isinstance(oldest, int | float) else 0.0
            )

    def render(self) -> bytes:
        return generate_latest(self.registry)


__all__ = ["CONTENT_TYPE", "ServiceMetrics"]
