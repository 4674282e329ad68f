"""The RayCronJob custom resource (`ray.io/v1`, KubeRay v1.7): a RayJob template on a cron schedule.

Models and CRD facts only; the scheduling lives in the cron service.

KubeRay's RayCronJob has `jobTemplate`, `schedule`, `timeZone` and `suspend`, and
`lastScheduleTime` as its only status. Raybus adds what Kubernetes CronJob users expect, as
optional fields whose absence means what KubeRay does: `concurrencyPolicy` (Allow, KubeRay's
overlapping runs, by default), `startingDeadlineSeconds` (none by default),
`successfulJobsHistoryLimit` / `failedJobsHistoryLimit` (unset: every RayJob is kept, as KubeRay
keeps them), and in status `active`, `lastSuccessfulTime` and a `Scheduling` condition.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from .base import Condition, CRDInfo, CRDModel, CRDObject, Int32, Int64, ObjectReference, PrinterColumn, Time
from .raycluster import GROUP, VERSION
from .rayjob import RayJobSpec

CRONJOB_NAME_LABEL = "ray.io/cronjob-name"  # on every RayJob a RayCronJob creates
SCHEDULED_TIMESTAMP_ANNOTATION = "ray.io/cronjob-scheduled-timestamp"  # its tick, UTC RFC 3339
MAX_RAYCRONJOB_NAME_LENGTH = 36  # KubeRay's MaxRayCronJobNameLength: 53 - 6 - 11


class ConcurrencyPolicy(StrEnum):
    ALLOW = "Allow"  # KubeRay's behaviour: a tick's RayJob runs beside the ones still running
    FORBID = "Forbid"  # a tick is skipped while a RayJob of this RayCronJob is still running
    REPLACE = "Replace"  # the running RayJobs are deleted, then the tick's RayJob is created


class RayCronJobSpec(CRDModel):
    job_template: RayJobSpec  # the spec of every RayJob created; there is no metadata template
    schedule: str  # 5-field cron or a descriptor (@hourly, @every 5m); no TZ= / CRON_TZ= prefix
    time_zone: str | None = Field(None, min_length=1)  # IANA name; the operator's zone when unset
    suspend: bool | None = None  # stops new RayJobs; existing ones are untouched
    # -- beyond KubeRay, as batch/v1 CronJob --------------------------------------------------
    concurrency_policy: ConcurrencyPolicy = ConcurrencyPolicy.ALLOW
    starting_deadline_seconds: Int64 | None = Field(None, ge=0)  # a tick later than this is missed
    successful_jobs_history_limit: Int32 | None = Field(None, ge=0)  # Complete RayJobs kept (unset: all)
    failed_jobs_history_limit: Int32 | None = Field(None, ge=0)  # Failed RayJobs kept (unset: all)


class RayCronJobStatus(CRDModel):
    last_schedule_time: Time | None = None  # the last tick a RayJob was created for
    # -- beyond KubeRay -------------------------------------------------------------------------
    active: list[ObjectReference] | None = Field(None, json_schema_extra={"x-kubernetes-list-type": "atomic"})
    last_successful_time: Time | None = None  # when the newest Complete RayJob ended
    conditions: list[Condition] | None = Field(
        None, json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]}
    )


class RayCronJob(CRDObject):
    info = CRDInfo(
        group=GROUP,
        version=VERSION,
        kind="RayCronJob",
        plural="raycronjobs",
        singular="raycronjob",
        printer_columns=(
            PrinterColumn("schedule", "string", ".spec.schedule"),
            PrinterColumn("timezone", "string", ".spec.timeZone"),
            PrinterColumn("last schedule", "date", ".status.lastScheduleTime"),
            PrinterColumn("age", "date", ".metadata.creationTimestamp"),
            PrinterColumn("suspend", "boolean", ".spec.suspend"),
        ),
    )
    spec: RayCronJobSpec
    status: RayCronJobStatus | None = None
