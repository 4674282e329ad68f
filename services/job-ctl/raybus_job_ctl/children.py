"""The Kubernetes objects a RayJob owns besides its submitter (`submitter.py`): the RayCluster of an
attempt (KubeRay `constructRayClusterForRayJob`) and the RayJob's own head Service
(`BuildHeadServiceForRayJob`, `reconcileServices`). Pure.

The RayCluster's spec is the RayJob's `rayClusterSpec` as sent (the raw object, so fields the
model does not know survive). KubeRay creates it once and then disregards changes to
`rayClusterSpec`; so does whoever applies this (create only).

The head Service is `<rayjob>-head-svc`, a copy of the cluster's head Service pointing at the
same pods, so clients keep one name across the attempts' clusters. KubeRay builds its spec anew
from the RayCluster; here it is copied from the cluster's head Service as observed, without
what the API server allocated for that Service (its cluster IPs unless headless, node ports,
the health-check node port). One addition: the label `app.kubernetes.io/created-by:
kuberay-operator`, which KubeRay does not put on this Service, so that Raybus's watcher (which
narrows Services to that label, as KubeRay narrows its Job cache) observes it.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from raybus_common import gotext, objects
from raybus_common.crds.raycluster import API_VERSION, ORIGINATED_FROM_CRD_LABEL
from raybus_common.crds.rayjob import JobSubmissionMode, RayJob
from raybus_common.kube.resources import CREATED_BY, CREATED_BY_VALUE

from .constants import (
    CLUSTER_LABEL,
    DISABLE_PROVISIONED_HEAD_RESTART_ANNOTATION,
    HEAD,
    IDENTIFIER_LABEL,
    NODE_TYPE_LABEL,
    ORIGINATED_FROM_CR_NAME_LABEL,
    RAYJOB_CRD,
    SUBMISSION_MODE_LABEL,
)
from .submitter import sidecar_container

Obj = dict[str, Any]
# What the API server allocated for a Service: never copied to another Service.
_ALLOCATED = ("clusterIP", "clusterIPs", "healthCheckNodePort")


def ray_cluster_for(raw: Mapping[str, Any], job: RayJob, *, name: str, job_id: str, login_shell: bool,
                    restart_gate: bool) -> Obj:
    """The RayCluster `name` for the RayJob's attempt: the RayJob's labels plus
    `ray.io/originated-from-cr-name`, `ray.io/originated-from-crd: RayJob` and
    `ray.io/job-submission-mode`; its annotations; a controller ownerReference to the RayJob.
    SidecarMode appends the submitter container to the head pod (`sidecar_container`), sets the
    head pod's `restartPolicy: Never` and labels it with the RayJob (its `originated-from` pair), and annotates `ray.io/disable-provisioned-head-restart:
    "true"` (cluster-ctl then never recreates a lost head)."""
    sidecar = job.spec.submission_mode == JobSubmissionMode.SIDECAR_MODE
    labels = {**objects.labels(raw), ORIGINATED_FROM_CR_NAME_LABEL: job.name, ORIGINATED_FROM_CRD_LABEL: RAYJOB_CRD,
              SUBMISSION_MODE_LABEL: str(job.spec.submission_mode)}
    annotations = dict(objects.annotations(raw))
    if sidecar:
        annotations[DISABLE_PROVISIONED_HEAD_RESTART_ANNOTATION] = "true"
    spec: Obj = copy.deepcopy(dict((raw.get("spec") or {}).get("rayClusterSpec") or {}))
    if sidecar:
        head = spec.setdefault("headGroupSpec", {})
        pod = head.setdefault("template", {}).setdefault("spec", {})
        container = sidecar_container(job, head, job_id=job_id, login_shell=login_shell, restart_gate=restart_gate,
                                      cluster=name)
        pod["containers"] = [*(pod.get("containers") or []), container]
        pod["restartPolicy"] = "Never"
        # Unlike KubeRay, the head pod names its RayJob, so job-ctl's view finds the submitter's
        # container status by label, without holding every pod (handlers.sidecar_head).
        meta = head["template"].setdefault("metadata", {})
        meta["labels"] = {**(meta.get("labels") or {}), ORIGINATED_FROM_CR_NAME_LABEL: job.name,
                          ORIGINATED_FROM_CRD_LABEL: RAYJOB_CRD}
    return {
        "apiVersion": API_VERSION,
        "kind": "RayCluster",
        "metadata": {"name": name, "namespace": job.namespace, "labels": labels, "annotations": annotations,
                     "ownerReferences": [objects.owner_reference(raw)]},
        "spec": spec,
    }


def head_service_for(raw: Mapping[str, Any], cluster_head_service: Mapping[str, Any]) -> Obj:
    """The RayJob's `<rayjob>-head-svc`: the cluster's head Service's spec (selector
    `ray.io/cluster: <cluster>` included) without what was allocated for it; KubeRay's four
    labels (plus `app.kubernetes.io/created-by`); the annotations of the RayJob's custom
    `headGroupSpec.headService`, if any (KubeRay builds them from the cluster spec, not from
    the cluster's Service, which also carries `headServiceAnnotations`); a controller
    ownerReference to the RayJob."""
    name = objects.name(raw)
    spec: Obj = copy.deepcopy(dict(cluster_head_service.get("spec") or {}))
    headless = spec.get("clusterIP") == "None"
    for key in _ALLOCATED:
        spec.pop(key, None)
    if headless:
        spec["clusterIP"] = "None"
    spec["ports"] = [{k: v for k, v in p.items() if k != "nodePort"} for p in spec.get("ports") or []]
    custom = ((((raw.get("spec") or {}).get("rayClusterSpec") or {}).get("headGroupSpec") or {})
              .get("headService") or {})
    annotations = dict((custom.get("metadata") or {}).get("annotations") or {})
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": f"{name}-head-svc",
            "namespace": objects.namespace(raw),
            "labels": {ORIGINATED_FROM_CR_NAME_LABEL: name, ORIGINATED_FROM_CRD_LABEL: RAYJOB_CRD,
                       NODE_TYPE_LABEL: HEAD, IDENTIFIER_LABEL: gotext.check_label(f"{name}-{HEAD}"),
                       CREATED_BY: CREATED_BY_VALUE},
            "annotations": annotations,
            "ownerReferences": [objects.owner_reference(raw)],
        },
        "spec": spec,
    }


def head_service_outdated(current: Mapping[str, Any], cluster: str) -> bool:
    """Whether the RayJob's head Service points at another cluster than `cluster` (the only
    change KubeRay makes to it once created)."""
    selector = (current.get("spec") or {}).get("selector") or {}
    return selector.get(CLUSTER_LABEL) != cluster
