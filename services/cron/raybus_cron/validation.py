"""Validation of a RayCronJob, as KubeRay v1.7's `ValidateRayCronJobSpec` does it, in its order
(the first failure wins) and with its words, each message naming the field first:

1. the name: at most 36 characters, so `<name>-<unix minutes>` is a valid RayJob name;
2. the schedule: no `TZ` in it (`TZ=` / `CRON_TZ=` prefixes: the zone is `timeZone`'s), then
   robfig/cron's syntax (`schedule.parse`; Raybus also refuses a schedule that never fires);
3. `timeZone`, when set: not empty, and a zone this machine's tz database knows;
4. the `jobTemplate`: KubeRay's `ValidateRayJobSpec` (`rayjob_validation.validate_spec`).

Before these, `parse`: a RayCronJob the model refuses (a missing schedule, a field of the wrong
type) names every refused field. An invalid RayCronJob gets a Warning Event
`InvalidRayCronJobSpec` (`<ns>/<name>: <message>`, as KubeRay words it) and, beyond KubeRay, the
condition `Scheduling=False` with that reason and message; it schedules nothing until it changes.
Pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import ValidationError

from raybus_common.crds.raycronjob import MAX_RAYCRONJOB_NAME_LENGTH, RayCronJob
from raybus_common.crds.rayjob import RayJob
from raybus_common.crds.rayjob_validation import refused, validate_spec

from .schedule import InvalidSchedule, parse

REASON = "InvalidRayCronJobSpec"
_TEMPLATE = "spec.jobTemplate"


@dataclass(frozen=True)
class Invalid:
    message: str  # `field: text`
    reason: str = REASON


def check(raw: Mapping[str, Any], *, gates: Mapping[str, bool]) -> tuple[RayCronJob | None, Invalid | None]:
    """The typed RayCronJob, or the first reason it is invalid (see the module). Never raises."""
    try:
        cron = RayCronJob.model_validate(dict(raw))
    except ValidationError as e:
        return None, Invalid(refused(e))
    return cron, _rules(raw, cron, gates)


def _rules(raw: Mapping[str, Any], cron: RayCronJob, gates: Mapping[str, bool]) -> Invalid | None:
    if len(cron.name) > MAX_RAYCRONJOB_NAME_LENGTH:
        return Invalid(f"metadata.name: RayCronJob name should be no more than {MAX_RAYCRONJOB_NAME_LENGTH} "
                       "characters")
    spec = cron.spec
    if "TZ" in spec.schedule:
        return Invalid("spec.schedule: cannot use TZ or CRON_TZ in schedule, use timeZone field instead")
    try:
        parse(spec.schedule)
    except InvalidSchedule as e:
        return Invalid(f"spec.schedule: invalid cron schedule: {e}")
    if spec.time_zone is not None:
        try:
            ZoneInfo(spec.time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            return Invalid(f"spec.timeZone: invalid time zone: unknown time zone {spec.time_zone}")
    template = (raw.get("spec") or {}).get("jobTemplate") or {}
    job = RayJob.model_validate({"apiVersion": "ray.io/v1", "kind": "RayJob", "metadata": {"name": cron.name},
                                 "spec": template})
    invalid = validate_spec({"spec": template}, job, gates=gates)
    if invalid is not None:
        return Invalid(_in_template(invalid.message))
    return None


def _in_template(message: str) -> str:
    """A RayJob's `spec.x: text` problems as the template's: `spec.jobTemplate.x: invalid RayJob
    template: text` (KubeRay's `invalid RayJob template: %w`)."""
    parts = []
    for part in message.split("; "):
        field, sep, text = part.partition(": ")
        if sep and field.startswith("spec"):
            parts.append(f"{_TEMPLATE}{field[len('spec'):]}: invalid RayJob template: {text}")
        else:
            parts.append(f"{_TEMPLATE}: invalid RayJob template: {part}")
    return "; ".join(parts)
