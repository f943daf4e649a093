"""The Prometheus metrics: steps by status, refusals by code, latency, queue lengths and waits."""

from __future__ import annotations

import pytest

pytest.importorskip("prometheus_client", reason="the service extra is not installed")

from handoff_fsm.service.metrics import ServiceMetrics


def test_steps_refusals_and_latency_are_counted_per_center() -> None:
    metrics = ServiceMetrics()
    metrics.step("c", "applied", None, 0.003)
    metrics.step("c", "refused", "no_offer", 0.004)
    metrics.step("c", "duplicate", "no_offer", 0.001)
    text = metrics.render().decode()
    assert 'handoff_steps_total{center="c",status="applied"} 1.0' in text
    assert 'handoff_refusals_total{center="c",code="no_offer"} 1.0' in text
    assert 'handoff_ack_seconds_count{center="c"} 3.0' in text
    assert 'handoff_ack_seconds_bucket{center="c",le="0.0025"} 1.0' in text


def test_queue_gauges_follow_the_views() -> None:
    metrics = ServiceMetrics()
    metrics.queues("c", [{"queue": "q", "length": 3, "oldest_wait": 12.5}])
    metrics.queues("c", [{"queue": "q", "length": 0, "oldest_wait": None}])
    text = metrics.render().decode()
    assert 'handoff_queue_length{center="c",queue="q"} 0.0' in text
    assert 'handoff_oldest_wait_seconds{center="c",queue="q"} 0.0' in text


def test_two_services_do_not_share_metrics() -> None:
    first, second = ServiceMetrics(), ServiceMetrics()
    first.step("c", "applied", None, 0.001)
    assert "handoff_steps_total{" not in second.render().decode()
