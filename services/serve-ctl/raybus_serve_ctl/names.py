"""The names a RayService's controller gives (KubeRay v1.7, A.4): its RayClusters, its head and serve
Services, the Gateway and HTTPRoute of an incremental upgrade, and its finalizer. Pure.

| object | name |
|---|---|
| RayCluster | `<rs>-<5 chars>` (`cluster_name`) |
| head Service | `<rs>-head-svc` |
| serve Service | `spec.serveService.metadata.name`, else `<rs>-serve-svc`; `<cluster>-serve-svc` (one per cluster) under NewClusterWithIncrementalUpgrade |
| Gateway / HTTPRoute | `<rs>-gateway` / `<rs>-httproute` |
| finalizer | `ray.io/rayservice-finalizer` |

KubeRay draws a cluster's five characters at random (`GenerateRayClusterName`) when it decides
to prepare a new cluster, and writes the name in `pendingServiceStatus.rayClusterName`; the
cluster is created from that name on a later pass. A pure reconcile cannot draw, and a decision
taken twice (a status write lost, another replica) must name the same cluster, so here the five
characters come from `objects.generated_suffix` of what the decision is taken from: the
RayService's uid, its generation, the goal spec's hash, and the active and pending names it
replaces. The names in the status make a reverted spec (same hash as a cluster still there) name
a new cluster, and the generation makes a resumed RayService (whose names were cleared) not
reuse its old cluster's name. A name equal to the active or pending one is never returned
(the inputs are salted until it differs). Once written, the status is the source of truth.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from raybus_common import objects

from .constants import FINALIZER

__all__ = ["FINALIZER", "cluster_name", "cluster_serve_service_name", "gateway_name", "head_service_name",
           "httproute_name", "serve_service_name"]


def cluster_name(rayservice: str, *, uid: str, generation: int, goal_hash: str, active: str, pending: str) -> str:
    """`<rayservice>-<5 chars>`: the same for the same inputs, never `active` nor `pending`."""
    salt = 0
    while True:
        parts: tuple[object, ...] = (uid, "raycluster", generation, goal_hash, active, pending)
        name = f"{rayservice}-{objects.generated_suffix(*parts, *((salt,) if salt else ()))}"
        if name not in (active, pending):
            return name
        salt += 1


def head_service_name(rayservice: str) -> str:
    """KubeRay `GenerateHeadServiceName(RayServiceCRD, …)`: `<rs>-head-svc`."""
    return f"{rayservice}-head-svc"


def cluster_serve_service_name(cluster: str) -> str:
    """KubeRay `GenerateServeServiceName(<cluster>)`: a cluster's own serve Service under
    NewClusterWithIncrementalUpgrade, `<cluster>-serve-svc`."""
    return f"{cluster}-serve-svc"


def serve_service_name(rayservice: str, *, serve_service: Mapping[str, Any] | None, incremental: bool,
                       cluster: str) -> str:
    """The serve Service that selects `cluster`: `<cluster>-serve-svc` under the incremental
    strategy (the user template is ignored there); else the template's `metadata.name`, else
    `<rs>-serve-svc`."""
    if incremental:
        return cluster_serve_service_name(cluster)
    custom = ((serve_service or {}).get("metadata") or {}).get("name")
    return str(custom) if custom else f"{rayservice}-serve-svc"


def gateway_name(rayservice: str) -> str:
    return f"{rayservice}-gateway"


def httproute_name(rayservice: str) -> str:
    return f"{rayservice}-httproute"
