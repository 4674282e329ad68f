"""The RayCluster reconcile: observed world in, a `Decision` out. Pure: no I/O, no clock
(the caller passes `now`), no randomness.

KubeRay's sequence (`rayClusterReconcile`, reference §2), one pass at a time:

1. `managedBy` names another manager → hands off (nothing at all).
2. Validation (`validation.validate`): an invalid cluster gets a Warning Event
   (`InvalidRayClusterSpec`) *and*, unlike KubeRay, a status condition naming the field; it is
   not reconciled further.
3. Deletion and the GCS fault-tolerance finalizer (§6.3): add it while alive; once deleting,
   delete the pods, run the Redis cleanup Job, remove the finalizer when the Job finished
   or the deletion timeout passed.
4. Children in KubeRay's order: autoscaler ServiceAccount/Role/RoleBinding, Ingress, auth
   Secret, head Service, headless worker Service, serve Service — each created when missing
   (server-side apply of the full object, owned by the cluster), with KubeRay's Events.
5. Pods (§5): suspend, `upgradeStrategy: Recreate`, the head, then each worker group in
   spec order: unhealthy pods first, `scaleStrategy.workersToDelete`, then the difference to
   the desired count (clamped to [min, max] × numOfHosts); scale-down by Raybus only when
   the autoscaler is off.
6. Status (`status.calculate_status`), written only when it changed; requeue after 2 s when
   this pass acted, else after `requeue_seconds` (300 s, KubeRay's default).

Modules: `plan.py` holds the `Pass` (actions and Events collected in order) and the keys;
`scaling.py` the pods (step 5, with deterministic pod names); this module the rest.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from raybus_common.actions import AddFinalizer, RemoveFinalizer
from raybus_common.controller.view import Observed
from raybus_common.decision import NOTHING, Decision

from . import children as kids
from . import pods as podlib
from .config import ClusterConfig
from .plan import (
    FT_DELETION_TIMEOUT,
    FT_FINALIZER,
    KUBERAY_MANAGER,
    RECREATE_HASH,
    REQUEUE_SOON,
    Obj,
    Pass,
    _labels,
    _meta,
    _name,
    _terminating,
    _truthy,
    failure_reason,
    spec_hash,
)
from .scaling import head_prefix, pod_names, reconcile_pods, should_delete_pod, worker_prefix
from .status import calculate_status, status_changed
from .validation import Problem, validate

__all__ = ["FT_FINALIZER", "RECREATE_HASH", "failure_reason", "head_prefix", "pod_names", "reconcile",
           "should_delete_pod", "spec_hash", "worker_prefix"]



def redis_ft(cluster: Obj) -> bool:
    """GCS fault tolerance on the Redis backend (§6.1, §6.3)."""
    spec = cluster.get("spec") or {}
    options = spec.get("gcsFaultToleranceOptions")
    if options is not None:
        return (options.get("backend") or "redis") == "redis"
    return _truthy(_meta(cluster).get("annotations", {}).get("ray.io/ft-enabled"))



def reconcile(observed: Observed, *, now: datetime, settings: ClusterConfig) -> Decision:
    """The whole desired state of one RayCluster from its observed snapshot."""
    cluster = observed.root
    if cluster is None:
        return NOTHING
    spec = cluster.get("spec") or {}
    managed_by = spec.get("managedBy")
    if managed_by not in (None, "", KUBERAY_MANAGER):
        return NOTHING  # another manager (e.g. MultiKueue) owns it
    s = settings
    p = Pass(cluster, observed, now, s)

    if _terminating(cluster):
        _deleting(p)
        return Decision(actions=tuple(p.actions), requeue_after=p.requeue)

    problems = list(validate(cluster, gates=s.gates))
    if problems:
        return _invalid(p, problems)

    if redis_ft(cluster) and s.gcs_ft_redis_cleanup and FT_FINALIZER not in (_meta(cluster).get("finalizers") or []):
        p.actions.append(AddFinalizer(ref=p.ref, finalizer=FT_FINALIZER))
        return Decision(actions=tuple(p.actions), requeue_after=REQUEUE_SOON)

    _children(p)
    reconcile_pods(p)
    return _finish(p, [])


def _finish(p: Pass, problems: list[Problem]) -> Decision:
    services = list(p.observed.of("service"))
    new = calculate_status(p.cluster, list(p.observed.of("pod")), services, now=p.now, problems=problems,
                           feature_conditions=p.settings.feature_enabled("RayClusterStatusConditions"))
    status = new if status_changed(p.cluster.get("status"), new) else None
    if status is not None:
        p.soon()
    requeue = p.requeue if p.requeue is not None else p.settings.requeue_seconds
    return Decision(actions=tuple(p.actions), status=status, requeue_after=requeue)


def _invalid(p: Pass, problems: list[Problem]) -> Decision:
    text = "; ".join(f"{pr.field}: {pr.message}" for pr in problems)
    old = p.cluster.get("status") or {}
    already = any(c.get("message") == text for c in old.get("conditions") or [])
    if not already:  # one Event per distinct problem, not one per pass
        p.event("InvalidRayClusterSpec", f"The RayCluster spec is invalid {_meta(p.cluster).get('namespace')}/"
                                         f"{_name(p.cluster)}: {text}", warning=True, action="Validate")
    decision = _finish(p, problems)
    return decision.model_copy(update={"requeue_after": None})  # nothing to retry until the spec changes


# -- children ---------------------------------------------------------------------------------

CHILD_EVENTS = {
    "ServiceAccount": "CreatedServiceAccount", "Role": "CreatedRole", "RoleBinding": "CreatedRoleBinding",
    "Ingress": "CreatedIngress", "Secret": "CreatedSecret", "Service": "CreatedService",
}


def _children(p: Pass) -> None:
    """Create what is missing. Only the Ingress is also kept in line (KubeRay updates it when its
    labels, annotations or spec drift); the rest is created once, as in KubeRay."""
    for child in kids.children(p.cluster, cluster_ip_service=p.settings.enable_ray_head_cluster_ip_service):
        kind = child["kind"].lower()
        current = next((o for o in p.observed.of(kind) if _name(o) == _name(child)), None)
        if current is None:
            p.create(child, CHILD_EVENTS.get(child["kind"], f"Created{child['kind']}"), child["kind"])
        elif kind == "ingress" and _drifted(current, child):
            p.create(child, "UpdatedIngress", "Ingress", verb="Update")


def _drifted(current: Obj, desired: Obj) -> bool:
    """Something we set (labels, annotations, spec) is no longer as we set it. Fields the API
    server or others added do not count, so a defaulted field cannot make this loop."""
    return not all(_subset(desired.get(k) if k == "spec" else _meta(desired).get(k),
                           current.get(k) if k == "spec" else _meta(current).get(k))
                   for k in ("labels", "annotations", "spec"))


def _subset(want: Any, have: Any) -> bool:
    if want is None:
        return True
    if isinstance(want, dict):
        return isinstance(have, dict) and all(_subset(v, have.get(k)) for k, v in want.items())
    if isinstance(want, list):
        return isinstance(have, list) and len(want) == len(have) and all(map(_subset, want, have))
    return bool(want == have)


# -- deletion and the GCS FT finalizer ----------------------------------------------------------

def _deleting(p: Pass) -> None:
    cluster = p.cluster
    finalizers = _meta(cluster).get("finalizers") or []
    if FT_FINALIZER not in finalizers:
        return  # garbage collection removes the children
    if not redis_ft(cluster):  # a stale finalizer (rocksdb backend): just remove it
        p.actions.append(RemoveFinalizer(ref=p.ref, finalizer=FT_FINALIZER))
        return
    pods = p.pods()
    for pod in sorted(pods, key=lambda x: _labels(x).get("ray.io/node-type") != "head"):
        if _labels(pod).get("ray.io/node-type") in ("head", "worker"):
            p.delete(pod, "DeletedPod", "Pod")
    annotations = _meta(cluster).get("annotations") or {}
    try:
        timeout = float(annotations.get("ray.io/gcs-ft-deletion-timeout", FT_DELETION_TIMEOUT))
    except ValueError:
        timeout = FT_DELETION_TIMEOUT
    if timeout <= 0:
        timeout = FT_DELETION_TIMEOUT
    since = datetime.fromisoformat(str(_meta(cluster)["deletionTimestamp"]))
    if (p.now - since).total_seconds() >= timeout:
        p.event("ForceDeletedStuckCluster", f"Forcibly removed the finalizer {FT_FINALIZER} after {timeout:g}s",
                warning=True, action="Cleanup")
        p.actions.append(RemoveFinalizer(ref=p.ref, finalizer=FT_FINALIZER))
        return
    if any(_labels(pod).get("ray.io/node-type") == "head" for pod in pods):
        p.soon(10.0)
        return
    jobs = [j for j in p.observed.of("job") if _labels(j).get("ray.io/node-type") == "redis-cleanup"]
    if not jobs:
        job = kids.redis_cleanup_job(cluster, head_pod=podlib.head_pod(cluster, head_prefix(_name(cluster)) + "x",
                                                                         p.settings))
        if job is not None:
            p.create(job, "CreatedRedisCleanupJob", "Redis cleanup Job")
        p.soon(timeout - (p.now - since).total_seconds())
        return
    finished = any(c.get("type") in ("Complete", "Failed", "FailureTarget") and c.get("status") == "True"
                   for j in jobs for c in (j.get("status") or {}).get("conditions") or [])
    if finished:
        p.actions.append(RemoveFinalizer(ref=p.ref, finalizer=FT_FINALIZER))
    else:
        p.soon()

