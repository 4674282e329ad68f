"""raybus-scheduler-bridge's declaration: its root kind (RayCluster), its reconcile, and what
wakes a cluster: the Volcano PodGroups (its own by owner reference; a RayJob's, which the
RayJob owns, by their `ray.io/cluster` label), the scheduler-plugins PodGroups it owns, and the
RayJob that made it (its `status.rayClusterName`: the submitter's resources join the gang). The
shared runtime does the rest (`controller.runtime.starter`)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from raybus_common import objects
from raybus_common.controller.runtime import ControllerSpec, Watch, starter
from raybus_common.controller.view import RootKey, either, labelled, owned_by
from raybus_common.crds.rayjob import CLUSTER_LABEL

from .config import SchedulerConfig
from .reconcile import reconcile

ROOT = "raycluster"


def job_to_cluster(job: dict[str, Any]) -> Iterable[RootKey]:
    """A RayJob wakes the cluster its status names."""
    name = (job.get("status") or {}).get("rayClusterName")
    if name:
        yield RootKey(ROOT, objects.namespace(job), name)


SPEC = ControllerSpec[SchedulerConfig]("scheduler-bridge", ROOT, reconcile, watches=(
    Watch("podgroup", either(owned_by(ROOT, "RayCluster"), labelled(ROOT, CLUSTER_LABEL))),
    Watch("schedulingpodgroup", owned_by(ROOT, "RayCluster")),
    Watch("rayjob", job_to_cluster),
))
start = starter(SPEC)
