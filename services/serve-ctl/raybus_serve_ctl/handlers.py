"""Bus glue of raybus-serve-ctl: the controller's declaration (what it watches) and its start.

Everything it does is the pure `reconcile` in reconcile.py; the shared runtime
(`raybus_common.controller.runtime`) rebuilds the view from the bus, owns a share of the
RayServices through partition leases, and publishes the actions.
"""

from __future__ import annotations

from raybus_common.controller.runtime import Controller, ControllerSpec, Watch, serve
from raybus_common.controller.view import owned_by
from raybus_common.runner import Service

from .config import ServeConfig
from .reconcile import reconcile
from .settings import ServeCtlSettings

ROOT = "rayservice"
SPEC = ControllerSpec[ServeConfig](
    name="serve-ctl",
    root=ROOT,
    reconcile=reconcile,
    watches=(
        Watch("raycluster", owned_by(ROOT, "RayService")),
        Watch("service", owned_by(ROOT, "RayService")),
    ),
)


async def start(svc: Service, settings: ServeCtlSettings) -> Controller[ServeConfig]:
    return serve(svc, SPEC, settings, settings)
