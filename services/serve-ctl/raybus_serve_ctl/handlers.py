"""raybus-serve-ctl's declaration: its root kind, its reconcile, and what wakes a RayService (its
RayClusters and the Services it switches between them). The shared runtime does the rest
(`controller.runtime.starter`)."""

from __future__ import annotations

from raybus_common.controller.runtime import ControllerSpec, Watch, starter
from raybus_common.controller.view import owned_by

from .config import ServeConfig
from .reconcile import reconcile

ROOT = "rayservice"
SPEC = ControllerSpec[ServeConfig]("serve-ctl", ROOT, reconcile, watches=(
    Watch("raycluster", owned_by(ROOT, "RayService")),
    Watch("service", owned_by(ROOT, "RayService")),
))
start = starter(SPEC)
