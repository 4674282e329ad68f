"""serve-ctl's upgrade decisions (A.6): in place vs new cluster vs nothing, per strategy and gate;
the zero-downtime switch; promotion, including the Services disagreeing (where KubeRay panics)."""

from __future__ import annotations

from typing import Any

import pytest
from serve_core_views import Obj, cluster_config, cond, raycluster, rayservice, status, typed, worker

from raybus_serve_ctl import hashing
from raybus_serve_ctl.upgrade import (
    Promotion,
    ServicesDisagree,
    incremental_enabled,
    promoted,
    promotion,
    should_prepare_new_cluster,
    should_update_cluster,
    zero_downtime_enabled,
)

VERSION = "v1.7.0"
CREATED = cluster_config()
UPGRADING = cond("UpgradeInProgress", "True", "BothActivePendingClustersExist")
ROLLING_BACK = cond("RollbackInProgress", "True", "DesiredClusterSpecChanged")


def made_from(config: Obj, *, name: str = "rs-aaaaa", version: str = VERSION, count: str | None = None) -> Obj:
    """A cluster created from `config` (its hash and group count annotated)."""
    annotations = {"ray.io/hash-without-replicas-and-workers-to-delete": hashing.spec_hash(config),
                   "ray.io/num-worker-groups": count or str(len(config.get("workerGroupSpecs") or [])),
                   "ray.io/kuberay-version": version}
    return raycluster(name, config, annotations=annotations)


SAME = CREATED
REPLICAS = cluster_config(workers=[worker(replicas=3, maxReplicas=9)])
APPENDED = cluster_config(workers=[worker(), worker("big")])
NEW_IMAGE = cluster_config(image="rayproject/ray:2.53.0")


# --- zero downtime ----------------------------------------------------------------------------------
@pytest.mark.parametrize(("kind", "gate", "env", "want"), [
    pytest.param(None, True, True, True, id="unset-default"),
    pytest.param(None, True, False, False, id="unset-ENABLE_ZERO_DOWNTIME-false"),
    pytest.param("NewCluster", True, False, True, id="NewCluster-beats-env"),
    pytest.param("NewCluster", False, True, True, id="NewCluster-gate-off"),
    pytest.param("NewClusterWithIncrementalUpgrade", True, True, True, id="incremental-gate-on"),
    pytest.param("NewClusterWithIncrementalUpgrade", False, True, False, id="incremental-gate-off"),
    pytest.param("None", True, True, False, id="None"),
    pytest.param("None", False, True, False, id="None-gate-off"),
])
def test_zero_downtime_enabled(kind: str | None, gate: bool, env: bool, want: bool) -> None:
    rs = typed(rayservice(upgradeStrategy={"type": kind} if kind else None))
    assert zero_downtime_enabled(rs, gate=gate, enable_zero_downtime=env) is want


@pytest.mark.parametrize(("kind", "gate", "want"), [
    pytest.param("NewClusterWithIncrementalUpgrade", True, True, id="on"),
    pytest.param("NewClusterWithIncrementalUpgrade", False, False, id="gate-off"),
    pytest.param("NewCluster", True, False, id="blue-green"),
    pytest.param(None, True, False, id="unset"),
])
def test_incremental_enabled(kind: str | None, gate: bool, want: bool) -> None:
    assert incremental_enabled(typed(rayservice(upgradeStrategy={"type": kind} if kind else None)), gate=gate) is want


# --- in place ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("goal", "cluster", "active", "conditions", "want"), [
    pytest.param(SAME, None, True, [], False, id="no-cluster"),
    pytest.param(SAME, made_from(CREATED), True, [], False, id="active-unchanged"),
    pytest.param(REPLICAS, made_from(CREATED), True, [], False, id="active-replicas-only"),
    pytest.param(APPENDED, made_from(CREATED), True, [], True, id="active-groups-appended"),
    pytest.param(NEW_IMAGE, made_from(CREATED), True, [], False, id="active-new-image-is-a-new-cluster"),
    pytest.param(SAME, made_from(CREATED, version="v1.6.0"), True, [], True, id="active-other-kuberay-version"),
    pytest.param(SAME, made_from(CREATED, version="v1.6.0"), True, [UPGRADING], False,
                 id="active-during-upgrade-even-other-version"),
    pytest.param(APPENDED, made_from(CREATED), True, [UPGRADING], False, id="active-during-upgrade"),
    pytest.param(SAME, made_from(CREATED, version="v1.6.0"), False, [], False, id="pending-version-not-checked"),
    pytest.param(APPENDED, made_from(CREATED), False, [UPGRADING], True, id="pending-groups-appended"),
    pytest.param(NEW_IMAGE, made_from(CREATED), False, [UPGRADING], False, id="pending-new-image"),
])
def test_should_update_cluster(goal: Obj, cluster: Obj | None, active: bool, conditions: list[Obj],
                               want: bool) -> None:
    st = status(active="rs-aaaaa", conditions=conditions)
    assert should_update_cluster(goal, st, cluster, active=active, kuberay_version=VERSION) is want


# --- a new cluster --------------------------------------------------------------------------------------
@pytest.mark.parametrize(("goal", "active", "pending", "kw", "want"), [
    pytest.param(SAME, None, None, {}, True, id="first-cluster"),
    pytest.param(SAME, None, None, {"zero_downtime": False}, True, id="first-cluster-even-without-zero-downtime"),
    pytest.param(SAME, made_from(CREATED), None, {}, False, id="unchanged"),
    pytest.param(REPLICAS, made_from(CREATED), None, {}, False, id="replicas-only"),
    pytest.param(APPENDED, made_from(CREATED), None, {}, False, id="groups-appended-is-in-place"),
    pytest.param(NEW_IMAGE, made_from(CREATED), None, {}, True, id="new-image"),
    pytest.param(NEW_IMAGE, made_from(CREATED), None, {"zero_downtime": False}, False, id="new-image-no-zero-downtime"),
    pytest.param(NEW_IMAGE, made_from(CREATED), None, {"pending_serving": True}, False, id="pending-serving"),
    pytest.param(NEW_IMAGE, made_from(CREATED), None, {"conditions": [ROLLING_BACK]}, False, id="rolling-back"),
    pytest.param(NEW_IMAGE, made_from(CREATED), made_from(NEW_IMAGE, name="rs-bbbbb"), {}, False,
                 id="pending-already-matches"),
    pytest.param(SAME, made_from(CREATED), made_from(NEW_IMAGE, name="rs-bbbbb"), {}, True,
                 id="reverted-while-pending-replaces-the-pending-cluster"),
    pytest.param(cluster_config(image="third"), made_from(CREATED), made_from(NEW_IMAGE, name="rs-bbbbb"), {}, True,
                 id="third-spec-while-pending"),
])
def test_should_prepare_new_cluster(goal: Obj, active: Obj | None, pending: Obj | None, kw: dict[str, Any],
                                    want: bool) -> None:
    st = status(active="rs-aaaaa" if active else "", pending="rs-bbbbb" if pending else "",
                conditions=kw.pop("conditions", []))
    args = {"pending_serving": False, "zero_downtime": True, **kw}
    assert should_prepare_new_cluster(goal, st, active, pending, **args) is want


# --- promotion --------------------------------------------------------------------------------------------
def svc(cluster: str) -> Obj:
    return {"spec": {"selector": {"ray.io/cluster": cluster}}}


@pytest.mark.parametrize(("st", "selects", "incremental", "pending_exists", "want"), [
    pytest.param(status(active="a", pending="b"), "a", False, True, Promotion(False, False), id="bg-still-active"),
    pytest.param(status(active="a", pending="b"), "b", False, True, Promotion(True, True), id="bg-switched"),
    pytest.param(status(pending="b"), "b", False, True, Promotion(True, True), id="bg-first-cluster"),
    pytest.param(status(active="a"), "a", False, False, Promotion(False, False), id="bg-steady"),
    pytest.param(status(pending="b"), "b", True, True, Promotion(True, True), id="inc-first-cluster"),
    pytest.param(status(active="a", pending="b", conditions=[UPGRADING], active_targetCapacity=0,
                        pending_trafficRoutedPercent=100), "a", True, True, Promotion(True, False), id="inc-complete"),
    pytest.param(status(active="a", pending="b", conditions=[UPGRADING], active_targetCapacity=50,
                        pending_trafficRoutedPercent=100), "a", True, True, Promotion(False, False),
                 id="inc-active-capacity-left"),
    pytest.param(status(active="a", pending="b", conditions=[UPGRADING], active_targetCapacity=0,
                        pending_trafficRoutedPercent=75), "a", True, True, Promotion(False, False), id="inc-traffic-left"),
    pytest.param(status(active="a", pending="b", conditions=[UPGRADING, ROLLING_BACK], active_targetCapacity=0,
                        pending_trafficRoutedPercent=100), "a", True, True, Promotion(False, False),
                 id="inc-never-during-rollback"),
    pytest.param(status(active="a", pending="b", conditions=[UPGRADING], active_targetCapacity=0,
                        pending_trafficRoutedPercent=100), "a", True, False, Promotion(False, False),
                 id="inc-pending-cluster-gone"),
    pytest.param(status(active="a", pending="b"), "a", True, True, Promotion(False, False), id="inc-no-upgrade-condition"),
])
def test_promotion(st: Obj, selects: str, incremental: bool, pending_exists: bool, want: Promotion) -> None:
    assert promotion(st, head_service=svc(selects), serve_service=svc(selects), incremental=incremental,
                     pending_exists=pending_exists) == want


@pytest.mark.parametrize(("head", "serve", "words"), [
    pytest.param("a", "b", "must select the same cluster", id="services-disagree"),
    pytest.param("c", "c", "neither the active", id="unknown-cluster"),
])
def test_promotion_reports_what_kuberay_panics_on(head: str, serve: str, words: str) -> None:
    found = promotion(status(active="a", pending="b"), head_service=svc(head), serve_service=svc(serve),
                      incremental=False, pending_exists=True)
    assert isinstance(found, ServicesDisagree) and words in found.message


def test_promoted() -> None:
    st = status(active="a", pending="b", pending_targetCapacity=100, numServeEndpoints=2)
    out = promoted(st)
    assert out["activeServiceStatus"] == {"rayClusterName": "b", "targetCapacity": 100}
    assert out["pendingServiceStatus"] == {}
    assert out["numServeEndpoints"] == 2 and st["activeServiceStatus"]["rayClusterName"] == "a"
