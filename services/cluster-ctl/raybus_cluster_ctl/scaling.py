"""The pods of a RayCluster (reference §5): suspend, Recreate, the head, then each worker group —
unhealthy pods, `workersToDelete`, the difference to the desired count, multi-host replicas
kept whole. Pod names are deterministic: `<prefix><5 chars>` from the cluster's uid, its
spec hash, the group and a serial, in the shape of the API server's `generateName`. Pure."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from raybus_common.actions import Patch

from . import pods as podlib
from .plan import (
    KUBERAY_VERSION,
    RECREATE_HASH,
    REPLICA_INDEX,
    REPLICA_NAME,
    SUFFIX_ALPHABET,
    Obj,
    Pass,
    _labels,
    _meta,
    _name,
    _ref,
    _terminating,
    _truthy,
    spec_hash,
)
from .validation import desired_worker_replicas


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


def autoscaling(cluster: Obj) -> bool:
    return bool((cluster.get("spec") or {}).get("enableInTreeAutoscaling"))


def reconcile_pods(p: Pass) -> None:
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
    if p.settings.enable_deterministic_head_pod_name:  # KubeRay's fixed `<cluster>-head`
        name = head_prefix(_name(cluster)).rstrip("-")
        if name in taken:
            return  # the old head is still terminating under that name: wait for it
    else:
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


