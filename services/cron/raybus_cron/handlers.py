"""Bus glue of raybus-cron: the controller's declaration (what it watches) and its start.

Everything it does is the pure `reconcile` in reconcile.py; the shared runtime
(`raybus_common.controller.runtime`) rebuilds the view from the bus, owns a share of the
RayCronJobs through partition leases, and publishes the actions.
"""

from __future__ import annotations

from raybus_common.controller.runtime import Controller, ControllerSpec, Watch, serve
from raybus_common.controller.view import owned_by
from raybus_common.runner import Service

from .config import CronConfig
from .reconcile import reconcile
from .settings import CronSettings

ROOT = "raycronjob"
SPEC = ControllerSpec[CronConfig](
    name="cron",
    root=ROOT,
    reconcile=reconcile,
    watches=(
        Watch("rayjob", owned_by(ROOT, "RayCronJob")),
    ),
)


async def start(svc: Service, settings: CronSettings) -> Controller[CronConfig]:
    return serve(svc, SPEC, settings, settings)
