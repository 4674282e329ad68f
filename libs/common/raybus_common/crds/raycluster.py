"""The RayCluster custom resource (`ray.io/v1`, KubeRay v1.7): spec, status and CRD facts.

This is the public module for the kind: it re-exports the option blocks (`raycluster_options`) and
the status (`raycluster_status`), and holds what the other Ray kinds share with it — the API group
and version, and the `managedBy` field with its CEL rules. Models only: no defaulting beyond the
CRD's own defaults, no validation beyond the CRD's (KubeRay's controller-side checks belong to the
controllers).

The KubeRay semantics every controller reads the same way are methods and properties here, each
written once and named after KubeRay's function: `RayClusterSpec.autoscaling_enabled`
(`IsAutoscalingEnabled`), `RayCluster.gcs_ft_enabled` (`IsGCSFaultToleranceEnabled`),
`WorkerGroupSpec.desired_replicas` (`GetWorkerGroupDesiredReplicas`), `external_manager`
(`ManagedByExternalController`), `RayClusterSpec.spec_hash`
(`GenerateHashWithoutReplicasAndWorkersToDelete`), ... The Python defaults are the CRD's
(replicas 0, minReplicas 0, maxReplicas MaxInt32, numOfHosts 1); where KubeRay's Go code treats
an unset pointer differently from the default, the rule looks at `model_fields_set`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from enum import StrEnum
from typing import Any

from pydantic import ConfigDict, Field

from ..quantity import Quantity
from .base import CRDInfo, CRDModel, CRDObject, Int32, PodTemplateSpec, PrinterColumn, Service
from .raycluster_options import (
    AuthMode,
    AuthOptions,
    AutoscalerOptions,
    AutoscalerVersion,
    CollectorOptions,
    GcsEmbeddedStorage,
    GcsFaultToleranceBackend,
    GcsFaultToleranceOptions,
    GcsStorageDeletionPolicy,
    HistoryServerOptions,
    IngressOptions,
    IngressPathType,
    NetworkPolicyConfig,
    NetworkPolicyMode,
    NetworkPolicyRules,
    RayClusterUpgradeStrategy,
    RayClusterUpgradeType,
    RedisCredential,
    TLSOptions,
    UpscalingMode,
    WorkerGroupNetworkPolicyRules,
)
from .raycluster_status import (
    ClusterState,
    HeadInfo,
    RayClusterConditionReason,
    RayClusterConditionType,
    RayClusterStatus,
    condition_true,
)
from .resources import add, pod_resources

__all__ = [
    "API_VERSION", "FT_ENABLED_ANNOTATION", "GROUP", "KUBERAY_OPERATOR", "MAX_INT32", "MULTIKUEUE",
    "ORIGINATED_FROM_CRD_LABEL", "STORAGE_NS_ANNOTATION", "VERSION",
    "AuthMode", "AuthOptions", "AutoscalerOptions", "AutoscalerVersion", "ClusterState", "CollectorOptions",
    "GcsEmbeddedStorage", "GcsFaultToleranceBackend", "GcsFaultToleranceOptions", "GcsStorageDeletionPolicy",
    "HeadGroupSpec", "HeadInfo", "HistoryServerOptions", "IngressOptions", "IngressPathType",
    "NetworkPolicyConfig", "NetworkPolicyMode", "NetworkPolicyRules", "RayCluster",
    "RayClusterConditionReason", "RayClusterConditionType", "RayClusterSpec", "RayClusterStatus",
    "RayClusterUpgradeStrategy", "RayClusterUpgradeType", "RayNodeType", "RedisCredential", "ScaleStrategy",
    "TLSOptions", "UpscalingMode", "WorkerGroupNetworkPolicyRules", "WorkerGroupSpec", "condition_true", "external_manager",
    "managed_by_field",
]

GROUP = "ray.io"
VERSION = "v1"
API_VERSION = f"{GROUP}/{VERSION}"
MAX_INT32 = 2**31 - 1

# The two values `managedBy` may take. Objects managed by anything but KubeRay's (our) name are
# left alone by the operator.
KUBERAY_OPERATOR = "ray.io/kuberay-operator"
MULTIKUEUE = "kueue.x-k8s.io/multikueue"

# The label and annotations of the API that the rules below read (KubeRay utils/constant.go).
# RayJob and RayService stamp the first on the RayClusters they make.
ORIGINATED_FROM_CRD_LABEL = "ray.io/originated-from-crd"
FT_ENABLED_ANNOTATION = "ray.io/ft-enabled"  # legacy switch of GCS fault tolerance
STORAGE_NS_ANNOTATION = "ray.io/external-storage-namespace"  # legacy Redis storage namespace
_CREATORS = ("RayCluster", "RayJob", "RayService")
_GENERIC_VERSION = re.compile(r"\s*v?([0-9]+(?:\.[0-9]+)+)")


def external_manager(managed_by: str | None) -> str | None:
    """KubeRay `ManagedByExternalController`: the manager `managedBy` names when that is not
    KubeRay's (Raybus's) name, else None. An empty value counts as unset, as it always has in
    Raybus (the CRD's rule rejects it anyway)."""
    return managed_by if managed_by not in (None, "", KUBERAY_OPERATOR) else None


def managed_by_field() -> Any:
    """The optional, immutable `managedBy` string of RayCluster, RayJob and RayService specs."""
    return Field(
        None,
        json_schema_extra={
            "x-kubernetes-validations": [
                {"rule": "self == oldSelf", "message": "the managedBy field is immutable"},
                {
                    "rule": f"self in ['{KUBERAY_OPERATOR}', '{MULTIKUEUE}']",
                    "message": f"the managedBy field value must be either '{KUBERAY_OPERATOR}' or '{MULTIKUEUE}'",
                },
            ]
        },
    )


class RayNodeType(StrEnum):
    """Value of the `ray.io/node-type` Pod label."""

    HEAD = "head"
    WORKER = "worker"
    REDIS_CLEANUP = "redis-cleanup"  # the Job that wipes Redis after a GCS-FT cluster is deleted


class HeadGroupSpec(CRDModel):
    template: PodTemplateSpec
    head_service: Service | None = None  # merged into the generated head Service
    enable_ingress: bool | None = None
    ingress_options: IngressOptions | None = None
    # Ray logical resources; override num-cpus/num-gpus/memory/resources in rayStartParams.
    resources: dict[str, str] | None = None
    labels: dict[str, str] | None = None  # Ray node labels, also added to the Pod's labels
    ray_start_params: dict[str, str] | None = None  # `ray start` flags without the leading `--`
    service_type: str | None = None

    @property
    def params(self) -> dict[str, str]:
        """`rayStartParams`, {} when unset (KubeRay's `setDefaults`)."""
        return self.ray_start_params or {}


class ScaleStrategy(CRDModel):
    workers_to_delete: list[str] | None = None  # Pod names, set by the autoscaler


class WorkerGroupSpec(CRDModel):
    # KubeRay's CRD lists minReplicas and maxReplicas as required although both have defaults;
    # the API server defaults before it validates, so they can be left out all the same.
    model_config = ConfigDict(json_schema_extra={"required": ["groupName", "maxReplicas", "minReplicas", "template"]})

    # Deletes the group's Pods; set by the RayJob DeleteWorkers policy, not meant for users.
    suspend: bool | None = None
    group_name: str
    replicas: Int32 = 0
    min_replicas: Int32 = 0
    max_replicas: Int32 = MAX_INT32
    idle_timeout_seconds: Int32 | None = None  # autoscaler v2 only
    priority: Int32 = 0  # autoscaler v2 scale-up preference, Ray >= 2.56
    resources: dict[str, str] | None = None
    labels: dict[str, str] | None = None
    ray_start_params: dict[str, str] | None = None
    template: PodTemplateSpec
    scale_strategy: ScaleStrategy | None = None
    num_of_hosts: Int32 = 1  # Pods per replica (multi-host slices)

    @property
    def params(self) -> dict[str, str]:
        """`rayStartParams`, {} when unset (KubeRay's `setDefaults`)."""
        return self.ray_start_params or {}

    @property
    def hosts(self) -> int:
        """Pods per replica: `numOfHosts`, with 0 read as 1 (a replica has a pod)."""
        return self.num_of_hosts or 1

    @property
    def suspended(self) -> bool:
        return self.suspend is True

    @property
    def workers_to_delete(self) -> list[str]:
        """`scaleStrategy.workersToDelete`, [] when unset."""
        return (self.scale_strategy.workers_to_delete if self.scale_strategy else None) or []

    def desired_replicas(self) -> int:
        """KubeRay `GetWorkerGroupDesiredReplicas`: 0 when the group is suspended; else replicas
        (unset → minReplicas, as Go's nil pointer) clamped into [minReplicas, maxReplicas], times
        numOfHosts."""
        if self.suspended:
            return 0
        low, high = self.min_replicas, self.max_replicas
        replicas = self.replicas if "replicas" in self.model_fields_set else None
        count = low if replicas is None or replicas < low else min(replicas, high)
        return count * self.hosts


class RayClusterSpec(CRDModel):
    upgrade_strategy: RayClusterUpgradeStrategy | None = None
    auth_options: AuthOptions | None = None
    suspend: bool | None = None
    managed_by: str | None = managed_by_field()
    autoscaler_options: AutoscalerOptions | None = None
    head_service_annotations: dict[str, str] | None = None
    enable_in_tree_autoscaling: bool | None = None
    gcs_fault_tolerance_options: GcsFaultToleranceOptions | None = None
    history_server_options: HistoryServerOptions | None = None
    network_policy: NetworkPolicyConfig | None = None
    tls_options: TLSOptions | None = None
    head_group_spec: HeadGroupSpec
    ray_version: str | None = None
    worker_group_specs: list[WorkerGroupSpec] | None = None

    @property
    def workers(self) -> list[WorkerGroupSpec]:
        """`workerGroupSpecs`, [] when unset."""
        return self.worker_group_specs or []

    @property
    def ray_version_numbers(self) -> tuple[int, ...] | None:
        """`rayVersion` as KubeRay reads it (apimachinery `version.ParseGeneric`): an optional `v`,
        then at least major.minor, trailing text ignored; padded with zeros to three numbers so
        "2.53" compares equal to 2.53.0, as Go's comparison does. None when unset or unparsable."""
        m = _GENERIC_VERSION.match(self.ray_version or "")
        if m is None:
            return None
        parts = tuple(int(p) for p in m.group(1).split("."))
        return parts + (0,) * (3 - len(parts))

    @property
    def external_manager(self) -> str | None:
        """`external_manager(managedBy)`: who manages this object when it is not KubeRay (Raybus)."""
        return external_manager(self.managed_by)

    @property
    def autoscaling_enabled(self) -> bool:
        """KubeRay `IsAutoscalingEnabled`: `enableInTreeAutoscaling` is true."""
        return self.enable_in_tree_autoscaling is True

    @property
    def autoscaler_v2(self) -> bool:
        """KubeRay `IsAutoscalingV2Enabled`: `autoscalerOptions.version` is v2 (the head's
        `RAY_enable_autoscaler_v2` env var is a validation matter, not this rule)."""
        options = self.autoscaler_options
        return options is not None and options.version == AutoscalerVersion.V2

    @property
    def gcs_ft_embedded(self) -> bool:
        """GCS fault tolerance on the embedded RocksDB store: `gcsFaultToleranceOptions.backend`
        is rocksdb (unset means redis)."""
        options = self.gcs_fault_tolerance_options
        return options is not None and options.backend == GcsFaultToleranceBackend.ROCKSDB

    def desired_worker_replicas(self) -> int:
        """KubeRay `CalculateDesiredReplicas`: Σ `desired_replicas()` over the worker groups."""
        return sum(w.desired_replicas() for w in self.workers)

    def min_worker_replicas(self) -> int:
        """KubeRay `CalculateMinReplicas`: Σ minReplicas × numOfHosts over groups not suspended."""
        return sum(w.min_replicas * w.hosts for w in self.workers if not w.suspended)

    def max_worker_replicas(self) -> int:
        """KubeRay `CalculateMaxReplicas`: Σ maxReplicas × numOfHosts over groups not suspended,
        clamped to MaxInt32 (Go sums in int64)."""
        return min(MAX_INT32, sum(w.max_replicas * w.hosts for w in self.workers if not w.suspended))

    def desired_resources(self) -> dict[str, Quantity]:
        """KubeRay `CalculateDesiredResources`: the head pod's resources + Σ over groups not
        suspended of the pod's × replicas (the raw field, not clamped) × numOfHosts."""
        total = pod_resources(self.head_group_spec.template.get("spec") or {})
        for w in self.workers:
            if not w.suspended:
                add(total, pod_resources(w.template.get("spec") or {}), w.replicas * w.hosts)
        return total

    def spec_hash(self) -> str:
        """KubeRay `GenerateHashWithoutReplicasAndWorkersToDelete`: sha1 of the
        spec as sent, without every group's replica fields and workersToDelete, the templates'
        tolerations and schedulingGates, and upgradeStrategy; base32hex, lowercase. Pods carry it
        (`ray.io/upgrade-strategy-recreate-hash`), so it must not move across Raybus versions:
        it hashes the fields as they were sent (explicit nulls included), keys sorted. A
        `scaleStrategy` left empty once workersToDelete is out is left out too: in Go it is a
        struct, always there, so the autoscaler setting workersToDelete on a group that had no
        scaleStrategy (which leaves `scaleStrategy: {}` behind when it clears it) must not look
        like a new spec, or Recreate would delete every pod."""
        spec = self.model_dump(mode="json", by_alias=True, exclude_unset=True)  # fresh dicts: ours to edit
        spec.pop("upgradeStrategy", None)
        for g in [spec, spec.get("headGroupSpec") or {}, *(spec.get("workerGroupSpecs") or [])]:
            for k in ("replicas", "minReplicas", "maxReplicas"):
                g.pop(k, None)
            _drop_workers_to_delete(g)
            pod_spec = (g.get("template") or {}).get("spec") or {}
            pod_spec.pop("tolerations", None)
            pod_spec.pop("schedulingGates", None)
        digest = hashlib.sha1(json.dumps(spec, sort_keys=True, separators=(",", ":")).encode(),
                              usedforsecurity=False).digest()
        return base64.b32hexencode(digest).decode().rstrip("=").lower()


def _drop_workers_to_delete(group: dict[str, Any]) -> None:
    strategy = group.get("scaleStrategy")
    if isinstance(strategy, dict):
        strategy.pop("workersToDelete", None)
        if not strategy:
            del group["scaleStrategy"]


class RayCluster(CRDObject):
    info = CRDInfo(
        group=GROUP,
        version=VERSION,
        kind="RayCluster",
        plural="rayclusters",
        singular="raycluster",
        printer_columns=(
            PrinterColumn("desired workers", "integer", ".status.desiredWorkerReplicas"),
            PrinterColumn("available workers", "integer", ".status.availableWorkerReplicas"),
            PrinterColumn("cpus", "string", ".status.desiredCPU"),
            PrinterColumn("memory", "string", ".status.desiredMemory"),
            PrinterColumn("gpus", "string", ".status.desiredGPU"),
            PrinterColumn("tpus", "string", ".status.desiredTPU", priority=1),
            PrinterColumn("status", "string", ".status.state"),
            PrinterColumn("age", "date", ".metadata.creationTimestamp"),
            PrinterColumn("head pod IP", "string", ".status.head.podIP", priority=1),
            PrinterColumn("head service IP", "string", ".status.head.serviceIP", priority=1),
        ),
    )
    spec: RayClusterSpec
    status: RayClusterStatus | None = None

    @property
    def gcs_ft_enabled(self) -> bool:
        """KubeRay `IsGCSFaultToleranceEnabled`: annotation `ray.io/ft-enabled` is "true" (any
        case) or `gcsFaultToleranceOptions` is set."""
        return (self.annotations.get(FT_ENABLED_ANNOTATION, "").lower() == "true"
                or self.spec.gcs_fault_tolerance_options is not None)

    @property
    def redis_gcs_ft(self) -> bool:
        """GCS fault tolerance backed by Redis (the default backend): what KubeRay's Redis
        cleanup finalizer and Job are for."""
        return self.gcs_ft_enabled and not self.spec.gcs_ft_embedded

    @property
    def gcs_storage_namespace(self) -> str:
        """KubeRay `configureRedisFT`'s storage namespace: the cluster's uid, else the
        `ray.io/external-storage-namespace` annotation, else `externalStorageNamespace`."""
        found = self.annotations.get(STORAGE_NS_ANNOTATION, self.uid)
        options = self.spec.gcs_fault_tolerance_options
        return str(options.external_storage_namespace if options and options.external_storage_namespace else found)

    @property
    def creator_crd(self) -> str:
        """KubeRay `GetCRDType`: the kind that made this cluster (`ray.io/originated-from-crd`:
        RayJob, RayService), RayCluster when made directly or the label is unknown."""
        value = self.labels.get(ORIGINATED_FROM_CRD_LABEL)
        return value if value in _CREATORS else "RayCluster"

    def condition_true(self, kind: str) -> bool:
        """`meta.IsStatusConditionTrue` on the status this cluster was observed with."""
        return condition_true(self.status.conditions if self.status else None, kind)
