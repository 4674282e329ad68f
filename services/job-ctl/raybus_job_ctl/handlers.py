"""Bus glue of raybus-job-ctl: the controller's declaration (what it watches) and its start.

Everything it does is the pure `reconcile` in reconcile.py; the shared runtime
(`raybus_common.controller.runtime`) rebuilds the view from the bus, owns a share of the
RayJobs through partition leases, and publishes the actions.
"""

from __future__ import annotations

from raybus_common.controller.runtime import Controller, ControllerSpec, Watch, serve
from raybus_common.controller.view import owned_by
from raybus_common.runner import Service

from .config import JobConfig
from .reconcile import reconcile
from .settings import JobCtlSettings

ROOT = "rayjob"
SPEC = ControllerSpec[JobConfig](
    name="job-ctl",
    root=ROOT,
    reconcile=reconcile,
    watches=(
        Watch("raycluster", owned_by(ROOT, "RayJob")),
        Watch("job", owned_by(ROOT, "RayJob")),
        Watch("service", owned_by(ROOT, "RayJob")),
    ),
)


async def start(svc: Service, settings: JobCtlSettings) -> Controller[JobConfig]:
    return serve(svc, SPEC, settings, settings)
