"""How a service reaches NATS and how the streams are kept: the bus's own part of every service's
settings (`settings.ServiceSettings` inherits `NatsConfig`). Pure: plain pydantic models, so the
bus never imports the settings module (which also knows controllers).
"""

from __future__ import annotations

from pydantic import BaseModel, Field


class NatsConfig(BaseModel, frozen=True):
    service_name: str = "raybus"  # the NATS connection's name (as `nats server report connections` shows)
    nats_url: str = "nats://127.0.0.1:4222"  # comma-separated for several servers
    nats_user: str = ""
    nats_password: str = ""
    nats_token: str = ""
    nats_creds_file: str = ""
    nats_tls_ca: str = ""  # PEM file of the CA that signed the servers' certificates (enables TLS)
    nats_tls_cert: str = ""  # PEM client certificate, for servers that verify clients (with nats_tls_key)
    nats_tls_key: str = ""
    nats_connect_attempts: int = Field(10, ge=1)  # first connect only; reconnects are unbounded
    nats_connect_timeout: float = Field(2.0, gt=0)
    stream_replicas: int = Field(1, ge=1, le=5)  # JetStream replicas of every stream and KV bucket
    res_max_age: float = Field(24 * 3600.0, gt=0)  # seconds RAYBUS_RES keeps action outcomes
    dlq_max_age: float = Field(7 * 24 * 3600.0, gt=0)
    shadow_max_age: float = Field(3600.0, gt=0)
