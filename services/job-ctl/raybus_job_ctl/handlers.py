"""raybus-job-ctl's declaration: its root kind, its reconcile, and what wakes a RayJob (the
RayCluster, submitter Job and Services it owns). The shared runtime does the rest
(`controller.runtime.starter`)."""

from __future__ import annotations

from raybus_common.controller.runtime import ControllerSpec, Watch, starter
from raybus_common.controller.view import owned_by

from .config import JobConfig
from .reconcile import reconcile

ROOT = "rayjob"
SPEC = ControllerSpec[JobConfig]("job-ctl", ROOT, reconcile, watches=(
    Watch("raycluster", owned_by(ROOT, "RayJob")),
    Watch("job", owned_by(ROOT, "RayJob")),
    Watch("service", owned_by(ROOT, "RayJob")),
))
start = starter(SPEC)
