"""Settings of raybus-actuator: the common `RAYBUS_*` ones, the Kubernetes client's (kubeconfig,
QPS, burst), and its own."""

from __future__ import annotations

import socket

from pydantic import Field

from raybus_common.backoff import MAX_ATTEMPTS
from raybus_common.settings import KubeClientSettings, ServiceSettings


class ActuatorSettings(ServiceSettings, KubeClientSettings):
    service_name: str = "actuator"

    field_manager: str = "raybus"  # the one server-side-apply field manager
    ack_wait: float = Field(30.0, gt=0)  # seconds an action may take before JetStream redelivers it
    max_deliver: int = Field(MAX_ATTEMPTS, ge=1, le=100)  # deliveries of one action before the DLQ
    concurrency: int = Field(16, ge=1)  # actions applied at once (qps/burst still bound API calls)
    instance: str = Field(default_factory=socket.gethostname)  # Events' reportingInstance (the pod name)
