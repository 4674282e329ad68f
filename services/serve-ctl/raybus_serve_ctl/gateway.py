"""The objects of NewClusterWithIncrementalUpgrade (KubeRay v1.7 `createGateway`, `createHTTPRoute`,
`reconcilePerClusterServeService`, `IsGatewayEqual`, `IsHTTPRouteEqual`; A.7.1). Pure.

| object | content | owner |
|---|---|---|
| Gateway `<rs>-gateway` | `gatewayClassName` from the upgrade options; one listener `http`, HTTP, port 80 | the RayService |
| HTTPRoute `<rs>-httproute` | parentRef the Gateway (name, namespace); one rule, PathPrefix `/`, backends `<active>-serve-svc` then, when the pending cluster exists, `<pending>-serve-svc`, each on its cluster's `serve` port (8000 unless named) with this pass's weight (`traffic.next_weights`); none while there is no active cluster | the RayService |
| Service `<cluster>-serve-svc` | `services.serve_service_for(incremental=True)`: the cluster's serve ports, selector `ray.io/cluster: <cluster>, ray.io/serve: "true"` | the RayCluster |

Updated only when what KubeRay compares differs (`gateway_equal`: class and each listener's name,
protocol and port; `httproute_equal`: hostnames, parentRefs by name and namespace, each rule's
matches and filters, each backend's name, namespace, weight (unset: 1) and port). The
per-cluster Service is created when missing and never updated.

One addition to KubeRay: the Gateway and HTTPRoute carry `app.kubernetes.io/created-by:
kuberay-operator`, like every object Raybus owns, so a watch can be narrowed to them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from raybus_common import objects
from raybus_common.crds.cluster_services import serve_port
from raybus_common.crds.raycluster import RayCluster
from raybus_common.crds.rayservice import RayService
from raybus_common.kube.resources import CREATED_BY, CREATED_BY_VALUE

from .constants import GATEWAY_API_VERSION, GATEWAY_LISTENER_NAME, GATEWAY_LISTENER_PORT
from .names import cluster_serve_service_name, gateway_name, httproute_name
from .services import serve_service_for

Obj = dict[str, Any]


def _meta(raw: Mapping[str, Any], name: str) -> Obj:
    return {"name": name, "namespace": objects.namespace(raw), "labels": {CREATED_BY: CREATED_BY_VALUE},
            "ownerReferences": [objects.owner_reference(raw)]}


def gateway_for(raw: Mapping[str, Any], *, gateway_class: str) -> Obj:
    """The RayService's Gateway (the table's first row)."""
    return {"apiVersion": GATEWAY_API_VERSION, "kind": "Gateway", "metadata": _meta(raw, gateway_name(objects.name(raw))),
            "spec": {"gatewayClassName": gateway_class,
                     "listeners": [{"name": GATEWAY_LISTENER_NAME, "protocol": "HTTP", "port": GATEWAY_LISTENER_PORT}]}}


def httproute_for(raw: Mapping[str, Any], *, active: RayCluster | None, pending: RayCluster | None,
                  weights: tuple[int, int]) -> Obj | None:
    """The RayService's HTTPRoute with (active, pending) `weights`; None without an active cluster."""
    if active is None:
        return None
    namespace = objects.namespace(raw)
    backends = [{"name": cluster_serve_service_name(c.name), "namespace": namespace, "port": serve_port(c),
                 "weight": weight} for c, weight in ((active, weights[0]), (pending, weights[1])) if c is not None]
    name = objects.name(raw)
    return {"apiVersion": GATEWAY_API_VERSION, "kind": "HTTPRoute", "metadata": _meta(raw, httproute_name(name)),
            "spec": {"parentRefs": [{"name": gateway_name(name), "namespace": namespace}],
                     "rules": [{"matches": [{"path": {"type": "PathPrefix", "value": "/"}}], "backendRefs": backends}]}}


def cluster_serve_service(raw: Mapping[str, Any], rs: RayService, raw_cluster: Mapping[str, Any],
                          cluster: RayCluster) -> Obj | None:
    """The cluster's own serve Service (the table's last row), owned by the RayCluster; None when
    the cluster has no serve port (`services.NO_SERVE_PORT`)."""
    svc = serve_service_for(raw, rs, cluster, incremental=True)
    if svc is not None:
        svc["metadata"]["ownerReferences"] = [objects.owner_reference(raw_cluster)]
    return svc


def _spec(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    found: Mapping[str, Any] = obj.get("spec") or {}
    return found


def gateway_equal(existing: Mapping[str, Any], desired: Mapping[str, Any]) -> bool:
    """KubeRay `IsGatewayEqual`: the class, and each listener's name, protocol and port."""
    def listeners(obj: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        return [(li.get("name"), li.get("protocol"), li.get("port")) for li in _spec(obj).get("listeners") or []]

    return (_spec(existing).get("gatewayClassName") == _spec(desired).get("gatewayClassName")
            and listeners(existing) == listeners(desired))


def httproute_equal(existing: Mapping[str, Any], desired: Mapping[str, Any]) -> bool:
    """KubeRay `IsHTTPRouteEqual`: only what the controller sets (see the module's docstring)."""
    def parents(obj: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        return [(p.get("name"), p.get("namespace") or "") for p in _spec(obj).get("parentRefs") or []]

    def rules(obj: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        return [(r.get("matches"), r.get("filters") or [],
                 [(b.get("name"), b.get("namespace") or "", 1 if b.get("weight") is None else b["weight"], b.get("port") or 0)
                  for b in r.get("backendRefs") or []])
                for r in _spec(obj).get("rules") or []]

    return ((_spec(existing).get("hostnames") or []) == (_spec(desired).get("hostnames") or [])
            and parents(existing) == parents(desired) and rules(existing) == rules(desired))
