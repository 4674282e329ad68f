"""What a RayService does when its spec changes (KubeRay v1.7, A.6): update a cluster in place,
prepare a new one, or neither; and when the new one takes over (promotion). Pure: the feature
gate and `ENABLE_ZERO_DOWNTIME` are parameters, the conditions are read from the status the pass
is working on (KubeRay reads its in-memory object, changed earlier in the same pass).

`should_update_cluster(cluster)`, for the active and the pending cluster:

| cluster | UpgradeInProgress | `ray.io/kuberay-version` | hash | partial hash | → |
|---|---|---|---|---|---|
| none | | | | | no |
| active | True | | | | no |
| active | not True | ≠ the operator's | | | **update** |
| any | | (equal, or pending) | equal | | no |
| any | | | differs | equal | **update** (groups appended) |
| any | | | differs | differs | no (a new cluster's matter) |

`should_prepare_new_cluster` (a new pending name in the status):

| pending serving | RollbackInProgress | clusters | hash of pending (else active) | → |
|---|---|---|---|---|
| yes | | | | no |
| | True | | | no |
| | | none | | **yes** (first cluster) |
| | | some | equal, or partial equal | no |
| | | some | differs | `zero_downtime_enabled` |

`zero_downtime_enabled`: with `upgradeStrategy.type` set, the gate on: NewCluster or
NewClusterWithIncrementalUpgrade; the gate off: NewCluster only (None, and any other type: no).
Unset: `ENABLE_ZERO_DOWNTIME` (false only when the operator sets it "false").

Promotion (`promotion`, KubeRay `reconcilePromotionAndServingStatus`, run once both Services
exist): the cluster the Services select must be the same for both and be the active or the
pending one, where KubeRay panics the operator; here that is a `ServicesDisagree` value the
caller reports. Blue/green promotes once the Services select another cluster than the active
one; the incremental strategy promotes when the upgrade is complete (active target capacity 0,
pending traffic 100, no rollback), or for the first cluster (no active, a pending one).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from raybus_common import objects
from raybus_common.crds.raycluster_status import condition_true
from raybus_common.crds.rayservice import RayService, RayServiceConditionType, RayServiceUpgradeType

from .constants import CLUSTER_LABEL, KUBERAY_VERSION_ANNOTATION
from .hashing import hash_equal

Obj = dict[str, Any]
UPGRADE = RayServiceConditionType.UPGRADE_IN_PROGRESS.value
ROLLBACK = RayServiceConditionType.ROLLBACK_IN_PROGRESS.value


def upgrade_type(rs: RayService) -> str | None:
    strategy = rs.spec.upgrade_strategy
    return strategy.type if strategy is not None else None


def incremental_enabled(rs: RayService, *, gate: bool) -> bool:
    """KubeRay `IsIncrementalUpgradeEnabled`: the gate is on and the type is
    NewClusterWithIncrementalUpgrade."""
    return gate and upgrade_type(rs) == RayServiceUpgradeType.NEW_CLUSTER_WITH_INCREMENTAL_UPGRADE


def zero_downtime_enabled(rs: RayService, *, gate: bool, enable_zero_downtime: bool) -> bool:
    """KubeRay `isZeroDowntimeUpgradeEnabled` (see the module's docstring)."""
    kind = upgrade_type(rs)
    if kind is None:
        return enable_zero_downtime
    allowed = {RayServiceUpgradeType.NEW_CLUSTER.value}
    if gate:
        allowed.add(RayServiceUpgradeType.NEW_CLUSTER_WITH_INCREMENTAL_UPGRADE.value)
    return kind in allowed


def _conditions(status: Mapping[str, Any]) -> list[Obj]:
    return list(status.get("conditions") or [])


def should_update_cluster(cluster_config: Mapping[str, Any], status: Mapping[str, Any],
                          cluster: Mapping[str, Any] | None, *, active: bool, kuberay_version: str) -> bool:
    """KubeRay `shouldUpdateCluster` (the module's first table)."""
    if cluster is None:
        return False
    if active:
        if condition_true(_conditions(status), UPGRADE):
            return False
        if objects.annotations(cluster).get(KUBERAY_VERSION_ANNOTATION) != kuberay_version:
            return True
    if hash_equal(cluster_config, cluster, partial=False):
        return False
    return hash_equal(cluster_config, cluster, partial=True)


def should_prepare_new_cluster(cluster_config: Mapping[str, Any], status: Mapping[str, Any],
                               active: Mapping[str, Any] | None, pending: Mapping[str, Any] | None, *,
                               pending_serving: bool, zero_downtime: bool) -> bool:
    """KubeRay `shouldPrepareNewCluster` (the module's second table); `zero_downtime` is
    `zero_downtime_enabled`'s answer."""
    if pending_serving or condition_true(_conditions(status), ROLLBACK):
        return False
    cluster = pending if pending is not None else active
    if cluster is None:
        return True
    if hash_equal(cluster_config, cluster, partial=False) or hash_equal(cluster_config, cluster, partial=True):
        return False
    return zero_downtime


# --- promotion ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class ServicesDisagree:
    """The head and serve Services select clusters KubeRay cannot reconcile (where it panics)."""

    message: str


@dataclass(frozen=True)
class Promotion:
    promote: bool  # the pending cluster becomes the active one (`promoted`)
    pending_serving: bool  # the Services select the pending cluster (before any promotion)


def selected_cluster(service: Mapping[str, Any] | None) -> str:
    """KubeRay `GetRayClusterNameFromService`: the Service's `selector["ray.io/cluster"]`, "" when
    none."""
    return str((((service or {}).get("spec") or {}).get("selector") or {}).get(CLUSTER_LABEL) or "")


def _name(status: Mapping[str, Any], which: str) -> str:
    return str((status.get(which) or {}).get("rayClusterName") or "")


def _int(status: Mapping[str, Any], which: str, key: str, default: int) -> int:
    value = (status.get(which) or {}).get(key)
    return int(value) if value is not None else default


def incremental_upgrade_complete(status: Mapping[str, Any], *, pending_exists: bool) -> bool:
    """KubeRay `IsIncrementalUpgradeComplete`: a pending cluster exists, the active target capacity
    is 0 and the pending traffic 100."""
    return (pending_exists and _int(status, "activeServiceStatus", "targetCapacity", -1) == 0
            and _int(status, "pendingServiceStatus", "trafficRoutedPercent", -1) == 100)


def promotion(status: Mapping[str, Any], *, head_service: Mapping[str, Any], serve_service: Mapping[str, Any],
              incremental: bool, pending_exists: bool) -> Promotion | ServicesDisagree:
    """KubeRay `reconcilePromotionAndServingStatus`'s decision (the module's last paragraph)."""
    selected = selected_cluster(head_service)
    serve_selected = selected_cluster(serve_service)
    if selected != serve_selected:
        return ServicesDisagree(f"the head Service selects cluster {selected!r} and the serve Service "
                                f"{serve_selected!r}: they must select the same cluster")
    active, pending = _name(status, "activeServiceStatus"), _name(status, "pendingServiceStatus")
    if selected not in (active, pending):
        return ServicesDisagree(f"the Services select cluster {selected!r}, which is neither the active "
                                f"({active!r}) nor the pending ({pending!r}) one")
    if incremental:
        conditions = _conditions(status)
        if condition_true(conditions, UPGRADE):
            promote = not condition_true(conditions, ROLLBACK) and incremental_upgrade_complete(
                status, pending_exists=pending_exists)
        else:
            promote = not active and bool(pending)
    else:
        promote = active != selected
    return Promotion(promote=promote, pending_serving=selected == pending)


def promoted(status: Mapping[str, Any]) -> Obj:
    """The status after a promotion: the pending cluster's status is the active one's, the pending
    one is empty."""
    out = dict(status)
    out["activeServiceStatus"] = dict(status.get("pendingServiceStatus") or {})
    out["pendingServiceStatus"] = {}
    return out
