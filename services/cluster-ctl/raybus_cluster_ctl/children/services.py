"""The Services of a RayCluster, built the way KubeRay v1.7 builds them (`common/service.go`): the
head Service, the serve Service and the headless worker Service. Pure.

Deliberate differences from KubeRay, each because Raybus applies objects rather than creating
them once: service ports are always sorted by name (KubeRay appends Go map order to a custom
head Service); computed ports that clash by name or number with the user's `headService` ports
are skipped (KubeRay appends them and the API server rejects the duplicate).
"""

from __future__ import annotations

import copy

from raybus_common.crds.raycluster import ORIGINATED_FROM_CRD_LABEL, RayCluster, RayNodeType
from raybus_common.gotext import check_label
from raybus_common.kube.resources import CREATED_BY, CREATED_BY_VALUE

from ..constants import (
    APP_NAME_LABEL,
    APP_NAME_VALUE,
    CLUSTER_LABEL,
    DEFAULT_HEAD_PORTS,
    DEFAULT_METRICS_PORT,
    ENABLE_SERVE_SERVICE_ANNOTATION,
    HEADLESS_SERVICE_LABEL,
    IDENTIFIER_LABEL,
    NODE_TYPE_LABEL,
    ORIGINATED_FROM_CR_NAME_LABEL,
    SERVE_LABEL,
)
from ..names import head_service_name
from ..podtemplate import Obj, ray_container
from .metadata import object_meta, our_labels


def service_ports(cluster: RayCluster) -> dict[str, int]:
    """KubeRay `getServicePorts`: the head Ray container's ports (unnamed → `<port>-port`), or
    the five defaults when it declares none; `metrics: 8080` added when missing."""
    ports: dict[str, int] = {}
    for p in ray_container(cluster.spec.head_group_spec.template).get("ports") or []:
        port = int(p["containerPort"])
        ports[p.get("name") or f"{port}-port"] = port
    if not ports:
        ports = dict(DEFAULT_HEAD_PORTS)
    ports.setdefault("metrics", DEFAULT_METRICS_PORT)
    return ports


def head_service_labels(cluster: RayCluster) -> dict[str, str]:
    """Labels and selector of the head Service; `app.kubernetes.io/name` follows the head
    template's value of that label, else `kuberay`."""
    template_labels = (cluster.spec.head_group_spec.template.get("metadata") or {}).get("labels") or {}
    return {
        CLUSTER_LABEL: cluster.name,
        NODE_TYPE_LABEL: RayNodeType.HEAD.value,
        IDENTIFIER_LABEL: check_label(f"{cluster.name}-head"),
        APP_NAME_LABEL: str(template_labels.get(APP_NAME_LABEL, APP_NAME_VALUE)),
        CREATED_BY: CREATED_BY_VALUE,
    }


def head_service(cluster: RayCluster, *, cluster_ip_service: bool = False) -> Obj:
    """KubeRay `BuildServiceForHeadPod`. Without `headService`: ports from the head container
    (appProtocol `tcp`, sorted by name), annotations `headServiceAnnotations`, type
    `serviceType`, headless (`clusterIP: None`, `publishNotReadyAddresses`) when the type is
    empty or ClusterIP unless the operator runs with `ENABLE_RAY_HEAD_CLUSTER_IP_SERVICE`
    (`cluster_ip_service`). With `headService`: that Service with our selector and labels
    forced, our annotations winning, our ports appended, name/type defaulted, namespace
    forced, and never made headless."""
    head = cluster.spec.head_group_spec
    labels = head_service_labels(cluster)
    annotations = dict(cluster.spec.head_service_annotations or {})
    ports = [{"name": n, "port": p, "appProtocol": "tcp"} for n, p in sorted(service_ports(cluster).items())]
    service_type = head.service_type or ""
    if head.head_service:
        svc: Obj = copy.deepcopy(head.head_service)
        svc.pop("status", None)
        meta = svc.setdefault("metadata", {})
        spec = svc.setdefault("spec", {})
        user_ports = list(spec.get("ports") or [])
        taken = {p.get("name") for p in user_ports} | {p.get("port") for p in user_ports}
        spec["ports"] = user_ports + [p for p in ports if p["name"] not in taken and p["port"] not in taken]
        spec["selector"] = dict(labels)
        meta["annotations"] = {**(meta.get("annotations") or {}), **annotations}
        meta["labels"] = {**(meta.get("labels") or {}), **labels}
        meta["name"] = meta.get("name") or head_service_name(cluster)
        meta["namespace"] = cluster.namespace
        if not spec.get("type") and service_type:
            spec["type"] = service_type
        return {"apiVersion": "v1", "kind": "Service", **svc}
    spec = {"selector": dict(labels), "ports": ports}
    if service_type:
        spec["type"] = service_type
    if not cluster_ip_service and service_type in ("", "ClusterIP"):
        spec["clusterIP"] = "None"  # at most one head pod: no need for a virtual IP
        spec["publishNotReadyAddresses"] = True
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": object_meta(head_service_name(cluster), cluster.namespace, labels, annotations), "spec": spec}


def serve_service(cluster: RayCluster) -> Obj | None:
    """KubeRay `BuildServeService` for a RayCluster, only with annotation
    `ray.io/enable-serve-service: "true"`: selects every pod of the cluster, ports are the head
    ports named `serve` or `serve-*` (no appProtocol), type `serviceType`. None when not enabled,
    or when no port qualifies: KubeRay then returns an error, which also stops that reconcile
    pass before pods are created."""
    if cluster.annotations.get(ENABLE_SERVE_SERVICE_ANNOTATION) != "true":
        return None
    name = cluster.name
    ports = [{"name": n, "port": p} for n, p in sorted(service_ports(cluster).items())
             if n == "serve" or n.startswith("serve-")]
    if not ports:
        return None
    spec: Obj = {"selector": {CLUSTER_LABEL: name}, "ports": ports}
    if cluster.spec.head_group_spec.service_type:
        spec["type"] = cluster.spec.head_group_spec.service_type
    labels = our_labels(cluster, {ORIGINATED_FROM_CR_NAME_LABEL: name, ORIGINATED_FROM_CRD_LABEL: "RayCluster",
                                  SERVE_LABEL: f"{name}-serve"})
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": object_meta(f"{name}-serve-svc", cluster.namespace, labels, {}), "spec": spec}


def headless_worker_service(cluster: RayCluster) -> Obj | None:
    """KubeRay `BuildHeadlessServiceForRayCluster`: `<cluster>-headless` selecting the worker
    pods, headless and publishing not-ready addresses, for multi-host peer DNS. Only when some
    worker group has `numOfHosts > 1`."""
    if not any(w.hosts > 1 for w in cluster.spec.workers):
        return None
    name = cluster.name
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": object_meta(f"{name}-headless", cluster.namespace, our_labels(cluster, {HEADLESS_SERVICE_LABEL: name}),
                                {}),
        "spec": {"clusterIP": "None", "selector": {CLUSTER_LABEL: name, NODE_TYPE_LABEL: RayNodeType.WORKER.value},
                 "type": "ClusterIP", "publishNotReadyAddresses": True},
    }
