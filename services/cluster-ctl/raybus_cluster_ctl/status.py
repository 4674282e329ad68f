"""The desired `.status` of a RayCluster, computed as KubeRay v1.7's `calculateStatus`,
`updateEndpoints` and `updateHeadInfo` do, from the cluster and the Pods and Services it owns.

Pure and total: no I/O, the clock is a parameter, and it never raises. Where KubeRay's
`calculateStatus` returns an error instead of a status (no head Service, several head Services,
a head Service without ClusterIP, several head Pods), `calculate_status` still returns its best
status and `status_write_blocker` returns KubeRay's error text, so a caller that wants KubeRay's
behaviour (no write, requeue after 2 s) can have it.

Beyond KubeRay: `problems` from `validation.validate` become a `RayClusterValid` condition (KubeRay
only emits a Warning event and leaves status alone), conditions carry `observedGeneration`, and
the replica counters are written even when 0. Not here: Prometheus metrics, events.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from fractions import Fraction
from typing import Any

from raybus_common.quantity import Quantity

from .validation import MAX_INT32, Problem, group_desired_replicas

VALID = "RayClusterValid"
REPLICA_FAILURE = "ReplicaFailure"  # rayv1.RayClusterReplicaFailure's wire value
HEAD_POD_READY = "HeadPodReady"
PROVISIONED = "RayClusterProvisioned"
SUSPENDING = "RayClusterSuspending"
SUSPENDED = "RayClusterSuspended"
_MIG = re.compile(r"nvidia\.com/mig-\d+g\.\d+gb$")


@dataclass(frozen=True)
class ReconcileError:
    """The error of this reconcile pass (KubeRay's `reconcileErr`). `reason` is one of the
    ReplicaFailure markers (`FailedCreateWorkerPod`, ...) or "" for an error without a marker."""

    message: str
    reason: str = ""


def calculate_status(cluster: Mapping[str, Any], pods: Sequence[Mapping[str, Any]],
                     services: Sequence[Mapping[str, Any]], *, now: datetime, problems: Iterable[Problem] = (),
                     feature_conditions: bool = True, reconcile_error: ReconcileError | None = None) -> dict[str, Any]:
    """The whole desired status. `feature_conditions` is KubeRay's RayClusterStatusConditions gate
    (off: conditions are left as they were). The previous status is read from `cluster["status"]`;
    fields this function does not own (e.g. `reason`) are carried over, as KubeRay's deep copy does.

    Validity (Raybus): with problems, condition `RayClusterValid` False, reason
    `InvalidRayClusterMetadata` or `InvalidRayClusterSpec` (KubeRay's event reasons), message
    "<field>: <message>; ..."; without, the condition is removed, so a valid cluster's status is
    KubeRay's. Not `ReplicaFailure`: that one means a Pod could not be created or deleted, and
    KubeRay removes it on every error-free pass.
    """
    meta: Mapping[str, Any] = cluster.get("metadata") or {}
    spec: Mapping[str, Any] = cluster.get("spec") or {}
    old: Mapping[str, Any] = cluster.get("status") or {}
    status: dict[str, Any] = copy.deepcopy(dict(old))
    stamp = _time(now)
    generation = int(meta.get("generation") or 0)
    conditions: list[dict[str, Any]] = copy.deepcopy(list(old.get("conditions") or []))
    name = meta.get("name", "")
    mine = [p for p in pods if _labels(p).get("ray.io/cluster") == name]
    heads = [p for p in mine if _labels(p).get("ray.io/node-type") == "head"]
    head = heads[0] if len(heads) == 1 else None
    workers = spec.get("workerGroupSpecs") or []
    active = [w for w in workers if w.get("suspend") is not True]
    desired = sum(group_desired_replicas(w) for w in workers)

    def put(cond: dict[str, Any]) -> None:
        _set_condition(conditions, {**cond, "observedGeneration": generation}, stamp)

    status["observedGeneration"] = generation
    status["readyWorkerReplicas"] = sum(1 for p in mine if _is_worker(p) and running_and_ready(p))
    status["availableWorkerReplicas"] = sum(1 for p in mine if _is_worker(p) and _phase(p) == "Running")
    status["desiredWorkerReplicas"] = desired
    status["minWorkerReplicas"] = sum(int(w.get("minReplicas") or 0) * _hosts(w) for w in active)
    status["maxWorkerReplicas"] = min(MAX_INT32, sum(_max(w) * _hosts(w) for w in active))
    status.update(desired_resources(spec))
    if reconcile_error is None and len(mine) == desired + 1 and all_pods_running(mine):
        status["state"] = "ready"
        status.pop("reason", None)
    if feature_conditions:
        if reconcile_error is None:
            conditions = [c for c in conditions if c.get("type") != REPLICA_FAILURE]
        elif reconcile_error.reason:
            put({"type": REPLICA_FAILURE, "status": "True", "reason": reconcile_error.reason,
                 "message": reconcile_error.message})
        put(head_pod_ready_condition(head))
        _suspend_conditions(conditions, put, spec, mine)
        _validity(conditions, put, list(problems))
        status["conditions"] = conditions
    if spec.get("suspend") is True and not mine:
        status["state"] = "suspended"
    eps = {**(old.get("endpoints") or {}), **endpoints(_head_services(name, services)[:1])}
    if eps:
        status["endpoints"] = eps
    status["head"] = head_info(head, _head_services(name, services))
    status["lastUpdateTime"] = stamp
    if status.get("state") and status.get("state") != old.get("state"):
        status["stateTransitionTimes"] = {**(old.get("stateTransitionTimes") or {}), status["state"]: stamp}
    return status


def status_changed(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> bool:
    """Whether `new` differs from `old` in anything but timestamps (`lastUpdateTime`, conditions'
    `lastTransitionTime`; `stateTransitionTimes` only move with `state`) and empty-vs-absent
    values (Go's `omitempty`). KubeRay (`InconsistentRayClusterStatus`) also ignores desired
    resources and observedGeneration; Raybus writes those, as they are shown by `kubectl get`."""
    return bool(_comparable(old or {}) != _comparable(new))


def status_write_blocker(cluster: Mapping[str, Any], pods: Sequence[Mapping[str, Any]],
                         services: Sequence[Mapping[str, Any]]) -> str | None:
    """KubeRay's error when `calculateStatus` would fail and no status would be written, else None."""
    name = (cluster.get("metadata") or {}).get("name", "")
    heads = [p for p in pods if _labels(p).get("ray.io/cluster") == name and _labels(p).get("ray.io/node-type") == "head"]
    found = _head_services(name, services)
    if len(heads) > 1:
        return f"multiple head pods found for RayCluster {name}"
    if not found:
        return f"unable to find head service. cluster name {name}"
    if len(found) > 1:
        return f"found multiple head services. cluster name {name}"
    if not (found[0].get("spec") or {}).get("clusterIP"):
        return f"head service IP is empty. cluster name {name}"
    return None


# --- conditions ----------------------------------------------------------------------------------


def _set_condition(conditions: list[dict[str, Any]], cond: dict[str, Any], stamp: str) -> None:
    """`meta.SetStatusCondition`: update in place, keep lastTransitionTime unless status changes;
    append new types at the end."""
    cond = {"message": "", **cond}
    for i, existing in enumerate(conditions):
        if existing.get("type") == cond["type"]:
            same = existing.get("status") == cond["status"] and existing.get("lastTransitionTime")
            conditions[i] = {**cond, "lastTransitionTime": existing["lastTransitionTime"] if same else stamp}
            return
    conditions.append({**cond, "lastTransitionTime": stamp})


def _is_true(conditions: list[dict[str, Any]], kind: str) -> bool:
    return any(c.get("type") == kind and c.get("status") == "True" for c in conditions)


def head_pod_ready_condition(head: Mapping[str, Any] | None) -> dict[str, Any]:
    """HeadPodReady (KubeRay `FindHeadPodReadyCondition`): the head Pod's Ready condition, with
    reason HeadPodRunningAndReady when True without a reason; ContainersNotReady is replaced by
    the first waiting/terminated container's reason, its message appended."""
    if head is None:
        return {"type": HEAD_POD_READY, "status": "False", "reason": "HeadPodNotFound", "message": "Head Pod not found"}
    out = {"type": HEAD_POD_READY, "status": "False", "reason": "Unknown", "message": ""}
    ready = next((c for c in _pod_conditions(head) if c.get("type") == "Ready"), None)
    if ready is None:
        return out
    reason = ready.get("reason") or ("HeadPodRunningAndReady" if ready.get("status") == "True" else "")
    out.update(status=ready.get("status", "False"), message=ready.get("message") or "", reason=reason or "Unknown")
    if reason == "ContainersNotReady":
        for cs in (head.get("status") or {}).get("containerStatuses") or []:
            state = (cs.get("state") or {}).get("waiting") or (cs.get("state") or {}).get("terminated")
            if state is not None:
                text = f"{cs.get('name')}: {state.get('message') or ''}"
                out.update(reason=state.get("reason") or "", message=f"{out['message']}; {text}" if out["message"] else text)
                break
    return out


def _suspend_conditions(conditions: list[dict[str, Any]], put: Any, spec: Mapping[str, Any],
                        pods: Sequence[Mapping[str, Any]]) -> None:
    """RayClusterProvisioned, RayClusterSuspending and RayClusterSuspended, as in calculateStatus."""
    phase = SUSPENDING if _is_true(conditions, SUSPENDING) else SUSPENDED if _is_true(conditions, SUSPENDED) else ""
    if not _is_true(conditions, PROVISIONED) and phase != SUSPENDED:
        if all_pods_running(pods):
            put({"type": PROVISIONED, "status": "True", "reason": "AllPodRunningAndReadyFirstTime",
                 "message": "All Ray Pods are ready for the first time"})
        else:
            put({"type": PROVISIONED, "status": "False", "reason": "RayClusterPodsProvisioning",
                 "message": "RayCluster Pods are being provisioned for first time"})
    if phase == SUSPENDING:
        if not pods:  # suspending is atomic: it completes even if spec.suspend went back to false
            put({"type": PROVISIONED, "status": "False", "reason": "RayClusterPodsProvisioning",
                 "message": "RayCluster has been suspended"})
            put({"type": SUSPENDING, "status": "False", "reason": SUSPENDING})
            put({"type": SUSPENDED, "status": "True", "reason": SUSPENDED})
    elif phase == SUSPENDED:
        if spec.get("suspend") is False:  # KubeRay: only an explicit false resumes (nil keeps it)
            put({"type": SUSPENDED, "status": "False", "reason": SUSPENDED})
    else:
        put({"type": SUSPENDED, "status": "False", "reason": SUSPENDED})
        put({"type": SUSPENDING, "status": "True" if spec.get("suspend") is True else "False", "reason": SUSPENDING})


def _validity(conditions: list[dict[str, Any]], put: Any, problems: list[Problem]) -> None:
    if not problems:
        conditions[:] = [c for c in conditions if c.get("type") != VALID]
        return
    metadata_only = all(p.field.startswith("metadata.") for p in problems)
    put({"type": VALID, "status": "False",
         "reason": "InvalidRayClusterMetadata" if metadata_only else "InvalidRayClusterSpec",
         "message": "; ".join(f"{p.field}: {p.message}" for p in problems)})


# --- pods, services ------------------------------------------------------------------------------


def _labels(obj: Mapping[str, Any]) -> Mapping[str, str]:
    return (obj.get("metadata") or {}).get("labels") or {}


def _phase(pod: Mapping[str, Any]) -> str:
    return str((pod.get("status") or {}).get("phase") or "")


def _pod_conditions(pod: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return list((pod.get("status") or {}).get("conditions") or [])


def _is_worker(pod: Mapping[str, Any]) -> bool:
    return _labels(pod).get("ray.io/node-type") == "worker"


def running_and_ready(pod: Mapping[str, Any]) -> bool:
    """KubeRay `IsRunningAndReady`: phase Running and condition Ready True."""
    return _phase(pod) == "Running" and any(c.get("type") == "Ready" and c.get("status") == "True"
                                            for c in _pod_conditions(pod))


def all_pods_running(pods: Sequence[Mapping[str, Any]]) -> bool:
    """KubeRay `CheckAllPodsRunning`: at least one Pod, all Running, none with Ready != True
    (a Pod without a Ready condition counts as running)."""
    return bool(pods) and all(_phase(p) == "Running" and not any(
        c.get("type") == "Ready" and c.get("status") != "True" for c in _pod_conditions(p)) for p in pods)


def _head_services(name: str, services: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    found = [s for s in services if _labels(s).get("ray.io/cluster") == name and _labels(s).get("ray.io/node-type") == "head"]
    return sorted(found, key=lambda s: str((s.get("metadata") or {}).get("name", "")))


def endpoints(services: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """KubeRay `updateEndpoints` for the first head Service: named port → nodePort if set, else
    targetPort. (KubeRay merges into the previous map and never removes a name; so does the caller.)"""
    out: dict[str, str] = {}
    for svc in services[:1]:
        for port in (svc.get("spec") or {}).get("ports") or []:
            target = port.get("targetPort")
            if not port.get("name"):
                continue
            if port.get("nodePort"):
                out[port["name"]] = str(port["nodePort"])
            elif target not in (None, 0, ""):
                out[port["name"]] = str(target)
    return out


def head_info(head: Mapping[str, Any] | None, services: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """KubeRay `updateHeadInfo`: head Pod IP/name; the head Service's ClusterIP, or the head Pod's
    IP when the Service is headless (`None`); "" where unknown."""
    pod_ip = str(((head or {}).get("status") or {}).get("podIP") or "")
    svc = services[0] if len(services) == 1 else None
    cluster_ip = str(((svc or {}).get("spec") or {}).get("clusterIP") or "")
    return {"podIP": pod_ip, "serviceIP": pod_ip if cluster_ip == "None" else cluster_ip,
            "podName": str(((head or {}).get("metadata") or {}).get("name") or ""),
            "serviceName": str(((svc or {}).get("metadata") or {}).get("name") or "")}


# --- resources -----------------------------------------------------------------------------------


def _hosts(group: Mapping[str, Any]) -> int:
    return int(group.get("numOfHosts", 1) or 1)


def _max(group: Mapping[str, Any]) -> int:
    value = group.get("maxReplicas")
    return MAX_INT32 if value is None else int(value)


def is_gpu(name: str) -> bool:
    """KubeRay `IsGPUResourceKey`: ends with "gpu", or an NVIDIA MIG slice."""
    return name.endswith("gpu") or bool(_MIG.search(name))


def pod_resources(pod_spec: Mapping[str, Any]) -> dict[str, Quantity]:
    """KubeRay `CalculatePodResource`: Σ over the template's containers of requests, with limits
    for names without a request (no init containers, no injected sidecars)."""
    total: dict[str, Quantity] = {}
    for c in pod_spec.get("containers") or []:
        res = c.get("resources") or {}
        merged = {**(res.get("limits") or {}), **(res.get("requests") or {})}
        for key, raw in merged.items():
            total[key] = total[key] + Quantity.parse(raw) if key in total else Quantity.parse(raw)
    return total


def desired_resources(spec: Mapping[str, Any]) -> dict[str, str]:
    """desiredCPU/Memory/GPU/TPU (KubeRay `CalculateDesiredResources`): head Pod + Σ over
    non-suspended groups of Pod × replicas (raw, unset → 0; not clamped) × numOfHosts."""
    total = pod_resources(((spec.get("headGroupSpec") or {}).get("template") or {}).get("spec") or {})
    for w in spec.get("workerGroupSpecs") or []:
        if w.get("suspend") is True:
            continue
        times = int(w.get("replicas") or 0) * _hosts(w)
        for key, q in pod_resources((w.get("template") or {}).get("spec") or {}).items():
            total[key] = total[key] + q * times if key in total else q * times
    gpu = Quantity(Fraction(0), "DecimalSI")
    for key in sorted(total):
        if is_gpu(key) and total[key].value:
            gpu = gpu + total[key]
    zero = Quantity(Fraction(0), "DecimalSI")
    return {"desiredCPU": str(total.get("cpu", zero)), "desiredMemory": str(total.get("memory", zero)),
            "desiredGPU": str(gpu), "desiredTPU": str(total.get("google.com/tpu", zero))}


# --- helpers -------------------------------------------------------------------------------------


def _time(now: datetime) -> str:
    """metav1.Time on the wire: RFC 3339 in UTC, whole seconds."""
    return now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _comparable(status: Mapping[str, Any]) -> Any:
    drop = {"lastUpdateTime", "stateTransitionTimes"}
    out = {k: v for k, v in status.items() if k not in drop}
    out["conditions"] = sorted(
        ({k: v for k, v in c.items() if k != "lastTransitionTime"} for c in status.get("conditions") or []),
        key=lambda c: str(c.get("type")))
    return _prune(out)


def _prune(value: Any) -> Any:
    if isinstance(value, Mapping):
        pruned = {k: _prune(v) for k, v in value.items()}
        return {k: v for k, v in pruned.items() if v not in (None, "", 0, {}, []) or v is False}
    if isinstance(value, list):
        return [_prune(v) for v in value]
    return value
