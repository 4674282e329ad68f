"""The RayJob custom resource (`ray.io/v1`, KubeRay v1.7): spec, status, enums and CRD facts.

A RayJob runs one Ray job on a RayCluster it creates from `rayClusterSpec` (or on an existing one
picked by `clusterSelector`) and optionally cleans up afterwards (`deletionStrategy`). Models only;
the state machine lives in the RayJob controller. Status fields whose values come from an enum here
(`jobStatus`, `jobDeploymentStatus`, `reason`) stay plain strings in the schema, as in KubeRay's CRD.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import ConfigDict, Field

from .base import CRDInfo, CRDModel, CRDObject, Int32, Int64, PodTemplateSpec, PrinterColumn, Time
from .raycluster import GROUP, VERSION, RayClusterSpec, RayClusterStatus, managed_by_field


class JobSubmissionMode(StrEnum):
    K8S_JOB_MODE = "K8sJobMode"  # a submitter Kubernetes Job runs `ray job submit`
    HTTP_MODE = "HTTPMode"  # the operator POSTs the job to the dashboard
    INTERACTIVE_MODE = "InteractiveMode"  # the user submits and then sets spec.jobId
    SIDECAR_MODE = "SidecarMode"  # a submitter container in the head Pod


class JobStatus(StrEnum):
    """Ray's job status as the dashboard reports it, plus "" before there is a job."""

    NEW = ""
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    STOPPED = "STOPPED"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"


CLUSTER_LABEL = "ray.io/cluster"  # also the one key of `spec.clusterSelector` KubeRay reads
MAX_RAYJOB_NAME_LENGTH = 47  # MaxRayClusterNameLength (53) - 6: room for the cluster's "-xxxxx"

TERMINAL_JOB_STATUSES = frozenset({JobStatus.STOPPED, JobStatus.SUCCEEDED, JobStatus.FAILED})


class JobDeploymentStatus(StrEnum):
    """The RayJob controller's own state machine."""

    NEW = ""
    INITIALIZING = "Initializing"
    RUNNING = "Running"
    COMPLETE = "Complete"
    FAILED = "Failed"
    VALIDATION_FAILED = "ValidationFailed"
    SUSPENDING = "Suspending"
    SUSPENDED = "Suspended"
    RETRYING = "Retrying"
    WAITING = "Waiting"


TERMINAL_JOB_DEPLOYMENT_STATUSES = frozenset({JobDeploymentStatus.COMPLETE, JobDeploymentStatus.FAILED})


class JobFailedReason(StrEnum):
    SUBMISSION_FAILED = "SubmissionFailed"
    DEADLINE_EXCEEDED = "DeadlineExceeded"
    PRE_RUNNING_DEADLINE_EXCEEDED = "PreRunningDeadlineExceeded"
    APP_FAILED = "AppFailed"
    JOB_DEPLOYMENT_STATUS_TRANSITION_GRACE_PERIOD_EXCEEDED = "JobDeploymentStatusTransitionGracePeriodExceeded"
    JOB_STATUS_CHECK_TIMEOUT_EXCEEDED = "JobStatusCheckTimeoutExceeded"
    VALIDATION_FAILED = "ValidationFailed"


class DeletionPolicyType(StrEnum):
    DELETE_CLUSTER = "DeleteCluster"  # delete the RayCluster
    DELETE_WORKERS = "DeleteWorkers"  # suspend every worker group of the RayCluster
    DELETE_SELF = "DeleteSelf"  # delete the RayJob (children follow by ownerReference)
    DELETE_NONE = "DeleteNone"


class DeletionCondition(CRDModel):
    """When a deletion rule fires: exactly one of `jobStatus` / `jobDeploymentStatus`, plus a delay."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "!(has(self.jobStatus) && has(self.jobDeploymentStatus))",
                    "message": "JobStatus and JobDeploymentStatus cannot be used together within the same "
                    "deletion condition.",
                },
                {
                    "rule": "has(self.jobStatus) || has(self.jobDeploymentStatus)",
                    "message": "the deletion condition requires either the JobStatus or the JobDeploymentStatus "
                    "field.",
                },
            ]
        }
    )

    job_status: Literal["SUCCEEDED", "FAILED"] | None = None
    job_deployment_status: Literal["Failed"] | None = None
    ttl_seconds: Int32 = Field(0, ge=0)  # counted from the time the status was reached


class DeletionRule(CRDModel):
    policy: DeletionPolicyType
    condition: DeletionCondition


class DeletionPolicy(CRDModel):
    """Legacy (deprecated) single-stage policy; `policy` is required in practice."""

    policy: DeletionPolicyType | None = None


class DeletionStrategy(CRDModel):
    """Either both legacy policies (`onSuccess` and `onFailure`) or `deletionRules`, never a mix."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "!((has(self.onSuccess) || has(self.onFailure)) && has(self.deletionRules))",
                    "message": "legacy policies (onSuccess/onFailure) and deletionRules cannot be used together "
                    "within the same deletionStrategy",
                },
                {
                    "rule": "((has(self.onSuccess) && has(self.onFailure)) || has(self.deletionRules))",
                    "message": "deletionStrategy requires either BOTH onSuccess and onFailure, OR the "
                    "deletionRules field (cannot be empty)",
                },
            ]
        }
    )

    on_success: DeletionPolicy | None = None
    on_failure: DeletionPolicy | None = None
    deletion_rules: list[DeletionRule] | None = Field(
        None, min_length=1, json_schema_extra={"x-kubernetes-list-type": "atomic"}
    )


class SubmitterConfig(CRDModel):
    # K8sJobMode: the submitter Job's backoffLimit (2 when unset); SidecarMode: container restarts.
    backoff_limit: Int32 | None = None


class RayJobStatusInfo(CRDModel):
    """Times from the Ray dashboard's job info."""

    start_time: Time | None = None
    end_time: Time | None = None


class RayJobSpec(CRDModel):
    # From status.startTime while Initializing/Running; then Failed/DeadlineExceeded.
    active_deadline_seconds: Int32 | None = None
    backoff_limit: Int32 = 0  # RayJob-level retries, each with a new RayCluster
    ray_cluster_spec: RayClusterSpec | None = None  # required unless clusterSelector is set
    submitter_pod_template: PodTemplateSpec | None = None
    metadata: dict[str, str] | None = None  # Ray job metadata, not Kubernetes metadata
    cluster_selector: dict[str, str] | None = None  # only the `ray.io/cluster` key is used
    submitter_config: SubmitterConfig | None = None
    managed_by: str | None = managed_by_field()
    deletion_strategy: DeletionStrategy | None = None
    entrypoint: str | None = None
    runtime_env_yaml: str | None = Field(None, alias="runtimeEnvYAML")
    job_id: str | None = None  # Ray submission id; generated when empty (except InteractiveMode)
    submission_mode: JobSubmissionMode = JobSubmissionMode.K8S_JOB_MODE
    entrypoint_resources: str | None = None  # JSON object, e.g. {"r1": 1}
    entrypoint_num_cpus: float | None = None
    entrypoint_num_gpus: float | None = None
    ttl_seconds_after_finished: Int32 = 0  # only with shutdownAfterJobFinishes
    # From status.startTime until Running; then Failed/PreRunningDeadlineExceeded.
    pre_running_deadline_seconds: Int32 | None = Field(None, ge=1)
    shutdown_after_job_finishes: bool | None = None
    suspend: bool | None = None


class RayJobStatus(CRDModel):
    ray_job_info: RayJobStatusInfo | None = None
    job_id: str | None = None
    ray_cluster_name: str | None = None
    dashboard_url: str | None = Field(None, alias="dashboardURL")  # host:port, no scheme
    job_status: str | None = None  # a JobStatus
    job_deployment_status: str | None = None  # a JobDeploymentStatus
    reason: str | None = None  # a JobFailedReason
    message: str | None = None
    start_time: Time | None = None  # entered Initializing (reset on every retry)
    end_time: Time | None = None  # reached Complete or Failed
    succeeded: Int32 = 0
    failed: Int32 = 0
    ray_cluster_status: RayClusterStatus | None = None  # copy of the RayCluster's status
    # First of an unbroken run of failed dashboard checks; cleared by a successful one.
    job_status_check_failure_start_time: Time | None = None
    observed_generation: Int64 | None = None


class RayJob(CRDObject):
    info = CRDInfo(
        group=GROUP,
        version=VERSION,
        kind="RayJob",
        plural="rayjobs",
        singular="rayjob",
        printer_columns=(
            PrinterColumn("job status", "string", ".status.jobStatus"),
            PrinterColumn("deployment status", "string", ".status.jobDeploymentStatus"),
            PrinterColumn("ray cluster name", "string", ".status.rayClusterName"),
            PrinterColumn("start time", "string", ".status.startTime"),
            PrinterColumn("end time", "string", ".status.endTime"),
            PrinterColumn("age", "date", ".metadata.creationTimestamp"),
        ),
    )
    spec: RayJobSpec
    status: RayJobStatus | None = None
