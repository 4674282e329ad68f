"""The RayCronJob custom resource (`ray.io/v1`, KubeRay v1.7): a RayJob template on a cron schedule.

Models and CRD facts only. KubeRay's RayCronJob has no concurrency policy, no history limits and no
starting deadline: every tick creates one RayJob named after the tick, and `lastScheduleTime` is the
only status. The scheduling itself lives in the RayCronJob controller.
"""

from __future__ import annotations

from pydantic import Field

from .base import CRDInfo, CRDModel, CRDObject, PrinterColumn, Time
from .raycluster import GROUP, VERSION
from .rayjob import RayJobSpec


class RayCronJobSpec(CRDModel):
    job_template: RayJobSpec  # the spec of every RayJob created; there is no metadata template
    schedule: str  # 5-field cron or a descriptor (@hourly, @every 5m); no TZ= / CRON_TZ= prefix
    time_zone: str | None = Field(None, min_length=1)  # IANA name; the operator's zone when unset
    suspend: bool | None = None  # stops new RayJobs; existing ones are untouched


class RayCronJobStatus(CRDModel):
    last_schedule_time: Time | None = None  # the last tick a RayJob was created for


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
