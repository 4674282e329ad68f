"""raybus-job-ctl's declaration and start: its root kind, its reconcile, what wakes a RayJob and
joins its view, and KubeRay's `kuberay_job_*` metrics over the RayJobs this replica holds. The
shared runtime (`controller.runtime`) rebuilds the view from the bus, takes its share of the
RayJobs through partition leases, and publishes the actions.

A RayJob's view: the RayCluster, submitter Job and head Service it owns; the `RayJobInfo`
observations of its Ray job (the watcher's poller, owned like the RayJob); the RayCluster it
names without owning it (`status.rayClusterName`, or `clusterSelector`'s `ray.io/cluster`
before that is written); and that cluster's own head Service (the RayJob's head Service is
copied from it, and `status.dashboardURL` reads its `dashboard` port); in SidecarMode, the
cluster's head pod (labelled with its RayJob: `sidecar_head`), for the submitter container's state.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from raybus_common.controller import scrape
from raybus_common.controller.runtime import Controller, ControllerSpec, Watch, serve
from raybus_common.controller.view import Observed, RootKey, owned_by
from raybus_common.crds.raycluster import ORIGINATED_FROM_CRD_LABEL
from raybus_common.decision import Decision
from raybus_common.runner import Service

from .config import JobConfig
from .constants import CLUSTER_LABEL, ORIGINATED_FROM_CR_NAME_LABEL, RAYJOB_CRD
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


def sidecar_head(pod: Obj) -> Iterable[RootKey]:
    """A SidecarMode head pod belongs to the RayJob its labels name (`ray_cluster_for` puts them
    on the head template); every other pod to no RayJob, so the view never holds it."""
    meta = pod.get("metadata") or {}
    labels = meta.get("labels") or {}
    if labels.get(ORIGINATED_FROM_CRD_LABEL) == RAYJOB_CRD and labels.get(ORIGINATED_FROM_CR_NAME_LABEL):
        yield RootKey(ROOT, meta.get("namespace", ""), labels[ORIGINATED_FROM_CR_NAME_LABEL])


def keep_head_pod(pod: Obj) -> Obj:
    """What `submission.of_head_pod` reads of a head pod: its identity, labels and container states."""
    meta = pod.get("metadata") or {}
    status = pod.get("status") or {}
    return {"apiVersion": pod.get("apiVersion"), "kind": pod.get("kind"),
            "metadata": {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion", "labels",
                                                "ownerReferences", "deletionTimestamp") if k in meta},
            "status": {k: status[k] for k in ("phase", "containerStatuses") if k in status}}


def keep_cluster(cluster: Obj) -> Obj:
    """A RayCluster no RayJob owns (one a `clusterSelector` may pick, which every replica keeps)
    without its worker groups, the bulk of its spec: job-ctl reads a selected cluster's head
    (image, ports, head Service), auth options and status, and changes only the clusters it owns."""
    owners = (cluster.get("metadata") or {}).get("ownerReferences") or []
    if any(ref.get("kind") == "RayJob" and ref.get("controller") for ref in owners):
        return cluster
    spec = cluster.get("spec") or {}
    return {**cluster, "spec": {k: v for k, v in spec.items() if k != "workerGroupSpecs"}}


def decide(observed: Observed, *, now: datetime, settings: JobConfig) -> Decision:
    """`reconcile`, with its Retrying transitions noted for `kuberay_job_execution_duration_seconds`."""
    decision = reconcile(observed, now=now, settings=settings)
    RETRIES.observe(observed, decision, now)
    return decision


SPEC = ControllerSpec[JobConfig]("job-ctl", ROOT, decide, watches=(
    Watch("raycluster", owned_by(ROOT, "RayJob"), named_by=named_cluster, keep=keep_cluster),
    Watch("job", owned_by(ROOT, "RayJob")),
    Watch("service", owned_by(ROOT, "RayJob"), named_by=named_head_service),
    Watch("rayjobinfo", owned_by(ROOT, "RayJob")),
    Watch("pod", sidecar_head, keep=keep_head_pod),
))


async def start(svc: Service, settings: JobCtlSettings) -> Controller[JobConfig]:
    ctl = serve(svc, SPEC, settings, settings)
    scrape.export(svc, ctl, families)
    return ctl
