"""Settings of raybus-actuator: the common `RAYBUS_*` ones plus its own."""

from __future__ import annotations

import socket

from pydantic import Field

from raybus_common.backoff import MAX_ATTEMPTS
from raybus_common.settings import ServiceSettings


class ActuatorSettings(ServiceSettings):
    service_name: str = "actuator"

    kubeconfig: str = ""  # empty: $KUBECONFIG, ~/.kube/config, then the in-cluster service account
    field_manager: str = "raybus"  # the one server-side-apply field manager
    ack_wait: float = Field(30.0, gt=0)  # seconds an action may take before JetStream redelivers it
    max_deliver: int = Field(MAX_ATTEMPTS, ge=1, le=100)  # deliveries of one action before the DLQ
    concurrency: int = Field(16, ge=1)  # actions applied at once (qps/burst still bound API calls)
    instance: str = Field(default_factory=socket.gethostname)  # Events' reportingInstance (the pod name)
