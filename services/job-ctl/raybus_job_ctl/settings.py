"""Settings of raybus-job-ctl: every controller's (`ControllerSettings`: NATS, namespaces,
concurrency, gates, ...) and its reconcile's own knobs (`config.JobConfig`), from `RAYBUS_*`
environment variables."""

from __future__ import annotations

from raybus_common.settings import ControllerSettings

from .config import JobConfig


class JobCtlSettings(ControllerSettings, JobConfig):
    service_name: str = "job-ctl"
