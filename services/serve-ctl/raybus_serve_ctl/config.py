"""What raybus-serve-ctl's `reconcile` reads besides the view: KubeRay's gates and requeue interval
(`ControllerConfig`) and its own knobs. Pure: built explicitly in tests;
`settings.ServeCtlSettings` fills it from `RAYBUS_*` variables.
"""

from __future__ import annotations

from raybus_common.controller.config import ControllerConfig


class ServeConfig(ControllerConfig):
    # KubeRay: ENABLE_ZERO_DOWNTIME (the spec's upgradeStrategy takes precedence)
    enable_zero_downtime: bool = True
