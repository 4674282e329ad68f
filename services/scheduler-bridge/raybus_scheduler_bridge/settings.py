"""Settings of raybus-scheduler-bridge: the common `RAYBUS_*` ones plus its own."""

from __future__ import annotations

from raybus_common.settings import ServiceSettings


class SchedulerBridgeSettings(ServiceSettings):
    service_name: str = "scheduler-bridge"
