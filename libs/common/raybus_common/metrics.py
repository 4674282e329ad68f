"""Prometheus metrics every service exposes on `/metrics`, and the helpers to serve them.

The standard set (one registry per process, prometheus_client's default, so process and GC
collectors come along):

- `raybus_messages_total{stage, outcome}`: bus messages handled; outcome is `ok`,
  `temporary` (nak'd for redelivery), `permanent` (terminated and dead-lettered), `malformed`
  (could not be decoded; dead-lettered) or `exhausted` (failed on its last delivery).
- `raybus_handler_seconds{stage}`: time spent in a handler.
- `raybus_published_total{stage, duplicate}`: messages published (duplicate = dropped by
  `Nats-Msg-Id` dedupe).
- `raybus_dead_letters_total{stage}`, `raybus_ready` (1 once the service reports ready).
- `raybus_bus_pending_messages{stage}` and `raybus_bus_lag_seconds{stage}`: how far behind the
  bus a consumer is — JetStream's count of messages still to deliver, and the age of the message
  in hand, both at the last message handled.
- `raybus_controller_reconcile_seconds{controller}`: time spent in one `reconcile`.

Controllers add KubeRay's own names (`kuberay_cluster_info`, ...) in their own modules.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, TypeVar

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client import generate_latest as _generate

from .bus.subjects import stage_of

MESSAGES = Counter("raybus_messages", "Bus messages handled, by stage and outcome.", ["stage", "outcome"])
HANDLER_SECONDS = Histogram(
    "raybus_handler_seconds", "Seconds spent handling one bus message.", ["stage"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0))
PUBLISHED = Counter("raybus_published", "Messages published to the bus.", ["stage", "duplicate"])
DEAD_LETTERS = Counter("raybus_dead_letters", "Messages sent to the dead-letter stage.", ["stage"])
READY = Gauge("raybus_ready", "1 when the service reports ready, else 0.")
PARTITIONS_HELD = Gauge("raybus_controller_partitions_held", "Partitions whose lease this replica holds.",
                        ["controller"])
STATUS_WRITE_LAG = Gauge("raybus_controller_status_write_lag_seconds",
                         "Smoothed time from sending a status write to its result (how long writes wait in the "
                         "actuator's queue); progress-only status waits at least this long.", ["controller"])
RECONCILES = Counter("raybus_controller_reconciles", "Calls of reconcile, by controller.", ["controller"])
ACTIONS_ISSUED = Counter("raybus_controller_actions", "Actions published, by controller and operation.",
                         ["controller", "op"])
BUS_PENDING = Gauge("raybus_bus_pending_messages", "Messages the consumer has yet to deliver, at the last one handled.",
                    ["stage"])
BUS_LAG = Gauge("raybus_bus_lag_seconds", "Age of the last bus message handled when its handling began.", ["stage"])
RECONCILE_SECONDS = Histogram(
    "raybus_controller_reconcile_seconds", "Seconds spent in one reconcile, by controller.", ["controller"],
    buckets=(0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0))
OUTCOMES = ("ok", "temporary", "permanent", "malformed", "exhausted")

M = TypeVar("M", Counter, Gauge, Histogram)
_children: dict[tuple[int, tuple[str, ...]], Any] = {}


def child(metric: M, *values: str) -> M:
    """`metric.labels(*values)`, looked up once per label set: on the paths each bus message
    takes, `labels()` (its checks, its lock) cost ~2 % of a service's CPU. Only for label sets
    that are few and never removed (stages, outcomes, operations, kinds, controllers)."""
    key = (id(metric), values)
    found = _children.get(key)
    if found is None:
        found = _children[key] = metric.labels(*values)
    return found


def observe_lag(subject: str, pending: int | None, sent: datetime | None, now: datetime | None = None) -> None:
    """Record how far behind the bus a consumer is: `pending` messages after this one (JetStream's
    `num_pending`), this one published at `sent` (its stream timestamp). The stage is the
    subject's (`subjects.stage_of`)."""
    stage = stage_of(subject)
    if pending is not None:
        child(BUS_PENDING, stage).set(pending)
    if sent is not None:
        if sent.tzinfo is None:
            sent = sent.replace(tzinfo=UTC)
        child(BUS_LAG, stage).set(max(0.0, ((now or datetime.now(UTC)) - sent).total_seconds()))


def render(registry: CollectorRegistry = REGISTRY) -> tuple[bytes, str]:
    """The exposition text and its content type."""
    return _generate(registry), CONTENT_TYPE_LATEST


def sample(name: str, labels: dict[str, str] | None = None, registry: CollectorRegistry = REGISTRY) -> float:
    """The current value of one sample (0.0 if absent); for tests and health details."""
    value = registry.get_sample_value(name, labels or {})
    return 0.0 if value is None else value
