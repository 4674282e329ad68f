"""The incremental upgrade's arithmetic (A.7.3 to A.7.5) on a fake clock: the HTTPRoute weights, the
target capacities, KubeRay's worked example step by step, the readiness gate of a capacity change,
and the rollback."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from serve_core_views import NOW, Obj, ago, cond, raycluster, status, wire

from raybus_serve_ctl import traffic
from raybus_serve_ctl.upgrade import Promotion, promoted, promotion

UPGRADING = cond("UpgradeInProgress", "True", "BothActivePendingClustersExist")
ROLLING_BACK = cond("RollbackInProgress", "True", "DesiredClusterSpecChanged")
HASH = "ray.io/hash-without-replicas-and-workers-to-delete"


# --- weights --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("fields", "ready", "rollback", "want"), [
    pytest.param({}, True, False, (100, 0), id="pending-capacity-0-holds"),
    pytest.param({"pending_targetCapacity": 50}, True, False, (75, 25), id="first-step-no-time-yet"),
    pytest.param({"pending_targetCapacity": 50}, False, False, (100, 0), id="pending-not-ready-pauses"),
    pytest.param({"pending_targetCapacity": 50, "pending_trafficRoutedPercent": 25, "active_trafficRoutedPercent": 75,
                  "pending_lastTrafficMigratedTime": ago(10)}, True, False, (75, 25), id="interval-not-passed"),
    pytest.param({"pending_targetCapacity": 50, "pending_trafficRoutedPercent": 25, "active_trafficRoutedPercent": 75,
                  "pending_lastTrafficMigratedTime": ago(30)}, True, False, (50, 50), id="interval-passed"),
    pytest.param({"pending_targetCapacity": 40, "pending_trafficRoutedPercent": 25, "active_trafficRoutedPercent": 75},
                 True, False, (60, 40), id="capped-by-pending-capacity"),
    pytest.param({"pending_targetCapacity": 100, "pending_trafficRoutedPercent": 90, "active_trafficRoutedPercent": 10},
                 True, False, (0, 100), id="capped-at-100"),
    pytest.param({"pending_targetCapacity": 50, "pending_trafficRoutedPercent": 50, "active_trafficRoutedPercent": 50},
                 True, False, (50, 50), id="pending-at-capacity-holds"),
    pytest.param({"active_targetCapacity": 100, "active_trafficRoutedPercent": 50, "pending_trafficRoutedPercent": 50,
                  "pending_targetCapacity": 50}, False, True, (75, 25), id="rollback-ignores-readiness"),
    pytest.param({"active_targetCapacity": 100, "active_trafficRoutedPercent": 50, "pending_trafficRoutedPercent": 50,
                  "active_lastTrafficMigratedTime": ago(5), "pending_lastTrafficMigratedTime": ago(300)}, True, True,
                 (50, 50), id="rollback-times-from-the-active-cluster"),
    pytest.param({"active_targetCapacity": 60, "active_trafficRoutedPercent": 50, "pending_trafficRoutedPercent": 50},
                 True, True, (60, 40), id="rollback-capped-by-active-capacity"),
    pytest.param({"active_targetCapacity": 50, "active_trafficRoutedPercent": 50, "pending_trafficRoutedPercent": 50},
                 True, True, (50, 50), id="rollback-active-at-capacity-holds"),
])
def test_next_weights(fields: dict[str, Any], ready: bool, rollback: bool, want: tuple[int, int]) -> None:
    st = status(active="a", pending="b", conditions=[UPGRADING, *([ROLLING_BACK] if rollback else [])], **fields)
    assert traffic.next_weights(st, step=25, interval_seconds=30, pending_ready=ready, now=NOW) == want


def route(*backends: tuple[str, int | None]) -> Obj:
    refs = [{"name": n, **({"weight": w} if w is not None else {})} for n, w in backends]
    return {"spec": {"rules": [{"backendRefs": refs}]}}


@pytest.mark.parametrize(("obj", "want"), [
    pytest.param(None, (-1, -1), id="no-route"),
    pytest.param({"spec": {"rules": []}}, (-1, -1), id="no-rules"),
    pytest.param(route(("a-serve-svc", 70), ("b-serve-svc", 30)), (70, 30), id="both"),
    pytest.param(route(("a-serve-svc", 100)), (100, -1), id="active-only"),
    pytest.param(route(("a-serve-svc", None)), (0, -1), id="unset-weight-reads-0"),
    pytest.param(route(("other-serve-svc", 100)), (-1, -1), id="unknown-backend"),
])
def test_route_weights(obj: Obj | None, want: tuple[int, int]) -> None:
    assert traffic.route_weights(obj, status(active="a", pending="b")) == want


def test_record_traffic_stamps_only_what_moved() -> None:
    st = status(active="a", pending="b", active_trafficRoutedPercent=100, active_lastTrafficMigratedTime=ago(99))
    traffic.record_traffic(st, route(("a-serve-svc", 100), ("b-serve-svc", 0)), pending_exists=True, now=NOW)
    assert st["activeServiceStatus"]["lastTrafficMigratedTime"] == ago(99)
    assert st["pendingServiceStatus"] == {"rayClusterName": "b", "trafficRoutedPercent": 0,
                                          "lastTrafficMigratedTime": wire(NOW)}
    traffic.record_traffic(st, route(("a-serve-svc", 75), ("b-serve-svc", 25)), pending_exists=False,
                           now=NOW + timedelta(seconds=5))
    assert st["activeServiceStatus"]["trafficRoutedPercent"] == 75
    assert st["activeServiceStatus"]["lastTrafficMigratedTime"] == wire(NOW + timedelta(seconds=5))
    assert st["pendingServiceStatus"]["trafficRoutedPercent"] == 0, "no pending cluster: not recorded"


# --- capacity ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("fields", "rollback", "want"), [
    pytest.param({}, False, {"active": None, "pending": 50}, id="start"),
    pytest.param({"pending_targetCapacity": 50, "pending_trafficRoutedPercent": 25}, False,
                 {"active": None, "pending": None}, id="wait-for-traffic"),
    pytest.param({"pending_targetCapacity": 50, "pending_trafficRoutedPercent": 50}, False,
                 {"active": 50, "pending": None}, id="over-100-active-down"),
    pytest.param({"active_targetCapacity": 30, "pending_targetCapacity": 50, "pending_trafficRoutedPercent": 50},
                 False, {"active": None, "pending": 100}, id="under-100-pending-up"),
    pytest.param({"active_targetCapacity": 20, "pending_targetCapacity": 100, "pending_trafficRoutedPercent": 100},
                 False, {"active": 0, "pending": None}, id="active-floor-0"),
    pytest.param({"active_targetCapacity": 50, "active_trafficRoutedPercent": 25, "pending_targetCapacity": 100},
                 True, {"active": None, "pending": None}, id="rollback-wait-for-traffic"),
    pytest.param({"active_targetCapacity": 50, "active_trafficRoutedPercent": 50, "pending_targetCapacity": 100},
                 True, {"active": None, "pending": 50}, id="rollback-over-100-pending-down"),
    pytest.param({"active_targetCapacity": 50, "active_trafficRoutedPercent": 50, "pending_targetCapacity": 50},
                 True, {"active": 100, "pending": None}, id="rollback-active-up"),
    pytest.param({"active_targetCapacity": 50, "pending_targetCapacity": 50}, True,
                 {"active": None, "pending": None}, id="rollback-unset-active-traffic-reads-0"),
])
def test_capacity_goal(fields: dict[str, Any], rollback: bool, want: dict[str, int | None]) -> None:
    st = status(active="a", pending="b", conditions=[UPGRADING, *([ROLLING_BACK] if rollback else [])], **fields)
    got = {which: traffic.capacity_goal(st, which, max_surge=50) for which in ("active", "pending")}
    assert got == want


GATEWAY = {"metadata": {"name": "rs-gateway", "namespace": "ns"},
           "status": {"conditions": [{"type": "Accepted", "status": "True"}, {"type": "Programmed", "status": "True"}]}}


def route_status(*conditions: str, parent: Obj | None = None) -> Obj:
    return {"status": {"parents": [{"parentRef": parent or {"name": "rs-gateway", "namespace": "ns"},
                                    "conditions": [{"type": c, "status": "True"} for c in conditions]}]}}


READY_ROUTE = route_status("Accepted", "ResolvedRefs")
SET = {"active_targetCapacity": 100, "active_trafficRoutedPercent": 100, "pending_targetCapacity": 0,
       "pending_trafficRoutedPercent": 0}


@pytest.mark.parametrize(("st", "gateway", "route_", "want", "words"), [
    pytest.param(status(active="a"), GATEWAY, READY_ROUTE, False, "Both active and pending", id="one-cluster"),
    pytest.param(status(active="a", pending="b"), None, READY_ROUTE, False, "retrieve Gateway", id="no-gateway"),
    pytest.param(status(active="a", pending="b"), {**GATEWAY, "status": {"conditions": [
        {"type": "Accepted", "status": "True"}]}}, READY_ROUTE, False, "Gateway", id="gateway-not-programmed"),
    pytest.param(status(active="a", pending="b"), GATEWAY, None, False, "retrieve HTTPRoute", id="no-route"),
    pytest.param(status(active="a", pending="b"), GATEWAY, route_status("Accepted"), False, "HTTPRoute",
                 id="route-refs-unresolved"),
    pytest.param(status(active="a", pending="b"), GATEWAY,
                 route_status("Accepted", "ResolvedRefs", parent={"name": "other"}), False, "HTTPRoute",
                 id="route-accepted-by-another-gateway"),
    pytest.param(status(active="a", pending="b"), GATEWAY,
                 route_status("Accepted", "ResolvedRefs", parent={"name": "rs-gateway"}), True, "Active",
                 id="parent-without-namespace-counts"),
    pytest.param(status(active="a", pending="b"), GATEWAY, READY_ROUTE, True, "missing", id="capacities-unset"),
    pytest.param(status(active="a", pending="b", **SET), GATEWAY, READY_ROUTE, True, "scaling up", id="forward"),
    pytest.param(status(active="a", pending="b", **{**SET, "pending_targetCapacity": 100,
                                                    "pending_trafficRoutedPercent": 100}), GATEWAY, READY_ROUTE,
                 True, "scaling down", id="active-left"),
    pytest.param(status(active="a", pending="b", **{**SET, "active_targetCapacity": 0, "pending_targetCapacity": 100}),
                 GATEWAY, READY_ROUTE, False, "complete", id="done"),
    pytest.param(status(active="a", pending="b", conditions=[ROLLING_BACK], **SET), GATEWAY, READY_ROUTE, False,
                 "Rollback complete", id="rollback-done"),
    pytest.param(status(active="a", pending="b", conditions=[ROLLING_BACK], **{**SET, "active_targetCapacity": 50}),
                 GATEWAY, READY_ROUTE, True, "Rollback in progress", id="rollback-going"),
])
def test_need_target_capacity_update(st: Obj, gateway: Obj | None, route_: Obj | None, want: bool, words: str) -> None:
    need, why = traffic.need_target_capacity_update(st, gateway=gateway, route=route_)
    assert need is want and words in why


def test_fill_capacity_defaults_keeps_what_is_set() -> None:
    st = status(active="a", pending="b", pending_targetCapacity=30)
    traffic.fill_capacity_defaults(st)
    assert (st["activeServiceStatus"]["targetCapacity"], st["pendingServiceStatus"]["targetCapacity"]) == (100, 30)


@pytest.mark.parametrize(("config", "goal", "want"), [
    pytest.param("applications: []\n", 50, {"applications": [], "target_capacity": 50}, id="added"),
    pytest.param("target_capacity: 50\napplications: []\n", 50, None, id="already-there"),
    pytest.param("target_capacity: 50.0\n", 50, None, id="already-there-as-float"),
    pytest.param("target_capacity: 25\n", 50, {"target_capacity": 50}, id="changed"),
    pytest.param("", 100, {"target_capacity": 100}, id="empty-config"),
])
def test_config_with_capacity(config: str, goal: int, want: Obj | None) -> None:
    assert traffic.config_with_capacity(config, goal) == want


def test_config_with_capacity_refuses_a_non_mapping() -> None:
    with pytest.raises(ValueError, match="not a YAML mapping"):
        traffic.config_with_capacity("- a\n- b\n", 50)


@pytest.mark.parametrize(("st", "want"), [
    pytest.param(status(active="a"), {"rayClusterName": "n"}, id="blue-green"),
])
def test_new_pending_status_blue_green(st: Obj, want: Obj) -> None:
    assert traffic.new_pending_status(st, "n", incremental=False) == want


@pytest.mark.parametrize(("st", "capacity"), [
    pytest.param(status(), 100, id="first-cluster"),
    pytest.param(status(active_targetCapacity=0), None, id="first-cluster-active-capacity-left-over"),
    pytest.param(status(active="a", active_targetCapacity=100), 0, id="upgrade"),
])
def test_new_pending_status_incremental(st: Obj, capacity: int | None) -> None:
    got = traffic.new_pending_status(st, "n", incremental=True)
    assert got.get("targetCapacity") == capacity and got["rayClusterName"] == "n"


# --- KubeRay's worked example ---------------------------------------------------------------------------
def one_pass(st: Obj, at: Any, *, max_surge: int, step: int, interval: int) -> tuple[Obj, list[str]]:
    """One reconcile of an upgrade in progress, in KubeRay's order: the pending cluster's capacity,
    the active cluster's, the HTTPRoute's weights, the status from the route, promotion."""
    moves: list[str] = []
    for which in ("pending", "active"):
        need, _ = traffic.need_target_capacity_update(st, gateway=GATEWAY, route=READY_ROUTE)
        if not need:
            continue
        traffic.fill_capacity_defaults(st)
        goal = traffic.capacity_goal(st, which, max_surge=max_surge)  # type: ignore[arg-type]
        if goal is not None:
            moves.append(f"{which} TC {traffic.capacity(st, which)}->{goal}")  # type: ignore[arg-type]
            traffic.set_capacity(st, which, goal)  # type: ignore[arg-type]
    before = traffic.traffic(st, "pending")
    weights = traffic.next_weights(st, step=step, interval_seconds=interval, pending_ready=True, now=at)
    traffic.record_traffic(st, route(("a-serve-svc", weights[0]), ("b-serve-svc", weights[1])), pending_exists=True,
                           now=at)
    if weights[1] != before:
        moves.append(f"traffic {before}->{weights[1]}")
    svc = {"spec": {"selector": {"ray.io/cluster": "a"}}}
    decided = promotion(st, head_service=svc, serve_service=svc, incremental=True, pending_exists=True)
    assert isinstance(decided, Promotion)
    if decided.promote:
        moves.append("promote")
        st = promoted(st)
    return st, moves


def test_the_worked_example_max_surge_50_step_25() -> None:
    st = status(active="a", pending="b", conditions=[UPGRADING], pending_targetCapacity=0)
    history: list[str] = []
    at = NOW
    for _ in range(40):
        st, moves = one_pass(st, at, max_surge=50, step=25, interval=30)
        history += moves
        if "promote" in moves:
            break
        at += timedelta(seconds=10)  # a pass every 10 s; traffic moves at most every 30 s
    assert history == ["pending TC 0->50", "traffic 0->25", "traffic 25->50", "active TC 100->50",
                       "pending TC 50->100", "traffic 50->75", "traffic 75->100", "active TC 50->0", "promote"]
    assert st["activeServiceStatus"]["rayClusterName"] == "b" and st["pendingServiceStatus"] == {}


def test_traffic_moves_no_faster_than_the_interval() -> None:
    st = status(active="a", pending="b", conditions=[UPGRADING], pending_targetCapacity=100, active_targetCapacity=100)
    moved_at = []
    at = NOW
    for _ in range(20):
        before = traffic.traffic(st, "pending")
        st, _moves = one_pass(st, at, max_surge=100, step=10, interval=30)
        if traffic.traffic(st, "pending") != before:
            moved_at.append((at - NOW).total_seconds())
        at += timedelta(seconds=7)
    assert moved_at[:4] == [0, 35, 70, 105], "every 30 s at the earliest, on the next pass after"


# --- rollback ---------------------------------------------------------------------------------------------
def clusters(active_hash: str, pending_hash: str) -> tuple[Obj, Obj]:
    return (raycluster("a", annotations={HASH: active_hash}), raycluster("b", annotations={HASH: pending_hash}))


@pytest.mark.parametrize(("goal", "before", "after", "reason"), [
    pytest.param("A", [], True, "Goal state reverted", id="reverted-to-active"),
    pytest.param("B", [], False, None, id="on-track"),
    pytest.param("B", [ROLLING_BACK], False, None, id="back-on-track-cancels"),
    pytest.param("C", [], True, "Goal state changed mid-upgrade", id="third-spec"),
    pytest.param("A", [ROLLING_BACK], True, "", id="already-rolling-back"),
])
def test_reconcile_rollback(goal: str, before: list[Obj], after: bool, reason: str | None) -> None:
    st = status(active="a", pending="b", conditions=[UPGRADING, *before])
    active, pending = clusters("A", "B")
    traffic.reconcile_rollback(st, goal_hash=goal, active=active, pending=pending, now=NOW)
    found = next((c for c in st["conditions"] if c["type"] == "RollbackInProgress"), None)
    assert (found is not None) is after
    if found is not None:
        assert (found["status"], found["reason"]) == ("True", "DesiredClusterSpecChanged")
        assert (reason or "") in found["message"]


HEAD_READY = [{"type": "HeadPodReady", "status": "True"}]


@pytest.mark.parametrize(("fields", "head_ready", "want"), [
    pytest.param({"active_targetCapacity": 100, "active_trafficRoutedPercent": 100, "pending_targetCapacity": 0,
                  "pending_trafficRoutedPercent": 0}, True, True, id="drained"),
    pytest.param({"active_targetCapacity": 100, "active_trafficRoutedPercent": 100, "pending_targetCapacity": 50,
                  "pending_trafficRoutedPercent": 0}, True, False, id="pending-capacity-left"),
    pytest.param({"active_targetCapacity": 100, "active_trafficRoutedPercent": 100, "pending_targetCapacity": 50,
                  "pending_trafficRoutedPercent": 0}, False, True, id="pending-head-not-ready"),
    pytest.param({"active_targetCapacity": 100, "active_trafficRoutedPercent": 75}, False, False,
                 id="active-traffic-not-back"),
    pytest.param({"active_trafficRoutedPercent": 100, "pending_targetCapacity": 0, "pending_trafficRoutedPercent": 0},
                 True, False, id="unset-active-capacity-is-not-100"),
])
def test_rollback_complete(fields: dict[str, Any], head_ready: bool, want: bool) -> None:
    st = status(active="a", pending="b", conditions=[UPGRADING, ROLLING_BACK], **fields)
    assert traffic.rollback_complete(st, pending_head_ready=head_ready) is want


def test_complete_rollback() -> None:
    st = status(active="a", pending="b", conditions=[UPGRADING, ROLLING_BACK], pending_targetCapacity=0)
    traffic.complete_rollback(st, NOW)
    assert st["pendingServiceStatus"] == {}
    assert [c["type"] for c in st["conditions"]] == ["UpgradeInProgress"]
    upgrade = st["conditions"][0]
    assert (upgrade["status"], upgrade["reason"], upgrade["lastTransitionTime"]) == ("False", "NoPendingCluster",
                                                                                    wire(NOW))
