"""What raybus-job-ctl's `reconcile` reads besides the view: KubeRay's gates and requeue interval
(`ControllerConfig`: `RayJobDeletionPolicy`, `SidecarSubmitterRestart`) and the operator-level
switches KubeRay's RayJob controller reads from its own environment. Each field names the
KubeRay variable it stands for; `settings.JobCtlSettings` fills them from `RAYBUS_<FIELD>`.

Pure: tests build it explicitly (`JobConfig(status_check_timeout_seconds=10)`).
"""

from __future__ import annotations

from pydantic import Field

from raybus_common.controller.config import ControllerConfig


class JobConfig(ControllerConfig):
    # RAYJOB_STATUS_CHECK_TIMEOUT_SECONDS: how long the Ray job's status may go unreadable (or its
    # HTTPMode submission keep failing) before the RayJob fails with JobStatusCheckTimeoutExceeded.
    status_check_timeout_seconds: float = Field(300.0, gt=0)
    # RAYJOB_DEPLOYMENT_STATUS_TRANSITION_GRACE_PERIOD_SECONDS: how long after the Ray job ended
    # (its end time) the RayJob may stay Running before it is made Complete/Failed regardless.
    transition_grace_period_seconds: int = Field(300, ge=0)
    # DELETE_RAYJOB_CR_AFTER_JOB_FINISHES: shutdownAfterJobFinishes deletes the RayJob itself
    # (its children follow by owner reference) instead of only its RayCluster.
    delete_rayjob_after_job_finishes: bool = False
    # ENABLE_LOGIN_SHELL: the submitter runs `/bin/bash -cel --` instead of `-ce --`.
    enable_login_shell: bool = False
    # CLUSTER_DOMAIN: the DNS suffix of `status.dashboardURL` (`<head svc>.<ns>.svc.<domain>:<port>`).
    cluster_domain: str = "cluster.local"
