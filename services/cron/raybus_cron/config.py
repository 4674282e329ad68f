"""What raybus-cron's `reconcile` reads besides the view: KubeRay's gates and requeue interval
(`ControllerConfig`) and its own knob, the time zone of a schedule without `spec.timeZone`.
Pure: built explicitly in tests; `settings.CronSettings` fills it from `RAYBUS_*` variables.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import field_validator

from raybus_common.controller.config import ControllerConfig


class CronConfig(ControllerConfig):
    # RAYBUS_TIME_ZONE: the IANA zone of a schedule whose RayCronJob names none. KubeRay uses its
    # process's local zone, which in its image is UTC.
    time_zone: str = "UTC"

    @field_validator("time_zone")
    @classmethod
    def _known(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as e:
            raise ValueError(f"unknown time zone {value!r}: {e}") from None
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)
