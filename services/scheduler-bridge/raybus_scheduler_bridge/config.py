"""What raybus-scheduler-bridge's `reconcile` reads besides the view: KubeRay's gates and requeue
interval (`ControllerConfig`) and which batch scheduler to serve. Pure: built explicitly in
tests; `settings.SchedulerBridgeSettings` fills it from `RAYBUS_*` variables.
"""

from __future__ import annotations

from typing import Literal

from pydantic import model_validator

from raybus_common.controller.config import ControllerConfig

# KubeRay's --batch-scheduler values.
BatchScheduler = Literal["", "volcano", "yunikorn", "kai-scheduler", "scheduler-plugins"]


class SchedulerConfig(ControllerConfig):
    batch_scheduler: BatchScheduler = ""  # RAYBUS_BATCH_SCHEDULER, KubeRay's --batch-scheduler

    @model_validator(mode="after")
    def _scheduler_vs_gates(self) -> SchedulerConfig:
        # KubeRay (config_utils.go): with the KubernetesWAS gate on, no batch scheduler may be set.
        if self.feature_enabled("KubernetesWAS") and self.batch_scheduler:
            raise ValueError("batch_scheduler must be empty when the KubernetesWAS feature gate is on")
        return self
