"""A RayService's head and serve Services (KubeRay v1.7 `BuildHeadServiceForRayService`,
`BuildServeService` for a RayService, `reconcileServices`; A.9). Pure.

Both point at one of the RayService's clusters (the target: the pending cluster once it is ready
and no incremental upgrade runs, else the active one) and are switched by changing their
selector; they are built from that cluster's spec, as observed, with the builders cluster-ctl
uses for a cluster's own Services (`raybus_common.crds.cluster_services`).

| | head Service | serve Service |
|---|---|---|
| name | `<rs>-head-svc` | `serveService.metadata.name`, else `<rs>-serve-svc` (`<cluster>-serve-svc` under the incremental strategy) |
| labels | `originated-from-cr-name: <rs>`, `originated-from-crd: RayService`, `ray.io/node-type: head`, `ray.io/identifier: <rs>-head` | `originated-from-cr-name: <name>`, `originated-from-crd: RayService`, `ray.io/serve: <name>-serve` (over the template's labels) |
| selector | `ray.io/cluster: <target>`, `node-type: head`, `identifier: <target>-head`, `app.kubernetes.io/name: kuberay`, `created-by: kuberay-operator` | `ray.io/cluster: <target>`, `ray.io/serve: "true"` |
| ports | the target's head ports (appProtocol tcp) | its `serve`/`serve-*` ports; a same-named port of the template wins |
| type | the target's head `serviceType`; headless when ClusterIP/empty (unless `ENABLE_RAY_HEAD_CLUSTER_IP_SERVICE`) | the template's type, else `rayClusterConfig.headGroupSpec.serviceType` |

The head Service carries no annotations (KubeRay builds it without the cluster's
`headServiceAnnotations`) and its selector's `app.kubernetes.io/name` is always `kuberay`, as in
KubeRay. No serve port and no `serveService` (or any serve Service under the incremental
strategy, which ignores the template) cannot be built: KubeRay's error, `NO_SERVE_PORT`.

One addition to KubeRay's labels, on both: `app.kubernetes.io/created-by: kuberay-operator`, so
that Raybus's watcher (which narrows Services to that label) observes them.

Switching (`outdated`, `switched`): a Service that selects another cluster is given the new
spec whole, keeping the cluster IPs the API server allocated; one that selects the target is
left alone (KubeRay compares nothing else).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from raybus_common import gotext, objects
from raybus_common.crds import cluster_services as shared
from raybus_common.crds.raycluster import RayCluster, RayNodeType
from raybus_common.crds.rayservice import RayService
from raybus_common.kube.resources import CREATED_BY, CREATED_BY_VALUE

from .constants import (
    CLUSTER_LABEL,
    ORIGINATED_FROM_CR_NAME_LABEL,
    ORIGINATED_FROM_CRD_LABEL,
    RAYSERVICE_CRD,
    SERVE_LABEL,
)
from .names import head_service_name, serve_service_name
from .upgrade import selected_cluster

Obj = dict[str, Any]
NO_SERVE_PORT = ("Please specify a port named 'serve' (or with the prefix 'serve-', e.g. 'serve-grpc') in the Ray head "
                 "container; otherwise, the Kubernetes service for Ray Serve will not be created.")
_ALLOCATED = ("clusterIP", "clusterIPs")


def head_service_for(raw: Mapping[str, Any], target: RayCluster, *, cluster_ip_service: bool = False) -> Obj:
    """The RayService's head Service, pointing at `target` (the table's first column)."""
    name = objects.name(raw)
    svc = shared.head_service(target, name=head_service_name(name), annotations={},
                              cluster_ip_service=cluster_ip_service)
    meta = svc["metadata"]
    meta["name"] = head_service_name(name)
    meta["namespace"] = objects.namespace(raw)
    meta["labels"] = {ORIGINATED_FROM_CR_NAME_LABEL: name, ORIGINATED_FROM_CRD_LABEL: RAYSERVICE_CRD,
                      shared.NODE_TYPE_LABEL: RayNodeType.HEAD.value,
                      shared.IDENTIFIER_LABEL: gotext.check_label(f"{name}-{RayNodeType.HEAD.value}"),
                      CREATED_BY: CREATED_BY_VALUE}
    meta["ownerReferences"] = [objects.owner_reference(raw)]
    return svc


def serve_service_for(raw: Mapping[str, Any], rs: RayService, target: RayCluster, *, incremental: bool) -> Obj | None:
    """The RayService's serve Service pointing at `target` (the table's second column), owned by
    the RayService; None when it cannot be built (`NO_SERVE_PORT`). Under the incremental strategy
    this is `target`'s own `<cluster>-serve-svc` (`gateway.cluster_serve_service` makes the
    cluster its owner)."""
    name = target.name if incremental else rs.name
    labels = {ORIGINATED_FROM_CR_NAME_LABEL: name, ORIGINATED_FROM_CRD_LABEL: RAYSERVICE_CRD,
              SERVE_LABEL: f"{name}-serve", CREATED_BY: CREATED_BY_VALUE}
    selector = {CLUSTER_LABEL: target.name, SERVE_LABEL: "true"}
    default_name = serve_service_name(rs.name, serve_service=None, incremental=incremental, cluster=target.name)
    default_type = rs.spec.ray_cluster_config.head_group_spec.service_type
    ports = shared.serve_ports(target)
    template = rs.spec.serve_service
    if template is not None and not incremental:
        svc = _from_template(template, ports, labels, selector)
        meta = svc["metadata"]
        meta["name"] = meta.get("name") or default_name
        meta["namespace"] = rs.namespace
        if not svc["spec"].get("type") and default_type:
            svc["spec"]["type"] = default_type
    elif not ports:
        return None
    else:
        svc = shared.serve_service(name=default_name, namespace=rs.namespace, labels=labels, selector=selector,
                                   ports=ports, service_type=default_type)
    svc["metadata"]["ownerReferences"] = [objects.owner_reference(raw)]
    return svc


def _from_template(template: Mapping[str, Any], ports: list[Obj], labels: Mapping[str, str],
                   selector: Mapping[str, str]) -> Obj:
    """The user's `serveService` with our selector and labels forced; its ports replaced by the
    head's serve ports (a template port of the same name winning) unless the head has none."""
    svc: Obj = {"apiVersion": "v1", "kind": "Service", **copy.deepcopy(dict(template))}
    svc.pop("status", None)
    meta = svc.setdefault("metadata", {})
    spec = svc.setdefault("spec", {})
    spec["selector"] = dict(selector)
    meta["annotations"] = dict(meta.get("annotations") or {})
    if ports:
        mine = {p.get("name"): p for p in spec.get("ports") or []}
        spec["ports"] = [copy.deepcopy(mine.get(p["name"], p)) for p in ports]
    meta["labels"] = {**(meta.get("labels") or {}), **labels}
    return svc


def outdated(current: Mapping[str, Any], desired: Mapping[str, Any]) -> bool:
    """Whether the Service as observed selects another cluster than the desired one (the only
    difference KubeRay acts on)."""
    return selected_cluster(current) != selected_cluster(desired)


def switched(current: Mapping[str, Any], desired: Mapping[str, Any]) -> Obj:
    """`current` with `desired`'s spec, keeping the cluster IPs allocated to `current` (immutable;
    KubeRay copies `clusterIP`); its metadata (labels included) as it is."""
    out: Obj = copy.deepcopy(dict(current))
    out.pop("status", None)
    old_spec = current.get("spec") or {}
    spec: Obj = copy.deepcopy(dict(desired.get("spec") or {}))
    for key in _ALLOCATED:
        spec.pop(key, None)
        if key in old_spec:
            spec[key] = copy.deepcopy(old_spec[key])
    out["spec"] = spec
    return out
