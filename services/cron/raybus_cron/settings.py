"""Settings of raybus-cron: the common `RAYBUS_*` ones plus its own."""

from __future__ import annotations

from raybus_common.settings import ServiceSettings


class CronSettings(ServiceSettings):
    service_name: str = "cron"
