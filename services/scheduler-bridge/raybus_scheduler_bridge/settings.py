"""Settings of raybus-scheduler-bridge: every controller's (`ControllerSettings`: NATS, namespaces,
concurrency, gates, ...) and its reconcile's own knobs (`config.SchedulerConfig`), from `RAYBUS_*`
environment variables."""

from __future__ import annotations

from raybus_common.settings import ControllerSettings

from .config import SchedulerConfig


class SchedulerBridgeSettings(ControllerSettings, SchedulerConfig):
    service_name: str = "scheduler-bridge"
