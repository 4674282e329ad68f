"""Settings of raybus-watcher: the common `RAYBUS_*` ones plus its own."""

from __future__ import annotations

from pydantic import Field

from raybus_common.settings import ServiceSettings


class WatcherSettings(ServiceSettings):
    service_name: str = "watcher"

    kubeconfig: str = ""  # empty: $KUBECONFIG, ~/.kube/config, then the in-cluster service account
    watch_timeout_seconds: int = Field(300, ge=10)  # server-side timeout of one watch request
