"""raybus-job-ctl's declaration and start: its root kind, its reconcile, what wakes a RayJob and
joins its view, and KubeRay's `kuberay_job_*` metrics over the RayJobs this replica holds. The
shared runtime (`controller.runtime`) rebuilds the view from the bus, takes its share of the
RayJobs through partition leases, and publishes the actions.

A RayJob's view: the RayCluster, submitter Job and head Service it owns; the `RayJobInfo`
observations of its Ray job (the watcher's poller, owned like the RayJob); the RayCluster it
names without owning it (`status.rayClusterName`, or `clusterSelector`'s `ray.io/cluster`
before that is written); and that cluster's own head Service (the RayJob's head Service is
copied from it, and `status.dashboardURL` reads its `dashboard` port).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from raybus_common.controller import scrape
from raybus_common.controller.runtime import Controller, ControllerSpec, Watch, serve
from raybus_common.controller.view import Observed, owned_by
from raybus_common.decision import Decision
from raybus_common.runner import Service

from .config import JobConfig
from .constants import CLUSTER_LABEL
from .metrics import RETRIES, families
from .names import cluster_head_service_name
from .reconcile import reconcile
from .settings import JobCtlSettings

ROOT = "rayjob"
Obj = dict[str, Any]


def named_cluster(rayjob: Obj) -> Iterable[str]:
    """The RayCluster a RayJob runs on: its status's, or the one `clusterSelector` picks."""
    status = rayjob.get("status") or {}
    spec = rayjob.get("spec") or {}
    names = {str(status.get("rayClusterName") or ""), str((spec.get("clusterSelector") or {}).get(CLUSTER_LABEL) or "")}
    return sorted(n for n in names if n)


def named_head_service(rayjob: Obj) -> Iterable[str]:
    """That RayCluster's head Service (its name as the RayJob's `rayClusterSpec` gives it)."""
    spec = rayjob.get("spec") or {}
    selected = bool((spec.get("clusterSelector") or {}).get(CLUSTER_LABEL))
    template = None if selected else spec.get("rayClusterSpec")
    return [cluster_head_service_name(name, template) for name in named_cluster(rayjob)]


def decide(observed: Observed, *, now: datetime, settings: JobConfig) -> Decision:
    """`reconcile`, with its Retrying transitions noted for `kuberay_job_execution_duration_seconds`."""
    decision = reconcile(observed, now=now, settings=settings)
    RETRIES.observe(observed, decision, now)
    return decision


SPEC = ControllerSpec[JobConfig]("job-ctl", ROOT, decide, watches=(
    Watch("raycluster", owned_by(ROOT, "RayJob"), named_by=named_cluster),
    Watch("job", owned_by(ROOT, "RayJob")),
    Watch("service", owned_by(ROOT, "RayJob"), named_by=named_head_service),
    Watch("rayjobinfo", owned_by(ROOT, "RayJob")),
))


async def start(svc: Service, settings: JobCtlSettings) -> Controller[JobConfig]:
    ctl = serve(svc, SPEC, settings, settings)
    scrape.export(svc, ctl, families)
    return ctl
