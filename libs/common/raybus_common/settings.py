"""What the services read from `RAYBUS_*` environment variables, by role.

| class                | who                                   | what                                       |
|----------------------|---------------------------------------|--------------------------------------------|
| `ServiceSettings`    | every service                         | NATS and streams (`bus.config.NatsConfig`), logs, tracing, HTTP, shutdown |
| `KubeClientSettings` | the watcher and the actuator (mixin)  | kubeconfig, client QPS and burst           |
| `scope.WatchScope`   | the watcher (mixin)                   | the namespaces to watch                    |
| `ControllerSettings` | every controller                      | `RuntimeConfig` (namespaces, concurrency, dry run, lease TTL) and `ControllerConfig` (gates, requeue) |

Each service subclasses one of these with its own knobs (`<service>/settings.py`). Defaults
follow KubeRay's operator flags where it has one (`--qps 100`, `--burst 200`,
`--reconcile-concurrency 1`, `--watch-namespace ""` = all, metrics on `:8080`). Lists use
KubeRay's own spelling, not JSON: `RAYBUS_WATCH_NAMESPACES=team-a,team-b`.

Only `BaseSettings` subclasses read the environment, when a service's `main` builds them. The
parts the runtime and decision code read are plain models (`controller.config`, `scope`),
passed in as arguments, so neither ever builds settings itself.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from .bus.config import NatsConfig
from .controller.config import ControllerConfig, RuntimeConfig


class ServiceSettings(BaseSettings, NatsConfig):
    # Values come as the strings they are: each list or map field parses its own spelling
    # (`a,b` lists, `Name=true` gates, JSON where a knob takes structured data).
    model_config = SettingsConfigDict(env_prefix="RAYBUS_", extra="ignore", frozen=True, enable_decoding=False)

    # Observability and the process
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["json", "console"] = "json"
    http_host: str = "0.0.0.0"
    http_port: int = Field(8080, ge=0, le=65535)  # health + metrics; 0 = any free port
    otlp_endpoint: str = ""  # e.g. http://otel-collector:4318/v1/traces; empty = no export
    shutdown_grace: float = Field(20.0, ge=0)  # seconds for in-flight work after SIGTERM
    event_loop: Literal["uvloop", "asyncio"] = "uvloop"  # asyncio: the standard library's loop, for debugging


class KubeClientSettings(BaseModel, frozen=True):
    """The services that talk to the Kubernetes API: the watcher (reads) and the actuator (writes)."""

    kubeconfig: str = ""  # empty: $KUBECONFIG, ~/.kube/config, then the in-cluster service account
    qps: float = Field(100.0, gt=0)  # client-side rate limit, KubeRay's --qps
    burst: int = Field(200, ge=1)  # KubeRay's --burst


class ControllerSettings(ServiceSettings, RuntimeConfig, ControllerConfig):
    """Every controller: the service's settings, the runtime's (`RuntimeConfig`) and what its
    reconcile reads (`ControllerConfig`; each controller's settings class adds its own subclass)."""
