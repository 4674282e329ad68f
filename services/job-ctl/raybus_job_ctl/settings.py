"""Settings of raybus-job-ctl: the common `RAYBUS_*` ones plus its own."""

from __future__ import annotations

from pydantic import Field

from raybus_common.settings import ServiceSettings


class JobCtlSettings(ServiceSettings):
    service_name: str = "job-ctl"

    # KubeRay: RAYJOB_STATUS_CHECK_TIMEOUT_SECONDS, DELETE_RAYJOB_CR_AFTER_JOB_FINISHES
    status_check_timeout_seconds: float = Field(300.0, gt=0)
    delete_rayjob_after_job_finishes: bool = False
