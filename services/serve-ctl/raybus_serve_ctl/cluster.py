"""The RayCluster a RayService runs on (KubeRay v1.7 `constructRayClusterForRayService`,
`modifyRayCluster`). Pure.

A new cluster (`ray_cluster_for`):

| part | value |
|---|---|
| labels | every RayService label, plus `ray.io/originated-from-cr-name: <rs>` and `ray.io/originated-from-crd: RayService` |
| annotations | every RayService annotation, plus `ray.io/hash-without-replicas-and-workers-to-delete` (`hashing.spec_hash`), `ray.io/num-worker-groups` and `ray.io/kuberay-version` |
| owner | a controller ownerReference to the RayService |
| spec | `rayClusterConfig` as sent (the raw object, so fields the model does not know survive), `suspend` included; the head template also labelled `ray.io/originated-from-cr-name: <rs>` / `ray.io/originated-from-crd: RayService` (beyond KubeRay: serve-ctl's view holds the head pod by them, as job-ctl's does a SidecarMode head) |

Under NewClusterWithIncrementalUpgrade, once an active cluster exists, every worker group's
`replicas` is left out (`replicas_unset`), so the cluster starts from `minReplicas` and Serve's
`target_capacity` scales it. KubeRay decides this when it builds any goal, so an in-place update
of the active cluster in that state (worker groups appended) drops `replicas` too.

An in-place update (`updated_cluster`) makes the current cluster's spec, labels and annotations
the goal's, but keeps its `spec.suspend`: a RayService passes `suspend` on at creation only;
afterwards it belongs to Kueue (or whoever queues the cluster).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from raybus_common import objects
from raybus_common.crds.raycluster import API_VERSION

from .constants import (
    HASH_ANNOTATION,
    KUBERAY_VERSION_ANNOTATION,
    NUM_WORKER_GROUPS_ANNOTATION,
    ORIGINATED_FROM_CR_NAME_LABEL,
    ORIGINATED_FROM_CRD_LABEL,
    RAYSERVICE_CRD,
)
from .hashing import spec_hash

Obj = dict[str, Any]


def cluster_config(raw: Mapping[str, Any]) -> Mapping[str, Any]:
    """The RayService's `spec.rayClusterConfig` as sent, {} when missing."""
    found: Mapping[str, Any] = (raw.get("spec") or {}).get("rayClusterConfig") or {}
    return found


def replicas_unset(*, incremental: bool, active_name: str) -> bool:
    """Whether the goal cluster leaves worker `replicas` out: the incremental strategy is on and an
    active cluster exists (KubeRay's `isPendingClusterForUpgrade`)."""
    return incremental and bool(active_name)


def ray_cluster_for(raw: Mapping[str, Any], *, name: str, kuberay_version: str, unset_replicas: bool) -> Obj:
    """The RayCluster `name` the RayService `raw` (as observed) makes: see the module's table."""
    config = cluster_config(raw)
    labels = {**objects.labels(raw), ORIGINATED_FROM_CR_NAME_LABEL: objects.name(raw),
              ORIGINATED_FROM_CRD_LABEL: RAYSERVICE_CRD}
    annotations = {**objects.annotations(raw), HASH_ANNOTATION: spec_hash(config),
                   NUM_WORKER_GROUPS_ANNOTATION: str(len(config.get("workerGroupSpecs") or [])),
                   KUBERAY_VERSION_ANNOTATION: kuberay_version}
    spec: Obj = copy.deepcopy(dict(config))
    head = spec.get("headGroupSpec")
    if isinstance(head, dict):  # its head pod names the RayService: serve-ctl's view holds it
        template = head.setdefault("template", {})
        meta = template.setdefault("metadata", {}) if isinstance(template, dict) else {}
        if isinstance(meta, dict):
            meta["labels"] = {**(meta.get("labels") or {}), ORIGINATED_FROM_CR_NAME_LABEL: objects.name(raw),
                              ORIGINATED_FROM_CRD_LABEL: RAYSERVICE_CRD}
    if unset_replicas:
        for group in spec.get("workerGroupSpecs") or []:
            group.pop("replicas", None)
    return {
        "apiVersion": API_VERSION,
        "kind": "RayCluster",
        "metadata": {"name": name, "namespace": objects.namespace(raw), "labels": labels,
                     "annotations": annotations, "ownerReferences": [objects.owner_reference(raw)]},
        "spec": spec,
    }


def updated_cluster(current: Mapping[str, Any], goal: Mapping[str, Any]) -> Obj:
    """KubeRay `modifyRayCluster`: `current` with the goal's spec, labels and annotations, its own
    `spec.suspend` kept (left out when it had none). The goal is built for `current`'s name
    (`ray_cluster_for(name=<current's>)`), so the two never name different clusters."""
    out: Obj = copy.deepcopy(dict(current))
    out.pop("status", None)
    meta = out.setdefault("metadata", {})
    meta["labels"] = dict(objects.labels(goal))
    meta["annotations"] = dict(objects.annotations(goal))
    spec: Obj = copy.deepcopy(dict(goal.get("spec") or {}))
    spec.pop("suspend", None)
    current_spec = current.get("spec") or {}
    if "suspend" in current_spec:
        spec["suspend"] = current_spec["suspend"]
    out["spec"] = spec
    return out
