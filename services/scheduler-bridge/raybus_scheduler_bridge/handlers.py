"""Bus glue of raybus-scheduler-bridge: the controller's declaration (what it watches) and its start.

Everything it does is the pure `reconcile` in reconcile.py; the shared runtime
(`raybus_common.controller.runtime`) rebuilds the view from the bus, owns a share of the
RayClusters through partition leases, and publishes the actions.
"""

from __future__ import annotations

from raybus_common.controller.runtime import Controller, ControllerSpec, Watch, serve
from raybus_common.controller.view import owned_by
from raybus_common.runner import Service

from .config import SchedulerConfig
from .reconcile import reconcile
from .settings import SchedulerBridgeSettings

ROOT = "raycluster"
SPEC = ControllerSpec[SchedulerConfig](
    name="scheduler-bridge",
    root=ROOT,
    reconcile=reconcile,
    watches=(
        Watch("podgroup", owned_by(ROOT, "RayCluster")),
        Watch("schedulingpodgroup", owned_by(ROOT, "RayCluster")),
        Watch("workload", owned_by(ROOT, "RayCluster")),
    ),
)


async def start(svc: Service, settings: SchedulerBridgeSettings) -> Controller[SchedulerConfig]:
    return serve(svc, SPEC, settings, settings)
