"""RayCluster status: the observed state the RayCluster controller writes, and the condition types
and reasons it uses.

Also embedded, as a copy, in RayJob and RayService statuses. String-typed fields whose values come
from an enum here (`state`) stay plain strings in the schema, as in KubeRay's CRD: compare them
with the enum members; `condition_true` reads a list of conditions. Import these through
`raybus_common.crds.raycluster`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Any

from pydantic import Field

from .base import Condition, CRDModel, Int32, Int64, Quantity, Time


class ClusterState(StrEnum):
    """`status.state` (deprecated in favour of conditions; not an enum in the CRD)."""

    READY = "ready"
    FAILED = "failed"  # kept for compatibility; never set
    SUSPENDED = "suspended"


class RayClusterConditionType(StrEnum):
    PROVISIONED = "RayClusterProvisioned"  # all Pods ready once; stays True afterwards
    HEAD_POD_READY = "HeadPodReady"
    REPLICA_FAILURE = "ReplicaFailure"  # a Pod failed to be created or deleted
    SUSPENDING = "RayClusterSuspending"
    SUSPENDED = "RayClusterSuspended"


class RayClusterConditionReason(StrEnum):
    ALL_POD_RUNNING_AND_READY_FIRST_TIME = "AllPodRunningAndReadyFirstTime"
    RAY_CLUSTER_PODS_PROVISIONING = "RayClusterPodsProvisioning"
    HEAD_POD_NOT_FOUND = "HeadPodNotFound"
    HEAD_POD_RUNNING_AND_READY = "HeadPodRunningAndReady"
    UNKNOWN = "Unknown"
    # ReplicaFailure reasons.
    FAILED_DELETE_ALL_PODS = "FailedDeleteAllPods"
    FAILED_DELETE_HEAD_POD = "FailedDeleteHeadPod"
    FAILED_CREATE_HEAD_POD = "FailedCreateHeadPod"
    FAILED_DELETE_WORKER_POD = "FailedDeleteWorkerPod"
    FAILED_CREATE_WORKER_POD = "FailedCreateWorkerPod"
    # RayClusterSuspending / RayClusterSuspended use their own type name as reason.
    RAY_CLUSTER_SUSPENDING = "RayClusterSuspending"
    RAY_CLUSTER_SUSPENDED = "RayClusterSuspended"


def condition_true(conditions: Iterable[Mapping[str, Any]] | None, kind: str) -> bool:
    """`meta.IsStatusConditionTrue`: a condition of type `kind` has status "True"."""
    return any(c.get("type") == kind and c.get("status") == "True" for c in conditions or ())


class HeadInfo(CRDModel):
    pod_ip: str | None = Field(None, alias="podIP")
    # The head Service's ClusterIP, or the head Pod's IP when the Service is headless.
    service_ip: str | None = Field(None, alias="serviceIP")
    pod_name: str | None = None
    service_name: str | None = None


class RayClusterStatus(CRDModel):
    state: str | None = None  # a ClusterState
    desired_cpu: Quantity | None = Field(None, alias="desiredCPU")
    desired_memory: Quantity | None = Field(None, alias="desiredMemory")
    desired_gpu: Quantity | None = Field(None, alias="desiredGPU")
    desired_tpu: Quantity | None = Field(None, alias="desiredTPU")
    last_update_time: Time | None = Field(None, json_schema_extra={"nullable": True})
    # ClusterState → when the cluster last entered it.
    state_transition_times: dict[str, Time] | None = None
    endpoints: dict[str, str] | None = None  # head Service port name → port
    head: HeadInfo | None = None
    reason: str | None = None
    conditions: list[Condition] | None = Field(
        None, json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]}
    )
    # Worker Pods Running with PodReady True / Running; "replicas" in name only.
    ready_worker_replicas: Int32 | None = None
    available_worker_replicas: Int32 | None = None
    # Sums of replicas / minReplicas / maxReplicas × numOfHosts over the worker groups.
    desired_worker_replicas: Int32 | None = None
    min_worker_replicas: Int32 | None = None
    max_worker_replicas: Int32 | None = None
    observed_generation: Int64 | None = None
