"""Bus glue of raybus-cluster-ctl: the controller's declaration (what it watches) and its start.

Everything it does is the pure `reconcile` in reconcile.py; the shared runtime
(`raybus_common.controller.runtime`) rebuilds the view from the bus, owns a share of the
RayClusters through partition leases, and publishes the actions.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import REGISTRY

from raybus_common.controller.runtime import Controller, ControllerSpec, Watch, serve
from raybus_common.controller.view import either, labelled, owned_by
from raybus_common.runner import Service

from .config import ClusterConfig
from .metrics import ViewCollector
from .reconcile import reconcile
from .settings import ClusterCtlSettings

ROOT = "raycluster"
SPEC = ControllerSpec[ClusterConfig](
    name="cluster-ctl",
    root=ROOT,
    reconcile=reconcile,
    watches=(
        Watch("pod", either(owned_by(ROOT, "RayCluster"), labelled(ROOT, "ray.io/cluster"))),
        Watch("service", owned_by(ROOT, "RayCluster")),
        Watch("job", owned_by(ROOT, "RayCluster")),
        Watch("ingress", owned_by(ROOT, "RayCluster")),
        Watch("serviceaccount", owned_by(ROOT, "RayCluster")),
        Watch("role", owned_by(ROOT, "RayCluster")),
        Watch("rolebinding", owned_by(ROOT, "RayCluster")),
        Watch("secret", owned_by(ROOT, "RayCluster")),
        Watch("persistentvolumeclaim", owned_by(ROOT, "RayCluster")),
        Watch("networkpolicy", owned_by(ROOT, "RayCluster")),
    ),
)


async def start(svc: Service, settings: ClusterCtlSettings) -> Controller[ClusterConfig]:
    ctl = serve(svc, SPEC, settings, settings)

    def mine() -> list[dict[str, Any]]:
        found = (ctl.view.get(ROOT, k.namespace, k.name) for k in ctl.view.roots() if ctl.owns(k))
        return [c for c in found if c is not None]

    collector = ViewCollector(mine)
    REGISTRY.register(collector)
    svc.after_drain(lambda: _unregister(collector))
    return ctl


async def _unregister(collector: ViewCollector) -> None:
    REGISTRY.unregister(collector)
