"""The arithmetic of NewClusterWithIncrementalUpgrade (KubeRay v1.7, A.7.3 to A.7.5): the HTTPRoute
weights, Serve's `target_capacity` per cluster, when either may move, and the rollback. Pure:
`now` is passed in; the functions read (and, where KubeRay changes its in-memory status, change)
the status dict the pass works on. The objects (Gateway, HTTPRoute, per-cluster serve Service)
are `gateway.py`'s.

Defaults where the status has no value: active traffic 100 and target capacity 100, pending
traffic 0 and target capacity 0.

| step | forward (no RollbackInProgress) | rollback |
|---|---|---|
| weights (`next_weights`) | hold when pending traffic = pending TC; else once `intervalSeconds` passed since the pending `lastTrafficMigratedTime` (or none), and only if the pending cluster is ready: pending = min(100, pending + step, pending TC), active = 100 − pending | hold when active traffic = active TC; else after the interval (from the active's time): active = min(100, active + step, active TC), pending = 100 − active; readiness ignored |
| capacity (`capacity_goal`) | wait while pending TC ≠ pending traffic; the active cluster, when the TCs sum over 100: max(0, active TC − maxSurge); the pending one, when they sum to 100 or less: min(100, pending TC + maxSurge) | wait while active TC ≠ active traffic; the pending cluster, when the sum is over 100: max(0, pending TC − maxSurge); else the active one: min(100, active TC + maxSurge) |
| done (`need_target_capacity_update` false) | active TC 0 and pending TC 100 | active TC 100 and pending TC 0 |

With maxSurge 50 and step 25 an upgrade goes: pending TC 0→50; traffic 25→50; active TC
100→50; pending TC 50→100; traffic 75→100; active TC 50→0; promotion (`upgrade.promotion`).

Rollback (`reconcile_rollback`, while UpgradeInProgress is True and both clusters exist): the
goal's hash equal to the active cluster's, or to neither, sets RollbackInProgress
True/DesiredClusterSpecChanged; equal to the pending cluster's removes it. It completes
(`rollback_complete`) once the active TC and traffic are 100 and the pending TC and traffic are 0,
or the pending cluster's head is not ready; then (`complete_rollback`) the pending status is
cleared, RollbackInProgress removed, UpgradeInProgress False/NoPendingCluster.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

from raybus_common import gotext, objects
from raybus_common.crds.raycluster_status import condition_true
from raybus_common.crds.rayservice import RayServiceConditionReason as Reason
from raybus_common.crds.rayservice import RayServiceConditionType as Type

from .conditions import is_true, remove_condition, set_condition
from .constants import HASH_ANNOTATION

Obj = dict[str, Any]
Which = Literal["active", "pending"]
_WHICH: tuple[Which, Which] = ("active", "pending")
_KEY: Mapping[Which, str] = {"active": "activeServiceStatus", "pending": "pendingServiceStatus"}
_DEFAULT_TC: Mapping[Which, int] = {"active": 100, "pending": 0}


def _value(status: Mapping[str, Any], which: Which, key: str) -> int | None:
    found = (status.get(_KEY[which]) or {}).get(key)
    return int(found) if found is not None else None


def traffic(status: Mapping[str, Any], which: Which) -> int:
    """`trafficRoutedPercent`, 100 (active) or 0 (pending) when unset."""
    found = _value(status, which, "trafficRoutedPercent")
    return found if found is not None else _DEFAULT_TC[which]


def capacity(status: Mapping[str, Any], which: Which) -> int:
    """`targetCapacity`, 100 (active) or 0 (pending) when unset."""
    found = _value(status, which, "targetCapacity")
    return found if found is not None else _DEFAULT_TC[which]


def rolling_back(status: Mapping[str, Any]) -> bool:
    return is_true(status, Type.ROLLBACK_IN_PROGRESS)


# --- weights ----------------------------------------------------------------------------------------
def next_weights(status: Mapping[str, Any], *, step: int, interval_seconds: int, pending_ready: bool,
                 now: datetime) -> tuple[int, int]:
    """KubeRay `calculateTrafficRoutedPercent`: the (active, pending) weights of this pass's
    HTTPRoute (the module's first row)."""
    active, pending = traffic(status, "active"), traffic(status, "pending")
    back = rolling_back(status)
    if (not back and pending == capacity(status, "pending")) or (back and active == capacity(status, "active")):
        return active, pending
    last = objects.read_time((status.get(_KEY["active" if back else "pending"]) or {}).get("lastTrafficMigratedTime"))
    if last is not None and (now - last).total_seconds() < interval_seconds:
        return active, pending
    if back:
        active = min(100, active + step, capacity(status, "active"))
        return active, 100 - active
    if pending_ready:
        pending = min(100, pending + step, capacity(status, "pending"))
        return 100 - pending, pending
    return active, pending


def route_weights(route: Mapping[str, Any] | None, status: Mapping[str, Any]) -> tuple[int, int]:
    """KubeRay `GetWeightsFromHTTPRoute`: the (active, pending) weights of the route's first rule,
    a backend counting for a cluster when its name contains the cluster's name (an unset weight
    reads 0); -1 for a cluster no backend names (or no route)."""
    names = {which: str((status.get(_KEY[which]) or {}).get("rayClusterName") or "") for which in _WHICH}
    found = {"active": -1, "pending": -1}
    rules = ((route or {}).get("spec") or {}).get("rules") or []
    for ref in (rules[0].get("backendRefs") or []) if rules else []:
        for which, cluster in names.items():
            if cluster and cluster in str(ref.get("name") or ""):
                found[which] = int(ref.get("weight") or 0)
    return found["active"], found["pending"]


def record_traffic(status: Obj, route: Mapping[str, Any] | None, *, pending_exists: bool, now: datetime) -> None:
    """KubeRay `calculateStatus`'s incremental part: each cluster's `trafficRoutedPercent` from the
    route, and `lastTrafficMigratedTime` = now where it changed (the pending one only when its
    cluster exists)."""
    weights: tuple[tuple[Which, int], ...] = tuple(zip(_WHICH, route_weights(route, status), strict=True))
    for which, weight in weights:
        if weight < 0 or (which == "pending" and not pending_exists):
            continue
        entry = status.setdefault(_KEY[which], {})
        if weight != _value(status, which, "trafficRoutedPercent"):
            entry["lastTrafficMigratedTime"] = objects.wire_time(now)
        entry["trafficRoutedPercent"] = weight


# --- target capacity ----------------------------------------------------------------------------------
def _all_true(conditions: Any, *kinds: str) -> bool:
    return all(condition_true(conditions, kind) for kind in kinds)


def gateway_ready(gateway: Mapping[str, Any] | None) -> bool:
    """KubeRay `IsGatewayReady`: Accepted and Programmed are True."""
    return _all_true(((gateway or {}).get("status") or {}).get("conditions"), "Accepted", "Programmed")


def route_ready(gateway: Mapping[str, Any], route: Mapping[str, Any] | None) -> bool:
    """KubeRay `IsHTTPRouteReady`: a parent status for this Gateway (by name, and namespace when
    given) with Accepted and ResolvedRefs True."""
    for parent in ((route or {}).get("status") or {}).get("parents") or []:
        ref = parent.get("parentRef") or {}
        if ref.get("name") != objects.name(gateway):
            continue
        if ref.get("namespace") is not None and ref.get("namespace") != objects.namespace(gateway):
            continue
        if _all_true(parent.get("conditions"), "Accepted", "ResolvedRefs"):
            return True
    return False


def need_target_capacity_update(status: Mapping[str, Any], *, gateway: Mapping[str, Any] | None,
                                route: Mapping[str, Any] | None) -> tuple[bool, str]:
    """KubeRay `checkIfNeedTargetCapacityUpdate`: whether to move a target capacity this pass, and
    why (KubeRay's words)."""
    if not all((status.get(_KEY[w]) or {}).get("rayClusterName") for w in _WHICH):
        return False, "Both active and pending RayCluster instances are required for NewClusterWithIncrementalUpgrade."
    if gateway is None:
        return False, "Failed to retrieve Gateway for RayService: not found"
    if not gateway_ready(gateway):
        return False, "Gateway for RayService NewClusterWithIncrementalUpgrade is not ready."
    if route is None:
        return False, "Failed to retrieve HTTPRoute for RayService: not found"
    if not route_ready(gateway, route):
        return False, "HTTPRoute for RayService NewClusterWithIncrementalUpgrade is not ready."
    for which in _WHICH:
        if _value(status, which, "targetCapacity") is None or _value(status, which, "trafficRoutedPercent") is None:
            return True, f"{which.title()} RayServiceStatus missing TargetCapacity or TrafficRoutedPercent."
    active_tc, pending_tc = capacity(status, "active"), capacity(status, "pending")
    if rolling_back(status):
        if active_tc == 100 and pending_tc == 0:
            return False, "Rollback complete: all traffic has been restored to the active cluster."
        return True, "Rollback in progress: traffic is being restored to the active cluster."
    if active_tc == 0 and pending_tc == 100:
        return False, ("All traffic has migrated to the upgraded cluster and NewClusterWithIncrementalUpgrade is "
                       "complete.")
    if pending_tc < 100 or traffic(status, "pending") < 100:
        return True, "Pending RayCluster has not finished scaling up."
    return True, "Active RayCluster TargetCapacity has not finished scaling down."


def fill_capacity_defaults(status: Obj) -> None:
    """What `reconcileServeTargetCapacity` writes first: an unset active TC is 100, pending 0."""
    for which in _WHICH:
        status.setdefault(_KEY[which], {}).setdefault("targetCapacity", _DEFAULT_TC[which])


def capacity_goal(status: Mapping[str, Any], which: Which, *, max_surge: int) -> int | None:
    """KubeRay `reconcileServeTargetCapacity` for the `which` cluster: its new target capacity, or
    None when it does not move this pass (the module's second row)."""
    active_tc, pending_tc = capacity(status, "active"), capacity(status, "pending")
    over = active_tc + pending_tc > 100
    if rolling_back(status):
        if active_tc != (_value(status, "active", "trafficRoutedPercent") or 0):
            return None
        if over:
            return max(0, pending_tc - max_surge) if which == "pending" else None
        return min(100, active_tc + max_surge) if which == "active" else None
    if pending_tc != (_value(status, "pending", "trafficRoutedPercent") or 0):
        return None
    if which == "active":
        return max(0, active_tc - max_surge) if over else None
    return None if over else min(100, pending_tc + max_surge)


def config_with_capacity(serve_config: str, goal: int) -> Obj | None:
    """KubeRay `applyServeTargetCapacity`'s body: the Serve config (YAML: the one last submitted
    to the cluster, else the spec's) with `target_capacity` = goal; None when it already has that
    value (nothing to send). ValueError when the text is not a YAML mapping."""
    parsed = gotext.yaml_value(serve_config) if serve_config else None
    if parsed is not None and not isinstance(parsed, dict):
        raise ValueError(f"the Serve config is not a YAML mapping: {serve_config[:60]!r}")
    config: Obj = parsed or {}
    current = config.get("target_capacity")
    if isinstance(current, (int, float)) and not isinstance(current, bool) and int(current) == goal:
        return None
    return {**config, "target_capacity": goal}


def set_capacity(status: Obj, which: Which, goal: int) -> None:
    """The status after a target capacity was applied to the `which` cluster."""
    status.setdefault(_KEY[which], {})["targetCapacity"] = goal


def new_pending_status(status: Mapping[str, Any], name: str, *, incremental: bool) -> Obj:
    """`pendingServiceStatus` for a newly prepared cluster `name`: under the incremental strategy
    its target capacity starts at 0, or 100 for the very first cluster (no active name; left
    unset when the active status still holds a target capacity)."""
    pending: Obj = {"rayClusterName": name}
    if incremental:
        if (status.get(_KEY["active"]) or {}).get("rayClusterName"):
            pending["targetCapacity"] = 0
        elif _value(status, "active", "targetCapacity") is None:
            pending["targetCapacity"] = 100
    return pending


# --- rollback ------------------------------------------------------------------------------------------
def reconcile_rollback(status: Obj, *, goal_hash: str, active: Mapping[str, Any], pending: Mapping[str, Any],
                       now: datetime) -> None:
    """KubeRay `reconcileRollbackState` (the module's last paragraph)."""
    back = rolling_back(status)
    if goal_hash == objects.annotations(active).get(HASH_ANNOTATION):
        if not back:
            set_condition(status, Type.ROLLBACK_IN_PROGRESS, "True", Reason.DESIRED_CLUSTER_SPEC_CHANGED,
                          "Goal state reverted to original cluster, rolling back.", now)
    elif goal_hash == objects.annotations(pending).get(HASH_ANNOTATION):
        if back:
            remove_condition(status, Type.ROLLBACK_IN_PROGRESS)
    elif not back:
        set_condition(status, Type.ROLLBACK_IN_PROGRESS, "True", Reason.DESIRED_CLUSTER_SPEC_CHANGED,
                      "Goal state changed mid-upgrade, rolling back to original cluster.", now)


def rollback_complete(status: Mapping[str, Any], *, pending_head_ready: bool) -> bool:
    """KubeRay `shouldCompleteIncrementalRollback`: active TC and traffic 100, and the pending
    cluster drained (TC and traffic 0) or its head not ready (`pending_head_ready`: the pending
    cluster exists and its HeadPodReady condition is True)."""
    def exact(which: Which, key: str) -> int:
        found = _value(status, which, key)
        return found if found is not None else -1

    active_back = exact("active", "targetCapacity") == 100 and exact("active", "trafficRoutedPercent") == 100
    drained = exact("pending", "targetCapacity") == 0 and exact("pending", "trafficRoutedPercent") == 0
    return active_back and (not pending_head_ready or drained)


def complete_rollback(status: Obj, now: datetime) -> None:
    """The rollback is over: no pending cluster, RollbackInProgress removed, UpgradeInProgress
    False/NoPendingCluster."""
    status["pendingServiceStatus"] = {}
    remove_condition(status, Type.ROLLBACK_IN_PROGRESS)
    set_condition(status, Type.UPGRADE_IN_PROGRESS, "False", Reason.NO_PENDING_CLUSTER,
                  "Rollback complete, active Ray cluster exists and no pending Ray cluster", now)
