"""`ServiceSettings`: what every Raybus service reads from `RAYBUS_*` environment variables.

Defaults follow KubeRay's operator where it has one (`--qps 100`, `--burst 200`,
`--reconcile-concurrency 1`, `--watch-namespace ""` = all, metrics on `:8080`, feature gates
and their defaults from `pkg/features/features.go`, `RAYCLUSTER_DEFAULT_REQUEUE_SECONDS_ENV`
300). Each service subclasses it with its own knobs; nothing here reads files or talks to
anything. Lists and maps use KubeRay's own spellings, not JSON:

    RAYBUS_WATCH_NAMESPACES=team-a,team-b
    RAYBUS_FEATURE_GATES=RayCronJob=true,RayClusterStatusConditions=false

Unknown feature gates and unknown batch schedulers are errors at start-up, as in KubeRay.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# KubeRay v1.7 feature gates and their defaults (ray-operator/pkg/features/features.go).
FEATURE_GATES: MappingProxyType[str, bool] = MappingProxyType({
    "RayClusterStatusConditions": True,
    "RayJobDeletionPolicy": True,
    "RayMultiHostIndexing": True,
    "RayServiceIncrementalUpgrade": True,
    "RayCronJob": False,
    "SidecarSubmitterRestart": False,
    "RayClusterNetworkPolicy": False,
    "GCSFaultToleranceEmbeddedStorage": False,
    "RayClusterMTLS": False,
    "RayClusterHistoryServer": False,
    "KubernetesWAS": False,
})

BatchScheduler = Literal["", "volcano", "yunikorn", "kai-scheduler", "scheduler-plugins"]
_TRUE, _FALSE = {"true", "1", "yes", "on"}, {"false", "0", "no", "off"}


def parse_feature_gates(text: str) -> dict[str, bool]:
    """`Name=true,Other=false` → {"Name": True, "Other": False}; ValueError on anything else."""
    gates: dict[str, bool] = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        name, sep, value = item.partition("=")
        name, value = name.strip(), value.strip().lower()
        if not sep or value not in _TRUE | _FALSE:
            raise ValueError(f"feature gate {item!r} must look like Name=true or Name=false")
        if name not in FEATURE_GATES:
            raise ValueError(f"unrecognized feature gate {name!r}; known: {', '.join(sorted(FEATURE_GATES))}")
        gates[name] = value in _TRUE
    return gates


def _split_commas(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RAYBUS_", extra="ignore", frozen=True)

    service_name: str = "raybus"

    # NATS
    nats_url: str = "nats://127.0.0.1:4222"  # comma-separated for several servers
    nats_user: str = ""
    nats_password: str = ""
    nats_token: str = ""
    nats_creds_file: str = ""
    nats_connect_attempts: int = Field(10, ge=1)  # first connect only; reconnects are unbounded
    nats_connect_timeout: float = Field(2.0, gt=0)
    stream_replicas: int = Field(1, ge=1, le=5)
    res_max_age: float = Field(24 * 3600.0, gt=0)  # seconds RAYBUS_RES keeps action outcomes
    dlq_max_age: float = Field(7 * 24 * 3600.0, gt=0)
    shadow_max_age: float = Field(3600.0, gt=0)

    # Observability and the process
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["json", "console"] = "json"
    http_host: str = "0.0.0.0"
    http_port: int = Field(8080, ge=0, le=65535)  # health + metrics; 0 = any free port
    otlp_endpoint: str = ""  # e.g. http://otel-collector:4318/v1/traces; empty = no export
    shutdown_grace: float = Field(20.0, ge=0)  # seconds for in-flight work after SIGTERM

    # What KubeRay's operator flags cover
    watch_namespaces: Annotated[list[str], NoDecode] = Field(default_factory=list)  # empty = all
    qps: float = Field(100.0, gt=0)
    burst: int = Field(200, ge=1)
    reconcile_concurrency: int = Field(1, ge=1)
    dry_run: bool = False  # controllers publish actions to raybus.shadow.* instead of raybus.act.*
    feature_gates: Annotated[dict[str, bool], NoDecode] = Field(default_factory=dict)
    batch_scheduler: BatchScheduler = ""
    requeue_seconds: float = Field(
        300.0, gt=0,
        validation_alias=AliasChoices("RAYBUS_REQUEUE_SECONDS", "RAYCLUSTER_DEFAULT_REQUEUE_SECONDS_ENV",
                                      "requeue_seconds"))

    @field_validator("watch_namespaces", mode="before")
    @classmethod
    def _namespaces(cls, value: Any) -> Any:
        return _split_commas(value)

    @field_validator("feature_gates", mode="before")
    @classmethod
    def _gates(cls, value: Any) -> Any:
        if isinstance(value, str):
            return parse_feature_gates(value)
        if isinstance(value, dict):
            unknown = set(value) - set(FEATURE_GATES)
            if unknown:
                raise ValueError(f"unrecognized feature gates: {', '.join(sorted(unknown))}")
        return value

    @model_validator(mode="after")
    def _scheduler_vs_gates(self) -> ServiceSettings:
        # KubeRay (config_utils.go): with the KubernetesWAS gate on, no batch scheduler may be set.
        if self.feature_enabled("KubernetesWAS") and self.batch_scheduler:
            raise ValueError("batch_scheduler must be empty when the KubernetesWAS feature gate is on")
        return self

    def feature_enabled(self, gate: str) -> bool:
        if gate not in FEATURE_GATES:
            raise KeyError(f"unknown feature gate {gate!r}")
        return self.feature_gates.get(gate, FEATURE_GATES[gate])

    @property
    def gates(self) -> dict[str, bool]:
        """Every gate with its effective value (defaults overlaid with what was set)."""
        return {**FEATURE_GATES, **self.feature_gates}

    @property
    def all_namespaces(self) -> bool:
        return not self.watch_namespaces
