"""The conditions of a RayCluster's status, as KubeRay v1.7's `calculateStatus` sets them: HeadPodReady, RayClusterProvisioned, RayClusterSuspending and
RayClusterSuspended, plus Raybus's own RayClusterValid (why a spec is invalid; KubeRay only
emits a Warning Event). Also the readiness of observed Pods these read. Pure: conditions are the
plain dicts of metav1.Condition; the clock comes in as a timestamp string.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from raybus_common.crds.raycluster import RayClusterConditionReason as Reason
from raybus_common.crds.raycluster import RayClusterConditionType as Type
from raybus_common.crds.raycluster import condition_true

from ..constants import VALID_CONDITION
from ..validation.problems import Problem, summary

Condition = dict[str, Any]
Put = Callable[[Condition], None]
Obj = Mapping[str, Any]


# --- pods ------------------------------------------------------------------------------------

def _phase(pod: Obj) -> str:
    return str((pod.get("status") or {}).get("phase") or "")


def _pod_conditions(pod: Obj) -> list[Obj]:
    return list((pod.get("status") or {}).get("conditions") or [])


def running_and_ready(pod: Obj) -> bool:
    """KubeRay `IsRunningAndReady`: phase Running and condition Ready True."""
    return _phase(pod) == "Running" and condition_true(_pod_conditions(pod), "Ready")


def running(pod: Obj) -> bool:
    return _phase(pod) == "Running"


def all_pods_running(pods: Sequence[Obj]) -> bool:
    """KubeRay `CheckAllPodsRunning`: at least one Pod, all Running, none with Ready != True
    (a Pod without a Ready condition counts as running)."""
    return bool(pods) and all(running(p) and not any(
        c.get("type") == "Ready" and c.get("status") != "True" for c in _pod_conditions(p)) for p in pods)


def head_pod_ready_condition(head: Obj | None) -> Condition:
    """HeadPodReady (KubeRay `FindHeadPodReadyCondition`): the head Pod's Ready condition, with
    reason HeadPodRunningAndReady when True without a reason; ContainersNotReady is replaced by
    the first waiting/terminated container's reason, its message appended."""
    if head is None:
        return {"type": Type.HEAD_POD_READY, "status": "False", "reason": Reason.HEAD_POD_NOT_FOUND,
                "message": "Head Pod not found"}
    out = {"type": Type.HEAD_POD_READY, "status": "False", "reason": Reason.UNKNOWN, "message": ""}
    ready = next((c for c in _pod_conditions(head) if c.get("type") == "Ready"), None)
    if ready is None:
        return out
    reason = ready.get("reason") or (Reason.HEAD_POD_RUNNING_AND_READY if ready.get("status") == "True" else "")
    out.update(status=ready.get("status", "False"), message=ready.get("message") or "", reason=reason or Reason.UNKNOWN)
    if reason == "ContainersNotReady":
        for cs in (head.get("status") or {}).get("containerStatuses") or []:
            state = (cs.get("state") or {}).get("waiting") or (cs.get("state") or {}).get("terminated")
            if state is not None:
                text = f"{cs.get('name')}: {state.get('message') or ''}"
                out.update(reason=state.get("reason") or "", message=f"{out['message']}; {text}" if out["message"] else text)
                break
    return out


# --- the cluster -----------------------------------------------------------------------------

def suspend_conditions(conditions: list[Condition], put: Put, suspend: bool | None, pods: Sequence[Obj]) -> None:
    """RayClusterProvisioned, RayClusterSuspending and RayClusterSuspended, as in calculateStatus.
    `suspend` is `spec.suspend` (None when unset)."""
    phase = (Type.SUSPENDING if condition_true(conditions, Type.SUSPENDING)
             else Type.SUSPENDED if condition_true(conditions, Type.SUSPENDED) else "")
    if not condition_true(conditions, Type.PROVISIONED) and phase != Type.SUSPENDED:
        if all_pods_running(pods):
            put({"type": Type.PROVISIONED, "status": "True", "reason": Reason.ALL_POD_RUNNING_AND_READY_FIRST_TIME,
                 "message": "All Ray Pods are ready for the first time"})
        else:
            put({"type": Type.PROVISIONED, "status": "False", "reason": Reason.RAY_CLUSTER_PODS_PROVISIONING,
                 "message": "RayCluster Pods are being provisioned for first time"})
    if phase == Type.SUSPENDING:
        if not pods:  # suspending is atomic: it completes even if spec.suspend went back to false
            put({"type": Type.PROVISIONED, "status": "False", "reason": Reason.RAY_CLUSTER_PODS_PROVISIONING,
                 "message": "RayCluster has been suspended"})
            put({"type": Type.SUSPENDING, "status": "False", "reason": Reason.RAY_CLUSTER_SUSPENDING})
            put({"type": Type.SUSPENDED, "status": "True", "reason": Reason.RAY_CLUSTER_SUSPENDED})
    elif phase == Type.SUSPENDED:
        if suspend is False:  # KubeRay: only an explicit false resumes (nil keeps it)
            put({"type": Type.SUSPENDED, "status": "False", "reason": Reason.RAY_CLUSTER_SUSPENDED})
    else:
        put({"type": Type.SUSPENDED, "status": "False", "reason": Reason.RAY_CLUSTER_SUSPENDED})
        put({"type": Type.SUSPENDING, "status": "True" if suspend is True else "False",
             "reason": Reason.RAY_CLUSTER_SUSPENDING})


def validity(conditions: list[Condition], put: Put, problems: Sequence[Problem]) -> None:
    """RayClusterValid: False naming every problem, reason `InvalidRayClusterMetadata` or
    `InvalidRayClusterSpec` (KubeRay's event reasons); removed when there is none, so a valid
    cluster's status is KubeRay's."""
    if not problems:
        conditions[:] = [c for c in conditions if c.get("type") != VALID_CONDITION]
        return
    metadata_only = all(p.field.startswith("metadata.") for p in problems)
    put({"type": VALID_CONDITION, "status": "False",
         "reason": "InvalidRayClusterMetadata" if metadata_only else "InvalidRayClusterSpec",
         "message": summary(list(problems))})
