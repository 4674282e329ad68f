"""What a controller is configured with, as plain pydantic models: `ControllerConfig`, what every
`reconcile` may read besides the view (KubeRay's feature gates, the default requeue interval),
and `RuntimeConfig`, what the runtime itself needs (namespaces, concurrency, dry run, lease TTL).
Pure: built explicitly in tests and filled from `RAYBUS_*` variables only by a service's settings
class (`settings.ControllerSettings` inherits both), so decision code never reads the environment.

Each controller extends it with its own knobs (cluster-ctl: `ClusterConfig`), and its
`ControllerSpec` is generic over that type. Defaults follow KubeRay v1.7
(`pkg/features/features.go`, `RAYCLUSTER_DEFAULT_REQUEUE_SECONDS_ENV` 300). Gates use KubeRay's
spelling:

    RAYBUS_FEATURE_GATES=RayCronJob=true,RayClusterStatusConditions=false

An unknown gate is an error at start-up, as in KubeRay.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

from pydantic import AliasChoices, BaseModel, Field, field_validator, model_validator

from ..crds.batch import SCHEDULERS
from ..scope import WatchScope

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


class ControllerConfig(BaseModel, frozen=True, populate_by_name=True):
    feature_gates: dict[str, bool] = Field(default_factory=dict)
    requeue_seconds: float = Field(
        300.0, gt=0,
        validation_alias=AliasChoices("RAYBUS_REQUEUE_SECONDS", "RAYCLUSTER_DEFAULT_REQUEUE_SECONDS_ENV",
                                      "requeue_seconds"))
    # KubeRay's --batch-scheduler: the batch scheduler of every RayCluster and RayJob that does
    # not name its own (label `raybus.io/batch-scheduler`, `crds.batch`); "" for none. Read by
    # cluster-ctl (pod metadata, waiting for the group object), job-ctl (the submitter's) and
    # scheduler-bridge (the group objects), so all three are deployed with the same value.
    batch_scheduler: str = ""
    # KubeRay's deprecated --enable-batch-scheduler: Volcano. Refused together with a name.
    enable_batch_scheduler: bool = False

    @field_validator("batch_scheduler")
    @classmethod
    def _scheduler(cls, value: str) -> str:
        if value not in ("", *SCHEDULERS):
            raise ValueError(f"unknown batch scheduler {value!r}; known: {', '.join(SCHEDULERS)}")
        return value

    @model_validator(mode="after")
    def _scheduler_vs_gates(self) -> ControllerConfig:
        # KubeRay (config_utils.go): the deprecated switch and a name are exclusive, and with the
        # KubernetesWAS gate on neither may be set.
        if self.enable_batch_scheduler and self.batch_scheduler:
            raise ValueError("both the deprecated enable_batch_scheduler and batch_scheduler are set; "
                             "use batch_scheduler alone")
        if self.feature_enabled("KubernetesWAS") and (self.batch_scheduler or self.enable_batch_scheduler):
            raise ValueError("batch_scheduler must be empty when the KubernetesWAS feature gate is on")
        if self.enable_batch_scheduler:
            object.__setattr__(self, "batch_scheduler", "volcano")  # frozen model: set once, here
        return self

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

    def feature_enabled(self, gate: str) -> bool:
        if gate not in FEATURE_GATES:
            raise KeyError(f"unknown feature gate {gate!r}")
        return self.feature_gates.get(gate, FEATURE_GATES[gate])

    @property
    def gates(self) -> dict[str, bool]:
        """Every gate with its effective value (defaults overlaid with what was set)."""
        return {**FEATURE_GATES, **self.feature_gates}


class RuntimeConfig(WatchScope):
    """What `runtime.Controller` reads: the watched namespaces (a root elsewhere is never
    reconciled), KubeRay's `--reconcile-concurrency`, dry run (actions go to
    `raybus.shadow.*`), how long a dead replica's partitions stay claimed, and how often a
    root's status may be written (`status_interval`)."""

    reconcile_concurrency: int = Field(1, ge=1)
    dry_run: bool = False
    lease_ttl: float = Field(6.0, gt=0)
    # A root's status is written at most once per this many seconds: a change within the
    # interval waits for its end and goes out as the latest status then (0: every change at once).
    # A change the controller counts as progress rather than a transition (`ControllerSpec.
    # status_transition`: for cluster-ctl, counters, endpoints, IPs, the head's readiness) is
    # held back up to `status_progress_interval` from when it was first held back, so it
    # usually rides along with the next transition, and goes out alone at the latest then; while
    # status writes wait in the actuator's queue longer than that, progress waits as long as they
    # do (`raybus_controller_status_write_lag_seconds`, at most 60 s).
    status_interval: float = Field(1.0, ge=0)
    status_progress_interval: float = Field(5.0, ge=0)
    # A child's event wakes its root this many seconds later, so a burst of events about one
    # root's children (a pod scheduled, started and ready; four pods of one cluster) makes one
    # reconcile, not one each; the root's own events wake it at once (0: children at once too).
    coalesce: float = Field(0.05, ge=0)
