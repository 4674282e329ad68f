"""The bus-lag gauges every service exposes (`metrics.observe_lag`)."""

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
