"""Settings of raybus-cluster-ctl: the common `RAYBUS_*` ones plus its own."""

from __future__ import annotations

from raybus_common.settings import ServiceSettings


class ClusterCtlSettings(ServiceSettings):
    service_name: str = "cluster-ctl"
