"""Settings of raybus-serve-ctl: every controller's (`ControllerSettings`: NATS, namespaces,
concurrency, gates, ...) and its reconcile's own knobs (`config.ServeConfig`), from `RAYBUS_*`
environment variables."""

from __future__ import annotations

from raybus_common.settings import ControllerSettings

from .config import ServeConfig


class ServeCtlSettings(ControllerSettings, ServeConfig):
    service_name: str = "serve-ctl"
