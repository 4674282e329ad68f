"""The Services KubeRay v1.7 builds from a RayCluster (`common/service.go`), written once for the two
controllers that build them: cluster-ctl (a RayCluster's own head and serve Services) and
serve-ctl (a RayService's head and serve Services, which point at one of its clusters, and the
per-cluster serve Services of an incremental upgrade). Pure.

| here | KubeRay |
|---|---|
| `head_ports` | `getServicePorts`: the head Ray container's ports (unnamed → `<port>-port`), the five defaults when it declares none, `metrics: 8080` added when missing |
| `head_selector` | `HeadServiceLabels` (with the `app.kubernetes.io/name` value the caller passes) |
| `head_service` | `BuildServiceForHeadPod` |
| `serve_ports` | the head ports named `serve` or `serve-*` (`isServingPort`) |
| `serve_port` | `GetServePort`: the head Ray container's port named `serve`, else 8000 |
| `serve_service` | the plain Service of `BuildServeService` (no user template) |

Each caller decides the names, labels and annotations that differ between them (a RayCluster's
head Service carries `headServiceAnnotations` and follows the head template's
`app.kubernetes.io/name`; a RayService's carries neither).

Deliberate differences from KubeRay, each because Raybus applies objects rather than creating
them once: Service ports are always sorted by name (KubeRay appends Go map order to a custom head
Service); computed ports that clash by name or number with the user's `headService` ports are
skipped (KubeRay appends them and the API server rejects the duplicate).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from ..gotext import check_label
from ..kube.resources import CREATED_BY, CREATED_BY_VALUE
from .raycluster import RayCluster, RayNodeType
from .rayjob import CLUSTER_LABEL

Obj = dict[str, Any]

NODE_TYPE_LABEL = "ray.io/node-type"
IDENTIFIER_LABEL = "ray.io/identifier"
APP_NAME_LABEL = "app.kubernetes.io/name"
APP_NAME_VALUE = "kuberay"
SERVE_LABEL = "ray.io/serve"
ORIGINATED_FROM_CR_NAME_LABEL = "ray.io/originated-from-cr-name"

SERVE_PORT_NAME = "serve"
DEFAULT_SERVE_PORT = 8000
DEFAULT_METRICS_PORT = 8080
# The head Service's ports when the head container declares none.
DEFAULT_HEAD_PORTS: Mapping[str, int] = {"client": 10001, "gcs-server": 6379, "dashboard": 8265,
                                         "metrics": DEFAULT_METRICS_PORT, SERVE_PORT_NAME: DEFAULT_SERVE_PORT}


def _head_container(cluster: RayCluster) -> Mapping[str, Any]:
    """The head's Ray container (the first), {} when there is none."""
    containers = (cluster.spec.head_group_spec.template.get("spec") or {}).get("containers") or []
    found: Mapping[str, Any] = containers[0] if containers else {}
    return found


def head_ports(cluster: RayCluster) -> dict[str, int]:
    """KubeRay `getServicePorts`: name → port of the head Ray container's ports (unnamed →
    `<port>-port`), or the five defaults when it declares none; `metrics: 8080` added when
    missing."""
    ports: dict[str, int] = {}
    for p in _head_container(cluster).get("ports") or []:
        port = int(p["containerPort"])
        ports[p.get("name") or f"{port}-port"] = port
    if not ports:
        ports = dict(DEFAULT_HEAD_PORTS)
    ports.setdefault("metrics", DEFAULT_METRICS_PORT)
    return ports


def head_selector(cluster_name: str, app_name: str = APP_NAME_VALUE) -> dict[str, str]:
    """KubeRay `HeadServiceLabels`: the head pod of `cluster_name` (`ray.io/cluster`,
    `ray.io/node-type: head`, `ray.io/identifier: <cluster>-head`, `app.kubernetes.io/name`,
    `app.kubernetes.io/created-by: kuberay-operator`)."""
    return {
        CLUSTER_LABEL: cluster_name,
        NODE_TYPE_LABEL: RayNodeType.HEAD.value,
        IDENTIFIER_LABEL: check_label(f"{cluster_name}-head"),
        APP_NAME_LABEL: app_name,
        CREATED_BY: CREATED_BY_VALUE,
    }


def head_service(cluster: RayCluster, *, name: str, annotations: Mapping[str, str], app_name: str = APP_NAME_VALUE,
                 cluster_ip_service: bool = False) -> Obj:
    """KubeRay `BuildServiceForHeadPod`, named `name` unless the custom `headService` names itself.
    Selector and labels: `head_selector`. Without `headService`: the head ports (appProtocol
    `tcp`, sorted by name), `annotations`, type `serviceType`, headless (`clusterIP: None`,
    `publishNotReadyAddresses`) when the type is empty or ClusterIP unless the operator runs with
    `ENABLE_RAY_HEAD_CLUSTER_IP_SERVICE` (`cluster_ip_service`). With `headService`: that Service
    with the selector and labels forced, `annotations` winning, the head ports appended, name and
    type defaulted, namespace forced, and never made headless."""
    head = cluster.spec.head_group_spec
    labels = head_selector(cluster.name, app_name)
    ports = [{"name": n, "port": p, "appProtocol": "tcp"} for n, p in sorted(head_ports(cluster).items())]
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
        meta["name"] = meta.get("name") or name
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
            "metadata": {"name": name, "namespace": cluster.namespace, "labels": dict(labels),
                         "annotations": dict(annotations)},
            "spec": spec}


def serve_ports(cluster: RayCluster) -> list[Obj]:
    """The head ports named `serve` or `serve-*` (`serve-grpc`, ...), sorted by name, without
    appProtocol: the serve Service's ports."""
    return [{"name": n, "port": p} for n, p in sorted(head_ports(cluster).items())
            if n == SERVE_PORT_NAME or n.startswith(SERVE_PORT_NAME + "-")]


def serve_port(cluster: RayCluster) -> int:
    """KubeRay `GetServePort`: the head Ray container's port named `serve`, else 8000."""
    for p in _head_container(cluster).get("ports") or []:
        if p.get("name") == SERVE_PORT_NAME:
            return int(p["containerPort"])
    return DEFAULT_SERVE_PORT


def serve_service(*, name: str, namespace: str, labels: Mapping[str, str], selector: Mapping[str, str],
                  ports: list[Obj], service_type: str | None) -> Obj:
    """The Service `BuildServeService` makes without a user template: `ports`, `selector`, type
    `service_type` when set, no annotations."""
    spec: Obj = {"selector": dict(selector), "ports": copy.deepcopy(ports)}
    if service_type:
        spec["type"] = service_type
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": namespace, "labels": dict(labels), "annotations": {}},
            "spec": spec}
