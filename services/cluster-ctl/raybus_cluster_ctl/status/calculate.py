"""The desired `.status` of a RayCluster, computed as KubeRay v1.7's `calculateStatus` does, from the typed cluster and the Pods and Services it owns.

Pure and total: no I/O, the clock is a parameter, and it never raises. Where KubeRay's
`calculateStatus` returns an error instead of a status (no head Service, several head Services,
a head Service without ClusterIP, several head Pods), `calculate_status` still returns its best
status and `status_write_blocker` returns KubeRay's error text, so a caller that wants KubeRay's
behaviour (no write, requeue after 2 s) can have it.

The status comes out in KubeRay's shape (`shape.wire_status`): zero values KubeRay's
`omitempty` tags leave out are absent, conditions carry no `observedGeneration`.
Beyond KubeRay: `problems` from validation become a `RayClusterValid` condition (also on an
object that does not parse: `invalid_status`). Not here: Prometheus metrics, events.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from fractions import Fraction
from typing import Any

from raybus_common import objects
from raybus_common.crds.raycluster import ClusterState, RayCluster, RayNodeType
from raybus_common.crds.raycluster import RayClusterConditionType as Type
from raybus_common.crds.resources import is_gpu
from raybus_common.objects import set_condition
from raybus_common.quantity import Quantity

from ..constants import CLUSTER_LABEL, NODE_TYPE_LABEL
from ..validation.problems import Problem
from .conditions import (
    Condition,
    all_pods_running,
    head_pod_ready_condition,
    running,
    running_and_ready,
    suspend_conditions,
    validity,
)
from .endpoints import endpoints, head_info, head_services
from .shape import STATUS_FIELDS, wire_status

Obj = Mapping[str, Any]
_ZERO = Quantity(Fraction(0), "DecimalSI")


@dataclass(frozen=True)
class ReconcileError:
    """The error of this reconcile pass (KubeRay's `reconcileErr`). `reason` is one of the
    ReplicaFailure markers (`FailedCreateWorkerPod`, ...) or "" for an error without a marker."""

    message: str
    reason: str = ""


def calculate_status(cluster: RayCluster, pods: Sequence[Obj], services: Sequence[Obj], *, now: datetime,
                     problems: Iterable[Problem] = (), feature_conditions: bool = True,
                     reconcile_error: ReconcileError | None = None,
                     resources: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The whole desired status. `feature_conditions` is KubeRay's RayClusterStatusConditions gate
    (off: conditions are left as they were). The previous status is the cluster's own; fields
    this function does not own (e.g. `reason`) are carried over, as KubeRay's deep copy does.
    `resources`: `desired_resources(cluster)` when the caller has it already (`memo`)."""
    spec = cluster.spec
    old = cluster.status.to_wire() if cluster.status is not None else {}  # fresh dicts, the model's untouched
    status: dict[str, Any] = dict(old)  # below, keys are replaced and conditions rebuilt, never edited in place
    stamp = _time(now)
    conditions: list[Condition] = list(status.get("conditions") or [])
    mine = [p for p in pods if objects.labels(p).get(CLUSTER_LABEL) == cluster.name]
    heads = [p for p in mine if _node_type(p) == RayNodeType.HEAD]
    workers = [p for p in mine if _node_type(p) == RayNodeType.WORKER]
    head = heads[0] if len(heads) == 1 else None
    desired = spec.desired_worker_replicas()

    def put(cond: Condition) -> None:
        set_condition(conditions, cond, stamp)

    status["observedGeneration"] = int(cluster.metadata.get("generation") or 0)
    status["readyWorkerReplicas"] = sum(1 for p in workers if running_and_ready(p))
    status["availableWorkerReplicas"] = sum(1 for p in workers if running(p))
    status["desiredWorkerReplicas"] = desired
    status["minWorkerReplicas"] = spec.min_worker_replicas()
    status["maxWorkerReplicas"] = spec.max_worker_replicas()
    status.update(desired_resources(cluster) if resources is None else resources)
    if reconcile_error is None and len(mine) == desired + 1 and all_pods_running(mine):
        status["state"] = ClusterState.READY.value
        status.pop("reason", None)
    if feature_conditions:
        if reconcile_error is None:
            conditions = [c for c in conditions if c.get("type") != Type.REPLICA_FAILURE]
        elif reconcile_error.reason:
            put({"type": Type.REPLICA_FAILURE, "status": "True", "reason": reconcile_error.reason,
                 "message": reconcile_error.message})
        put(head_pod_ready_condition(head))
        suspend_conditions(conditions, put, spec.suspend, mine)
        validity(conditions, put, list(problems))
        status["conditions"] = conditions
    if spec.suspend is True and not mine:
        status["state"] = ClusterState.SUSPENDED.value
    found = head_services(cluster.name, services)
    eps = {**(old.get("endpoints") or {}), **endpoints(found[:1])}
    if eps:
        status["endpoints"] = eps
    status["head"] = head_info(head, found)
    status["lastUpdateTime"] = stamp
    if status.get("state") and status.get("state") != old.get("state"):
        status["stateTransitionTimes"] = {**(old.get("stateTransitionTimes") or {}), status["state"]: stamp}
    return wire_status(status)


def invalid_status(old: Obj | None, problems: Sequence[Problem], *, generation: int, now: datetime,
                   feature_conditions: bool = True) -> dict[str, Any]:
    """The status of an object that does not even parse: the previous status, with the
    RayClusterValid condition naming the problems and `observedGeneration` the generation they
    were found in, in KubeRay's shape. With the conditions gate off, the old status unchanged:
    there is nothing to write."""
    status: dict[str, Any] = copy.deepcopy(dict(old or {}))
    if not feature_conditions:
        return status
    conditions: list[Condition] = list(status.get("conditions") or [])
    validity(conditions, lambda cond: set_condition(conditions, cond, _time(now)), problems)
    status["conditions"] = conditions
    status["observedGeneration"] = generation
    return wire_status(status)


def desired_resources(cluster: RayCluster) -> dict[str, str]:
    """desiredCPU/Memory/GPU/TPU from KubeRay `CalculateDesiredResources` (the model's
    `desired_resources`); desiredGPU sums every GPU resource name (`sumGPUs`)."""
    total = cluster.spec.desired_resources()
    gpu = _ZERO
    for key in sorted(total):
        if is_gpu(key) and total[key].value:
            gpu = gpu + total[key]
    return {"desiredCPU": str(total.get("cpu", _ZERO)), "desiredMemory": str(total.get("memory", _ZERO)),
            "desiredGPU": str(gpu), "desiredTPU": str(total.get("google.com/tpu", _ZERO))}


_TIMES = frozenset({"lastUpdateTime", "stateTransitionTimes"})


def status_changed(old: Obj | None, new: Obj) -> bool:
    """Whether `new` differs from `old` in anything but timestamps (`lastUpdateTime`, conditions'
    `lastTransitionTime`; `stateTransitionTimes` only move with `state`), both read as KubeRay's
    struct would hold them (`wire_status`: a zero value and an absent field are the same, as
    after Go's decoding). KubeRay (`InconsistentRayClusterStatus`) also ignores desired
    resources and observedGeneration; Raybus writes those, as they are shown by `kubectl get`.

    Without shaping both, as most passes need: a plain field (state, counters) changed from or
    to a value that is not its zero is a change on the wire too; and two statuses equal but for
    those timestamps as they are (Python's `==`) are equal as KubeRay's struct holds them."""
    if old is None:
        return bool(comparable({}) != comparable(new))
    if _plain_fields_differ(old, new):
        return True
    if _untimed(old) == _untimed(new):
        return False
    return bool(comparable(old) != comparable(new))


# Top-level status fields shaped as they are (not `head` or `conditions`), with their wire form.
_PLAIN_FIELDS = tuple((k, w) for k, w in STATUS_FIELDS.items() if k not in _TIMES and k not in ("head", "conditions"))


def _plain_fields_differ(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    """Whether a plain field differs in a way no shaping can hide: a value that is not its zero
    is written as it is, so two different values, one of them not a zero, differ on the wire too
    (whereas an absent field and its zero are the same there). Most changed statuses show it in
    their state or counters, without shaping both (`wire_status`'s rule, field by field)."""
    for k, wire in _PLAIN_FIELDS:
        a, b = old.get(k), new.get(k)
        if a != b and not (wire.holds_zero(a) and wire.holds_zero(b)):
            return True
    return False


def _untimed(status: Mapping[str, Any]) -> dict[str, Any]:
    """`status` without the timestamps `status_changed` ignores, otherwise as it is."""
    out = {k: v for k, v in status.items() if k not in _TIMES}
    conditions = out.get("conditions")
    if isinstance(conditions, list):
        out["conditions"] = [{k: v for k, v in c.items() if k != "lastTransitionTime"} if isinstance(c, Mapping)
                             else c for c in conditions]
    return out


def is_transition(old: Obj, new: Obj) -> bool:
    """Whether a status change is a transition a user waits for (the state, or a condition's
    status other than HeadPodReady's, changed), rather than progress (counters, endpoints, IPs,
    the head's readiness, which comes moments before the cluster's): the runtime writes
    transitions after `status_interval` and holds progress back to ride along with the next
    one (`status_progress_interval` at most)."""
    def conditions(status: Obj) -> dict[str, str]:
        return {str(c.get("type")): str(c.get("status")) for c in status.get("conditions") or []
                if c.get("type") != Type.HEAD_POD_READY}

    return old.get("state") != new.get("state") or conditions(old) != conditions(new)


def status_write_blocker(cluster: RayCluster, pods: Sequence[Obj], services: Sequence[Obj]) -> str | None:
    """KubeRay's error when `calculateStatus` would fail and no status would be written, else None."""
    name = cluster.name
    heads = [p for p in pods if objects.labels(p).get(CLUSTER_LABEL) == name and _node_type(p) == RayNodeType.HEAD]
    found = head_services(name, services)
    if len(heads) > 1:
        return f"multiple head pods found for RayCluster {name}"
    if not found:
        return f"unable to find head service. cluster name {name}"
    if len(found) > 1:
        return f"found multiple head services. cluster name {name}"
    if not (found[0].get("spec") or {}).get("clusterIP"):
        return f"head service IP is empty. cluster name {name}"
    return None


def _node_type(pod: Obj) -> str | None:
    return objects.labels(pod).get(NODE_TYPE_LABEL)


def _time(now: datetime) -> str:
    """metav1.Time on the wire: RFC 3339 in UTC, whole seconds."""
    return now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def comparable(status: Obj) -> Any:
    """`status` as `status_changed` compares it: as KubeRay's struct holds it (`wire_status`),
    without its timestamps, conditions by type."""
    out = _untimed(wire_status(status))
    out["conditions"] = sorted(out.get("conditions") or [], key=lambda c: str(c.get("type")))
    return out
