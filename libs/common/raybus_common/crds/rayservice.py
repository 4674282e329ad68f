"""The RayService custom resource (`ray.io/v1`, KubeRay v1.7): spec, status, condition types and
reasons, and CRD facts.

A RayService keeps Ray Serve applications (`serveConfigV2`) running on a RayCluster built from
`rayClusterConfig`, upgrading by standing up a new cluster. Models only. As in KubeRay's CRD,
`upgradeStrategy.type`, `serviceStatus` and the Serve application/deployment statuses are plain
strings in the schema; their values are the enums here, and the controller rejects others.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from .base import Condition, CRDInfo, CRDModel, CRDObject, Int32, Int64, PrinterColumn, Service, Time
from .raycluster import GROUP, VERSION, RayClusterSpec, RayClusterStatus, managed_by_field


class RayServiceUpgradeType(StrEnum):
    # Shift traffic step by step to a new cluster through a Gateway API HTTPRoute.
    NEW_CLUSTER_WITH_INCREMENTAL_UPGRADE = "NewClusterWithIncrementalUpgrade"
    NEW_CLUSTER = "NewCluster"  # switch all at once when the new cluster is ready
    NONE = "None"  # never create a new cluster for a spec change


class ServiceStatus(StrEnum):
    """Deprecated `status.serviceStatus`: equivalent to the Ready condition."""

    RUNNING = "Running"
    NOT_RUNNING = ""


class ApplicationStatus(StrEnum):
    """Ray Serve application statuses."""

    NOT_STARTED = "NOT_STARTED"
    DEPLOYING = "DEPLOYING"
    RUNNING = "RUNNING"
    DEPLOY_FAILED = "DEPLOY_FAILED"
    DELETING = "DELETING"
    UNHEALTHY = "UNHEALTHY"


class DeploymentStatus(StrEnum):
    """Ray Serve deployment statuses."""

    UPDATING = "UPDATING"
    HEALTHY = "HEALTHY"
    UNHEALTHY = "UNHEALTHY"


class RayServiceConditionType(StrEnum):
    READY = "Ready"  # requests can be served: more than zero serve endpoints
    UPGRADE_IN_PROGRESS = "UpgradeInProgress"
    ROLLBACK_IN_PROGRESS = "RollbackInProgress"
    SUSPENDING = "Suspending"
    SUSPENDED = "Suspended"


class RayServiceConditionReason(StrEnum):
    INITIALIZING = "Initializing"
    INITIALIZING_TIMEOUT = "InitializingTimeout"
    ZERO_SERVE_ENDPOINTS = "ZeroServeEndpoints"
    NON_ZERO_SERVE_ENDPOINTS = "NonZeroServeEndpoints"
    BOTH_ACTIVE_PENDING_CLUSTERS_EXIST = "BothActivePendingClustersExist"
    NO_PENDING_CLUSTER = "NoPendingCluster"
    NO_ACTIVE_CLUSTER = "NoActiveCluster"
    VALIDATION_FAILED = "ValidationFailed"
    DESIRED_CLUSTER_SPEC_CHANGED = "DesiredClusterSpecChanged"
    SUSPEND_REQUESTED = "SuspendRequested"
    SUSPEND_IN_PROGRESS = "SuspendInProgress"
    SUSPEND_COMPLETE = "SuspendComplete"
    RAY_SERVICE_RESUMED = "RayServiceResumed"


class ClusterUpgradeOptions(CRDModel):
    """Settings of the NewClusterWithIncrementalUpgrade strategy."""

    # Serve capacity the new cluster scales up by per step, in percent.
    max_surge_percent: Int32 = 100
    # Traffic moved to the new cluster per step, in percent; at most maxSurgePercent.
    step_size_percent: Int32
    interval_seconds: Int32  # between traffic steps
    gateway_class_name: str


class RayServiceUpgradeStrategy(CRDModel):
    type: str | None = None  # a RayServiceUpgradeType; NewCluster when unset
    cluster_upgrade_options: ClusterUpgradeOptions | None = None


class RayServiceSpec(CRDModel):
    # Before a cluster that is neither active nor pending is deleted; 60 when unset.
    ray_cluster_deletion_delay_seconds: Int32 | None = Field(None, ge=0)
    service_unhealthy_second_threshold: Int32 | None = None  # deprecated, unused
    deployment_unhealthy_second_threshold: Int32 | None = None  # deprecated, unused
    serve_service: Service | None = None  # template for the serve Service
    upgrade_strategy: RayServiceUpgradeStrategy | None = None
    managed_by: str | None = managed_by_field()
    serve_config_v2: str | None = Field(None, alias="serveConfigV2")  # Serve multi-app config, YAML
    ray_cluster_config: RayClusterSpec
    # Keep the head Pod out of the serve Service (its `ray.io/serve` label is always "false").
    exclude_head_pod_from_serve_svc: bool | None = None
    suspend: bool | None = None


class ServeDeploymentStatus(CRDModel):
    status: str | None = None  # a DeploymentStatus
    message: str | None = None


class AppStatus(CRDModel):
    serve_deployment_statuses: dict[str, ServeDeploymentStatus] | None = None
    status: str | None = None  # an ApplicationStatus
    message: str | None = None


class RayServiceStatus(CRDModel):
    """One cluster's view: the active or the pending one."""

    application_statuses: dict[str, AppStatus] | None = None
    # Incremental upgrades only: Serve target_capacity and the HTTPRoute weight, in percent.
    target_capacity: Int32 | None = None
    traffic_routed_percent: Int32 | None = None
    last_traffic_migrated_time: Time | None = None
    ray_cluster_name: str | None = None  # the source of truth for which cluster is which
    ray_cluster_status: RayClusterStatus | None = None  # copy, for observability only


class RayServiceStatuses(CRDModel):
    conditions: list[Condition] | None = Field(
        None, json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]}
    )
    last_update_time: Time | None = None
    service_status: str | None = None  # a ServiceStatus (deprecated)
    active_service_status: RayServiceStatus | None = None
    pending_service_status: RayServiceStatus | None = None
    num_serve_endpoints: Int32 | None = None  # ready Pods behind the serve Service(s)
    observed_generation: Int64 | None = None


class RayService(CRDObject):
    info = CRDInfo(
        group=GROUP,
        version=VERSION,
        kind="RayService",
        plural="rayservices",
        singular="rayservice",
        printer_columns=(
            PrinterColumn("service status", "string", ".status.serviceStatus"),
            # A string column in KubeRay's CRD although the field is an integer.
            PrinterColumn("num serve endpoints", "string", ".status.numServeEndpoints"),
        ),
    )
    spec: RayServiceSpec
    status: RayServiceStatuses | None = None
