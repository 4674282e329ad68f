"""The RayCluster custom resource (`ray.io/v1`, KubeRay v1.7): spec, status and CRD facts.

This is the public module for the kind: it re-exports the option blocks (`raycluster_options`) and
the status (`raycluster_status`), and holds what the other Ray kinds share with it — the API group
and version, and the `managedBy` field with its CEL rules. Models only: no defaulting beyond the
CRD's own defaults, no validation beyond the CRD's (KubeRay's controller-side checks belong to the
controllers).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import ConfigDict, Field

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
)

__all__ = [
    "API_VERSION", "GROUP", "KUBERAY_OPERATOR", "MAX_INT32", "MULTIKUEUE", "VERSION",
    "AuthMode", "AuthOptions", "AutoscalerOptions", "AutoscalerVersion", "ClusterState", "CollectorOptions",
    "GcsEmbeddedStorage", "GcsFaultToleranceBackend", "GcsFaultToleranceOptions", "GcsStorageDeletionPolicy",
    "HeadGroupSpec", "HeadInfo", "HistoryServerOptions", "IngressOptions", "IngressPathType",
    "NetworkPolicyConfig", "NetworkPolicyMode", "NetworkPolicyRules", "RayCluster",
    "RayClusterConditionReason", "RayClusterConditionType", "RayClusterSpec", "RayClusterStatus",
    "RayClusterUpgradeStrategy", "RayClusterUpgradeType", "RayNodeType", "RedisCredential", "ScaleStrategy",
    "TLSOptions", "UpscalingMode", "WorkerGroupNetworkPolicyRules", "WorkerGroupSpec", "managed_by_field",
]

GROUP = "ray.io"
VERSION = "v1"
API_VERSION = f"{GROUP}/{VERSION}"
MAX_INT32 = 2**31 - 1

# The two values `managedBy` may take. Objects managed by anything but KubeRay's (our) name are
# left alone by the operator.
KUBERAY_OPERATOR = "ray.io/kuberay-operator"
MULTIKUEUE = "kueue.x-k8s.io/multikueue"


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
