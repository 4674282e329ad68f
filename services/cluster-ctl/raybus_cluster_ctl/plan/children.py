"""Step 4 of a pass: the RayCluster's non-pod children, in KubeRay's creation order — autoscaler
ServiceAccount/Role/RoleBinding, Ingress, head Service, headless worker Service, serve Service —
each created when missing (server-side apply of the whole object, owned by the cluster) with
KubeRay's Events (none for the serve Service, as in KubeRay). Only the Ingress is also kept in
line (KubeRay updates it when its labels, annotations or spec drift); the rest is created once,
as in KubeRay. Pure.

Not here: the auth Secret (it needs a random token; see docs/architecture.md) and the Redis
cleanup Job (deletion only, `deletion`).
"""

from __future__ import annotations

from typing import Any

from raybus_common import objects
from raybus_common.crds.raycluster import RayCluster

from ..children.ingress import ingress
from ..children.rbac import autoscaler_rbac
from ..children.services import head_service, headless_worker_service, serve_service
from .collector import Obj, Pass

# KubeRay's Event reason and the noun of its texts ("Created service account ns/name",
# "Failed creating service account ns/name, <error>"), per kind.
CHILD_EVENTS = {
    "ServiceAccount": ("CreatedServiceAccount", "service account"), "Role": ("CreatedRole", "role"),
    "RoleBinding": ("CreatedRoleBinding", "role binding"), "Ingress": ("CreatedIngress", "ingress"),
    "Service": ("CreatedService", "service"),
}


def children(cluster: RayCluster, *, cluster_ip_service: bool = False) -> list[Obj]:
    """Every non-pod child the pass keeps, in KubeRay's creation order."""
    out = autoscaler_rbac(cluster)
    optional = (ingress(cluster), head_service(cluster, cluster_ip_service=cluster_ip_service),
                headless_worker_service(cluster), serve_service(cluster))
    out.extend(o for o in optional if o is not None)
    return out


def reconcile_children(p: Pass) -> None:
    """Create what is missing; bring a drifted Ingress back in line."""
    built = children(p.cluster, cluster_ip_service=p.settings.enable_ray_head_cluster_ip_service)
    serve = serve_service(p.cluster)
    for child in built:
        kind, where = child["kind"], f"{p.cluster.namespace}/{objects.name(child)}"
        current = next((o for o in p.observed.of(kind.lower()) if objects.name(o) == objects.name(child)), None)
        if current is None:
            if serve is not None and objects.name(child) == objects.name(serve) and kind == "Service":
                p.create(child)
            else:
                reason, noun = CHILD_EVENTS[kind]
                p.create(child, reason, f"Created {noun} {where}", f"Failed creating {noun} {where}")
        elif kind == "Ingress" and drifted(current, child):
            p.create(child, "UpdatedIngress", f"Updated ingress {where}", f"Failed updating ingress {where}",
                     verb="Update")


def drifted(current: Obj, desired: Obj) -> bool:
    """Something we set (labels, annotations, spec) is no longer as we set it. Fields the API
    server or others added do not count, so a defaulted field cannot make this loop."""
    return not (_subset(objects.labels(desired), objects.labels(current))
                and _subset(objects.annotations(desired), objects.annotations(current))
                and _subset(desired.get("spec"), current.get("spec")))


def _subset(want: Any, have: Any) -> bool:
    if want is None:
        return True
    if isinstance(want, dict):
        return isinstance(have, dict) and all(_subset(v, have.get(k)) for k, v in want.items())
    if isinstance(want, list):
        return isinstance(have, list) and len(want) == len(have) and all(map(_subset, want, have))
    return bool(want == have)
