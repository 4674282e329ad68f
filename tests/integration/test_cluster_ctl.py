"""cluster-ctl end to end: real control plane with kwok nodes, real NATS, watcher + actuator +
cluster-ctl as processes. Pods become Running/Ready through kwok; Jobs' pods complete."""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

import httpx
import pytest
import yaml

from raybus_cluster_ctl.config import ClusterConfig
from raybus_cluster_ctl.handlers import SPEC
from raybus_cluster_ctl.reconcile import reconcile
from raybus_common.controller.runtime import view_salt
from raybus_common.controller.view import Observed, RootKey
from raybus_common.objects import strip_managed_fields
from raybus_testbed.kube import Kube
from raybus_testbed.services import Services
from raybus_testbed.waiting import wait_until

pytestmark = pytest.mark.integration
SAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "samples" / "raycluster-sample.yaml"


def sample(name: str, **spec: Any) -> dict[str, Any]:
    obj = copy.deepcopy(yaml.safe_load(SAMPLE.read_text()))
    obj["metadata"] = {"name": name}
    obj["spec"].update(spec)
    return obj


def start_stack(services: Services) -> None:
    services.start("watcher", "raybus-watcher")
    services.start("actuator", "raybus-actuator")
    services.start("cluster-ctl", "raybus-cluster-ctl")


class Cluster:
    def __init__(self, api: Kube, ns: str, name: str) -> None:
        self.api, self.ns, self.name = api, ns, name
        self.path = f"/apis/ray.io/v1/namespaces/{ns}/rayclusters/{name}"

    def get(self) -> dict[str, Any]:
        got: dict[str, Any] = self.api.get(self.path)
        return got

    def status(self) -> dict[str, Any]:
        return self.get().get("status") or {}

    def pods(self, node_type: str | None = None, group: str | None = None) -> list[dict[str, Any]]:
        selector = f"ray.io/cluster={self.name}"
        if node_type:
            selector += f",ray.io/node-type={node_type}"
        if group:
            selector += f",ray.io/group={group}"
        items: list[dict[str, Any]] = self.api.get(f"/api/v1/namespaces/{self.ns}/pods",
                                                   labelSelector=selector)["items"]
        return [p for p in items if not p["metadata"].get("deletionTimestamp")]

    def workers(self, group: str = "cpu") -> list[str]:
        return sorted(p["metadata"]["name"] for p in self.pods("worker", group))

    def wait(self, check: Callable[[], bool], what: str, timeout: float = 90) -> None:
        wait_until(check, timeout=timeout, what=f"{self.name}: {what}")

    def ready(self, workers: int) -> bool:
        s = self.status()
        return s.get("state") == "ready" and s.get("readyWorkerReplicas") == workers

    def patch(self, patch: dict[str, Any]) -> None:
        self.api.merge_patch(self.path, patch)

    def events(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.api.get(f"/apis/events.k8s.io/v1/namespaces/{self.ns}/events")["items"]
        return [e for e in items if e["regarding"].get("name") == self.name]


def assert_kept_view_decides_alike(rc: Cluster) -> None:
    """cluster-ctl's `keep` over the real objects (as the watcher publishes them: managedFields
    out, apiVersion and kind in): reconcile decides on the kept view as on the whole one, and a
    pod is kept in a fraction of its size."""
    def listed(path: str, api_version: str, kind: str) -> tuple[dict[str, Any], ...]:
        items = rc.api.get(path, labelSelector=f"ray.io/cluster={rc.name}")["items"]
        return tuple(strip_managed_fields({"apiVersion": api_version, "kind": kind, **o}) for o in items)

    children = {"pod": listed(f"/api/v1/namespaces/{rc.ns}/pods", "v1", "Pod"),
                "service": listed(f"/api/v1/namespaces/{rc.ns}/services", "v1", "Service")}
    keep = {w.kind: w.keep for w in SPEC.watches if w.keep is not None}
    small = {kind: tuple(keep[kind](o) for o in objs) for kind, objs in children.items()}
    root = strip_managed_fields(rc.get())
    key = RootKey("raycluster", rc.ns, rc.name)
    now = datetime.now(UTC)
    whole, kept = (Observed(key, root, MappingProxyType(c)) for c in (children, small))
    assert reconcile(kept, now=now, settings=ClusterConfig()) == reconcile(whole, now=now, settings=ClusterConfig())
    assert view_salt(kept) == view_salt(whole)
    assert len(json.dumps(small["pod"])) * 5 < len(json.dumps(children["pod"]))


def create(api: Kube, ns: str, obj: dict[str, Any]) -> Cluster:
    api.create(f"/apis/ray.io/v1/namespaces/{ns}/rayclusters", obj)
    return Cluster(api, ns, obj["metadata"]["name"])


def test_sample_cluster_becomes_ready_scales_and_goes(services: Services, control_plane: Kube,
                                                     namespace: str) -> None:
    start_stack(services)
    rc = create(control_plane, namespace, sample("sample"))
    rc.wait(lambda: rc.ready(2), "Ready with 2 workers")
    assert_kept_view_decides_alike(rc)
    status = rc.status()
    assert status["desiredWorkerReplicas"] == 2 and status["minWorkerReplicas"] == 1
    assert status["maxWorkerReplicas"] == 5 and status["availableWorkerReplicas"] == 2
    assert status["head"]["podIP"] and status["observedGeneration"] == rc.get()["metadata"]["generation"]
    assert {c["type"]: c["status"] for c in status["conditions"]}["RayClusterProvisioned"] == "True"
    svc = control_plane.get(f"/api/v1/namespaces/{namespace}/services/sample-head-svc")
    assert svc["spec"]["clusterIP"] == "None"
    reasons = {e["reason"] for e in rc.events()}
    assert {"CreatedHeadPod", "CreatedWorkerPod", "CreatedService"} <= reasons
    lines = httpx.get(services.url("cluster-ctl", "/metrics"), timeout=5).text.splitlines()
    assert any(x.startswith("kuberay_cluster_condition_provisioned{") and 'name="sample"' in x
               and f'namespace="{namespace}"' in x and 'condition="true"' in x for x in lines)
    assert any(x.startswith('kuberay_cluster_provisioned_duration_seconds{name="sample"') for x in lines)

    # Scale up, then down (no autoscaler: Raybus removes the surplus).
    group = rc.get()["spec"]["workerGroupSpecs"][0]
    rc.patch({"spec": {"workerGroupSpecs": [{**group, "replicas": 4}]}})
    rc.wait(lambda: rc.ready(4), "4 workers")
    rc.patch({"spec": {"workerGroupSpecs": [{**group, "replicas": 1}]}})
    rc.wait(lambda: len(rc.workers()) == 1 and rc.ready(1), "1 worker")

    # Deleting the RayCluster removes every child.
    control_plane.delete(rc.path)
    wait_until(lambda: not rc.api.get(f"/api/v1/namespaces/{namespace}/pods")["items"]
                       and not [s for s in rc.api.get(f"/api/v1/namespaces/{namespace}/services")["items"]
                                if s["metadata"]["name"].startswith("sample")], timeout=90,
                       what="every child gone")


def test_workers_to_delete_deletes_exactly_those_pods(services: Services, control_plane: Kube,
                                                     namespace: str) -> None:
    start_stack(services)
    rc = create(control_plane, namespace, sample("wtd", enableInTreeAutoscaling=True))
    rc.wait(lambda: rc.ready(2), "Ready with 2 workers")
    before = rc.workers()
    victim, keeper = before[0], before[1]
    group = rc.get()["spec"]["workerGroupSpecs"][0]
    # What the autoscaler does: lower replicas and name the pod to remove.
    rc.patch({"spec": {"workerGroupSpecs": [{**group, "replicas": 1,
                                             "scaleStrategy": {"workersToDelete": [victim]}}]}})
    rc.wait(lambda: rc.workers() == [keeper], "only the named worker deleted")
    assert rc.get()["spec"]["workerGroupSpecs"][0]["scaleStrategy"]["workersToDelete"] == [victim], \
        "workersToDelete belongs to the autoscaler: left as it was"


def test_suspend_and_resume_a_cluster_and_a_group(services: Services, control_plane: Kube,
                                                 namespace: str) -> None:
    start_stack(services)
    rc = create(control_plane, namespace, sample("susp"))
    rc.wait(lambda: rc.ready(2), "Ready")
    rc.patch({"spec": {"suspend": True}})
    rc.wait(lambda: not rc.pods() and any(c["type"] == "RayClusterSuspended" and c["status"] == "True"
                                          for c in rc.status().get("conditions", [])), "suspended")
    rc.patch({"spec": {"suspend": False}})
    rc.wait(lambda: rc.ready(2), "resumed")
    group = rc.get()["spec"]["workerGroupSpecs"][0]
    rc.patch({"spec": {"workerGroupSpecs": [{**group, "suspend": True}]}})
    rc.wait(lambda: not rc.workers() and len(rc.pods("head")) == 1, "the group suspended, the head kept")
    rc.patch({"spec": {"workerGroupSpecs": [{**group, "suspend": False}]}})
    rc.wait(lambda: len(rc.workers()) == 2, "the group resumed")


def test_multi_host_group_is_kept_whole(services: Services, control_plane: Kube, namespace: str) -> None:
    start_stack(services)
    obj = sample("mh")
    obj["spec"]["workerGroupSpecs"][0].update(replicas=2, numOfHosts=2, maxReplicas=4)
    rc = create(control_plane, namespace, obj)
    rc.wait(lambda: len(rc.workers()) == 4, "2 replicas × 2 hosts")
    pods = rc.pods("worker")
    replicas: dict[str, list[str]] = {}
    for p in pods:
        replicas.setdefault(p["metadata"]["labels"]["ray.io/worker-group-replica-name"], []).append(
            p["metadata"]["labels"]["ray.io/replica-host-index"])
    assert len(replicas) == 2 and all(sorted(h) == ["0", "1"] for h in replicas.values())
    control_plane.get(f"/api/v1/namespaces/{namespace}/services/mh-headless")
    # Lose one host: its whole replica is replaced (same spec, so possibly the same names:
    # compare uids).
    lost = pods[0]["metadata"]["labels"]["ray.io/worker-group-replica-name"]
    sibling = next(p["metadata"]["uid"] for p in pods[1:]
                   if p["metadata"]["labels"]["ray.io/worker-group-replica-name"] == lost)
    control_plane.delete(f"/api/v1/namespaces/{namespace}/pods/{pods[0]['metadata']['name']}")

    def whole_again() -> bool:
        now = rc.pods("worker")
        uids = {p["metadata"]["uid"] for p in now}
        return (len(now) == 4 and pods[0]["metadata"]["uid"] not in uids and sibling not in uids
                and all(p["status"].get("phase") == "Running" for p in now))

    rc.wait(whole_again, "the broken replica replaced as a whole")


def test_recreate_on_spec_change(services: Services, control_plane: Kube, namespace: str) -> None:
    start_stack(services)
    rc = create(control_plane, namespace, sample("recreate", upgradeStrategy={"type": "Recreate"}))
    rc.wait(lambda: rc.ready(2), "Ready")
    old = {p["metadata"]["name"] for p in rc.pods()}
    template = rc.get()["spec"]["workerGroupSpecs"][0]
    template["template"]["spec"]["containers"][0]["env"] = [{"name": "NEW", "value": "1"}]
    rc.patch({"spec": {"workerGroupSpecs": [template]}})
    def recreated() -> bool:
        pods = rc.pods()
        names = {p["metadata"]["name"] for p in pods}
        return (not old & names and len(rc.pods("head")) == 1 and len(rc.workers()) == 2
                and all(p["status"].get("phase") == "Running" for p in pods) and rc.ready(2))

    rc.wait(recreated, "every pod recreated, a new head and two new workers running")
    # Scaling alone does not recreate.
    now = {p["metadata"]["name"] for p in rc.pods("head")}
    rc.patch({"spec": {"workerGroupSpecs": [{**template, "replicas": 3}]}})
    rc.wait(lambda: rc.ready(3), "3 workers")
    assert {p["metadata"]["name"] for p in rc.pods("head")} == now


def test_gcs_ft_finalizer_runs_the_cleanup_job(services: Services, control_plane: Kube, namespace: str) -> None:
    start_stack(services)
    rc = create(control_plane, namespace, sample("ft", gcsFaultToleranceOptions={"redisAddress": "redis:6379"}))
    rc.wait(lambda: "ray.io/gcs-ft-redis-cleanup-finalizer" in (rc.get()["metadata"].get("finalizers") or [])
            and rc.ready(2), "the finalizer and Ready")
    control_plane.delete(rc.path)
    jobs = f"/apis/batch/v1/namespaces/{namespace}/jobs"
    wait_until(lambda: any(j["metadata"]["name"] == "ft-redis-cleanup"
                                   for j in control_plane.get(jobs)["items"]), timeout=90, what="the cleanup Job")
    wait_until(lambda: not control_plane.exists(rc.path), timeout=120,
                       what="the finalizer removed after the Job completed")


def test_an_invalid_spec_gets_a_condition_and_an_event_and_others_converge(
        services: Services, control_plane: Kube, namespace: str) -> None:
    start_stack(services)
    bad = sample("bad")
    bad["spec"]["workerGroupSpecs"][0].update(minReplicas=5, maxReplicas=1)
    invalid = create(control_plane, namespace, bad)
    good = create(control_plane, namespace, sample("good"))
    good.wait(lambda: good.ready(2), "the valid cluster Ready")
    invalid.wait(lambda: any("workerGroupSpecs[0]" in (c.get("message") or "")
                             for c in invalid.status().get("conditions", [])), "a condition naming the field")
    assert any(e["reason"] == "InvalidRayClusterSpec" and e["type"] == "Warning" for e in invalid.events())
    assert not invalid.pods()


def events_of(rc: Cluster, reason: str) -> list[dict[str, Any]]:
    return [e for e in rc.events() if e["reason"] == reason]


def occurrences(events: list[dict[str, Any]]) -> int:
    """How many times the Events say it happened: one each, or its series' count."""
    return sum((e.get("series") or {}).get("count", 1) for e in events)


def replica_failure(rc: Cluster) -> dict[str, Any] | None:
    return next((c for c in rc.status().get("conditions", []) if c["type"] == "ReplicaFailure"), None)


def test_a_head_pod_the_api_refuses_is_a_warning_and_a_condition_until_it_is_created(
        services: Services, control_plane: Kube, namespace: str) -> None:
    start_stack(services)
    obj = sample("nosa")
    obj["spec"]["headGroupSpec"]["template"]["spec"]["serviceAccountName"] = "missing"
    rc = create(control_plane, namespace, obj)
    rc.wait(lambda: replica_failure(rc) is not None and events_of(rc, "FailedToCreateHeadPod"),
            "the refusal reported: condition and Warning")
    cond = replica_failure(rc)
    assert cond is not None and (cond["status"], cond["reason"]) == ("True", "FailedCreateHeadPod")
    api_error = f"error looking up service account {namespace}/missing: serviceaccount \"missing\" not found"
    assert cond["message"].startswith("FailedCreateHeadPod\npods \"nosa-head-") and cond["message"].endswith(api_error)
    warnings = events_of(rc, "FailedToCreateHeadPod")
    for w in warnings:  # KubeRay's text with the API's own message, from KubeRay's recorder name
        head = cond["message"].split('"')[1]
        assert w["note"] == f"Failed to create head Pod {namespace}/{head}, pods \"{head}\" is forbidden: {api_error}"
        assert (w["type"], w["action"], w["reportingController"]) == ("Warning", "Create", "raycluster-controller")
    assert not events_of(rc, "CreatedHeadPod"), "no success Event for a write that failed"
    assert not rc.pods("head")

    control_plane.create(f"/api/v1/namespaces/{namespace}/serviceaccounts",
                         {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "missing"}})
    rc.wait(lambda: rc.ready(2) and replica_failure(rc) is None, "the head created (retried), the condition gone",
            timeout=120)
    (created,) = events_of(rc, "CreatedHeadPod")
    head = rc.pods("head")[0]["metadata"]["name"]
    assert created["note"] == f"Created head Pod {namespace}/{head}"
    assert (created["reportingController"], created["action"]) == ("raycluster-controller", "Create")


def test_token_auth_gets_its_secret_once_and_it_is_never_rotated(services: Services, control_plane: Kube,
                                                                namespace: str) -> None:
    start_stack(services)
    rc = create(control_plane, namespace, sample("secured", authOptions={"mode": "token"}))
    path = f"/api/v1/namespaces/{namespace}/secrets/secured"
    rc.wait(lambda: control_plane.exists(path) and rc.ready(2), "the Secret and Ready")
    secret = control_plane.get(path)
    token = base64.b64decode(secret["data"]["auth_token"]).decode()
    assert len(token) == 44 and len(base64.b64decode(token)) == 32, "base64 of 32 random bytes, as KubeRay's"
    assert secret["metadata"]["labels"]["ray.io/cluster"] == "secured"
    (owner,) = secret["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["name"], owner["controller"]) == ("RayCluster", "secured", True)
    refs = [e["valueFrom"]["secretKeyRef"] for p in rc.pods() for c in p["spec"]["containers"] for e in c.get("env", [])
            if (e.get("valueFrom") or {}).get("secretKeyRef", {}).get("name") == "secured"]
    assert refs and all(r["key"] == "auth_token" for r in refs), "the pods read the token from it"
    assert not [e for e in rc.events() if "Secret" in e["reason"]], "KubeRay records no Event for it"
    # Later passes (a scale-up) leave it as it is.
    group = rc.get()["spec"]["workerGroupSpecs"][0]
    rc.patch({"spec": {"workerGroupSpecs": [{**group, "replicas": 3}]}})
    rc.wait(lambda: rc.ready(3), "3 workers")
    again = control_plane.get(path)
    assert again["data"] == secret["data"] and again["metadata"]["uid"] == secret["metadata"]["uid"]


def test_a_group_of_workers_is_one_created_event_with_a_count(services: Services, control_plane: Kube,
                                                             namespace: str) -> None:
    start_stack(services)
    obj = sample("wide")
    group = obj["spec"]["workerGroupSpecs"][0]
    group.update(replicas=12, maxReplicas=12)
    group["template"]["spec"]["containers"][0]["resources"] = {"requests": {"cpu": "10m", "memory": "16Mi"}}
    rc = create(control_plane, namespace, obj)
    rc.wait(lambda: len(rc.workers()) == 12 and occurrences(events_of(rc, "CreatedWorkerPod")) == 12,
            "12 workers and 12 CreatedWorkerPod occurrences")
    events = events_of(rc, "CreatedWorkerPod")
    # KubeRay's recorder makes one Event of them; Raybus too (two should the creations straddle
    # the edge of a 6-minute window).
    assert 1 <= len(events) <= 2, [(e["metadata"]["name"], e.get("series")) for e in events]
    assert all(e["reportingController"] == "raycluster-controller" for e in events)
    assert all(e["note"].startswith(f"Created worker Pod {namespace}/wide-cpu-worker-") for e in events)
