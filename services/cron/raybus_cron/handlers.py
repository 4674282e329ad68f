"""raybus-cron's declaration: its root kind, its reconcile, and what wakes a RayCronJob and joins
its view: the RayJobs it owns, kept as little as the reconcile reads of them (`keep_child`), so a
long history costs little memory. The shared runtime does the rest (`controller.runtime.starter`)."""

from __future__ import annotations

from typing import Any

from raybus_common.controller.runtime import ControllerSpec, Watch, starter
from raybus_common.controller.view import owned_by

from .config import CronConfig
from .reconcile import reconcile

ROOT = "raycronjob"
Obj = dict[str, Any]
_META = ("name", "namespace", "uid", "resourceVersion", "creationTimestamp", "deletionTimestamp", "labels",
         "annotations", "ownerReferences")
_STATUS = ("jobDeploymentStatus", "startTime", "endTime")


def keep_child(rayjob: Obj) -> Obj:
    """What `reconcile` reads of a child RayJob: its identity, tick, owner and how it stands."""
    meta = rayjob.get("metadata") or {}
    status = rayjob.get("status") or {}
    return {"apiVersion": rayjob.get("apiVersion") or "ray.io/v1", "kind": rayjob.get("kind") or "RayJob",
            "metadata": {k: meta[k] for k in _META if k in meta},
            "status": {k: status[k] for k in _STATUS if k in status}}


SPEC = ControllerSpec[CronConfig]("cron", ROOT, reconcile,
                                  watches=(Watch("rayjob", owned_by(ROOT, "RayCronJob"), keep=keep_child),))
start = starter(SPEC)
