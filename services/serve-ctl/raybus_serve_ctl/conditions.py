"""A RayService's conditions as KubeRay v1.7 sets them (A.11, A.12): `calculateConditions` at the
end of a pass, the suspend state machine (`handleSuspend`), the initializing timeout
(`markFailedOnInitializingTimeout`) and the deprecated `serviceStatus`. Pure: `now` is passed in,
and every function changes the status dict the pass is working on, as KubeRay changes its
in-memory object. Every condition carries `observedGeneration` = `status.observedGeneration`.

`calculate_conditions`:

| when | Ready | UpgradeInProgress |
|---|---|---|
| no conditions yet | False / Initializing "RayService is initializing" | False / Initializing (same message) |
| numServeEndpoints > 0 | True / NonZeroServeEndpoints | |
| 0 endpoints, Ready was True | False / ZeroServeEndpoints | |
| 0 endpoints, Ready Initializing past `ray.io/initializing-timeout` | False / InitializingTimeout (names cleared, Event) | |
| active and pending names | | True / BothActivePendingClustersExist |
| active name only | | False / NoPendingCluster |
| no active name (and UpgradeInProgress not Initializing nor InitializingTimeout) | | Unknown / NoActiveCluster |

Suspend (`handle_suspend`), one step per pass:

| Suspending | Suspended | spec.suspend | step | conditions set |
|---|---|---|---|---|
| | True | false | RESUMED | Suspended False/RayServiceResumed; Ready and UpgradeInProgress False/Initializing, transition time fresh |
| | True | true | SUSPENDED (nothing to do) | |
| not True | | false | NONE (the normal flow runs) | |
| not True | | true | STAGED | Suspending True/SuspendRequested; Ready, UpgradeInProgress, RollbackInProgress False/SuspendInProgress; cluster statuses, endpoints and serviceStatus cleared |
| True | | (either) | DELETING while owned objects remain | Suspending True/SuspendInProgress |
| True | | (either) | COMPLETE once none remain | Suspending False/SuspendComplete, Suspended True/SuspendComplete; Ready, UpgradeInProgress, RollbackInProgress False/SuspendComplete |
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from raybus_common import gotext, objects
from raybus_common.crds.raycluster_status import condition_true
from raybus_common.crds.rayservice import RayServiceConditionReason as Reason
from raybus_common.crds.rayservice import RayServiceConditionType as Type
from raybus_common.crds.rayservice import ServiceStatus

from .constants import INITIALIZING_TIMEOUT_ANNOTATION

Obj = dict[str, Any]
_GO_INT = re.compile(r"[+-]?[0-9]+")
_INITIALIZING = "RayService is initializing"
_RESUMING = "RayService is initializing after resuming from suspend."
_NO_UPGRADE, _NO_ROLLBACK = "No upgrade in progress.", "No rollback in progress."
_ALL_DELETED = "All owned resources have been deleted."


# --- the condition list ---------------------------------------------------------------------------
def find(status: Mapping[str, Any], kind: str) -> Mapping[str, Any] | None:
    """`meta.FindStatusCondition`."""
    return next((c for c in status.get("conditions") or [] if c.get("type") == kind), None)


def is_true(status: Mapping[str, Any], kind: str) -> bool:
    return condition_true(status.get("conditions"), kind)


def set_condition(status: Obj, kind: str, value: str, reason: str, message: str, now: datetime) -> None:
    """KubeRay's `setCondition`: `meta.SetStatusCondition` with `observedGeneration` from the status
    (lastTransitionTime kept unless the condition's status changes)."""
    conditions = status.setdefault("conditions", [])
    cond = {"type": str(kind), "status": value, "reason": str(reason), "message": message,
            "observedGeneration": int(status.get("observedGeneration") or 0)}
    objects.set_condition(conditions, cond, objects.wire_time(now))


def remove_condition(status: Obj, kind: str) -> None:
    """`meta.RemoveStatusCondition`."""
    if "conditions" in status:
        status["conditions"] = [c for c in status["conditions"] or [] if c.get("type") != kind]


def service_status(status: Mapping[str, Any]) -> str:
    """The deprecated `serviceStatus`: Running iff Ready is True, else ""."""
    return ServiceStatus.RUNNING.value if is_true(status, Type.READY) else ServiceStatus.NOT_RUNNING.value


# --- the initializing timeout ---------------------------------------------------------------------
def read_timeout(text: str) -> float | None:
    """`ray.io/initializing-timeout` in seconds, as KubeRay reads it: a Go duration first (`30m`),
    else integer seconds (`strconv.Atoi`); None when it is neither."""
    try:
        return gotext.parse_duration(text)
    except ValueError:
        pass
    return float(int(text)) if _GO_INT.fullmatch(text) else None


def initializing_timeout(annotations: Mapping[str, str]) -> float | None:
    """KubeRay `getInitializingTimeout`: the annotation's seconds, None when absent, empty or
    unreadable (validation rejects those, and values ≤ 0)."""
    text = annotations.get(INITIALIZING_TIMEOUT_ANNOTATION, "")
    return read_timeout(text) if text else None


def initializing_timed_out(status: Mapping[str, Any]) -> bool:
    """KubeRay `isInitializingTimeout`: Ready is False/InitializingTimeout, a terminal state."""
    ready = find(status, Type.READY)
    return ready is not None and ready.get("status") == "False" and ready.get("reason") == Reason.INITIALIZING_TIMEOUT


@dataclass(frozen=True)
class TimedOut:
    """The initializing timeout fired: the Warning Event `RayServiceInitializingTimeout` to record
    (action Reconcile)."""

    message: str


def mark_failed_on_initializing_timeout(status: Obj, *, timeout: float | None, now: datetime) -> TimedOut | None:
    """KubeRay `markFailedOnInitializingTimeout`: when Ready has been False/Initializing for at
    least `timeout` seconds (from its lastTransitionTime), clear both cluster names (so the
    clusters go) and set Ready False/InitializingTimeout."""
    ready = find(status, Type.READY)
    if timeout is None or ready is None or ready.get("status") != "False" or ready.get("reason") != Reason.INITIALIZING:
        return None
    since = objects.read_time(ready.get("lastTransitionTime"))
    spent = (now - since).total_seconds() if since is not None else float("inf")
    if spent < timeout:
        return None
    for which in ("activeServiceStatus", "pendingServiceStatus"):
        status.setdefault(which, {})["rayClusterName"] = ""
    spent_text, timeout_text = gotext.duration(spent) if since is not None else "?", gotext.duration(timeout)
    set_condition(status, Type.READY, "False", Reason.INITIALIZING_TIMEOUT,
                  f"RayService failed to become ready within the configured timeout of {timeout_text}. "
                  f"Time spent initializing: {spent_text}", now)
    return TimedOut(f"RayService initializing timeout exceeded after {spent_text} (configured timeout: {timeout_text})")


def initializing_timeout_due(status: Mapping[str, Any], *, timeout: float | None) -> datetime | None:
    """When the initializing timeout falls due (to requeue then), None when it cannot fire."""
    ready = find(status, Type.READY)
    if timeout is None or ready is None or ready.get("status") != "False" or ready.get("reason") != Reason.INITIALIZING:
        return None
    since = objects.read_time(ready.get("lastTransitionTime"))
    return None if since is None else since + timedelta(seconds=timeout)


# --- calculateConditions --------------------------------------------------------------------------
def calculate_conditions(status: Obj, *, timeout: float | None, now: datetime) -> TimedOut | None:
    """KubeRay `calculateConditions` (the module's first table), on a status whose
    `numServeEndpoints` and cluster names this pass has worked out."""
    if not status.get("conditions"):
        status["conditions"] = []
        set_condition(status, Type.READY, "False", Reason.INITIALIZING, _INITIALIZING, now)
        set_condition(status, Type.UPGRADE_IN_PROGRESS, "False", Reason.INITIALIZING, _INITIALIZING, now)
    timed_out = None
    if int(status.get("numServeEndpoints") or 0) > 0:
        set_condition(status, Type.READY, "True", Reason.NON_ZERO_SERVE_ENDPOINTS,
                      "Number of serve endpoints is greater than 0", now)
    elif is_true(status, Type.READY):
        set_condition(status, Type.READY, "False", Reason.ZERO_SERVE_ENDPOINTS, "Number of serve endpoints dropped to 0",
                      now)
    else:
        timed_out = mark_failed_on_initializing_timeout(status, timeout=timeout, now=now)
    active = (status.get("activeServiceStatus") or {}).get("rayClusterName")
    pending = (status.get("pendingServiceStatus") or {}).get("rayClusterName")
    if active and pending:
        set_condition(status, Type.UPGRADE_IN_PROGRESS, "True", Reason.BOTH_ACTIVE_PENDING_CLUSTERS_EXIST,
                      "Both active and pending Ray clusters exist", now)
    elif active:
        set_condition(status, Type.UPGRADE_IN_PROGRESS, "False", Reason.NO_PENDING_CLUSTER,
                      "Active Ray cluster exists and no pending Ray cluster", now)
    else:
        upgrade = find(status, Type.UPGRADE_IN_PROGRESS)
        if upgrade is None or upgrade.get("reason") not in (Reason.INITIALIZING, Reason.INITIALIZING_TIMEOUT):
            set_condition(status, Type.UPGRADE_IN_PROGRESS, "Unknown", Reason.NO_ACTIVE_CLUSTER,
                          "No active Ray cluster exists, and the RayService is not initializing. Please open a GitHub "
                          "issue in the KubeRay repository.", now)
    return timed_out


# --- suspend --------------------------------------------------------------------------------------
class SuspendStep(StrEnum):
    NONE = "None"  # not suspending: the normal flow runs
    STAGED = "Staged"  # the suspend is written to the status; deletion starts next pass
    DELETING = "Deleting"  # owned objects remain: the caller deletes them
    COMPLETE = "Complete"  # nothing remains: Suspended
    SUSPENDED = "Suspended"  # stays suspended: nothing to do
    RESUMED = "Resumed"  # back to Initializing: the normal flow runs (and makes a new cluster)


def suspend_operative(status: Mapping[str, Any]) -> bool:
    """KubeRay `suspendIsOperative`: Suspending or Suspended is True; the pass stops after the
    suspend step."""
    return is_true(status, Type.SUSPENDING) or is_true(status, Type.SUSPENDED)


def handle_suspend(status: Obj, *, suspend: bool, generation: int, remaining: bool, now: datetime) -> SuspendStep:
    """KubeRay `handleSuspend`, one step (the module's second table). `remaining`: whether any
    object the RayService owns (its RayClusters, Services, and under the incremental strategy its
    Gateway and HTTPRoute) is still in view, going or not."""
    if is_true(status, Type.SUSPENDED):
        if suspend:
            return SuspendStep.SUSPENDED
        status["observedGeneration"] = generation
        set_condition(status, Type.SUSPENDED, "False", Reason.RAY_SERVICE_RESUMED,
                      "Spec.Suspend is false; RayService has resumed.", now)
        for kind in (Type.READY, Type.UPGRADE_IN_PROGRESS):
            remove_condition(status, kind)  # a fresh lastTransitionTime re-arms the initializing timeout
            set_condition(status, kind, "False", Reason.INITIALIZING, _RESUMING, now)
        return SuspendStep.RESUMED
    if not is_true(status, Type.SUSPENDING):
        if not suspend:
            return SuspendStep.NONE
        status["observedGeneration"] = generation
        set_condition(status, Type.SUSPENDING, "True", Reason.SUSPEND_REQUESTED,
                      "Spec.Suspend is true; will delete all Kubernetes resources owned by this RayService.", now)
        _settle(status, Reason.SUSPEND_IN_PROGRESS, "RayService is suspending.", now)
        status["activeServiceStatus"], status["pendingServiceStatus"] = {}, {}
        status["numServeEndpoints"] = 0
        status["serviceStatus"] = ServiceStatus.NOT_RUNNING.value
        return SuspendStep.STAGED
    if remaining:
        set_condition(status, Type.SUSPENDING, "True", Reason.SUSPEND_IN_PROGRESS,
                      "Waiting for all Kubernetes resources owned by this RayService to be deleted.", now)
        return SuspendStep.DELETING
    set_condition(status, Type.SUSPENDING, "False", Reason.SUSPEND_COMPLETE, _ALL_DELETED, now)
    set_condition(status, Type.SUSPENDED, "True", Reason.SUSPEND_COMPLETE, _ALL_DELETED, now)
    _settle(status, Reason.SUSPEND_COMPLETE, "RayService is suspended.", now)
    return SuspendStep.COMPLETE


def _settle(status: Obj, reason: str, ready_message: str, now: datetime) -> None:
    """Ready, UpgradeInProgress and RollbackInProgress False with `reason`."""
    set_condition(status, Type.READY, "False", reason, ready_message, now)
    set_condition(status, Type.UPGRADE_IN_PROGRESS, "False", reason, _NO_UPGRADE, now)
    set_condition(status, Type.ROLLBACK_IN_PROGRESS, "False", reason, _NO_ROLLBACK, now)
