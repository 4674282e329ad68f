"""Time as a RayJob's controller reads and writes it, and when to look again. Pure: `now` is
always passed in.

Every deadline and TTL of a RayJob (activeDeadlineSeconds, preRunningDeadlineSeconds, the status
check timeout, the transition grace period, the submitter's 30 s, the deletion TTLs) is measured
from a time written in its status (or a child's), never from a timer held in memory: a pass
works out when the earliest one falls due and asks to be requeued then (`requeue_after`), so a
restarted or another replica picks the same deadlines up from the status.

The texts KubeRay formats times into are Go's: `%v` of a `*metav1.Time` prints
`2006-01-02 15:04:05 +0000 UTC` (`go_time`), `time.DateTime` is `2006-01-02 15:04:05`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from raybus_common.objects import read_time, wire_time

__all__ = ["read_time", "wire_time"]  # job-ctl's modules read times through this one

REQUEUE = 3.0  # seconds: KubeRay's RayJobDefaultRequeueDuration
TTL_MARGIN = 2.0  # seconds KubeRay adds to a deletion TTL's remaining time (`requeueDelayFor`)
SUBMITTER_FINISHED_TIMEOUT = 30  # seconds: KubeRay's DefaultSubmitterFinishedTimeout


def from_millis(ms: int) -> str:
    """A dashboard time (ms since the epoch) as `metav1.Time` on the wire."""
    return wire_time(datetime.fromtimestamp(ms / 1000, UTC))


def go_time(at: datetime) -> str:
    """Go's `%v` of a `metav1.Time` read back from the API server (UTC)."""
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S +0000 UTC")


def go_datetime(at: datetime) -> str:
    """Go's `time.DateTime` layout."""
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def after(start: datetime, seconds: float) -> datetime:
    return start + timedelta(seconds=seconds)


def until(due: datetime, now: datetime, margin: float = 0.0) -> float:
    """Seconds from `now` until `due` (plus `margin`), never negative."""
    return max(0.0, (due - now).total_seconds() + margin)
