"""What raybus-job-ctl's `reconcile` reads besides the view: KubeRay's gates and requeue interval
(`ControllerConfig`) and its own knobs. Pure: built explicitly in tests;
`settings.JobCtlSettings` fills it from `RAYBUS_*` variables.
"""

from __future__ import annotations

from pydantic import Field

from raybus_common.controller.config import ControllerConfig


class JobConfig(ControllerConfig):
    # KubeRay: RAYJOB_STATUS_CHECK_TIMEOUT_SECONDS, DELETE_RAYJOB_CR_AFTER_JOB_FINISHES
    status_check_timeout_seconds: float = Field(300.0, gt=0)
    delete_rayjob_after_job_finishes: bool = False
