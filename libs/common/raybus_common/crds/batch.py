"""Batch schedulers (KubeRay's `batchscheduler` plugins): which one serves an object, the group
object it needs, and the metadata its pods carry. Pure: shared by cluster-ctl (pod metadata, and
no pod before the group object is observed), job-ctl (the submitter's and the RayCluster's
metadata) and scheduler-bridge (the group objects), so the three agree without a call.

| scheduler | `schedulerName` | group object (scheduler-bridge writes it) | pod metadata |
|---|---|---|---|
| volcano | `volcano` | `scheduling.volcano.sh` PodGroup `ray-<name>-pg` (a RayJob's cluster: the RayJob's name), every cluster | labels `volcano.sh/queue-name`, `ray.io/priority-class-name` from the parent; annotations `scheduling.k8s.io/group-name`, `volcano.sh/task-spec=<group>` |
| yunikorn | `yunikorn` | none | labels `applicationId` ← `yunikorn.apache.org/app-id`, `queue` ← `yunikorn.apache.org/queue`; with `ray.io/gang-scheduling-enabled`: `yunikorn.apache.org/task-groups` (JSON) and `task-group-name` |
| scheduler-plugins | `scheduler-plugins-scheduler` | `scheduling.x-k8s.io` PodGroup `<cluster>`, only with `ray.io/gang-scheduling-enabled` | label `scheduling.x-k8s.io/pod-group=<cluster>` with the gang label |
| kai-scheduler | `kai-scheduler` | none (KAI's podgrouper makes them) | label `kai.scheduler/queue` from the parent |

Selection: KubeRay has one operator-wide scheduler (`--batch-scheduler`, here
`RAYBUS_BATCH_SCHEDULER`). Raybus also reads it per object: the label `raybus.io/batch-scheduler` on
a RayCluster or RayJob (a RayJob's labels reach its RayCluster) names one of the four, or
`default` for none; an unknown value is a spec problem (`scheduler_problem`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .. import gotext
from ..quantity import Quantity
from .raycluster import ORIGINATED_FROM_CRD_LABEL, RayClusterSpec
from .resources import add, pod_resources

VOLCANO, YUNIKORN, KAI, SCHEDULER_PLUGINS = "volcano", "yunikorn", "kai-scheduler", "scheduler-plugins"
SCHEDULERS = (VOLCANO, YUNIKORN, KAI, SCHEDULER_PLUGINS)
DEFAULT = "default"  # KubeRay's DefaultBatchScheduler: no batch scheduler
# Raybus's per-object choice. Not KubeRay's legacy `ray.io/scheduler-name`: KubeRay has ignored
# that since v1.2 (#2471) and manifests still carry it; reading it would change what they mean.
SCHEDULER_LABEL = "raybus.io/batch-scheduler"
GANG_LABEL = "ray.io/gang-scheduling-enabled"
PRIORITY_CLASS_LABEL = "ray.io/priority-class-name"
ORIGINATED_FROM_CR_NAME_LABEL = "ray.io/originated-from-cr-name"
VOLCANO_QUEUE_LABEL = "volcano.sh/queue-name"
VOLCANO_TOPOLOGY_MODE_LABEL = "volcano.sh/network-topology-mode"
VOLCANO_TOPOLOGY_TIER_LABEL = "volcano.sh/network-topology-highest-tier-allowed"
VOLCANO_GROUP_ANNOTATION = "scheduling.k8s.io/group-name"
VOLCANO_TASK_SPEC_ANNOTATION = "volcano.sh/task-spec"
YUNIKORN_APP_ID_LABEL = "yunikorn.apache.org/app-id"
YUNIKORN_QUEUE_LABEL = "yunikorn.apache.org/queue"
YUNIKORN_POD_APP_ID_LABEL = "applicationId"
YUNIKORN_POD_QUEUE_LABEL = "queue"
YUNIKORN_TASK_GROUPS_ANNOTATION = "yunikorn.apache.org/task-groups"
YUNIKORN_TASK_GROUP_NAME_ANNOTATION = "yunikorn.apache.org/task-group-name"
KAI_QUEUE_LABEL = "kai.scheduler/queue"
POD_GROUP_LABEL = "scheduling.x-k8s.io/pod-group"
HEAD_GROUP = "headgroup"
SUBMITTER_GROUP = "submittergroup"
# KubeRay `GetDefaultSubmitterContainer`'s resources (K8sJobMode without a template, SidecarMode).
SUBMITTER_RESOURCES: Mapping[str, Mapping[str, str]] = {
    "limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "500m", "memory": "200Mi"}}
# The pods' `schedulerName` per scheduler.
SCHEDULER_NAMES: Mapping[str, str] = {VOLCANO: "volcano", YUNIKORN: "yunikorn", KAI: "kai-scheduler",
                                      SCHEDULER_PLUGINS: "scheduler-plugins-scheduler"}
VOLCANO_API = "scheduling.volcano.sh/v1beta1"
SCHEDULER_PLUGINS_API = "scheduling.x-k8s.io/v1alpha1"


def scheduler_of(labels: Mapping[str, str], default: str) -> str:
    """The scheduler serving an object with these labels: its `raybus.io/batch-scheduler` if that
    names one, else the operator's (`default`); "" for none (`default`, or nothing set). An
    unknown label value serves nothing (and `scheduler_problem` says so)."""
    chosen = labels.get(SCHEDULER_LABEL)
    if chosen is None or chosen == "":
        return default if default in SCHEDULERS else ""
    return chosen if chosen in SCHEDULERS else ""


def scheduler_problem(labels: Mapping[str, str]) -> str | None:
    """What is wrong with an object's `raybus.io/batch-scheduler`, None when nothing is."""
    chosen = labels.get(SCHEDULER_LABEL)
    if chosen in (None, "", DEFAULT) or chosen in SCHEDULERS:
        return None
    return (f"label {SCHEDULER_LABEL}={chosen!r} names no batch scheduler; "
            f"use one of {', '.join(SCHEDULERS)}, or {DEFAULT} for none")


def gang_enabled(labels: Mapping[str, str]) -> bool:
    """KubeRay `isGangSchedulingEnabled`: the label is there, whatever its value."""
    return GANG_LABEL in labels


def volcano_group_name(labels: Mapping[str, str], name: str) -> str:
    """KubeRay `getAppPodGroupName`: `ray-<name>-pg`, the RayJob's name for a RayJob's cluster."""
    if labels.get(ORIGINATED_FROM_CRD_LABEL) == "RayJob" and labels.get(ORIGINATED_FROM_CR_NAME_LABEL):
        name = labels[ORIGINATED_FROM_CR_NAME_LABEL]
    return f"ray-{name}-pg"


@dataclass(frozen=True)
class GroupRef:
    """The group object a cluster's pods wait for: its subject kind and name."""

    kind: str  # "podgroup" (Volcano) or "schedulingpodgroup" (scheduler-plugins)
    name: str


def required_group(scheduler: str, labels: Mapping[str, str], name: str) -> GroupRef | None:
    """The group object a RayCluster (`labels`, `name`) needs before its pods, None if none."""
    if scheduler == VOLCANO:
        return GroupRef("podgroup", volcano_group_name(labels, name))
    if scheduler == SCHEDULER_PLUGINS and gang_enabled(labels):
        return GroupRef("schedulingpodgroup", name)
    return None


@dataclass(frozen=True)
class ChildMeta:
    """What a batch scheduler adds to a child (a pod, a pod template, a RayCluster)."""

    scheduler_name: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)

    def stamp(self, obj: dict[str, Any], *, spec_path: tuple[str, ...] = ("spec",)) -> dict[str, Any]:
        """Adds this to `obj` in place (labels and annotations over what it has; `schedulerName`
        at `spec_path`, when there is one); returns `obj`."""
        meta = obj.setdefault("metadata", {})
        if self.labels:
            meta["labels"] = {**(meta.get("labels") or {}), **self.labels}
        if self.annotations:
            meta["annotations"] = {**(meta.get("annotations") or {}), **self.annotations}
        if self.scheduler_name:
            target = obj
            for key in spec_path:
                target = target.setdefault(key, {})
            target["schedulerName"] = self.scheduler_name
        return obj


NO_META = ChildMeta()


def child_meta(scheduler: str, *, labels: Mapping[str, str], annotations: Mapping[str, str], name: str,
               group: str, task_groups: str | None = None, pod: bool = True) -> ChildMeta:
    """KubeRay `AddMetadataToChildResource(parent, child, group)`: the parent's `labels`,
    `annotations` and `name`; `group` is the pod's group (`headgroup`, a worker group's name,
    `submittergroup`, or "" for a RayCluster made by a RayJob); `task_groups` the YuniKorn gang's
    JSON (`cluster_task_groups` / `job_task_groups` of the parent), asked for only with the gang
    label; `pod`: the child has a pod spec (not a RayCluster), so it gets `schedulerName`."""
    out_labels: dict[str, str] = {}
    out_annotations: dict[str, str] = {}
    sched = SCHEDULER_NAMES.get(scheduler) if pod else None

    def copy(source: str, target: str | None = None) -> None:
        if labels.get(source):
            out_labels[target or source] = labels[source]

    if scheduler == VOLCANO:
        copy(VOLCANO_QUEUE_LABEL)
        copy(PRIORITY_CLASS_LABEL)
        out_annotations[VOLCANO_GROUP_ANNOTATION] = volcano_group_name(labels, name)
        out_annotations[VOLCANO_TASK_SPEC_ANNOTATION] = group
    elif scheduler == YUNIKORN:
        copy(YUNIKORN_APP_ID_LABEL, YUNIKORN_POD_APP_ID_LABEL)
        copy(YUNIKORN_QUEUE_LABEL, YUNIKORN_POD_QUEUE_LABEL)
        if gang_enabled(labels):
            given = annotations.get(YUNIKORN_TASK_GROUPS_ANNOTATION)
            value = given if given else task_groups
            if value:
                out_annotations[YUNIKORN_TASK_GROUPS_ANNOTATION] = value
                if group:
                    out_annotations[YUNIKORN_TASK_GROUP_NAME_ANNOTATION] = group
    elif scheduler == SCHEDULER_PLUGINS:
        if gang_enabled(labels):
            out_labels[POD_GROUP_LABEL] = name
    elif scheduler == KAI:
        copy(KAI_QUEUE_LABEL)
    else:
        return NO_META
    return ChildMeta(sched, out_labels, out_annotations)


# --- sizes and resources (KubeRay `utils/util.go`) -------------------------------------------
def resource_list(total: Mapping[str, Quantity]) -> dict[str, str]:
    """A ResourceList as the API takes it: names sorted, quantities in canonical form."""
    return {k: str(total[k]) for k in sorted(total)}


def min_resources(spec: RayClusterSpec) -> dict[str, Quantity]:
    """KubeRay `CalculateMinResources`: the head's + Σ pod × minReplicas × numOfHosts over the
    groups not suspended."""
    total = pod_resources(spec.head_group_spec.template.get("spec") or {})
    for w in spec.workers:
        if not w.suspended:
            add(total, pod_resources(w.template.get("spec") or {}), w.min_replicas * w.hosts)
    return total


def gang_size(spec: RayClusterSpec) -> tuple[int, dict[str, Quantity]]:
    """Volcano's `calculatePodGroupParams`: (minMember, minResources) — every pod wanted now
    with the autoscaler off, the minimum with it on; the head counts one."""
    if spec.autoscaling_enabled:
        return spec.min_worker_replicas() + 1, min_resources(spec)
    return spec.desired_worker_replicas() + 1, spec.desired_resources()


def submitter_resources(mode: str, template: Mapping[str, Any] | None) -> dict[str, Quantity]:
    """What a RayJob's submitter asks for (Volcano's `getSubmitterResource`): K8sJobMode, its
    pod template's (KubeRay's default submitter without one); SidecarMode, the default
    submitter container's; other modes nothing."""
    if mode == "K8sJobMode" and template is not None:
        return pod_resources(template.get("spec") or {})
    if mode in ("K8sJobMode", "SidecarMode"):
        return pod_resources({"containers": [{"resources": SUBMITTER_RESOURCES}]})
    return {}


# --- the group objects ------------------------------------------------------------------------
_ATOI = re.compile(r"[+-]?[0-9]+")  # what Go's strconv.Atoi takes


class GroupProblem(ValueError):
    """A group object KubeRay could not build either (its message)."""


def volcano_pod_group(*, name: str, namespace: str, owner: Mapping[str, Any], labels: Mapping[str, str],
                      min_member: int, resources: Mapping[str, Quantity],
                      extra_labels: Mapping[str, str] | None = None) -> dict[str, Any]:
    """KubeRay `createPodGroup` (Volcano): `owner` the ownerReference (the RayCluster, or the
    RayJob of a RayJob's cluster), `labels` the parent's (queue, priority class, network
    topology). `extra_labels` are Raybus's (which cluster the group serves)."""
    spec: dict[str, Any] = {"minMember": min_member}
    if resources:  # none (a suspended cluster): left out, so an apply removes what there was
        spec["minResources"] = resource_list(resources)
    mode = labels.get(VOLCANO_TOPOLOGY_MODE_LABEL)
    if mode is not None:
        topology: dict[str, Any] = {"mode": mode}
        tier = labels.get(VOLCANO_TOPOLOGY_TIER_LABEL)
        if tier is not None:
            if not _ATOI.fullmatch(tier):
                raise GroupProblem(f"failed to convert {VOLCANO_TOPOLOGY_TIER_LABEL} label to int: strconv.Atoi: "
                                   f"parsing {gotext.quote(tier)}: invalid syntax for podgroup {name} "
                                   f"in namespace {namespace}")
            topology["highestTierAllowed"] = int(tier)
        spec["networkTopology"] = topology
    if VOLCANO_QUEUE_LABEL in labels:
        spec["queue"] = labels[VOLCANO_QUEUE_LABEL]
    if PRIORITY_CLASS_LABEL in labels:
        spec["priorityClassName"] = labels[PRIORITY_CLASS_LABEL]
    meta: dict[str, Any] = {"name": name, "namespace": namespace, "ownerReferences": [dict(owner)]}
    if extra_labels:
        meta["labels"] = dict(extra_labels)
    return {"apiVersion": VOLCANO_API, "kind": "PodGroup", "metadata": meta, "spec": spec}


def plugins_pod_group(*, name: str, namespace: str, owner: Mapping[str, Any], spec: RayClusterSpec
                      ) -> dict[str, Any]:
    """KubeRay `createPodGroup` (scheduler-plugins): named like the cluster, every pod wanted now
    (the autoscaler is not considered), the head counted one."""
    return {"apiVersion": SCHEDULER_PLUGINS_API, "kind": "PodGroup",
            "metadata": {"name": name, "namespace": namespace, "ownerReferences": [dict(owner)]},
            "spec": {"minMember": spec.desired_worker_replicas() + 1,
                     "minResources": resource_list(spec.desired_resources())}}


# --- YuniKorn task groups ---------------------------------------------------------------------
def _task_group(name: str, min_member: int, pod_spec: Mapping[str, Any]) -> str:
    """One TaskGroup as Go's `json.Marshal` writes the struct (its field order, empty optional
    fields left out)."""
    parts = [f'"minResource":{gotext.marshal(resource_list(pod_resources(pod_spec)))}']
    for key in ("nodeSelector", "affinity"):
        if pod_spec.get(key):
            parts.append(f'"{key}":{gotext.marshal(pod_spec[key])}')
    parts.append(f'"name":{gotext.marshal(name)}')
    if pod_spec.get("tolerations"):  # topologySpreadConstraints comes before; KubeRay never sets it
        parts.append(f'"tolerations":{gotext.marshal(pod_spec["tolerations"])}')
    parts.append(f'"minMember":{min_member}')
    return "{" + ",".join(parts) + "}"


def _cluster_groups(spec: RayClusterSpec) -> list[str]:
    groups = [_task_group(HEAD_GROUP, 1, spec.head_group_spec.template.get("spec") or {})]
    for w in spec.workers:  # suspended groups are not skipped (KubeRay's task groups)
        groups.append(_task_group(w.group_name, w.min_replicas * w.hosts, w.template.get("spec") or {}))
    return groups


def cluster_task_groups(spec: RayClusterSpec) -> str:
    """KubeRay `newTaskGroupsFromRayClusterSpec`, marshalled: the head, then each worker group
    with minReplicas × numOfHosts members of one pod's resources."""
    return "[" + ",".join(_cluster_groups(spec)) + "]"


def job_task_groups(spec: RayClusterSpec, submitter_template: Mapping[str, Any]) -> str:
    """KubeRay `newTaskGroupsFromRayJobSpec`: the cluster's, then `submittergroup` of one."""
    groups = [*_cluster_groups(spec), _task_group(SUBMITTER_GROUP, 1, submitter_template.get("spec") or {})]
    return "[" + ",".join(groups) + "]"
