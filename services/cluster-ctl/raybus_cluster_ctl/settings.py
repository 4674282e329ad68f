"""Settings of raybus-cluster-ctl: every controller's (`ControllerSettings`: NATS, namespaces,
concurrency, gates, ...) and its reconcile's own knobs (`config.ClusterConfig`), from `RAYBUS_*`
environment variables."""

from __future__ import annotations

from raybus_common.settings import ControllerSettings

from .config import ClusterConfig


class ClusterCtlSettings(ControllerSettings, ClusterConfig):
    service_name: str = "cluster-ctl"
