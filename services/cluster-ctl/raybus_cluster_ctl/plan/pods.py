"""Step 5 of a pass: the pods of a RayCluster — suspend, Recreate, the head, then
each worker group in spec order: unhealthy pods, `scaleStrategy.workersToDelete`, the difference
to the desired count; multi-host replicas created and deleted whole. Scale-down by Raybus only
when the autoscaler is off (or ENABLE_RANDOM_POD_DELETE). Pure.

Observed pods are plain dicts read through `raybus_common.objects`; the pods made come from
`pods.build`, named by `podnames`. Each write carries KubeRay's Events for its call site, texts
to the letter (KubeRay is inconsistent, "Deleted pod" for `workersToDelete`, "Deleted Pod" for a
random scale-down, and so are they). Where KubeRay deletes a collection with one call and one
Event (suspension, Recreate, a suspended group), Raybus deletes pod by pod, each with that
Event, and the actuator's aggregation makes them one Event with a count.
"""

from __future__ import annotations

from collections.abc import Iterable

from raybus_common import objects
from raybus_common.actions import ObjectRef, Patch
from raybus_common.crds.raycluster import (
    RayClusterConditionType,
    RayClusterUpgradeType,
    RayNodeType,
    WorkerGroupSpec,
)

from ..constants import (
    DISABLE_PROVISIONED_HEAD_RESTART_ANNOTATION,
    GROUP_LABEL,
    HEAD_GROUP,
    KUBERAY_VERSION_ANNOTATION,
    NODE_TYPE_LABEL,
    RECREATE_HASH_ANNOTATION,
    REPLICA_INDEX_LABEL,
    REPLICA_NAME_LABEL,
)
from ..pods.build import head_pod, named_worker, worker_pod
from .collector import Obj, Pass
from .podnames import head_prefix, pod_names, worker_prefix
from .texts import pod_state, unhealthy_reason


def should_delete_pod(pod: Obj) -> bool:
    """KubeRay `shouldDeletePod`: finished pods go; a Running pod whose Ray container
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


def reconcile_pods(p: Pass) -> None:
    cluster, spec = p.cluster, p.cluster.spec
    pods = p.pods
    # A suspension under way completes even if spec.suspend was flipped back.
    where = f"{cluster.namespace}/{cluster.name}"
    if spec.suspend or cluster.condition_true(RayClusterConditionType.SUSPENDING):
        for pod in pods:
            p.delete(pod, "DeletedPod", f"Deleted Pods for RayCluster {where} due to suspension",
                     f"Failed deleting Pods due to suspension for RayCluster {where}")
        return
    heads = [pod for pod in pods if objects.labels(pod).get(NODE_TYPE_LABEL) == RayNodeType.HEAD]
    stamped = [h for h in heads if objects.annotations(h).get(KUBERAY_VERSION_ANNOTATION)
               not in (None, "", p.settings.kuberay_version)]
    if stamped:  # another operator's head (adoption, an upgrade): re-stamp it, never recreate for that
        for h in stamped:  # a merge patch: a partial server-side apply would drop fields we applied
            p.actions.append(Patch(ref=ObjectRef.of(h), patch={"metadata": {"annotations": {
                RECREATE_HASH_ANNOTATION: p.spec_hash, KUBERAY_VERSION_ANNOTATION: p.settings.kuberay_version}}}))
        p.soon()
    elif (spec.upgrade_strategy is not None and spec.upgrade_strategy.type == RayClusterUpgradeType.RECREATE
            and any(objects.annotations(h).get(RECREATE_HASH_ANNOTATION) not in (None, "", p.spec_hash) for h in heads)):
        for pod in pods:
            p.delete(pod, "DeletedPod",
                     f"Deleted all Pods for RayCluster {where} due to spec change with Recreate upgradeStrategy",
                     f"Failed deleting Pods due to spec change with Recreate upgradeStrategy for RayCluster {where}")
        return
    if p.group_missing is not None:
        return  # the gang's group object first (scheduler-bridge's); pods once it is observed
    _head(p, heads)
    for group in spec.workers:
        mine = [pod for pod in pods if objects.labels(pod).get(NODE_TYPE_LABEL) == RayNodeType.WORKER
                and objects.labels(pod).get(GROUP_LABEL) == group.group_name]
        if group.hosts > 1:
            _multi_host_group(p, group, mine)
        else:
            _worker_group(p, group, mine)


def _head(p: Pass, heads: list[Obj]) -> None:
    cluster = p.cluster
    if len(heads) > 1:
        return  # KubeRay errors out; the status says so through the head condition
    if heads:
        head = heads[0]
        if should_delete_pod(head):
            where = f"{objects.namespace(head)}/{objects.name(head)}"
            p.delete(head, "DeletedHeadPod", f"Deleted head Pod {where}; {pod_state(head)}",
                     f"Failed deleting head Pod {where}; {pod_state(head)}")
        return
    if (cluster.condition_true(RayClusterConditionType.PROVISIONED)
            and cluster.annotations.get(DISABLE_PROVISIONED_HEAD_RESTART_ANNOTATION, "").lower() == "true"):
        return
    taken = {objects.name(pod) for pod in p.observed.of("pod")}
    if p.settings.enable_deterministic_head_pod_name:  # KubeRay's fixed `<cluster>-head`
        name = head_prefix(cluster.name).rstrip("-")
        if name in taken:
            return  # the old head is still terminating under that name: wait for it
    else:
        (name,) = pod_names(head_prefix(cluster.name), p.seed, "headgroup", taken, 1)
    pod = p.batch_meta(HEAD_GROUP).stamp(head_pod(cluster, name, p.settings))
    account = (pod.get("spec") or {}).get("serviceAccountName")
    if account and p.creating("ServiceAccount", account):
        # The API server admits a pod only once its ServiceAccount exists, and the actuator
        # promises no order between this pass's writes: the head goes in the next pass, once
        # the ServiceAccount is seen (KubeRay creates them one after the other).
        p.soon()
        return
    pod["metadata"].setdefault("annotations", {})[RECREATE_HASH_ANNOTATION] = p.spec_hash
    where = f"{cluster.namespace}/{name}"
    # Pods are created, never applied (KubeRay creates them; they are replaced, never updated):
    # a POST costs the API server a third less CPU than a server-side apply of a new pod.
    p.create(pod, "CreatedHeadPod", f"Created head Pod {where}", f"Failed to create head Pod {where}",
             create_only=True)


def _may_scale_down(p: Pass) -> bool:
    return not p.cluster.spec.autoscaling_enabled or p.settings.enable_random_pod_delete


def _suspend_group(p: Pass, group: WorkerGroupSpec, pods: list[Obj]) -> None:
    where = f"{p.cluster.namespace}/{p.cluster.name}"
    for pod in pods:
        p.delete(pod, "DeletedWorkerPod",
                 f"Deleted all pods for suspended worker group {group.group_name} in RayCluster {where}",
                 f"Failed deleting worker Pods for suspended group {group.group_name} in RayCluster {where}",
                 failed="FailedToDeleteWorkerPodCollection")


def _created_worker(p: Pass, pod: Obj) -> None:
    p.create(pod, "CreatedWorkerPod", f"Created worker Pod {p.cluster.namespace}/{objects.name(pod)}",
             f"Failed to create worker Pod for the cluster {p.cluster.namespace}/{p.cluster.name}", create_only=True)


def _worker_group(p: Pass, group: WorkerGroupSpec, pods: list[Obj]) -> None:
    cluster, name = p.cluster, group.group_name
    if group.suspended:
        _suspend_group(p, group, pods)
        return
    unhealthy = [pod for pod in pods if should_delete_pod(pod) and not objects.terminating(pod)]
    if unhealthy:
        for pod in unhealthy:
            where = f"{objects.namespace(pod)}/{objects.name(pod)}"
            p.delete(pod, "DeletedWorkerPod", f"Deleted worker Pod {where}; {pod_state(pod)}",
                     f"Failed deleting worker Pod {where}; {pod_state(pod)}")
        return  # no creation in the same pass, as in KubeRay
    to_delete = set(group.workers_to_delete)
    for pod in pods:
        if objects.name(pod) in to_delete:
            where = f"{objects.namespace(pod)}/{objects.name(pod)}"
            p.delete(pod, "DeletedWorkerPod", f"Deleted pod {where}", f"Failed deleting pod {where}")
    remaining = [pod for pod in pods if objects.name(pod) not in to_delete]
    diff = group.desired_replicas() - len(remaining)
    if diff > 0:
        taken = {objects.name(pod) for pod in p.observed.of("pod")}
        used = _indexes(remaining)
        for pod_name in pod_names(worker_prefix(cluster.name, name), p.seed, name, taken, diff):
            pod = _worker_pod(p, group, pod_name)
            if p.settings.feature_enabled("RayMultiHostIndexing"):
                pod["metadata"].setdefault("labels", {})[REPLICA_INDEX_LABEL] = str(_lowest_free(used))
            _created_worker(p, pod)
    elif diff < 0 and _may_scale_down(p):
        for pod in [pod for pod in remaining if not objects.terminating(pod)][:-diff]:
            where = f"{objects.namespace(pod)}/{objects.name(pod)}"
            p.delete(pod, "DeletedWorkerPod", f"Deleted Pod {where}", f"Failed deleting Pod {where}")


def _worker_pod(p: Pass, group: WorkerGroupSpec, name: str, *, replica_group: str | None = None,
                host_index: int | None = None) -> Obj:
    """`worker_pod` of the pass's cluster named `name`, a fresh object: the group's pod is built
    once per pass and copied for each pod the pass creates (`named_worker`)."""
    built = p.worker_pods.get(id(group))  # the group's model lives as long as the pass
    if built is None:
        built = p.worker_pods[id(group)] = p.batch_meta(group.group_name).stamp(
            worker_pod(p.cluster, group, name, p.settings))
    return named_worker(built, group, name, p.settings, replica_group=replica_group, host_index=host_index)


def _indexes(pods: Iterable[Obj]) -> set[int]:
    out: set[int] = set()
    for pod in pods:
        try:
            out.add(int(objects.labels(pod).get(REPLICA_INDEX_LABEL, "")))
        except ValueError:
            continue
    return out


def _lowest_free(used: set[int]) -> int:
    index = 0
    while index in used:
        index += 1
    used.add(index)
    return index


def _multi_host_group(p: Pass, group: WorkerGroupSpec, pods: list[Obj]) -> None:
    """Multi-host groups: whole replicas of `numOfHosts` pods, created and deleted together."""
    cluster, name, hosts = p.cluster, group.group_name, group.hosts
    replicas: dict[str, list[Obj]] = {}
    for pod in pods:
        replica = objects.labels(pod).get(REPLICA_NAME_LABEL)
        if replica:
            replicas.setdefault(replica, []).append(pod)
    if group.suspended:
        _suspend_group(p, group, pods)
        return
    to_delete = set(group.workers_to_delete)
    broken = {r: why for r, members in replicas.items() if (why := _broken(members, hosts, to_delete))}
    if broken:
        for r in sorted(broken):
            for pod in replicas[r]:
                _delete_host(p, group, pod, broken[r])
        return
    diff = group.desired_replicas() // hosts - len(replicas)
    if diff > 0:
        taken = {objects.name(pod) for pod in p.observed.of("pod")}
        used = _indexes(pods)
        serial = 0
        for _ in range(diff):
            replica = f"{name}-{objects.generated_suffix(p.seed, name, 'replica', serial)}"
            while replica in replicas:
                serial += 1
                replica = f"{name}-{objects.generated_suffix(p.seed, name, 'replica', serial)}"
            replicas[replica] = []
            index = _lowest_free(used)
            for host, pod_name in enumerate(pod_names(worker_prefix(cluster.name, name), p.seed, replica, taken, hosts)):
                pod = _worker_pod(p, group, pod_name, replica_group=replica, host_index=host)
                pod["metadata"].setdefault("labels", {})[REPLICA_INDEX_LABEL] = str(index)
                _created_worker(p, pod)
    elif diff < 0 and _may_scale_down(p):
        for r in sorted(replicas)[:-diff]:
            for pod in replicas[r]:
                _delete_host(p, group, pod, "scaling down")


def _broken(members: list[Obj], hosts: int, to_delete: set[str]) -> str:
    """Why a multi-host replica goes whole, in KubeRay's words ("" if it stays)."""
    if len(members) < hosts:
        return "cleanup of incomplete multi-host group"
    sick = next((m for m in members if should_delete_pod(m)), None)
    if sick is not None:
        return unhealthy_reason(sick, RayNodeType.WORKER)
    return "autoscaler scale-down request" if any(objects.name(m) in to_delete for m in members) else ""


def _delete_host(p: Pass, group: WorkerGroupSpec, pod: Obj, why: str) -> None:
    """KubeRay's `deletePods`: one host of a multi-host replica, with the reason in the note."""
    where = f"{objects.namespace(pod)}/{objects.name(pod)}"
    p.delete(pod, "DeletedWorkerPod", f"Deleted worker Pod {where} for group {group.group_name}: {why}",
             f"Failed deleting worker Pod {where} for group {group.group_name}; {pod_state(pod)}")
