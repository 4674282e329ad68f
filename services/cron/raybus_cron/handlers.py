"""raybus-cron's declaration: its root kind, its reconcile, and what wakes a RayCronJob (the
RayJobs its ticks made). The shared runtime does the rest (`controller.runtime.starter`)."""

from __future__ import annotations

from raybus_common.controller.runtime import ControllerSpec, Watch, starter
from raybus_common.controller.view import owned_by

from .config import CronConfig
from .reconcile import reconcile

ROOT = "raycronjob"
SPEC = ControllerSpec[CronConfig]("cron", ROOT, reconcile, watches=(Watch("rayjob", owned_by(ROOT, "RayCronJob")),))
start = starter(SPEC)
