"""What raybus-cron's `reconcile` reads besides the view: KubeRay's gates and requeue interval
(`ControllerConfig`) and its own knobs. Pure: built explicitly in tests;
`settings.CronSettings` fills it from `RAYBUS_*` variables.
"""

from __future__ import annotations

from raybus_common.controller.config import ControllerConfig


class CronConfig(ControllerConfig):
    pass  # no knobs of its own yet: KubeRay's RayCronJob has none either
