"""KubeRay's RayJob metrics (`ray_job_metrics.go`), computed at scrape time from the controller's
view, like cluster-ctl's `kuberay_cluster_*`.

| metric | labels | value |
|---|---|---|
| `kuberay_job_info` | name, namespace, uid | 1 |
| `kuberay_job_deployment_status` | name, namespace, uid, deployment_status | 1, for the current `jobDeploymentStatus` |
| `kuberay_job_execution_duration_seconds` | name, namespace, uid, job_deployment_status, retry_count | seconds from an attempt's start to its end |

KubeRay sets the duration when it writes a status that takes a RayJob from a non-terminal state
to Complete, Failed or Retrying (value: now − `status.startTime`; retry_count: `status.failed`
before the write), and lists every RayJob for the other two. Here each replica reports the
RayJobs whose partition it holds (so N replicas never report one twice). A finished RayJob's
duration comes from its status (`endTime` − `startTime`; `failed` less the attempt that just
failed): the same figure, and it survives a restart. A Retrying status is gone by the next pass
(it turns New and the times are reset), so those series are recorded from the decisions as
they are taken (`Retries`, wrapped around `reconcile` by `handlers`) and kept until the RayJob
leaves this replica's view. `families` is pure; `handlers` serves it through
`raybus_common.controller.scrape`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from prometheus_client.core import GaugeMetricFamily

from raybus_common import objects
from raybus_common.controller.view import Observed
from raybus_common.crds.rayjob import TERMINAL_JOB_DEPLOYMENT_STATUSES, JobDeploymentStatus
from raybus_common.decision import Decision

from .status import deployment
from .timers import read_time

Obj = dict[str, Any]
LABELS = ["name", "namespace", "uid"]
Series = tuple[str, str, str, str, str]  # name, namespace, uid, job_deployment_status, retry_count


def _status(job: Obj) -> dict[str, Any]:
    found = job.get("status")
    return found if isinstance(found, dict) else {}


def _seconds(start: Any, end: Any) -> float | None:
    began, ended = read_time(start), read_time(end)
    return None if began is None or ended is None else max(0.0, (ended - began).total_seconds())


class Retries:
    """The Retrying transitions this replica decided: one duration per series."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._series: dict[Series, float] = {}

    def observe(self, observed: Observed, decision: Decision, now: datetime) -> None:
        old = _status(observed.root or {})
        new = decision.status
        if observed.root is None or new is None or deployment(old) in TERMINAL_JOB_DEPLOYMENT_STATUSES:
            return
        if deployment(new) != JobDeploymentStatus.RETRYING:
            return
        began = read_time(new.get("startTime"))
        if began is None:
            return
        seconds = max(0.0, (now - began).total_seconds())
        root = observed.root
        key = (objects.name(root), objects.namespace(root), objects.uid(root), JobDeploymentStatus.RETRYING.value,
               str(int(old.get("failed") or 0)))
        with self._lock:
            self._series[key] = seconds

    def series(self, present: set[tuple[str, str, str]]) -> list[tuple[Series, float]]:
        """The recorded series of RayJobs still `present` (name, namespace, uid); the rest are forgotten."""
        with self._lock:
            for key in [k for k in self._series if k[:3] not in present]:
                del self._series[key]
            return sorted(self._series.items())


RETRIES = Retries()


def families(jobs: Iterable[Obj], retries: Retries = RETRIES) -> list[GaugeMetricFamily]:
    info = GaugeMetricFamily("kuberay_job_info", "Metadata information about RayJob custom resources", labels=LABELS)
    state = GaugeMetricFamily("kuberay_job_deployment_status", "The RayJob's current deployment status",
                              labels=[*LABELS, "deployment_status"])
    duration = GaugeMetricFamily("kuberay_job_execution_duration_seconds",
                                 "Duration of the RayJob CR's JobDeploymentStatus transition from `Initializing` to "
                                 "either the `Retrying` state or a terminal state, such as `Complete` or `Failed`.",
                                 labels=[*LABELS, "job_deployment_status", "retry_count"])
    present: set[tuple[str, str, str]] = set()
    for job in jobs:  # as observed: a scrape does not parse every RayJob
        ids = [objects.name(job), objects.namespace(job), objects.uid(job)]
        present.add((ids[0], ids[1], ids[2]))
        status = _status(job)
        info.add_metric(ids, 1)
        state.add_metric([*ids, deployment(status)], 1)
        if deployment(status) in TERMINAL_JOB_DEPLOYMENT_STATUSES:
            seconds = _seconds(status.get("startTime"), status.get("endTime"))
            failed = int(status.get("failed") or 0)
            before = failed - 1 if deployment(status) == JobDeploymentStatus.FAILED and failed > 0 else failed
            if seconds is not None:
                duration.add_metric([*ids, deployment(status), str(before)], seconds)
    for series, seconds in retries.series(present):
        duration.add_metric(list(series), seconds)
    return [info, state, duration]
