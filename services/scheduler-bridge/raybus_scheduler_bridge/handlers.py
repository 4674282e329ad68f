"""raybus-scheduler-bridge's declaration: its root kind (RayCluster), its reconcile, and what
wakes a cluster (the Volcano and scheduler-plugins PodGroups and Kueue Workloads it owns). The
shared runtime does the rest (`controller.runtime.starter`)."""

from __future__ import annotations

from raybus_common.controller.runtime import ControllerSpec, Watch, starter
from raybus_common.controller.view import owned_by

from .config import SchedulerConfig
from .reconcile import reconcile

ROOT = "raycluster"
GROUPS = ("podgroup", "schedulingpodgroup", "workload")
SPEC = ControllerSpec[SchedulerConfig]("scheduler-bridge", ROOT, reconcile,
                                       watches=tuple(Watch(kind, owned_by(ROOT, "RayCluster")) for kind in GROUPS))
start = starter(SPEC)
