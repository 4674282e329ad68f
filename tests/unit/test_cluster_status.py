"""RayCluster status calculation (KubeRay v1.7 `calculateStatus`): state, conditions, counters,
desired resources, endpoints and head info, over table-driven scenarios; and the status's shape
on the wire (`status.shape`), field for field as KubeRay's Go struct marshals."""

from __future__ import annotations

import copy
import os
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from raybus_cluster_ctl.status.calculate import (
    ReconcileError,
    calculate_status,
    comparable,
    desired_resources,
    invalid_status,
    is_transition,
    status_changed,
    status_write_blocker,
)
from raybus_cluster_ctl.status.shape import CONDITION_FIELDS, HEAD_FIELDS, STATUS_FIELDS, wire_status
from raybus_cluster_ctl.validation.problems import Problem
from raybus_common.crds.raycluster import RayCluster
from raybus_common.crds.raycluster_status import HeadInfo, RayClusterStatus
from raybus_common.quantity import Quantity

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "valid"
T0, NOW = "2026-01-01T00:00:00Z", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
STAMP = "2026-01-02T03:04:05Z"


def cluster(suspend: bool | None = None, status: dict[str, Any] | None = None, replicas: int = 2) -> dict[str, Any]:
    spec: dict[str, Any] = {"headGroupSpec": {"template": {"spec": {"containers": [
        {"name": "ray-head", "resources": {"requests": {"cpu": "1", "memory": "2Gi"}}}]}}},
        "workerGroupSpecs": [{"groupName": "w", "replicas": replicas, "minReplicas": 0, "maxReplicas": 4,
                              "template": {"spec": {"containers": [
                                  {"name": "ray-worker", "resources": {"limits": {"cpu": "500m", "memory": "1Gi"}}}]}}}]}
    if suspend is not None:
        spec["suspend"] = suspend
    return {"metadata": {"name": "demo", "generation": 7}, "spec": spec, "status": status or {}}


def pod(name: str, kind: str = "worker", phase: str = "Running", ready: bool | None = True, ip: str = "") -> dict[str, Any]:
    conditions = [] if ready is None else [{"type": "Ready", "status": "True" if ready else "False"}]
    return {"metadata": {"name": name, "labels": {"ray.io/cluster": "demo", "ray.io/node-type": kind,
                                                  "ray.io/group": "headgroup" if kind == "head" else "w"}},
            "status": {"phase": phase, "conditions": conditions, "podIP": ip}}


def service(cluster_ip: str = "10.0.0.9", ports: list[dict[str, Any]] | None = None, name: str = "demo-head-svc") -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": {"ray.io/cluster": "demo", "ray.io/node-type": "head"}},
            "spec": {"clusterIP": cluster_ip, "ports": ports if ports is not None else [
                {"name": "dashboard", "port": 8265, "targetPort": 8265}, {"name": "client", "port": 10001, "targetPort": 10001}]}}


def calculate(obj: dict[str, Any], pods: list[dict[str, Any]], services: list[dict[str, Any]],
              **kw: Any) -> dict[str, Any]:
    """`calculate_status` over the cluster parsed as reconcile parses it."""
    return calculate_status(RayCluster.model_validate(obj), pods, services, **kw)


def cond(status: dict[str, Any], kind: str) -> dict[str, Any] | None:
    return next((c for c in status.get("conditions", []) if c["type"] == kind), None)


def summary(status: dict[str, Any]) -> dict[str, Any]:
    return {c["type"]: (c["status"], c["reason"]) for c in status.get("conditions", [])}


HEAD_OK = pod("demo-head-x", "head", ip="10.1.0.1")
SCENARIOS: list[tuple[str, dict[str, Any], list[dict[str, Any]], dict[str, Any], dict[str, Any]]] = [
    ("no-pods-yet", cluster(), [], {"state": None, "readyWorkerReplicas": None, "availableWorkerReplicas": None},
     {"HeadPodReady": ("False", "HeadPodNotFound"), "RayClusterProvisioned": ("False", "RayClusterPodsProvisioning"),
      "RayClusterSuspended": ("False", "RayClusterSuspended"), "RayClusterSuspending": ("False", "RayClusterSuspending")}),
    ("head-ready-workers-pending", cluster(), [HEAD_OK, pod("w1", phase="Pending", ready=False), pod("w2", ready=False)],
     {"state": None, "readyWorkerReplicas": None, "availableWorkerReplicas": 1},
     {"HeadPodReady": ("True", "HeadPodRunningAndReady"), "RayClusterProvisioned": ("False", "RayClusterPodsProvisioning")}),
    ("all-ready", cluster(status={"reason": "old"}), [HEAD_OK, pod("w1"), pod("w2")],
     {"state": "ready", "reason": None, "readyWorkerReplicas": 2, "availableWorkerReplicas": 2},
     {"RayClusterProvisioned": ("True", "AllPodRunningAndReadyFirstTime"), "HeadPodReady": ("True", "HeadPodRunningAndReady")}),
    ("running-without-ready-condition-counts-running", cluster(), [HEAD_OK, pod("w1", ready=None), pod("w2")],
     {"state": "ready", "readyWorkerReplicas": 1, "availableWorkerReplicas": 2},
     {"RayClusterProvisioned": ("True", "AllPodRunningAndReadyFirstTime")}),
    ("one-pod-too-many-not-ready", cluster(), [HEAD_OK, pod("w1"), pod("w2"), pod("w3")],
     {"state": None, "readyWorkerReplicas": 3}, {"RayClusterProvisioned": ("True", "AllPodRunningAndReadyFirstTime")}),
    ("failed-worker-pod", cluster(), [HEAD_OK, pod("w1"), pod("w2", phase="Failed", ready=False)],
     {"state": None, "readyWorkerReplicas": 1, "availableWorkerReplicas": 1},
     {"RayClusterProvisioned": ("False", "RayClusterPodsProvisioning")}),
    ("ready-stays-ready-when-a-pod-fails", cluster(status={"state": "ready", "conditions": [
        {"type": "RayClusterProvisioned", "status": "True", "reason": "AllPodRunningAndReadyFirstTime", "message": "m",
         "lastTransitionTime": T0}]}), [HEAD_OK, pod("w1", phase="Failed", ready=False)], {"state": "ready"},
     {"RayClusterProvisioned": ("True", "AllPodRunningAndReadyFirstTime")}),
    ("suspend-requested", cluster(suspend=True), [HEAD_OK, pod("w1"), pod("w2")], {"state": "ready"},
     {"RayClusterSuspending": ("True", "RayClusterSuspending"), "RayClusterSuspended": ("False", "RayClusterSuspended")}),
    ("suspending-pods-left", cluster(suspend=True, status={"conditions": [
        {"type": "RayClusterSuspending", "status": "True", "reason": "RayClusterSuspending", "lastTransitionTime": T0}]}),
     [HEAD_OK], {"state": None}, {"RayClusterSuspending": ("True", "RayClusterSuspending")}),
    ("suspending-done", cluster(suspend=True, status={"state": "ready", "conditions": [
        {"type": "RayClusterProvisioned", "status": "True", "reason": "AllPodRunningAndReadyFirstTime", "lastTransitionTime": T0},
        {"type": "RayClusterSuspending", "status": "True", "reason": "RayClusterSuspending", "lastTransitionTime": T0}]}),
     [], {"state": "suspended", "stateTransitionTimes": {"suspended": STAMP}},
     {"RayClusterSuspending": ("False", "RayClusterSuspending"), "RayClusterSuspended": ("True", "RayClusterSuspended"),
      "RayClusterProvisioned": ("False", "RayClusterPodsProvisioning")}),
    ("suspending-completes-even-if-unsuspended", cluster(suspend=False, status={"conditions": [
        {"type": "RayClusterSuspending", "status": "True", "reason": "RayClusterSuspending", "lastTransitionTime": T0}]}),
     [], {"state": None}, {"RayClusterSuspended": ("True", "RayClusterSuspended")}),
    ("suspended-stays-while-suspend", cluster(suspend=True, status={"state": "suspended", "conditions": [
        {"type": "RayClusterSuspended", "status": "True", "reason": "RayClusterSuspended", "lastTransitionTime": T0}]}),
     [], {"state": "suspended"}, {"RayClusterSuspended": ("True", "RayClusterSuspended")}),
    ("resume", cluster(suspend=False, status={"state": "suspended", "conditions": [
        {"type": "RayClusterSuspended", "status": "True", "reason": "RayClusterSuspended", "lastTransitionTime": T0}]}),
     [], {"state": "suspended"}, {"RayClusterSuspended": ("False", "RayClusterSuspended")}),
]


@pytest.mark.parametrize(("obj", "pods", "fields", "conditions"), [s[1:] for s in SCENARIOS], ids=[s[0] for s in SCENARIOS])
def test_scenario(obj: dict[str, Any], pods: list[dict[str, Any]], fields: dict[str, Any],
                  conditions: dict[str, tuple[str, str]]) -> None:
    status = calculate(obj, pods, [service()], now=NOW)
    assert {k: status.get(k) for k in fields} == fields
    assert {k: summary(status).get(k) for k in conditions} == conditions
    assert (status["observedGeneration"], status["desiredWorkerReplicas"], status["lastUpdateTime"]) == (7, 2, STAMP)


def test_ready_records_transition_time_and_keeps_other_states() -> None:
    old = {"state": "suspended", "stateTransitionTimes": {"suspended": T0}}
    status = calculate(cluster(status=old), [HEAD_OK, pod("w1"), pod("w2")], [service()], now=NOW)
    assert status["stateTransitionTimes"] == {"suspended": T0, "ready": STAMP}


REPLICA_FAILURE = [
    ("marked-error-sets", [], ReconcileError("FailedCreateWorkerPod\nquota", "FailedCreateWorkerPod"),
     ("True", "FailedCreateWorkerPod", "FailedCreateWorkerPod\nquota")),
    ("no-error-removes", [{"type": "ReplicaFailure", "status": "True", "reason": "FailedDeleteHeadPod", "message": "x",
                           "lastTransitionTime": T0}], None, None),
    ("unmarked-error-keeps", [{"type": "ReplicaFailure", "status": "True", "reason": "FailedDeleteHeadPod", "message": "x",
                               "lastTransitionTime": T0}], ReconcileError("delete 1 unhealthy worker Pods"),
     ("True", "FailedDeleteHeadPod", "x")),
]


@pytest.mark.parametrize(("previous", "error", "want"), [r[1:] for r in REPLICA_FAILURE], ids=[r[0] for r in REPLICA_FAILURE])
def test_replica_failure(previous: list[dict[str, Any]], error: ReconcileError | None,
                         want: tuple[str, str, str] | None) -> None:
    status = calculate(cluster(status={"conditions": previous}), [HEAD_OK, pod("w1"), pod("w2")], [service()],
                              now=NOW, reconcile_error=error)
    found = cond(status, "ReplicaFailure")
    assert (found and (found["status"], found["reason"], found["message"])) == want
    assert status.get("state") == (None if error else "ready")  # any reconcile error blocks "ready"


def test_last_transition_time_kept_when_status_unchanged_and_moved_when_changed() -> None:
    old = {"conditions": [
        {"type": "HeadPodReady", "status": "True", "reason": "HeadPodRunningAndReady", "message": "", "lastTransitionTime": T0},
        {"type": "RayClusterSuspended", "status": "True", "reason": "RayClusterSuspended", "message": "",
         "lastTransitionTime": T0}]}
    status = calculate(cluster(suspend=False, status=old), [HEAD_OK], [service()], now=NOW)
    head, suspended = cond(status, "HeadPodReady"), cond(status, "RayClusterSuspended")
    assert head is not None and suspended is not None
    assert head["lastTransitionTime"] == T0 and "observedGeneration" not in head
    assert (suspended["status"], suspended["lastTransitionTime"]) == ("False", STAMP)


def test_head_pod_containers_not_ready_uses_container_reason() -> None:
    head = pod("demo-head-x", "head", ready=False)
    head["status"]["conditions"][0].update(reason="ContainersNotReady", message="containers with unready status: [ray-head]")
    head["status"]["containerStatuses"] = [{"name": "ray-head", "state": {"waiting": {"reason": "CrashLoopBackOff",
                                                                                      "message": "back-off 10s"}}}]
    found = cond(calculate(cluster(), [head], [service()], now=NOW), "HeadPodReady")
    assert found is not None
    assert (found["status"], found["reason"], found["message"]) == (
        "False", "CrashLoopBackOff", "containers with unready status: [ray-head]; ray-head: back-off 10s")


def fixture(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((FIXTURES / f"raycluster-{name}.yaml").read_text())
    return loaded


RESOURCES = [
    ("cpu-workers", fixture("cpu-workers")["spec"], {"desiredCPU": "6", "desiredMemory": "12Gi", "desiredGPU": "0",
                                                     "desiredTPU": "0"}),
    ("gpu-limits-only", fixture("gpu-workers")["spec"], {"desiredCPU": "18", "desiredMemory": "104Gi", "desiredGPU": "2",
                                                         "desiredTPU": "0"}),
    ("tpu-multihost", fixture("tpu-multihost")["spec"], {"desiredCPU": "404", "desiredMemory": "816Gi", "desiredGPU": "0",
                                                         "desiredTPU": "16"}),
    ("suspended-group-excluded", fixture("scale-strategy-suspend")["spec"], {"desiredCPU": "3", "desiredMemory": "4Gi",
                                                                            "desiredGPU": "0", "desiredTPU": "0"}),
    ("raw-replicas-not-clamped", {**cluster(replicas=9)["spec"]}, {"desiredCPU": "5500m", "desiredMemory": "11Gi",
                                                                    "desiredGPU": "0", "desiredTPU": "0"}),
    ("mig-and-sidecar", {"headGroupSpec": {"template": {"spec": {"containers": [
        {"name": "a", "resources": {"limits": {"nvidia.com/mig-1g.5gb": "2", "cpu": "1"}}},
        {"name": "b", "resources": {"requests": {"cpu": "250m", "amd.com/gpu": "1"}}}]}}}},
     {"desiredCPU": "1250m", "desiredMemory": "0", "desiredGPU": "3", "desiredTPU": "0"}),
]


@pytest.mark.parametrize(("spec", "want"), [r[1:] for r in RESOURCES], ids=[r[0] for r in RESOURCES])
def test_desired_resources(spec: dict[str, Any], want: dict[str, str]) -> None:
    assert desired_resources(RayCluster.model_validate({"spec": spec})) == want


@pytest.mark.parametrize(("raw", "times", "want"), [("500m", 3, "1500m"), ("1.5Gi", 1, "1536Mi"), ("512Mi", 2, "1Gi"),
                                                    ("1000", 1, "1k"), ("0.5Ki", 1, "512"), ("100", 4, "400")],
                         ids=["milli", "binary-fraction", "binary-up", "kilo", "small-binary", "plain"])
def test_quantity_canonical_form(raw: str, times: int, want: str) -> None:
    assert str(Quantity.parse(raw) * times) == want


def test_counters_min_max_skip_suspended_groups_and_clamp_to_int32() -> None:
    obj = cluster()
    obj["spec"]["workerGroupSpecs"] += [
        {"groupName": "big", "minReplicas": 1, "numOfHosts": 2, "template": {}},  # no maxReplicas: MaxInt32 × 2 overflows int32
        {"groupName": "off", "suspend": True, "replicas": 5, "minReplicas": 5, "maxReplicas": 5, "template": {}}]
    status = calculate(obj, [], [service()], now=NOW)
    assert (status["minWorkerReplicas"], status["maxWorkerReplicas"], status["desiredWorkerReplicas"]) == (2, 2**31 - 1, 4)


ENDPOINTS = [
    ("target-ports", service(), {"podIP": "10.1.0.1", "serviceIP": "10.0.0.9", "podName": "demo-head-x",
                                 "serviceName": "demo-head-svc"}, {"dashboard": "8265", "client": "10001"}),
    ("headless-uses-pod-ip-nodeport-wins", service("None", [{"name": "dashboard", "port": 8265, "targetPort": "dash",
                                                             "nodePort": 30001}, {"port": 1}, {"name": "gcs", "port": 6379,
                                                                                               "targetPort": "gcs-port"}]),
     {"podIP": "10.1.0.1", "serviceIP": "10.1.0.1", "podName": "demo-head-x", "serviceName": "demo-head-svc"},
     {"dashboard": "30001", "gcs": "gcs-port"}),
]


@pytest.mark.parametrize(("svc", "head", "want"), [r[1:] for r in ENDPOINTS], ids=[r[0] for r in ENDPOINTS])
def test_endpoints_and_head(svc: dict[str, Any], head: dict[str, str], want: dict[str, str]) -> None:
    status = calculate(cluster(), [HEAD_OK], [svc], now=NOW)
    assert (status["head"], status["endpoints"]) == (head, want)


def test_endpoints_merge_into_previous_and_missing_service_blanks_head() -> None:
    status = calculate(cluster(status={"endpoints": {"old": "1"}}), [], [], now=NOW)
    assert status["endpoints"] == {"old": "1"}
    assert status["head"] == {}


BLOCKERS = [
    ("fine", [HEAD_OK], [service()], None),
    ("no-service", [HEAD_OK], [], "unable to find head service"),
    ("two-services", [], [service(), service(name="other")], "found multiple head services"),
    ("empty-cluster-ip", [], [service("")], "head service IP is empty"),
    ("two-head-pods", [HEAD_OK, pod("h2", "head")], [service()], "multiple head pods"),
]


@pytest.mark.parametrize(("pods", "services", "want"), [r[1:] for r in BLOCKERS], ids=[r[0] for r in BLOCKERS])
def test_status_write_blocker(pods: list[dict[str, Any]], services: list[dict[str, Any]], want: str | None) -> None:
    got = status_write_blocker(RayCluster.model_validate(cluster()), pods, services)
    assert got == want if want is None else (got is not None and want in got)


def test_problems_become_a_validity_condition_and_clear_when_fixed() -> None:
    problems = [Problem("spec.workerGroupSpecs[0].maxReplicas", "worker group w has minReplicas 5 greater than maxReplicas 4")]
    status = calculate(cluster(), [], [], now=NOW, problems=problems)
    found = cond(status, "RayClusterValid")
    assert found is not None
    assert (found["status"], found["reason"]) == ("False", "InvalidRayClusterSpec")
    assert "spec.workerGroupSpecs[0].maxReplicas: worker group w" in found["message"]
    meta_only = cond(calculate(cluster(), [], [], now=NOW, problems=[Problem("metadata.name", "x")]),
                     "RayClusterValid")
    assert meta_only is not None and meta_only["reason"] == "InvalidRayClusterMetadata"
    assert cond(calculate(cluster(status=status), [], [], now=NOW), "RayClusterValid") is None


def test_feature_gate_off_leaves_conditions_alone() -> None:
    previous = [{"type": "HeadPodReady", "status": "False", "reason": "HeadPodNotFound", "lastTransitionTime": T0}]
    status = calculate(cluster(suspend=True, status={"conditions": previous}), [], [service()], now=NOW,
                              feature_conditions=False, problems=[Problem("metadata.name", "x")])
    assert (status["conditions"], status["state"]) == ([{**previous[0], "message": ""}], "suspended")


def test_status_changed_ignores_timestamps_only() -> None:
    obj = cluster()
    first = calculate(obj, [HEAD_OK], [service()], now=NOW)
    later = calculate({**obj, "status": first}, [HEAD_OK], [service()], now=datetime(2027, 1, 1, tzinfo=UTC))
    assert later["lastUpdateTime"] != first["lastUpdateTime"]
    assert not status_changed(first, later)
    more = calculate({**obj, "status": first}, [HEAD_OK, pod("w1")], [service()], now=NOW)
    assert status_changed(first, more)
    assert status_changed(None, first)
    moved = copy.deepcopy(first)
    moved["conditions"][0]["lastTransitionTime"] = T0
    assert not status_changed(first, moved)
    assert not status_changed({"readyWorkerReplicas": 0, "reason": ""}, {})  # Go's omitempty


def test_status_changed_says_what_the_shaped_comparison_says_for_every_pair() -> None:
    """The shortcuts (equal statuses, timestamps aside; a plain field changed) never answer
    otherwise than comparing both as KubeRay's struct holds them: over statuses equal,
    reordered, retimed, zero-valued and changed, in both directions."""
    first = calculate(cluster(), [HEAD_OK], [service()], now=NOW)
    later = calculate({**cluster(), "status": first}, [HEAD_OK], [service()], now=datetime(2027, 1, 1, tzinfo=UTC))
    more = calculate({**cluster(), "status": first}, [HEAD_OK, pod("w1")], [service()], now=NOW)
    retimed = copy.deepcopy(first)
    retimed["conditions"][0]["lastTransitionTime"] = T0
    reordered = {**first, "conditions": list(reversed(first["conditions"]))}
    zeroes = {**first, "readyWorkerReplicas": 0, "reason": "", "head": {**first["head"], "x": ""}}
    stamped = {**first, "conditions": [{**c, "observedGeneration": 7} for c in first["conditions"]]}
    statuses = [first, later, more, retimed, reordered, zeroes, stamped, {}, {"state": "ready"},
                {"conditions": "not a list"}, {"conditions": ["not a condition"]},
                # plain fields: zeroes that are not Go's (a quantity's "0" is written), values
                # that differ only in type, empty and set maps
                {"state": ""}, {"desiredCPU": "0"}, {"desiredCPU": "2"}, {"readyWorkerReplicas": 3},
                {"readyWorkerReplicas": False}, {"readyWorkerReplicas": 0.0}, {"endpoints": {}},
                {"endpoints": {"dashboard": "8265"}}, {**first, "desiredCPU": None},
                {**first, "state": "suspended"}, {**first, "readyWorkerReplicas": 0}]
    for old in statuses:
        for new in statuses:
            shaped = comparable(old) != comparable(new)
            assert status_changed(old, new) is shaped, (old, new)
    assert status_changed(None, first) and not status_changed(None, {})


def test_an_unparsable_cluster_keeps_its_status_and_gains_the_validity_condition() -> None:
    old = {"state": "ready", "conditions": [{"type": "HeadPodReady", "status": "True", "reason": "HeadPodRunningAndReady",
                                             "message": "", "lastTransitionTime": T0}]}
    problems = [Problem("spec.suspend", "Invalid value: \"soon\": Input should be a valid boolean")]
    status = invalid_status(old, problems, generation=4, now=NOW)
    assert status["state"] == "ready" and cond(status, "HeadPodReady") == old["conditions"][0]
    assert cond(status, "RayClusterValid") == {
        "type": "RayClusterValid", "status": "False", "reason": "InvalidRayClusterSpec",
        "message": 'spec.suspend: Invalid value: "soon": Input should be a valid boolean', "lastTransitionTime": STAMP}
    assert status["observedGeneration"] == 4
    assert invalid_status(old, problems, generation=4, now=NOW, feature_conditions=False) == old
    assert old["conditions"] == [old["conditions"][0]]  # the observed status is not edited


# --- the shape on the wire ---------------------------------------------------------------------

CRD = Path(__file__).resolve().parents[2] / "deploy" / "crds" / "ray.io_rayclusters.yaml"


def test_the_status_of_a_new_cluster_is_kuberays_field_for_field() -> None:
    """No pods yet, head Service up, minReplicas 0: the zero counters, state, reason and
    conditions' observedGeneration are absent; desired resources and `head` are always there."""
    status = calculate(cluster(), [], [service()], now=NOW)
    conditions = [{"type": t, "status": "False", "lastTransitionTime": STAMP, "reason": r, "message": m} for t, r, m in [
        ("HeadPodReady", "HeadPodNotFound", "Head Pod not found"),
        ("RayClusterProvisioned", "RayClusterPodsProvisioning", "RayCluster Pods are being provisioned for first time"),
        ("RayClusterSuspended", "RayClusterSuspended", ""), ("RayClusterSuspending", "RayClusterSuspending", "")]]
    assert status == {
        "desiredCPU": "2", "desiredMemory": "4Gi", "desiredGPU": "0", "desiredTPU": "0", "lastUpdateTime": STAMP,
        "endpoints": {"dashboard": "8265", "client": "10001"}, "head": {"serviceIP": "10.0.0.9", "serviceName": "demo-head-svc"},
        "conditions": conditions, "desiredWorkerReplicas": 2, "maxWorkerReplicas": 4, "observedGeneration": 7}


def statuses() -> list[tuple[str, dict[str, Any]]]:
    """Statuses produced for several clusters: every scenario above, every valid RayCluster
    fixture with and without a ready head, and an invalid one."""
    out = [(name, calculate(obj, pods, [service()], now=NOW)) for name, obj, pods, _, _ in SCENARIOS]
    for path in sorted(FIXTURES.glob("raycluster-*.yaml")):
        obj = yaml.safe_load(path.read_text())
        obj["metadata"]["name"] = "demo"
        out.append((path.stem, calculate(obj, [], [], now=NOW)))
        out.append((f"{path.stem}+head", calculate(obj, [HEAD_OK], [service("None")], now=NOW)))
    out.append(("invalid", calculate(cluster(), [], [], now=NOW, problems=[Problem("metadata.name", "x")])))
    out.append(("unparsable", invalid_status({"state": "ready"}, [Problem("spec", "x")], generation=3, now=NOW)))
    return out


def zero_of(value: Any) -> bool:
    return value is None or (type(value) in (str, int, dict, list) and not value)


@pytest.mark.parametrize(("name", "status"), statuses(), ids=[n for n, _ in statuses()])
def test_every_status_has_kuberays_shape(name: str, status: dict[str, Any]) -> None:
    """Nothing beyond KubeRay's fields; an omitempty field never holds its zero; a field
    without omitempty (or a struct) always there; conditions as metav1.Condition marshals."""
    assert set(status) <= set(STATUS_FIELDS)
    for key, wire in STATUS_FIELDS.items():
        if wire.omitempty:
            assert key not in status or not zero_of(status[key]), key
        else:
            assert key in status, key
    assert not [k for k, v in status["head"].items() if k not in HEAD_FIELDS or zero_of(v)]
    for c in status.get("conditions", []):
        assert set(c) == {"type", "status", "lastTransitionTime", "reason", "message"}, c
        assert all(isinstance(c[k], str) for k in c) and c["lastTransitionTime"]


def test_a_field_that_went_to_zero_is_gone_and_that_is_a_change() -> None:
    """A status written whole (the actuator's JSON patch replaces /status) loses it, as
    KubeRay's Update does: it must not be in the new status at all."""
    old = calculate(cluster(), [HEAD_OK, pod("w1"), pod("w2")], [service()], now=NOW)
    assert (old["availableWorkerReplicas"], old["head"]["podIP"]) == (2, "10.1.0.1")
    new = calculate(cluster(status=old), [], [service()], now=NOW)
    assert "availableWorkerReplicas" not in new and "readyWorkerReplicas" not in new
    assert new["head"] == {"serviceIP": "10.0.0.9", "serviceName": "demo-head-svc"}
    assert status_changed(old, new)


def test_a_status_raybus_wrote_before_is_rewritten_once_in_kuberays_shape() -> None:
    """Conditions stamped with observedGeneration (Raybus before) differ from KubeRay's shape,
    so they are written once, without it where they are set again (meta.SetStatusCondition
    copies the new condition's 0); a condition not set again is left as it is, as KubeRay
    leaves it (Provisioned, once True). Stale zero counters alone are no change (Go decodes
    them as unset)."""
    new = calculate(cluster(), [HEAD_OK], [service()], now=NOW)
    stamped = {**new, "conditions": [{**c, "observedGeneration": 7} for c in new["conditions"]]}
    assert status_changed(stamped, new)
    assert not status_changed({**new, "readyWorkerReplicas": 0, "reason": "", "head": {**new["head"], "x": ""}}, new)
    again = calculate(cluster(status=stamped), [HEAD_OK], [service()], now=NOW)
    assert {c["type"]: c.get("observedGeneration") for c in again["conditions"]} == {
        "HeadPodReady": None, "RayClusterProvisioned": 7, "RayClusterSuspended": None, "RayClusterSuspending": None}


def test_wire_status_drops_unknown_and_null_fields_and_fills_structs() -> None:
    assert wire_status({"bogus": 1, "state": None, "reason": "", "lastUpdateTime": None, "conditions": [],
                        "head": {"podIP": ""}, "minWorkerReplicas": 0, "endpoints": {}}) == {
        "desiredCPU": "0", "desiredMemory": "0", "desiredGPU": "0", "desiredTPU": "0", "head": {}}
    assert wire_status({"conditions": [{"type": "X", "status": "True", "reason": "R", "lastTransitionTime": T0,
                                        "observedGeneration": 0}]})["conditions"] == [
        {"type": "X", "status": "True", "reason": "R", "lastTransitionTime": T0, "message": ""}]


def test_the_tables_name_every_field_of_the_model_and_the_crd() -> None:
    def aliases(model: Any) -> set[str]:
        return {f.alias or n for n, f in model.model_fields.items()}

    assert set(STATUS_FIELDS) == aliases(RayClusterStatus)
    assert set(HEAD_FIELDS) == aliases(HeadInfo)
    schema = yaml.safe_load(CRD.read_text())["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"]
    assert set(schema["properties"]) == set(STATUS_FIELDS)
    assert set(schema["properties"]["conditions"]["items"]["properties"]) == set(CONDITION_FIELDS)


def kuberay_types() -> Path | None:
    """KubeRay v1.5.0's API types, where `make kuberay` (or any Go build of it) left them."""
    roots = [os.environ.get("GOMODCACHE"), os.environ.get("GOPATH") and f"{os.environ['GOPATH']}/pkg/mod",
             str(Path.home() / "go" / "pkg" / "mod")]
    for root in filter(None, roots):
        path = Path(root) / "github.com/ray-project/kuberay/ray-operator@v1.5.0/apis/ray/v1/raycluster_types.go"
        if path.is_file():
            return path
    return None


def go_fields(source: str, struct: str) -> dict[str, bool]:
    """json name → whether encoding/json omits the field when zero: tagged omitempty and not a
    struct value (omitempty never omits a struct: resource.Quantity, HeadInfo, metav1.Time)."""
    body = re.search(rf"^type {struct} struct {{\n(.*?)^}}", source, re.DOTALL | re.MULTILINE)
    assert body is not None, struct
    out = {}
    for go_type, name, opts in re.findall(r"^\s*\w+\s+(\S+)\s+`json:\"(\w+)((?:,\w+)*)\"", body.group(1), re.MULTILINE):
        out[name] = "omitempty" in opts and go_type not in {"resource.Quantity", "HeadInfo", "metav1.Time"}
    return out


def test_the_tables_match_kuberays_go_struct_tags() -> None:
    path = kuberay_types()
    if path is None:
        pytest.skip("KubeRay v1.5.0's Go source is not in the module cache (make kuberay puts it there)")
    source = path.read_text()
    assert go_fields(source, "RayClusterStatus") == {k: w.omitempty for k, w in STATUS_FIELDS.items()}
    assert go_fields(source, "HeadInfo") == {k: w.omitempty for k, w in HEAD_FIELDS.items()}


def test_a_transition_is_a_change_of_state_or_of_a_conditions_status() -> None:
    ready = {"type": "HeadPodReady", "status": "True", "reason": "HeadPodRunningAndReady"}
    base = {"state": "", "conditions": [{**ready, "status": "False"}], "readyWorkerReplicas": 0}
    assert not is_transition(base, {**base, "readyWorkerReplicas": 2, "endpoints": {"client": "10001"}})
    assert not is_transition(base, {**base, "conditions": [{**ready, "status": "False", "message": "other"}]})
    assert not is_transition(base, {**base, "conditions": [ready]})  # the head's readiness: just before ready
    provisioned = {"type": "RayClusterProvisioned", "status": "True", "reason": "AllPodRunningAndReadyFirstTime"}
    assert is_transition(base, {**base, "conditions": [{**ready, "status": "False"}, provisioned]})
    assert is_transition(base, {**base, "state": "ready"})
    assert is_transition({}, {**base, "conditions": [*base["conditions"], {**provisioned, "status": "False"}]})
