"""Settings of raybus-serve-ctl: the common `RAYBUS_*` ones plus its own."""

from __future__ import annotations

from raybus_common.settings import ServiceSettings


class ServeCtlSettings(ServiceSettings):
    service_name: str = "serve-ctl"

    # KubeRay: ENABLE_ZERO_DOWNTIME (the spec's upgradeStrategy takes precedence)
    enable_zero_downtime: bool = True
