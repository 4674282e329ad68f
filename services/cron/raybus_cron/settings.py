"""Settings of raybus-cron: every controller's (`ControllerSettings`: NATS, namespaces,
concurrency, gates, ...) and its reconcile's own knobs (`config.CronConfig`), from `RAYBUS_*`
environment variables."""

from __future__ import annotations

from raybus_common.settings import ControllerSettings

from .config import CronConfig


class CronSettings(ControllerSettings, CronConfig):
    service_name: str = "cron"
