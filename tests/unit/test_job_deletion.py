"""What job-ctl does once a RayJob's Ray job is over (deletion rules, the legacy policies,
shutdownAfterJobFinishes with its TTL, DELETE_RAYJOB_CR_AFTER_JOB_FINISHES) and when the RayJob
itself is deleted (stop the Ray job, remove the finalizer). Pure, on a fake clock."""

from __future__ import annotations

from typing import Any

import pytest
from job_views import (
    CLUSTER,
    FINALIZER,
    JOB_ID,
    NAME,
    NS,
    SETTINGS,
    UID,
    ago,
    cluster,
    events,
    only,
    ops,
    rayjob,
    run,
    status,
    submitter,
)

from raybus_common.actions import Delete, Patch, RayStopJob, RemoveFinalizer
from raybus_common.decision import Decision
from raybus_job_ctl.config import JobConfig

Obj = dict[str, Any]
RULES = [{"policy": policy, "condition": {"jobStatus": outcome, "ttlSeconds": ttl}}
         for outcome in ("SUCCEEDED", "FAILED")
         for policy, ttl in (("DeleteWorkers", 30), ("DeleteCluster", 60), ("DeleteSelf", 90))]


def finished(ended: float, *, job_status: str = "SUCCEEDED", deployment: str = "Complete", **fields: Any) -> Obj:
    return status(deployment, started=ended + 60, endTime=ago(ended), jobStatus=job_status, **fields)


def by_rules(ended: float, *children: Obj, rules: list[Obj] | None = None, job_status: str = "SUCCEEDED",
             deployment: str = "Complete", settings: JobConfig = SETTINGS) -> Decision:
    root = rayjob(finished(ended, job_status=job_status, deployment=deployment),
                  deletionStrategy={"deletionRules": rules or RULES})
    return run(root, *children, settings=settings)


# -- deletion rules -----------------------------------------------------------------------------


@pytest.mark.parametrize(("ended", "children", "expected", "requeue"), [
    pytest.param(10, "cluster", [], 22.0, id="nothing-due-requeue-at-workers+2s"),
    pytest.param(45, "cluster", [("patch", "RayCluster", CLUSTER)], 17.0, id="workers-due"),
    pytest.param(45, "suspended", [], 17.0, id="workers-done-already"),
    pytest.param(70, "cluster", [("delete", "RayCluster", CLUSTER)], 22.0, id="cluster-beats-workers"),
    pytest.param(70, "terminating", [], 22.0, id="cluster-going-is-done"),
    pytest.param(100, "cluster", [("delete", "RayJob", NAME)], None, id="self-most-destructive"),
    pytest.param(100, "none", [("delete", "RayJob", NAME)], None, id="self-with-cluster-gone"),
])
def test_rules_run_the_most_destructive_overdue_one_and_requeue_at_the_next(
        ended: float, children: str, expected: list[tuple[str, str, str]], requeue: float | None) -> None:
    kids = {"cluster": [cluster()], "suspended": [cluster(suspended_workers=True)],
            "terminating": [cluster(terminating=True)], "none": []}[children]
    d = by_rules(ended, *kids)
    assert ops(d) == expected
    assert d.requeue_after == (pytest.approx(requeue) if requeue is not None else None)
    assert d.status is None


def test_delete_workers_suspends_every_group_pinned_to_the_clusters_uid() -> None:
    d = by_rules(45, cluster())
    [patch] = only(d, Patch)
    assert patch.ref.uid == f"uid-{CLUSTER}"
    groups = patch.patch["spec"]["workerGroupSpecs"]
    assert [g["groupName"] for g in groups] == ["cpu"] and all(g["suspend"] is True for g in groups)
    assert groups[0]["replicas"] == 2, "a merge patch replaces the list: the groups go whole"
    assert events(d) == ["UpdatedRayCluster"]
    assert patch.success_event.message == (
        f"Set the `suspend` field to true for all worker groups in cluster {NS}/{CLUSTER}")
    assert patch.failure_reason == "FailedToUpdateRayCluster"


def test_delete_cluster_events() -> None:
    [delete] = only(by_rules(70, cluster()), Delete)
    assert (delete.ref.kind, delete.ref.uid) == ("RayCluster", f"uid-{CLUSTER}")
    assert (delete.success_event.reason, delete.success_event.message, delete.failure_reason) == (
        "DeletedRayCluster", f"Deleted cluster {NS}/{CLUSTER}", "FailedToDeleteRayCluster")


def test_delete_self_pins_the_rayjobs_uid() -> None:
    [delete] = only(by_rules(100), Delete)
    assert (delete.ref.kind, delete.ref.name, delete.ref.uid) == ("RayJob", NAME, UID)


def test_rules_match_the_job_status_only() -> None:
    assert ops(by_rules(100, cluster(), job_status="STOPPED")) == []


def test_a_rule_on_the_deployment_status_matches_a_failed_deployment() -> None:
    rules = [{"policy": "DeleteCluster", "condition": {"jobDeploymentStatus": "Failed", "ttlSeconds": 5}}]
    d = by_rules(10, cluster(), rules=rules, job_status="RUNNING", deployment="Failed")
    assert ops(d) == [("delete", "RayCluster", CLUSTER)]
    assert ops(by_rules(10, cluster(), rules=rules)) == [], "Complete does not match"


def test_a_finished_rayjob_without_an_end_time_counts_every_ttl_as_passed() -> None:
    root = rayjob(status("Complete", jobStatus="SUCCEEDED"), deletionStrategy={"deletionRules": RULES})
    assert ops(run(root, cluster())) == [("delete", "RayJob", NAME)]


# -- legacy policies ------------------------------------------------------------------------------


@pytest.mark.parametrize(("job_status", "on_success", "on_failure", "ttl", "ended", "expected", "requeue"), [
    pytest.param("SUCCEEDED", "DeleteCluster", "DeleteWorkers", 10, 20, [("delete", "RayCluster", CLUSTER)], None,
                 id="success-delete-cluster"),
    pytest.param("FAILED", "DeleteCluster", "DeleteWorkers", 10, 20, [("patch", "RayCluster", CLUSTER)], None,
                 id="failure-delete-workers"),
    pytest.param("FAILED", "DeleteCluster", "DeleteSelf", 10, 20, [("delete", "RayJob", NAME)], None,
                 id="failure-delete-self"),
    pytest.param("SUCCEEDED", "DeleteNone", "DeleteCluster", 0, 20, [], None, id="delete-none"),
    pytest.param("STOPPED", "DeleteCluster", "DeleteCluster", 10, 20, [], None, id="stopped-no-policy"),
    pytest.param("SUCCEEDED", "DeleteCluster", "DeleteCluster", 10, 4, [], 8.0, id="ttl-not-yet"),
])
def test_legacy_policies(job_status: str, on_success: str, on_failure: str, ttl: int, ended: float,
                         expected: list[tuple[str, str, str]], requeue: float | None) -> None:
    deployment = "Failed" if job_status == "FAILED" else "Complete"
    root = rayjob(finished(ended, job_status=job_status, deployment=deployment), ttlSecondsAfterFinished=ttl,
                  shutdownAfterJobFinishes=ttl > 0,  # a TTL needs it; DeleteNone forbids it (validation)
                  deletionStrategy={"onSuccess": {"policy": on_success}, "onFailure": {"policy": on_failure}})
    d = run(root, cluster())
    assert ops(d) == expected
    assert d.requeue_after == (pytest.approx(requeue) if requeue is not None else None)


# -- shutdownAfterJobFinishes ------------------------------------------------------------------------


@pytest.mark.parametrize(("ended", "children", "settings", "expected", "requeue"), [
    pytest.param(5, "cluster", JobConfig(), [], 7.0, id="ttl-not-yet"),
    pytest.param(10, "cluster", JobConfig(), [("delete", "RayCluster", CLUSTER)], None, id="ttl-due"),
    pytest.param(10, "terminating", JobConfig(), [], None, id="cluster-going"),
    pytest.param(10, "cluster", JobConfig(delete_rayjob_after_job_finishes=True), [("delete", "RayJob", NAME)], None,
                 id="delete-the-rayjob-instead"),
])
def test_shutdown_after_job_finishes(ended: float, children: str, settings: JobConfig,
                                     expected: list[tuple[str, str, str]], requeue: float | None) -> None:
    kids = {"cluster": [cluster()], "terminating": [cluster(terminating=True)]}[children]
    d = run(rayjob(finished(ended), shutdownAfterJobFinishes=True, ttlSecondsAfterFinished=10), *kids,
            settings=settings)
    assert ops(d) == expected
    assert d.requeue_after == (pytest.approx(requeue) if requeue is not None else None)


def test_the_submitter_job_is_kept_for_its_logs() -> None:
    d = run(rayjob(finished(10), shutdownAfterJobFinishes=True), cluster(), submitter(complete=True))
    assert ops(d) == [("delete", "RayCluster", CLUSTER)]


def test_a_selected_cluster_is_never_deleted() -> None:
    root = rayjob(finished(100, rayClusterName="shared"), clusterSelector={"ray.io/cluster": "shared"},
                  rayClusterSpec=None, deletionStrategy={"deletionRules": [
                      {"policy": "DeleteSelf", "condition": {"jobStatus": "SUCCEEDED"}}]})
    assert run(root, cluster("shared", owned=False)).is_noop


# -- the RayJob being deleted ---------------------------------------------------------------------


def deleting(st: Obj | None, *, finalizers: tuple[str, ...] = (FINALIZER,)) -> Obj:
    root = rayjob(st, finalizers=finalizers)
    root["metadata"]["deletionTimestamp"] = ago(1)
    return root


def test_deleting_a_running_rayjob_stops_its_ray_job_and_removes_the_finalizer() -> None:
    st = status("Running", jobStatus="RUNNING", dashboardURL="rj-abcde-head-svc.default.svc.cluster.local:8265")
    d = run(deleting(st), cluster())
    assert [type(a) for a in d.actions] == [RayStopJob, RemoveFinalizer]
    stop = only(d, RayStopJob)[0]
    assert (stop.submission_id, stop.ref.kind, stop.ref.name, stop.ref.uid) == (JOB_ID, "RayJobInfo", NAME, UID)
    assert (stop.dashboard.cluster, stop.dashboard.url) == (CLUSTER, st["dashboardURL"])
    assert only(d, RemoveFinalizer)[0].finalizer == FINALIZER
    assert d.requeue_after == 3.0


@pytest.mark.parametrize(("st", "children"), [
    pytest.param(status("Complete", jobStatus="SUCCEEDED"), [cluster()], id="terminal-job"),
    pytest.param(status("Running", jobStatus="RUNNING"), [], id="no-cluster-in-view"),
    pytest.param(status("Initializing", jobId=None), [cluster()], id="no-submission-id"),
])
def test_deleting_without_a_job_to_stop_only_removes_the_finalizer(st: Obj, children: list[Obj]) -> None:
    d = run(deleting(st), *children)
    assert [type(a) for a in d.actions] == [RemoveFinalizer]


def test_deleting_without_the_finalizer_does_nothing() -> None:
    assert run(deleting(status("Running", jobStatus="RUNNING"), finalizers=()), cluster()).is_noop
