"""The serve poller's plan (`raybus_watcher.servepoll_plan`): which RayClusters' Serve is polled,
where their dashboards and proxies are, and when each is due (the schedule the Ray job poller's
plan shares, `raypoll_plan.Schedule`). Pure: times are numbers, the jitter is passed in."""

from __future__ import annotations

from typing import Any

import pytest

from raybus_common.ray.jobs import Dashboard
from raybus_watcher.servepoll_plan import ServePlan, kept, serve_target

NS = "team-a"


def raycluster(name: str = "svc-rc", *, crd: str | None = "RayService", ready: str | None = "True",
               ip: str = "10.244.0.9", pod: str = "svc-rc-head", serve: int | None = None, uid: str = "c1",
               token: bool = False, **status: Any) -> dict[str, Any]:
    labels = {"ray.io/originated-from-crd": crd, "ray.io/originated-from-cr-name": "svc"} if crd else {}
    ports = [{"name": "dashboard", "containerPort": 8265}] + (
        [{"name": "serve", "containerPort": serve}] if serve else [])
    spec: dict[str, Any] = {"headGroupSpec": {"template": {"spec": {"containers": [{"name": "ray-head",
                                                                                    "ports": ports}]}}}}
    if token:
        spec["authOptions"] = {"mode": "token"}
    conditions = [{"type": "RayClusterProvisioned", "status": "True"}]
    if ready is not None:
        conditions.append({"type": "HeadPodReady", "status": ready})
    return {"apiVersion": "ray.io/v1", "kind": "RayCluster",
            "metadata": {"name": name, "namespace": NS, "uid": uid, "resourceVersion": "3", "labels": labels,
                         "ownerReferences": [{"kind": "RayService", "name": "svc", "uid": "s1", "controller": True}]},
            "spec": spec,
            "status": {"conditions": conditions, "state": "ready",
                       "head": {"podIP": ip, "podName": pod, "serviceName": f"{name}-head-svc"}, **status}}


@pytest.mark.parametrize(("cluster", "polled"), [
    (raycluster(), True),
    (raycluster(crd="RayJob"), False),
    (raycluster(crd=None), False),
    (raycluster(ready="False"), False),
    (raycluster(ready="Unknown"), False),
    (raycluster(ready=None), False),
    (raycluster(ip=""), False),
], ids=["rayservice-head-ready", "a-rayjobs-cluster", "a-users-cluster", "head-not-ready", "head-unknown",
        "no-head-condition-yet", "no-head-ip"])
def test_which_clusters_serve_is_polled(cluster: dict[str, Any], polled: bool) -> None:
    assert (serve_target(cluster) is not None) is polled


def test_a_target_names_the_dashboard_and_the_proxy() -> None:
    target = serve_target(raycluster(serve=9000, token=True))
    assert target is not None
    assert (target.namespace, target.name, target.uid, target.head_pod, target.serve_port) == (
        NS, "svc-rc", "c1", "svc-rc-head", 9000)
    assert target.dashboard == Dashboard(namespace=NS, cluster="svc-rc", url="svc-rc-head-svc.team-a.svc:8265",
                                         head_service="svc-rc-head-svc", head_pod_ip="10.244.0.9", port=8265,
                                         auth_secret="svc-rc")
    assert target.proxy_url == "http://10.244.0.9:9000"
    v6 = serve_target(raycluster(ip="fd00::9"))
    assert v6 is not None and v6.proxy_url == "http://[fd00::9]:8000"


def test_a_target_keeps_only_what_names_and_owns_the_observation() -> None:
    cluster = raycluster()
    assert kept(cluster) == {"apiVersion": "ray.io/v1", "kind": "RayCluster",
                             "metadata": {k: cluster["metadata"][k]
                                          for k in ("name", "namespace", "uid", "labels", "ownerReferences")}}


def keys(plan: ServePlan, now: float) -> list[str]:
    return [t.name for t in plan.due(now)]


def test_a_target_is_due_at_once_then_every_interval() -> None:
    plan = ServePlan(3.0, jitter=0.1)
    plan.cluster(raycluster(), now=10.0)
    assert keys(plan, 10.0) == ["svc-rc"]
    plan.start((NS, "svc-rc"))
    assert keys(plan, 100.0) == [] and plan.in_flight((NS, "svc-rc"))
    plan.polled((NS, "svc-rc"), now=10.5, spread=-1.0)
    assert plan.next_due() == pytest.approx(10.5 + 2.7)


def test_a_status_write_that_moves_nothing_polled_keeps_the_schedule() -> None:
    plan = ServePlan(3.0, jitter=0.0)
    plan.cluster(raycluster(), now=0.0)
    plan.start((NS, "svc-rc"))
    plan.polled((NS, "svc-rc"), now=1.0)
    plan.cluster(raycluster(desiredCPU="2", readyWorkerReplicas=3), now=2.0)
    assert keys(plan, 2.0) == [] and plan.next_due() == 4.0


def test_a_new_head_is_polled_at_once_even_mid_poll() -> None:
    plan = ServePlan(3.0, jitter=0.0)
    plan.cluster(raycluster(), now=0.0)
    plan.start((NS, "svc-rc"))
    plan.cluster(raycluster(ip="10.244.0.10", pod="svc-rc-head-2"), now=1.0)  # the head pod replaced meanwhile
    assert keys(plan, 1.0) == []  # one poll in flight at most
    plan.polled((NS, "svc-rc"), now=1.5)
    assert keys(plan, 1.5) == ["svc-rc"]
    target = plan.target((NS, "svc-rc"))
    assert target is not None and (target.head_pod, target.dashboard.head_pod_ip) == ("svc-rc-head-2", "10.244.0.10")


def test_a_cluster_whose_head_is_not_ready_or_that_went_is_dropped() -> None:
    plan = ServePlan(3.0)
    plan.cluster(raycluster(), now=0.0)
    plan.cluster(raycluster("other-rc"), now=0.0)
    plan.cluster(raycluster(ready="False"), now=1.0)
    assert list(plan.targets()) == [(NS, "other-rc")]
    plan.start((NS, "other-rc"))
    plan.cluster_gone((NS, "other-rc"))
    plan.polled((NS, "other-rc"), now=2.0)  # its answer comes back after it went: nothing scheduled
    assert plan.targets() == {} and plan.next_due() is None
