"""The Ray job poller's plan (`raybus_watcher.raypoll_plan`): which RayJobs are polled, where
their dashboards are, and when each is due. Pure: times are numbers, the jitter is passed in."""

from __future__ import annotations

from typing import Any

import pytest

from raybus_common.ray.jobs import Dashboard
from raybus_watcher.raypoll_plan import PollPlan, kept, poll_target

NS = "team-a"


def rayjob(name: str = "job", *, state: str = "Running", job_id: str = "job-x1", cluster: str = "job-rc",
           url: str = "job-rc-head-svc.team-a.svc.cluster.local:8265", uid: str = "u1", ns: str = NS,
           **extra: Any) -> dict[str, Any]:
    status: dict[str, Any] = {"jobDeploymentStatus": state, "jobId": job_id, "rayClusterName": cluster,
                              "dashboardURL": url, "message": "running", **extra}
    return {"apiVersion": "ray.io/v1", "kind": "RayJob",
            "metadata": {"name": name, "namespace": ns, "uid": uid, "resourceVersion": "5", "labels": {"a": "b"}},
            "spec": {"entrypoint": "python x.py"}, "status": {k: v for k, v in status.items() if v is not None}}


def raycluster(name: str = "job-rc", *, ip: str = "10.244.0.7", port: int | None = None, token: bool = False,
               ns: str = NS) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "ray-head"}
    if port is not None:
        container["ports"] = [{"name": "dashboard", "containerPort": port}]
    spec: dict[str, Any] = {"headGroupSpec": {"template": {"spec": {"containers": [container]}}}}
    if token:
        spec["authOptions"] = {"mode": "token"}
    return {"apiVersion": "ray.io/v1", "kind": "RayCluster", "metadata": {"name": name, "namespace": ns, "uid": "c1"},
            "spec": spec, "status": {"head": {"podIP": ip, "serviceName": f"{name}-head-svc"}}}


@pytest.mark.parametrize(("job", "cluster", "polled"), [
    (rayjob(), raycluster(), True),
    (rayjob(state="Initializing"), raycluster(), False),
    (rayjob(state="Complete"), raycluster(), False),
    (rayjob(state="Waiting"), raycluster(), False),
    (rayjob(job_id=""), raycluster(), False),
    (rayjob(cluster=""), raycluster(), False),
    (rayjob(), None, False),
    (rayjob(cluster="other-rc"), raycluster(), False),
    (rayjob(), raycluster(ns="team-b"), False),
    (rayjob(url=""), raycluster(), True),
], ids=["running", "initializing", "complete", "waiting", "no-job-id", "no-cluster-name", "cluster-unknown",
        "another-cluster", "cluster-in-another-namespace", "no-dashboard-url-yet"])
def test_which_rayjobs_are_polled(job: dict[str, Any], cluster: dict[str, Any] | None, polled: bool) -> None:
    assert (poll_target(job, cluster) is not None) is polled


def test_a_target_names_the_job_and_where_its_dashboard_is() -> None:
    target = poll_target(rayjob(), raycluster(port=18265, token=True))
    assert target is not None
    assert (target.namespace, target.name, target.uid, target.submission_id, target.cluster) == (
        NS, "job", "u1", "job-x1", "job-rc")
    assert target.dashboard == Dashboard(namespace=NS, cluster="job-rc",
                                         url="job-rc-head-svc.team-a.svc.cluster.local:8265",
                                         head_service="job-rc-head-svc", head_pod_ip="10.244.0.7", port=18265,
                                         auth_secret="job-rc")


def test_the_plan_keeps_only_what_makes_a_target_and_names_the_info() -> None:
    assert kept(rayjob()) == {
        "apiVersion": "ray.io/v1", "kind": "RayJob", "metadata": {"name": "job", "namespace": NS, "uid": "u1"},
        "status": {"jobDeploymentStatus": "Running", "jobId": "job-x1", "rayClusterName": "job-rc",
                   "dashboardURL": "job-rc-head-svc.team-a.svc.cluster.local:8265"}}


def keys(plan: PollPlan, now: float) -> list[str]:
    return [t.name for t in plan.due(now)]


def test_a_new_target_is_due_at_once_then_every_interval_with_jitter() -> None:
    plan = PollPlan(3.0, jitter=0.1)
    plan.cluster(raycluster(), now=0.0)
    plan.rayjob(rayjob(), now=10.0)
    assert keys(plan, 10.0) == ["job"]
    plan.start((NS, "job"))
    assert keys(plan, 10.0) == [] and plan.next_due() is None and plan.in_flight((NS, "job"))
    plan.polled((NS, "job"), now=10.5, spread=1.0)  # the longest jitter
    assert plan.next_due() == pytest.approx(10.5 + 3.3)
    assert keys(plan, 13.7) == [] and keys(plan, 13.8) == ["job"]
    plan.start((NS, "job"))
    plan.polled((NS, "job"), now=14.0, spread=-5.0)  # clamped to the shortest
    assert plan.next_due() == pytest.approx(14.0 + 2.7)


def test_the_cluster_may_be_seen_after_the_rayjob() -> None:
    plan = PollPlan(3.0)
    plan.rayjob(rayjob(), now=1.0)
    assert plan.targets() == {} and plan.next_due() is None
    plan.cluster(raycluster(), now=2.0)
    assert keys(plan, 2.0) == ["job"]


def test_a_status_write_that_moves_nothing_polled_keeps_the_schedule() -> None:
    plan = PollPlan(3.0, jitter=0.0)
    plan.cluster(raycluster(), now=0.0)
    plan.rayjob(rayjob(), now=0.0)
    plan.start((NS, "job"))
    plan.polled((NS, "job"), now=1.0)
    plan.rayjob(rayjob(message="another message", jobStatus="RUNNING"), now=2.0)
    plan.cluster({**raycluster(), "status": {**raycluster()["status"], "readyWorkerReplicas": 3}}, now=2.0)
    assert plan.next_due() == pytest.approx(4.0)


@pytest.mark.parametrize("change", ["job-id", "dashboard-url", "head-pod-ip", "uid"])
def test_a_changed_target_is_due_at_once(change: str) -> None:
    plan = PollPlan(3.0, jitter=0.0)
    plan.cluster(raycluster(), now=0.0)
    plan.rayjob(rayjob(), now=0.0)
    plan.start((NS, "job"))
    plan.polled((NS, "job"), now=1.0)
    if change == "job-id":
        plan.rayjob(rayjob(job_id="job-x2"), now=2.0)
    elif change == "dashboard-url":
        plan.rayjob(rayjob(url="elsewhere:8265"), now=2.0)
    elif change == "head-pod-ip":
        plan.cluster(raycluster(ip="10.244.0.9"), now=2.0)
    else:
        plan.rayjob(rayjob(uid="u2"), now=2.0)
    assert keys(plan, 2.0) == ["job"]


def test_a_target_changed_while_its_poll_is_in_flight_is_due_when_it_is_back() -> None:
    plan = PollPlan(3.0, jitter=0.0)
    plan.cluster(raycluster(), now=0.0)
    plan.rayjob(rayjob(), now=0.0)
    plan.start((NS, "job"))
    plan.rayjob(rayjob(job_id="job-x2"), now=0.5)
    assert keys(plan, 0.5) == []  # never two polls of one RayJob at once
    target = plan.target((NS, "job"))
    assert target is not None and target.submission_id == "job-x2"
    plan.polled((NS, "job"), now=1.0)
    assert keys(plan, 1.0) == ["job"]


@pytest.mark.parametrize("leaves", ["completes", "rayjob-deleted", "cluster-deleted", "job-id-cleared"])
def test_a_rayjob_no_longer_a_target_is_not_polled(leaves: str) -> None:
    plan = PollPlan(3.0)
    plan.cluster(raycluster(), now=0.0)
    plan.rayjob(rayjob(), now=0.0)
    plan.rayjob(rayjob("other", cluster="job-rc", job_id="other-x1", uid="u9"), now=0.0)
    if leaves == "completes":
        plan.rayjob(rayjob(state="Complete"), now=1.0)
    elif leaves == "rayjob-deleted":
        plan.rayjob_gone((NS, "job"))
    elif leaves == "cluster-deleted":
        plan.cluster_gone((NS, "job-rc"), now=1.0)
    else:
        plan.rayjob(rayjob(job_id=""), now=1.0)
    expected = [] if leaves == "cluster-deleted" else ["other"]
    assert keys(plan, 100.0) == expected
    assert plan.target((NS, "job")) is None
    plan.polled((NS, "job"), now=2.0)  # a poll that was in flight comes back: nothing is scheduled
    assert keys(plan, 100.0) == expected


def test_a_rayjob_that_moves_to_another_cluster_follows_it() -> None:
    plan = PollPlan(3.0)
    plan.cluster(raycluster(), now=0.0)
    plan.cluster(raycluster("rc-2", ip="10.244.0.8"), now=0.0)
    plan.rayjob(rayjob(), now=0.0)
    plan.rayjob(rayjob(cluster="rc-2", job_id="job-x2"), now=1.0)  # a retry: a new cluster and job id
    plan.cluster(raycluster(ip="10.244.0.99"), now=2.0)  # the old cluster no longer concerns it
    target = plan.target((NS, "job"))
    assert target is not None and (target.cluster, target.dashboard.head_pod_ip) == ("rc-2", "10.244.0.8")
    plan.cluster_gone((NS, "job-rc"), now=3.0)
    assert plan.target((NS, "job")) is not None


def test_the_most_overdue_is_first() -> None:
    plan = PollPlan(3.0, jitter=0.0)
    plan.cluster(raycluster(), now=0.0)
    for i, name in enumerate(["c", "a", "b"]):
        plan.rayjob(rayjob(name, uid=name, job_id=f"{name}-x"), now=float(i))
    assert keys(plan, 5.0) == ["c", "a", "b"]


@pytest.mark.parametrize(("interval", "jitter"), [(0.0, 0.1), (3.0, 1.0), (3.0, -0.1)],
                         ids=["no-interval", "jitter-a-whole-interval", "negative-jitter"])
def test_a_plan_needs_an_interval_and_a_small_jitter(interval: float, jitter: float) -> None:
    with pytest.raises(ValueError, match="interval"):
        PollPlan(interval, jitter)


def test_hurry_makes_the_picked_targets_due_at_once_but_not_one_in_flight() -> None:
    plan = PollPlan(3.0, jitter=0.0)
    plan.cluster(raycluster(), now=0.0)
    for name in ("a", "b", "c"):
        plan.rayjob(rayjob(name, uid=name, job_id=f"{name}-x"), now=0.0)
    for target in plan.due(0.0):
        plan.start(target.key)
        if target.name != "c":
            plan.polled(target.key, 0.5)  # a and b due again at 3.5; c still in flight
    assert keys(plan, 1.0) == []
    plan.hurry(lambda key: key[1] in ("a", "c"), now=1.0)
    assert keys(plan, 1.0) == ["a"]  # b not picked, c in flight
    plan.polled((NS, "c"), 2.0)
    assert keys(plan, 2.0) == ["a"] and keys(plan, 5.0) == ["a", "b", "c"]
