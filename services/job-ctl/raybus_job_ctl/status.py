"""A RayJob's `.status` as KubeRay v1.7 writes it: when a pass's new status is worth writing,
the bookkeeping every write does, and the shape on the wire. Pure.

- Written only when it differs in what matters (`changed`, KubeRay's `updateRayJobStatus`):
  `jobStatus`, `jobDeploymentStatus`, `jobStatusCheckFailureStartTime`, or the consistent part
  of `rayClusterStatus` (`InconsistentRayClusterStatus`: state, reason, the worker replica
  counts, endpoints, head, conditions). Other fields (a new message, the dashboard URL) ride
  along with such a change. One addition: a ValidationFailed status whose message changed is
  written, so the status names the problem the latest Event reported.
- A write that makes the deployment Complete or Failed stamps `endTime` (`stamp_end_time`).
- The counters (`count_attempt`, KubeRay's `checkBackoffLimitAndUpdateStatusIfNeeded`):
  `failed` +1 on Failed, `succeeded` +1 on SUCCEEDED and Complete; a failure the backoff limit
  still allows (not DeadlineExceeded nor JobStatusCheckTimeoutExceeded) turns into Retrying, so
  the intermediate Failed is never written.
- The shape is Go's (`wire_status`): empty strings and unset times left out (`omitempty`),
  `rayJobInfo` and `rayClusterStatus` always there (structs are never omitted; a zero
  RayClusterStatus marshals its quantities as "0" and an empty `head`).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from raybus_common.crds.rayjob import (
    TERMINAL_JOB_DEPLOYMENT_STATUSES,
    JobDeploymentStatus,
    JobFailedReason,
    JobStatus,
    RayJob,
)

from .timers import wire_time

Obj = dict[str, Any]
ZERO_CLUSTER_STATUS: Mapping[str, Any] = {"desiredCPU": "0", "desiredGPU": "0", "desiredMemory": "0",
                                          "desiredTPU": "0", "head": {}}
_OMIT_EMPTY = ("jobId", "rayClusterName", "dashboardURL", "jobStatus", "jobDeploymentStatus", "reason", "message",
               "startTime", "endTime", "jobStatusCheckFailureStartTime", "observedGeneration")
_CLUSTER_REPLICAS = ("readyWorkerReplicas", "availableWorkerReplicas", "desiredWorkerReplicas", "minWorkerReplicas",
                     "maxWorkerReplicas")
# Failures a retry cannot help: the deadline is the RayJob's, not the attempt's; a dashboard
# that stayed unreadable for the whole timeout is not expected to come back.
NOT_RETRIED = frozenset({JobFailedReason.DEADLINE_EXCEEDED, JobFailedReason.JOB_STATUS_CHECK_TIMEOUT_EXCEEDED})


def deployment(status: Mapping[str, Any]) -> str:
    return str(status.get("jobDeploymentStatus") or "")


def job_status(status: Mapping[str, Any]) -> str:
    return str(status.get("jobStatus") or "")


def _consistent_cluster(status: Mapping[str, Any]) -> tuple[Any, ...]:
    cluster = status.get("rayClusterStatus") or {}
    return (cluster.get("state") or "", cluster.get("reason") or "",
            *(int(cluster.get(k) or 0) for k in _CLUSTER_REPLICAS),
            cluster.get("endpoints") or {}, cluster.get("head") or {}, cluster.get("conditions") or [])


def _matters(status: Mapping[str, Any]) -> tuple[Any, ...]:
    validation = status.get("message") if deployment(status) == JobDeploymentStatus.VALIDATION_FAILED else None
    return (job_status(status), deployment(status), status.get("jobStatusCheckFailureStartTime") or None,
            _consistent_cluster(status), validation)


def changed(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> bool:
    """Whether `new` is worth writing over `old` (see the module's docstring)."""
    return _matters(old or {}) != _matters(new)


def stamp_end_time(old: Mapping[str, Any] | None, new: Obj, now: datetime) -> None:
    """`endTime` = now when this write changes the job or deployment status and makes the
    deployment Complete or Failed."""
    before = old or {}
    moved = job_status(before) != job_status(new) or deployment(before) != deployment(new)
    if moved and deployment(new) in TERMINAL_JOB_DEPLOYMENT_STATUSES:
        new["endTime"] = wire_time(now)


def count_attempt(status: Obj, job: RayJob) -> None:
    """KubeRay's `checkBackoffLimitAndUpdateStatusIfNeeded`, on the pass's new status."""
    failed, succeeded = int(status.get("failed") or 0), int(status.get("succeeded") or 0)
    if deployment(status) == JobDeploymentStatus.FAILED:
        failed += 1
    if job_status(status) == JobStatus.SUCCEEDED and deployment(status) == JobDeploymentStatus.COMPLETE:
        succeeded += 1
    status["failed"], status["succeeded"] = failed, succeeded
    if (deployment(status) == JobDeploymentStatus.FAILED and failed < job.spec.backoff_limit + 1
            and status.get("reason") not in NOT_RETRIED):
        status["jobDeploymentStatus"] = JobDeploymentStatus.RETRYING.value


def reset_attempt(status: Obj) -> None:
    """What Suspending and Retrying clear once the attempt's RayCluster and submitter are gone."""
    status["rayClusterStatus"] = copy.deepcopy(dict(ZERO_CLUSTER_STATUS))
    status["rayJobInfo"] = {}
    for key in ("rayClusterName", "dashboardURL", "jobId", "message", "reason", "jobStatusCheckFailureStartTime"):
        status.pop(key, None)
    status["jobStatus"] = JobStatus.NEW.value


def wire_status(status: Mapping[str, Any]) -> Obj:
    """The status as KubeRay's Go struct marshals it."""
    out = {k: copy.deepcopy(v) for k, v in status.items() if not (k in _OMIT_EMPTY and v in ("", None, 0))}
    info = {k: v for k, v in (out.get("rayJobInfo") or {}).items() if v}
    out["rayJobInfo"] = info
    if not out.get("rayClusterStatus"):
        out["rayClusterStatus"] = copy.deepcopy(dict(ZERO_CLUSTER_STATUS))
    return out
