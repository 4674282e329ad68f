"""Which RayClusters the serve poller polls, where each one's dashboard and Serve proxy are, and
when each is due. Pure: no I/O, no clock and no randomness (times and the jitter are passed in).

A RayCluster is a *serve target* while, as last observed,

- it was made by a RayService (label `ray.io/originated-from-crd=RayService`), and
- its head is ready: condition `HeadPodReady` True (KubeRay's `reconcileServe` waits for it,
  with its default gate `RayClusterStatusConditions`), with `status.head.podIP` set.

Its dashboard is `ray.serve.serve_dashboard(cluster)` (how it is reached is the poller's
setting), its Serve proxy `http://<status.head.podIP>:<head port named serve, 8000>`, always
by the pod's IP as KubeRay's proxy check does. A target is read from the RayCluster each time it
is observed; when each is due is `raypoll_plan.Schedule`'s (the same rules as the Ray job
poller's: a new or changed target at once, then every interval with jitter, one poll in flight;
a cluster no longer a target is dropped, its last observation left on the bus).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from raybus_common.ray.jobs import Dashboard
from raybus_common.ray.serve import ORIGIN_LABELS, serve_dashboard, serve_port

from .plan import NameKey
from .raypoll_plan import Schedule, Target

Obj = Mapping[str, Any]
ORIGINATED_FROM_CRD = ORIGIN_LABELS[1]  # ray.io/originated-from-crd
RAYSERVICE = "RayService"
HEAD_POD_READY = "HeadPodReady"


@dataclass(frozen=True)
class ServeTarget(Target):
    """One RayCluster to poll: its Serve applications on `dashboard`, its proxy at
    `proxy_url`. Equal targets poll the same thing (what the plan keeps of the RayCluster,
    `kept`, rides along uncompared)."""

    dashboard: Dashboard
    head_pod: str
    serve_port: int
    cluster: Obj = field(compare=False, repr=False)

    @property
    def proxy_url(self) -> str:
        ip = self.dashboard.head_pod_ip
        return f"http://{f'[{ip}]' if ':' in ip else ip}:{self.serve_port}"


def head_ready(cluster: Obj) -> bool:
    """The RayCluster's condition `HeadPodReady` is True."""
    return any(isinstance(c, Mapping) and c.get("type") == HEAD_POD_READY and c.get("status") == "True"
               for c in (cluster.get("status") or {}).get("conditions") or [])


def serve_target(cluster: Obj) -> ServeTarget | None:
    """What polling `cluster`'s Serve means now; None when it is not to be polled (see the
    module's rules)."""
    meta = cluster.get("metadata") or {}
    if (meta.get("labels") or {}).get(ORIGINATED_FROM_CRD) != RAYSERVICE or not head_ready(cluster):
        return None
    dashboard = serve_dashboard(cluster)
    if not dashboard.head_pod_ip:
        return None
    head = (cluster.get("status") or {}).get("head") or {}
    return ServeTarget(namespace=dashboard.namespace, name=dashboard.cluster, uid=str(meta.get("uid") or ""),
                       dashboard=dashboard, head_pod=str(head.get("podName") or ""), serve_port=serve_port(cluster),
                       cluster=kept(cluster))


def kept(cluster: Obj) -> dict[str, Any]:
    """What a target keeps of its RayCluster: what its `RayServeApplications` is named, labelled
    and owned after (`ray.serve.apps_object`), so thousands of clusters cost little memory."""
    meta = cluster.get("metadata") or {}
    return {"apiVersion": cluster.get("apiVersion", "ray.io/v1"), "kind": cluster.get("kind", "RayCluster"),
            "metadata": {k: meta[k] for k in ("name", "namespace", "uid", "labels", "ownerReferences") if k in meta}}


class ServePlan(Schedule[ServeTarget]):
    """The serve targets the RayClusters as last observed make, and when each is due."""

    def cluster(self, obj: Obj, now: float) -> None:
        meta = obj.get("metadata") or {}
        self.put((str(meta.get("namespace") or ""), str(meta.get("name") or "")), serve_target(obj), now)

    def cluster_gone(self, key: NameKey) -> None:
        self.drop(key)
