"""What raybus-scheduler-bridge's `reconcile` reads besides the view: KubeRay's gates, requeue
interval and batch scheduler (`ControllerConfig.batch_scheduler`, `RAYBUS_BATCH_SCHEDULER`, shared
with cluster-ctl and job-ctl, which stamp the pods). Pure: built explicitly in tests;
`settings.SchedulerBridgeSettings` fills it from `RAYBUS_*` variables.
"""

from __future__ import annotations

from raybus_common.controller.config import ControllerConfig


class SchedulerConfig(ControllerConfig):
    pass
