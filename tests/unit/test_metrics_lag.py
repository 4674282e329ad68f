"""The bus-lag gauges every service exposes (`metrics.observe_lag`), and the cached label children."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from raybus_common import metrics


def value(gauge: object, stage: str) -> float:
    return float(gauge.labels(stage)._value.get())  # type: ignore[attr-defined]


def test_lag_by_stage_from_the_subject() -> None:
    now = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
    metrics.observe_lag("raybus.act.pod.ns.p", 7, now - timedelta(seconds=2.5), now=now)
    assert value(metrics.BUS_PENDING, "act") == 7
    assert value(metrics.BUS_LAG, "act") == 2.5
    metrics.observe_lag("raybus.state.pod.ns.p", None, (now + timedelta(seconds=1)).replace(tzinfo=None), now=now)
    assert value(metrics.BUS_LAG, "state") == 0.0, "a clock ahead of ours is no negative lag; naive means UTC"


def test_a_cached_child_is_the_metrics_own_and_counts_where_labels_would() -> None:
    before = metrics.MESSAGES.labels("test-stage", "ok")._value.get()  # type: ignore[attr-defined]
    counted = metrics.child(metrics.MESSAGES, "test-stage", "ok")
    assert counted is metrics.MESSAGES.labels("test-stage", "ok")
    assert metrics.child(metrics.MESSAGES, "test-stage", "ok") is counted
    assert metrics.child(metrics.MESSAGES, "test-stage", "temporary") is not counted
    assert metrics.child(metrics.RECONCILES, "test-stage") is not counted, "one cache, kept apart per metric"
    counted.inc()
    assert metrics.MESSAGES.labels("test-stage", "ok")._value.get() == before + 1  # type: ignore[attr-defined]
