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

Pod names are deterministic (`<prefix>-<5 chars>` hashed from the cluster uid, its spec hash,
the group and a serial), where KubeRay uses `generateName`: a replica that decides the same creation
twice (a lagging view, a restart) names the same pod, so it cannot create two.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from raybus_common.bus.envelopes import (
    Action,
    AddFinalizer,
    Apply,
    Delete,
    ObjectRef,
    Patch,
    RecordEvent,
    RemoveFinalizer,
    owner_reference,
)
from raybus_common.controller.view import Observed
from raybus_common.decision import NOTHING, Decision
from raybus_common.settings import ServiceSettings

from . import children as kids
from . import pods as podlib
from .settings import ClusterCtlSettings
from .status import calculate_status, status_changed
from .validation import Problem, desired_worker_replicas, validate

Obj = dict[str, Any]
KUBERAY_MANAGER = "ray.io/kuberay-operator"
FT_FINALIZER = "ray.io/gcs-ft-redis-cleanup-finalizer"
RECREATE_HASH = "ray.io/upgrade-strategy-recreate-hash"
KUBERAY_VERSION = "ray.io/kuberay-version"
REPLICA_NAME = "ray.io/worker-group-replica-name"
REPLICA_INDEX = "ray.io/worker-group-replica-index"
HOST_INDEX = "ray.io/replica-host-index"
REQUEUE_SOON = 2.0  # KubeRay's DefaultRequeueDuration
FT_DELETION_TIMEOUT = 300.0  # seconds, unless annotation ray.io/gcs-ft-deletion-timeout says otherwise
SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # what the API server's generateName uses


# -- small helpers ------------------------------------------------------------------------------

def _meta(obj: Obj) -> Obj:
    meta: Obj = obj.get("metadata") or {}
    return meta


def _labels(obj: Obj) -> dict[str, str]:
    labels: dict[str, str] = _meta(obj).get("labels") or {}
    return labels


def _name(obj: Obj) -> str:
    return str(_meta(obj).get("name", ""))


def _ref(obj: Obj) -> ObjectRef:
    return ObjectRef.of(obj)


def _truthy(value: Any) -> bool:
    return str(value).lower() == "true"


def name_suffix(*parts: object) -> str:
    """Five characters of generateName's alphabet, derived from `parts` (deterministic)."""
    digest = hashlib.sha256("/".join(str(p) for p in parts).encode()).digest()
    return "".join(SUFFIX_ALPHABET[b % len(SUFFIX_ALPHABET)] for b in digest[:5])


def pod_names(prefix: str, uid: str, group: str, taken: set[str], count: int) -> list[str]:
    """`count` names `<prefix><suffix>` not in `taken`, the same ones every time for the same
    inputs: serial 0, 1, 2, … skipping names in use."""
    out: list[str] = []
    serial = 0
    while len(out) < count:
        name = prefix + name_suffix(uid, group, serial)
        serial += 1
        if name not in taken:
            out.append(name)
            taken.add(name)
    return out


def head_prefix(cluster: str) -> str:
    return f"{cluster[:50].lower()}-head-"


def worker_prefix(cluster: str, group: str) -> str:
    return f"{(cluster + '-' + group)[:50].lower()}-worker-"


def spec_hash(cluster: Obj) -> str:
    """KubeRay's `GenerateHashWithoutReplicasAndWorkersToDelete` (§5.6): sha1 of the spec with
    every group's replica fields and workersToDelete, the templates' tolerations and
    schedulingGates, and upgradeStrategy left out; base32hex."""
    spec = copy.deepcopy(cluster.get("spec") or {})
    spec.pop("upgradeStrategy", None)
    (spec.get("scaleStrategy") or {}).pop("workersToDelete", None)
    groups = [spec.get("headGroupSpec") or {}, *(spec.get("workerGroupSpecs") or [])]
    for g in groups:
        for k in ("replicas", "minReplicas", "maxReplicas"):
            g.pop(k, None)
        (g.get("scaleStrategy") or {}).pop("workersToDelete", None)
        pod_spec = (g.get("template") or {}).get("spec") or {}
        pod_spec.pop("tolerations", None)
        pod_spec.pop("schedulingGates", None)
    digest = hashlib.sha1(json.dumps(spec, sort_keys=True, separators=(",", ":")).encode(),
                          usedforsecurity=False).digest()
    return base64.b32hexencode(digest).decode().rstrip("=").lower()


def should_delete_pod(pod: Obj) -> bool:
    """KubeRay's `shouldDeletePod` (§5.3): finished pods go; a Running pod whose Ray container
    terminated goes only with restartPolicy Never (otherwise the kubelet restarts it)."""
    status = pod.get("status") or {}
    phase = status.get("phase")
    if phase in ("Failed", "Succeeded"):
        return True
    if phase != "Running" or (pod.get("spec") or {}).get("restartPolicy") != "Never":
        return False
    containers = (pod.get("spec") or {}).get("containers") or []
    ray_name = containers[0].get("name") if containers else None
    return any(cs.get("name") == ray_name and "terminated" in (cs.get("state") or {})
               for cs in status.get("containerStatuses") or [])


def _terminating(obj: Obj) -> bool:
    return bool(_meta(obj).get("deletionTimestamp"))


def autoscaling(cluster: Obj) -> bool:
    return bool((cluster.get("spec") or {}).get("enableInTreeAutoscaling"))


def redis_ft(cluster: Obj) -> bool:
    """GCS fault tolerance on the Redis backend (§6.1, §6.3)."""
    spec = cluster.get("spec") or {}
    options = spec.get("gcsFaultToleranceOptions")
    if options is not None:
        return (options.get("backend") or "redis") == "redis"
    return _truthy(_meta(cluster).get("annotations", {}).get("ray.io/ft-enabled"))


def failure_reason(reason: str) -> str:
    """KubeRay's Warning reason for a failed write, from the Normal reason of its success:
    CreatedWorkerPod → FailedToCreateWorkerPod, DeletedPod → FailedToDeletePodCollection."""
    if reason == "DeletedPod":
        return "FailedToDeletePodCollection"
    for done, verb in (("Created", "Create"), ("Deleted", "Delete"), ("Updated", "Update")):
        if reason.startswith(done):
            return f"FailedTo{verb}{reason[len(done):]}"
    return ""


# -- one pass ---------------------------------------------------------------------------------

@dataclass
class Pass:
    cluster: Obj
    observed: Observed
    now: datetime
    settings: ClusterCtlSettings
    actions: list[Action] = field(default_factory=list)
    requeue: float | None = None

    @property
    def seed(self) -> str:
        """What pod names derive from: the cluster's uid and its spec hash, so pods re-created
        for a new spec (Recreate) get new names and the same spec always gives the same ones."""
        return f"{_meta(self.cluster).get('uid', '')}:{spec_hash(self.cluster)}"

    @property
    def ref(self) -> ObjectRef:
        return _ref(self.cluster)

    def event(self, reason: str, message: str, *, warning: bool = False, action: str = "") -> None:
        self.actions.append(RecordEvent(regarding=self.ref, type="Warning" if warning else "Normal", reason=reason,
                                        message=message, action=action))

    def soon(self, seconds: float = REQUEUE_SOON) -> None:
        self.requeue = seconds if self.requeue is None else min(self.requeue, seconds)

    def create(self, obj: Obj, reason: str, what: str, *, verb: str = "Create") -> None:
        owned = copy.deepcopy(obj)
        meta = owned.setdefault("metadata", {})
        meta.setdefault("namespace", _meta(self.cluster)["namespace"])
        meta["ownerReferences"] = [owner_reference(self.cluster)]
        self.actions.append(Apply(object=owned, failure_reason=failure_reason(reason)))
        self.event(reason, f"{verb}d {what} {meta['namespace']}/{meta['name']}", action=verb)
        self.soon()

    def delete(self, obj: Obj, reason: str, what: str) -> None:
        if _terminating(obj):
            return
        self.actions.append(Delete(ref=_ref(obj), failure_reason=failure_reason(reason)))
        self.event(reason, f"Deleted {what} {_meta(obj).get('namespace')}/{_name(obj)}", action="Delete")
        self.soon()

    def present(self, kind: str, name: str) -> bool:
        return any(_name(o) == name for o in self.observed.of(kind))

    def pods(self) -> list[Obj]:
        return sorted(self.observed.of("pod"), key=_name)


def reconcile(observed: Observed, *, now: datetime, settings: ServiceSettings) -> Decision:
    """The whole desired state of one RayCluster from its observed snapshot."""
    cluster = observed.root
    if cluster is None:
        return NOTHING
    spec = cluster.get("spec") or {}
    managed_by = spec.get("managedBy")
    if managed_by not in (None, "", KUBERAY_MANAGER):
        return NOTHING  # another manager (e.g. MultiKueue) owns it
    s = settings if isinstance(settings, ClusterCtlSettings) else ClusterCtlSettings.model_validate(
        settings.model_dump())
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
    _pods(p)
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


# -- pods -------------------------------------------------------------------------------------

def _pods(p: Pass) -> None:
    cluster, spec = p.cluster, p.cluster.get("spec") or {}
    pods = p.pods()
    conditions = (cluster.get("status") or {}).get("conditions") or []
    suspending = any(c.get("type") == "RayClusterSuspending" and c.get("status") == "True" for c in conditions)
    if spec.get("suspend") or suspending:  # a suspension under way completes even if flipped back
        for pod in pods:
            p.delete(pod, "DeletedPod", "Pod")
        return
    current_hash = spec_hash(cluster)
    heads = [pod for pod in pods if _labels(pod).get("ray.io/node-type") == "head"]
    stamped = [h for h in heads if (_meta(h).get("annotations") or {}).get(KUBERAY_VERSION)
               not in (None, "", p.settings.kuberay_version)]
    if stamped:  # another operator's head (adoption, an upgrade): re-stamp it, never recreate for that
        for h in stamped:  # a merge patch: a partial server-side apply would drop fields we applied
            p.actions.append(Patch(ref=_ref(h), patch={"metadata": {"annotations": {
                RECREATE_HASH: current_hash, KUBERAY_VERSION: p.settings.kuberay_version}}}))
        p.soon()
    elif ((spec.get("upgradeStrategy") or {}).get("type") == "Recreate"
            and any(_meta(h).get("annotations", {}).get(RECREATE_HASH) not in (None, "", current_hash)
                    for h in heads)):
        for pod in pods:
            p.delete(pod, "DeletedPod", "Pod")
        return
    _head(p, heads, current_hash)
    for group in spec.get("workerGroupSpecs") or []:
        name = group.get("groupName", "")
        mine = [pod for pod in pods if _labels(pod).get("ray.io/node-type") == "worker"
                and _labels(pod).get("ray.io/group") == name]
        if int(group.get("numOfHosts") or 1) > 1:
            _multi_host_group(p, group, mine)
        else:
            _worker_group(p, group, mine)


def _head(p: Pass, heads: list[Obj], current_hash: str) -> None:
    cluster = p.cluster
    if len(heads) > 1:
        return  # KubeRay errors out; the status says so through the head condition
    if heads:
        if should_delete_pod(heads[0]):
            p.delete(heads[0], "DeletedHeadPod", "head Pod")
        return
    annotations = _meta(cluster).get("annotations") or {}
    conditions = (cluster.get("status") or {}).get("conditions") or []
    provisioned = any(c.get("type") == "RayClusterProvisioned" and c.get("status") == "True" for c in conditions)
    if provisioned and _truthy(annotations.get("ray.io/disable-provisioned-head-restart")):
        return
    taken = {_name(pod) for pod in p.observed.of("pod")}
    (name,) = pod_names(head_prefix(_name(cluster)), p.seed, "headgroup", taken, 1)
    pod = podlib.head_pod(cluster, name, p.settings)
    pod["metadata"].setdefault("annotations", {})[RECREATE_HASH] = current_hash
    p.create(pod, "CreatedHeadPod", "head Pod")


def _worker_group(p: Pass, group: Obj, pods: list[Obj]) -> None:
    cluster, name = p.cluster, group.get("groupName", "")
    if group.get("suspend"):
        for pod in pods:
            p.delete(pod, "DeletedWorkerPod", "worker Pod")
        return
    unhealthy = [pod for pod in pods if should_delete_pod(pod) and not _terminating(pod)]
    if unhealthy:
        for pod in unhealthy:
            p.delete(pod, "DeletedWorkerPod", "worker Pod")
        return  # no creation in the same pass, as in KubeRay
    to_delete = set((group.get("scaleStrategy") or {}).get("workersToDelete") or [])
    deleted = [pod for pod in pods if _name(pod) in to_delete]
    for pod in deleted:
        p.delete(pod, "DeletedWorkerPod", "worker Pod")
    remaining = [pod for pod in pods if _name(pod) not in to_delete]
    diff = desired_worker_replicas(group, cluster) - len(remaining)
    if diff > 0:
        taken = {_name(pod) for pod in p.observed.of("pod")}
        used = _indexes(remaining)
        for pod_name in pod_names(worker_prefix(_name(cluster), name), p.seed, name, taken, diff):
            pod = podlib.worker_pod(cluster, group, pod_name, p.settings)
            if p.settings.feature_enabled("RayMultiHostIndexing"):
                index = _lowest_free(used)
                pod["metadata"].setdefault("labels", {})[REPLICA_INDEX] = str(index)
            p.create(pod, "CreatedWorkerPod", "worker Pod")
    elif diff < 0 and (not autoscaling(cluster) or p.settings.enable_random_pod_delete):
        for pod in [pod for pod in remaining if not _terminating(pod)][:-diff]:
            p.delete(pod, "DeletedWorkerPod", "worker Pod")


def _indexes(pods: Iterable[Obj]) -> set[int]:
    out: set[int] = set()
    for pod in pods:
        try:
            out.add(int(_labels(pod).get(REPLICA_INDEX, "")))
        except ValueError:
            continue
    return out


def _lowest_free(used: set[int]) -> int:
    index = 0
    while index in used:
        index += 1
    used.add(index)
    return index


def _multi_host_group(p: Pass, group: Obj, pods: list[Obj]) -> None:
    """§5.5: whole replicas of `numOfHosts` pods, created and deleted together."""
    cluster, name = p.cluster, group.get("groupName", "")
    hosts = int(group.get("numOfHosts") or 1)
    replicas: dict[str, list[Obj]] = {}
    for pod in pods:
        replica = _labels(pod).get(REPLICA_NAME)
        if replica:
            replicas.setdefault(replica, []).append(pod)
    if group.get("suspend"):
        for pod in pods:
            p.delete(pod, "DeletedWorkerPod", "worker Pod")
        return
    broken = {r for r, members in replicas.items()
              if len(members) < hosts or any(should_delete_pod(m) for m in members)}
    to_delete = set((group.get("scaleStrategy") or {}).get("workersToDelete") or [])
    broken |= {r for r, members in replicas.items() if any(_name(m) in to_delete for m in members)}
    if broken:
        for r in sorted(broken):
            for pod in replicas[r]:
                p.delete(pod, "DeletedWorkerPod", "worker Pod")
        return
    want = desired_worker_replicas(group, cluster) // hosts
    diff = want - len(replicas)
    if diff > 0:
        uid = p.seed
        taken = {_name(pod) for pod in p.observed.of("pod")}
        used = _indexes(pods)
        serial = 0
        for _ in range(diff):
            replica = f"{name}-{name_suffix(uid, name, 'replica', serial)}"
            while replica in replicas:
                serial += 1
                replica = f"{name}-{name_suffix(uid, name, 'replica', serial)}"
            replicas[replica] = []
            index = _lowest_free(used)
            for host, pod_name in enumerate(pod_names(worker_prefix(_name(cluster), name), uid, replica, taken,
                                                      hosts)):
                pod = podlib.worker_pod(cluster, group, pod_name, p.settings, replica_group=replica,
                                        host_index=host)
                pod["metadata"].setdefault("labels", {})[REPLICA_INDEX] = str(index)
                p.create(pod, "CreatedWorkerPod", "worker Pod")
    elif diff < 0 and (not autoscaling(cluster) or p.settings.enable_random_pod_delete):
        for r in sorted(replicas)[:-diff]:
            for pod in replicas[r]:
                p.delete(pod, "DeletedWorkerPod", "worker Pod")


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
