"""Settings of raybus-actuator: the common `RAYBUS_*` ones, the Kubernetes client's (kubeconfig,
QPS, burst), and its own, among them how it reaches Ray's dashboards for the Ray calls
(`ray_calls.py`):

    RAYBUS_RAY_DASHBOARD_ACCESS=service   # or pod: how dashboards are reached (ray.address)
    RAYBUS_RAY_TIMEOUT_SECONDS=2          # one request to a dashboard (KubeRay's 2 s)
    RAYBUS_RAY_CONCURRENCY=8              # Ray calls under way at once; always below RAYBUS_CONCURRENCY
"""

from __future__ import annotations

import socket

from pydantic import Field

from raybus_common.backoff import MAX_ATTEMPTS
from raybus_common.ray.address import DEFAULT_ACCESS, DIRECT_TIMEOUT, Access
from raybus_common.settings import KubeClientSettings, ServiceSettings


class ActuatorSettings(ServiceSettings, KubeClientSettings):
    service_name: str = "actuator"

    field_manager: str = "raybus"  # the one server-side-apply field manager
    ack_wait: float = Field(30.0, gt=0)  # seconds an action may take before JetStream redelivers it
    max_deliver: int = Field(MAX_ATTEMPTS, ge=1, le=100)  # deliveries of one action before the DLQ
    concurrency: int = Field(16, ge=1)  # actions applied at once (qps/burst still bound API calls)
    instance: str = Field(default_factory=socket.gethostname)  # Events' reportingInstance (the pod name)
    ray_dashboard_access: Access = DEFAULT_ACCESS
    ray_timeout_seconds: float = Field(DIRECT_TIMEOUT, gt=0)
    ray_concurrency: int = Field(8, ge=1)  # Ray calls at once (`ray_slots`: fewer than `concurrency`)

    @property
    def ray_slots(self) -> int:
        """Ray calls under way at once: `ray_concurrency`, but always leaving an action slot for
        Kubernetes writes (a single-slot actuator shares its one slot)."""
        return max(1, min(self.ray_concurrency, self.concurrency - 1))
