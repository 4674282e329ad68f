"""job-ctl's state machine, pure: every transition row of rayjob.md §2.2 on a fake clock — the next
status, reason and message, and the actions' ops and targets — plus retries, deadlines and
timers, suspend and resume, the cluster deleted underneath, HTTPMode submission, and when the
status is written at all."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from job_views import (
    CLUSTER,
    FINALIZER,
    JOB_ID,
    NAME,
    NOW,
    NS,
    UID,
    ago,
    cluster,
    events,
    head_pod,
    head_service,
    info,
    ms,
    observe,
    only,
    ops,
    own_head_service,
    rayjob,
    run,
    running,
    status,
    submitter,
    written,
)

from raybus_common.actions import AddFinalizer, Apply, Delete, RaySubmitJob, RecordEvent
from raybus_common.controller.view import Failure
from raybus_job_ctl.config import JobConfig
from raybus_job_ctl.names import ALPHABET, generated_name
from raybus_job_ctl.reconcile import reconcile

Obj = dict[str, Any]
GO_START = "2026-11-22 11:59:50 +0000 UTC"  # Go's %v of the status's startTime (10 s before NOW)


def go(at_seconds_ago: float) -> str:
    return (NOW - timedelta(seconds=at_seconds_ago)).strftime("%Y-%m-%d %H:%M:%S +0000 UTC")


# -- New ------------------------------------------------------------------------------------------


def test_new_goes_initializing_with_the_finalizer_derived_names_and_start_time_in_one_write() -> None:
    d = run(rayjob(finalizers=()))
    s = written(d)
    assert s["jobDeploymentStatus"] == "Initializing"
    assert s["startTime"] == "2026-11-22T12:00:00Z"
    for key, what in (("jobId", "jobid"), ("rayClusterName", "raycluster")):
        assert s[key] == generated_name(NAME, UID, what, s["startTime"])
        suffix = s[key].removeprefix(f"{NAME}-")
        assert len(suffix) == 5 and set(suffix) <= set(ALPHABET), s[key]
    assert s["jobId"] != s["rayClusterName"]
    assert "jobStatus" not in s, "JobStatusNew is empty, left out as Go's omitempty does"
    assert (s["failed"], s["succeeded"]) == (0, 0)
    assert [a.finalizer for a in only(d, AddFinalizer)] == [FINALIZER]
    assert ops(d) == [("add_finalizer", "RayJob", NAME)], "nothing is created before the names are written"
    assert d.requeue_after == 3.0


@pytest.mark.parametrize(("spec", "job_id", "cluster_name"), [
    pytest.param({"jobId": "my-id"}, "my-id", None, id="spec-job-id"),
    pytest.param({"submissionMode": "InteractiveMode"}, "", None, id="interactive-no-job-id"),
    pytest.param({"clusterSelector": {"ray.io/cluster": "shared"}, "rayClusterSpec": None}, None, "shared",
                 id="selector-names-the-cluster"),
])
def test_new_takes_what_the_spec_names(spec: Obj, job_id: str | None, cluster_name: str | None) -> None:
    s = written(run(rayjob(**spec)))
    if job_id is not None:
        assert s.get("jobId", "") == job_id
    if cluster_name is not None:
        assert s["rayClusterName"] == cluster_name


def test_new_with_the_finalizer_already_there_adds_none() -> None:
    assert not only(run(rayjob()), AddFinalizer)


def test_suspended_at_creation_goes_new_initializing_suspending_without_a_cluster() -> None:
    first = written(run(rayjob(suspend=True, shutdownAfterJobFinishes=True)))
    assert first["jobDeploymentStatus"] == "Initializing", "suspend is not checked in New"
    d = run(rayjob(first, suspend=True, shutdownAfterJobFinishes=True))
    assert written(d)["jobDeploymentStatus"] == "Suspending"
    assert ops(d) == []


# -- Initializing ---------------------------------------------------------------------------------


def test_initializing_creates_the_attempts_cluster_once_under_the_name_in_status() -> None:
    d = run(rayjob(status("Initializing")))
    applies = only(d, Apply)
    assert [(a.object["kind"], a.object["metadata"]["name"], a.create_only) for a in applies] == [
        ("RayCluster", CLUSTER, True)]
    assert events(d) == ["CreatedRayCluster"]
    assert applies[0].success_event.message == f"Created RayCluster {NS}/{CLUSTER}"
    assert applies[0].failure_reason == "FailedToCreateRayCluster"
    assert d.status is None and d.requeue_after == 3.0


def test_initializing_with_a_selected_cluster_missing_warns_and_creates_nothing() -> None:
    root = rayjob(status("Initializing", rayClusterName="shared"), clusterSelector={"ray.io/cluster": "shared"},
                  rayClusterSpec=None)
    d = run(root)
    assert ops(d) == [("record_event", "RayJob", NAME)]
    event = only(d, RecordEvent)[0]
    assert (event.type, event.reason) == ("Warning", "RayClusterNotFound")
    assert event.message == f"RayCluster {NS}/shared set in the clusterSelector is not found. It must be created manually"
    assert d.requeue_after == 3.0


def test_initializing_waits_for_a_ready_cluster_and_copies_its_status() -> None:
    c = cluster(state="")
    d = run(rayjob(status("Initializing")), c)
    s = written(d)
    assert s["jobDeploymentStatus"] == "Initializing" and "dashboardURL" not in s
    assert s["rayClusterStatus"] == c["status"]
    assert ops(d) == []
    again = run(rayjob(s), c)
    assert again.status is None, "nothing that matters changed: no second write"


@pytest.mark.parametrize(("mode", "next_state", "submitter_created"), [
    pytest.param("K8sJobMode", "Running", True, id="k8sjob"),
    pytest.param("HTTPMode", "Running", False, id="http"),
    pytest.param("SidecarMode", "Running", False, id="sidecar"),
    pytest.param("InteractiveMode", "Waiting", False, id="interactive"),
])
def test_initializing_with_a_ready_cluster(mode: str, next_state: str, submitter_created: bool) -> None:
    d = run(rayjob(status("Initializing"), submissionMode=mode), cluster(), head_service())
    s = written(d)
    assert s["jobDeploymentStatus"] == next_state
    assert s["dashboardURL"] == f"{CLUSTER}-head-svc.{NS}.svc.cluster.local:8265"
    jobs = [a for a in only(d, Apply) if a.object["kind"] == "Job"]
    assert bool(jobs) == submitter_created
    if jobs:
        assert jobs[0].create_only and jobs[0].object["metadata"]["name"] == NAME
        assert events(d) == ["CreatedRayJobSubmitter"]
        assert jobs[0].success_event.message == f"Created Kubernetes Job {NS}/{NAME}"
        assert jobs[0].failure_reason == "FailedToCreateRayJobSubmitter"


def test_initializing_dashboard_url_reads_the_head_services_port_and_the_cluster_domain() -> None:
    settings = JobConfig(cluster_domain="example.org")
    d = run(rayjob(status("Initializing"), submissionMode="HTTPMode"), cluster(), head_service(dashboard=9000),
            settings=settings)
    assert written(d)["dashboardURL"] == f"{CLUSTER}-head-svc.{NS}.svc.example.org:9000"


def test_initializing_waits_when_the_head_service_has_no_dashboard_port() -> None:
    svc = head_service()
    svc["spec"]["ports"] = [{"name": "client", "port": 10001}]
    d = run(rayjob(status("Initializing", rayClusterStatus=cluster()["status"]), submissionMode="HTTPMode"),
            cluster(), svc)
    assert d.status is None and d.requeue_after == 3.0


def test_initializing_does_not_create_the_submitter_again_when_in_view() -> None:
    d = run(rayjob(status("Initializing")), cluster(), head_service(), submitter())
    assert written(d)["jobDeploymentStatus"] == "Running"
    assert not only(d, Apply)


# -- deadlines, in every state that checks them ----------------------------------------------------


@pytest.mark.parametrize(("state", "spec", "reason", "message"), [
    pytest.param("Initializing", {"activeDeadlineSeconds": 5}, "DeadlineExceeded",
                 f"The RayJob has passed the activeDeadlineSeconds. StartTime: {GO_START}. ActiveDeadlineSeconds: 5",
                 id="initializing-active"),
    pytest.param("Initializing", {"preRunningDeadlineSeconds": 10}, "PreRunningDeadlineExceeded",
                 f"The RayJob has passed the preRunningDeadlineSeconds. StartTime: {GO_START}. "
                 "PreRunningDeadlineSeconds: 10", id="initializing-pre-running-exactly-due"),
    pytest.param("Waiting", {"preRunningDeadlineSeconds": 3, "submissionMode": "InteractiveMode"},
                 "PreRunningDeadlineExceeded",
                 f"The RayJob has passed the preRunningDeadlineSeconds. StartTime: {GO_START}. "
                 "PreRunningDeadlineSeconds: 3", id="waiting-pre-running"),
    pytest.param("Running", {"activeDeadlineSeconds": 9}, "DeadlineExceeded",
                 f"The RayJob has passed the activeDeadlineSeconds. StartTime: {GO_START}. ActiveDeadlineSeconds: 9",
                 id="running-active"),
])
def test_a_passed_deadline_fails_the_rayjob(state: str, spec: Obj, reason: str, message: str) -> None:
    d = run(rayjob(status(state), **spec), cluster(), head_service())
    s = written(d)
    assert (s["jobDeploymentStatus"], s["reason"], s["message"]) == ("Failed", reason, message)
    assert s["endTime"] == "2026-11-22T12:00:00Z"
    assert s["failed"] == 1
    assert not only(d, Apply), "a failed pass creates nothing"


@pytest.mark.parametrize(("state", "spec"), [
    pytest.param("Waiting", {"activeDeadlineSeconds": 1, "submissionMode": "InteractiveMode"},
                 id="waiting-ignores-active-deadline"),
    pytest.param("Running", {"preRunningDeadlineSeconds": 1}, id="running-ignores-pre-running-deadline"),
])
def test_deadlines_checked_only_where_kuberay_checks_them(state: str, spec: Obj) -> None:
    d = run(rayjob(status(state) if state == "Waiting" else running(), **spec), cluster(), submitter(), info())
    assert d.status is None or d.status["jobDeploymentStatus"] == state


@pytest.mark.parametrize(("spec", "requeue"), [
    pytest.param({"activeDeadlineSeconds": 11}, 1.0, id="active-in-1s"),
    pytest.param({"preRunningDeadlineSeconds": 12}, 2.0, id="pre-running-in-2s"),
    pytest.param({"activeDeadlineSeconds": 600}, 3.0, id="far-deadline-3s-requeue"),
])
def test_initializing_requeues_when_the_first_deadline_falls_due(spec: Obj, requeue: float) -> None:
    d = run(rayjob(status("Initializing"), **spec), cluster(state=""))
    assert d.requeue_after == pytest.approx(requeue)


# -- backoffLimit: which failures retry ------------------------------------------------------------


@pytest.mark.parametrize(("reason_spec", "failed_before", "backoff", "expected", "failed_after"), [
    pytest.param({"preRunningDeadlineSeconds": 5}, 0, 2, "Retrying", 1, id="pre-running-retried"),
    pytest.param({"preRunningDeadlineSeconds": 5}, 2, 2, "Failed", 3, id="limit-reached"),
    pytest.param({"preRunningDeadlineSeconds": 5}, 0, 0, "Failed", 1, id="no-retries"),
    pytest.param({"activeDeadlineSeconds": 5}, 0, 2, "Failed", 1, id="active-deadline-never-retried"),
])
def test_retry_arithmetic(reason_spec: Obj, failed_before: int, backoff: int, expected: str,
                          failed_after: int) -> None:
    d = run(rayjob(status("Initializing", failed=failed_before), backoffLimit=backoff, **reason_spec), cluster())
    s = written(d)
    assert (s["jobDeploymentStatus"], s["failed"]) == (expected, failed_after)
    assert ("endTime" in s) == (expected == "Failed"), "Retrying is not an end: the Failed is never written"


def test_status_check_timeout_is_never_retried() -> None:
    root = rayjob(running(jobStatusCheckFailureStartTime=ago(400)), backoffLimit=3)
    s = written(run(root, cluster(), submitter(), info()))
    assert (s["jobDeploymentStatus"], s["reason"]) == ("Failed", "JobStatusCheckTimeoutExceeded")
    assert s["message"] == f"Job status checks have been failing since {go(400)}; exceeded timeout of 300s"


def test_app_failure_is_retried_with_a_backoff_limit() -> None:
    root = rayjob(running(jobStatus="RUNNING"), backoffLimit=1)
    d = run(root, cluster(), submitter(complete=True, finished=1), info(job_status="FAILED", message="boom"))
    s = written(d)
    assert (s["jobDeploymentStatus"], s["reason"], s["jobStatus"], s["failed"]) == ("Retrying", "AppFailed", "FAILED", 1)


# -- Waiting ------------------------------------------------------------------------------------


def test_waiting_without_a_job_id_stays_unwritten() -> None:
    d = run(rayjob(status("Waiting", jobId=None), submissionMode="InteractiveMode"), cluster())
    assert d.status is None and d.requeue_after == 3.0 and not d.actions


def test_waiting_takes_the_users_job_id_and_runs() -> None:
    s = written(run(rayjob(status("Waiting", jobId=None), submissionMode="InteractiveMode", jobId="mine"), cluster()))
    assert (s["jobDeploymentStatus"], s["jobId"]) == ("Running", "mine")


# -- Running ------------------------------------------------------------------------------------


def test_running_suspend_goes_suspending_before_anything_else() -> None:
    root = rayjob(running(), suspend=True, shutdownAfterJobFinishes=True, activeDeadlineSeconds=1)
    d = run(root, cluster(), submitter(failed=True))
    assert written(d)["jobDeploymentStatus"] == "Suspending"
    assert not d.actions


@pytest.mark.parametrize(("job_status", "expected"), [
    pytest.param("SUCCEEDED", "Complete", id="succeeded"),
    pytest.param("FAILED", "Failed", id="failed"),
    pytest.param("STOPPED", "Complete", id="stopped"),
])
def test_running_grace_period_after_the_ray_job_ended(job_status: str, expected: str) -> None:
    root = rayjob(running(jobStatus=job_status, rayJobInfo={"endTime": ago(301)}))
    s = written(run(root, cluster(), submitter()))
    assert (s["jobDeploymentStatus"], s["reason"]) == (expected, "JobDeploymentStatusTransitionGracePeriodExceeded")
    assert s["message"] == ("JobDeploymentStatus does not transition to Complete or Failed within the grace period "
                            "after JobStatus reaches a terminal state.")


def test_running_grace_period_not_yet_due_requeues_at_it() -> None:
    settings = JobConfig(transition_grace_period_seconds=60)
    root = rayjob(running(jobStatus="SUCCEEDED", rayJobInfo={"endTime": ago(58)}))
    d = run(root, cluster(), submitter(), info(job_status="SUCCEEDED"), settings=settings)
    assert d.requeue_after == pytest.approx(2.0)


def test_running_status_check_timeout_requeues_at_it() -> None:
    settings = JobConfig(status_check_timeout_seconds=10)
    d = run(rayjob(running(jobStatusCheckFailureStartTime=ago(9))), cluster(), submitter(), info(error="refused"),
            settings=settings)
    assert d.status is None and d.requeue_after == pytest.approx(1.0)
    later = run(rayjob(running(jobStatusCheckFailureStartTime=ago(10))), cluster(), submitter(), info(error="x"),
                settings=settings)
    assert written(later)["reason"] == "JobStatusCheckTimeoutExceeded"


def test_running_recreates_a_cluster_deleted_underneath_with_the_same_name() -> None:
    d = run(rayjob(running(jobStatus="RUNNING")), submitter(), info())
    assert [(a.object["kind"], a.object["metadata"]["name"]) for a in only(d, Apply)] == [("RayCluster", CLUSTER)]
    assert d.status is None, "status unchanged: same cluster name, same submission id"


def test_running_k8sjob_recreates_a_missing_submitter() -> None:
    d = run(rayjob(running()), cluster(), info())
    assert [(a.object["kind"], a.create_only) for a in only(d, Apply)] == [("Job", True)]
    assert d.status is None


@pytest.mark.parametrize(("prior_job_status", "reason", "message"), [
    pytest.param("RUNNING", "SubmissionFailed",
                 "Job submission has failed. Reason: BackoffLimitExceeded. Message: Job has reached the specified "
                 "backoff limit", id="submission-failed"),
    pytest.param("FAILED", "AppFailed", "the app said no", id="app-failed-keeps-the-jobs-message"),
])
def test_running_failed_submitter_job(prior_job_status: str, reason: str, message: str) -> None:
    root = rayjob(running(jobStatus=prior_job_status, message="the app said no"))
    s = written(run(root, cluster(), submitter(failed=True, finished=1), info(job_status=prior_job_status)))
    assert (s["jobDeploymentStatus"], s["reason"], s["message"]) == ("Failed", reason, message)


def test_running_submitter_finished_30s_ago_without_a_terminal_job() -> None:
    root = rayjob(running(jobStatus="RUNNING"))
    s = written(run(root, cluster(), submitter(complete=True, finished=30), info()))
    assert (s["jobDeploymentStatus"], s["jobStatus"], s["reason"]) == (
        "Failed", "FAILED", "JobDeploymentStatusTransitionGracePeriodExceeded")
    assert s["message"] == (f"The RayJob submitter finished at {go(30)[:19]} but the ray job did not reach terminal "
                            "state within 30s")


def test_running_submitter_finished_recently_requeues_at_its_timeout() -> None:
    d = run(rayjob(running(jobStatus="RUNNING")), cluster(), submitter(complete=True, finished=28), info())
    assert d.requeue_after == pytest.approx(2.0)


def test_running_job_not_found_after_the_submitter_finished() -> None:
    s = written(run(rayjob(running()), cluster(), submitter(complete=True, finished=1), info(found=False)))
    assert (s["jobDeploymentStatus"], s["reason"], s["message"]) == (
        "Failed", "AppFailed", "Submitter completed but Ray job not found in RayCluster.")


@pytest.mark.parametrize("mode", ["K8sJobMode", "InteractiveMode"])
def test_running_job_not_found_yet_waits_unwritten(mode: str) -> None:
    d = run(rayjob(running(), submissionMode=mode), cluster(), submitter(), info(found=False))
    assert d.status is None and d.requeue_after == 3.0
    assert not only(d, RaySubmitJob)


def test_running_without_an_observation_of_this_submission_id_waits() -> None:
    d = run(rayjob(running(), submissionMode="HTTPMode"), cluster(), info("rj-older", found=False))
    assert d.status is None and not only(d, RaySubmitJob) and d.requeue_after == 3.0


def test_running_httpmode_submits_when_the_dashboard_does_not_know_the_id() -> None:
    d = run(rayjob(running(jobStatusCheckFailureStartTime=ago(5)), submissionMode="HTTPMode",
                   entrypoint="python job.py"), cluster(), info(found=False))
    submit = only(d, RaySubmitJob)
    assert len(submit) == 1
    assert (submit[0].ref.kind, submit[0].ref.name, submit[0].ref.uid) == ("RayJobInfo", NAME, UID)
    assert submit[0].request.submission_id == JOB_ID
    assert submit[0].request.entrypoint == "python job.py"
    assert (submit[0].dashboard.cluster, submit[0].dashboard.url) == (CLUSTER, running()["dashboardURL"])
    assert "jobStatusCheckFailureStartTime" not in written(d), "a submission that did not fail clears the failure time"


def test_running_httpmode_failed_submission_starts_the_check_failure_time_and_submits_again() -> None:
    failure = Failure("a1", "ray_submit_job", "rayjobinfo", NS, NAME, message="connection refused")
    d = run(rayjob(running(), submissionMode="HTTPMode"), cluster(), info(found=False), failures=(failure,))
    assert written(d)["jobStatusCheckFailureStartTime"] == "2026-11-22T12:00:00Z"
    assert len(only(d, RaySubmitJob)) == 1
    kept = run(rayjob(running(jobStatusCheckFailureStartTime=ago(20)), submissionMode="HTTPMode"), cluster(),
               info(found=False), failures=(failure,))
    assert kept.status is None, "the first failure of a run is kept"


def test_running_unreadable_dashboard_starts_the_check_failure_time_once() -> None:
    s = written(run(rayjob(running()), cluster(), submitter(), info(error="timed out")))
    assert s["jobStatusCheckFailureStartTime"] == "2026-11-22T12:00:00Z"
    assert s["jobDeploymentStatus"] == "Running"


def test_running_good_observation_copies_the_job_and_clears_the_failure_time() -> None:
    started = NOW - timedelta(seconds=4)
    c = cluster()
    c["status"]["readyWorkerReplicas"] = 2
    root = rayjob(running(jobStatusCheckFailureStartTime=ago(20)))
    s = written(run(root, c, submitter(), info(job_status="RUNNING", message="going", start=ms(started))))
    assert (s["jobDeploymentStatus"], s["jobStatus"], s["message"]) == ("Running", "RUNNING", "going")
    assert s["rayJobInfo"] == {"startTime": "2026-11-22T11:59:56Z"}
    assert "jobStatusCheckFailureStartTime" not in s and "reason" not in s
    assert s["rayClusterStatus"]["readyWorkerReplicas"] == 2


@pytest.mark.parametrize(("mode", "job_status", "children", "expected", "reason"), [
    pytest.param("K8sJobMode", "SUCCEEDED", "finished", "Complete", None, id="k8s-succeeded"),
    pytest.param("K8sJobMode", "SUCCEEDED", "running", "Running", None, id="k8s-submitter-still-running"),
    pytest.param("K8sJobMode", "FAILED", "finished", "Failed", "AppFailed", id="k8s-failed"),
    pytest.param("K8sJobMode", "STOPPED", "finished", "Complete", None, id="k8s-stopped"),
    pytest.param("HTTPMode", "SUCCEEDED", "", "Complete", None, id="http-needs-no-submitter"),
    pytest.param("InteractiveMode", "FAILED", "", "Failed", "AppFailed", id="interactive-failed"),
    pytest.param("SidecarMode", "SUCCEEDED", "sidecar-done", "Complete", None, id="sidecar-succeeded"),
    pytest.param("SidecarMode", "SUCCEEDED", "sidecar-running", "Running", None, id="sidecar-still-running"),
])
def test_running_terminal_job(mode: str, job_status: str, children: str, expected: str, reason: str | None) -> None:
    kids: list[Obj] = [cluster(), info(job_status=job_status, end=ms(NOW - timedelta(seconds=1)))]
    if children == "finished":
        kids.append(submitter(complete=True, finished=1))
    elif children == "running":
        kids.append(submitter())
    elif children == "sidecar-done":
        kids.append(head_pod(sidecar={"state": {"terminated": {"exitCode": 0, "finishedAt": ago(1)}}}))
    elif children == "sidecar-running":
        kids.append(head_pod(sidecar={}))
    s = written(run(rayjob(running(jobStatus="RUNNING"), submissionMode=mode), *kids))
    assert (s["jobDeploymentStatus"], s.get("reason"), s["jobStatus"]) == (expected, reason, job_status)
    assert ("endTime" in s) == (expected != "Running")
    assert s["rayJobInfo"]["endTime"] == "2026-11-22T11:59:59Z"
    assert s["succeeded"] == (1 if (expected, job_status) == ("Complete", "SUCCEEDED") else 0)
    assert s["failed"] == (1 if expected == "Failed" else 0)


@pytest.mark.parametrize(("pods", "gate", "expected", "reason", "message"), [
    pytest.param([], False, "Failed", "AppFailed", "Ray head pod not found.", id="no-head-pod"),
    pytest.param([head_pod(sidecar={"state": {"terminated": {"exitCode": 1, "reason": "Error",
                                                              "finishedAt": ago(2)}}})],
                 False, "Failed", "SubmissionFailed",
                 "Ray head pod container ray-job-submitter terminated with exit code 1: Error", id="sidecar-exit-1"),
    pytest.param([head_pod("a"), head_pod("b")], False, None, None, None, id="two-heads-wait"),
    pytest.param([head_pod(sidecar={"restartCount": 2, "lastTerminationState": {"terminated": {
        "exitCode": 1, "reason": "Error"}}, "state": {"waiting": {"reason": "CrashLoopBackOff"}}})],
                 True, "Failed", "SubmissionFailed",
                 "Ray head pod container ray-job-submitter terminated with exit code 1: Error", id="gate-restarts-used"),
    pytest.param([head_pod(sidecar={"restartCount": 1, "lastTerminationState": {"terminated": {
        "exitCode": 1, "reason": "Error"}}})], True, None, None, None, id="gate-restarts-left"),
])
def test_running_sidecar_submitter(pods: list[Obj], gate: bool, expected: str | None, reason: str | None,
                                   message: str | None) -> None:
    settings = JobConfig(feature_gates={"SidecarSubmitterRestart": gate})
    d = run(rayjob(running(), submissionMode="SidecarMode"), cluster(), info(), *pods, settings=settings)
    if expected is None:
        assert d.status is None or d.status["jobDeploymentStatus"] == "Running"
    else:
        s = written(d)
        assert (s["jobDeploymentStatus"], s["reason"], s["message"]) == (expected, reason, message)


def test_running_makes_the_rayjobs_head_service_from_the_clusters() -> None:
    d = run(rayjob(running()), cluster(), head_service(), submitter(), info())
    services = [a for a in only(d, Apply) if a.object["kind"] == "Service"]
    assert [(a.object["metadata"]["name"], a.create_only) for a in services] == [(f"{NAME}-head-svc", False)]
    assert services[0].success_event.reason == "CreatedService"
    assert services[0].success_event.message == f"Created the service {NS}/{NAME}-head-svc"
    assert services[0].failure_reason == "FailedToCreateService"


def test_running_updates_the_head_service_only_when_it_selects_another_cluster() -> None:
    same = run(rayjob(running()), cluster(), head_service(), own_head_service(), submitter(), info())
    assert not [a for a in only(same, Apply) if a.object["kind"] == "Service"]
    moved = run(rayjob(running()), cluster(), head_service(), own_head_service("rj-older"), submitter(), info())
    services = [a for a in only(moved, Apply) if a.object["kind"] == "Service"]
    assert [(a.success_event.reason, a.failure_reason) for a in services] == [("UpdatedService", "FailedToUpdateService")]


def test_running_with_a_selected_cluster_makes_no_head_service() -> None:
    root = rayjob(running(rayClusterName="shared"), clusterSelector={"ray.io/cluster": "shared"}, rayClusterSpec=None)
    d = run(root, cluster("shared", owned=False), head_service("shared"), submitter(), info())
    assert not only(d, Apply)


# -- Suspending, Retrying, Suspended ------------------------------------------------------------------


@pytest.mark.parametrize("state", ["Suspending", "Retrying"])
def test_releasing_deletes_the_cluster_and_submitter_and_waits(state: str) -> None:
    d = run(rayjob(running(jobDeploymentStatus=state), shutdownAfterJobFinishes=True), cluster(), submitter())
    assert sorted(ops(d)) == [("delete", "Job", NAME), ("delete", "RayCluster", CLUSTER)]
    deletes = {a.ref.kind: a for a in only(d, Delete)}
    assert deletes["Job"].propagation == "Background"
    assert deletes["Job"].ref.uid == "uid-submitter" and deletes["RayCluster"].ref.uid == f"uid-{CLUSTER}"
    assert (deletes["RayCluster"].success_event.reason, deletes["RayCluster"].success_event.message) == (
        "DeletedRayCluster", f"Deleted cluster {NS}/{CLUSTER}")
    assert (deletes["Job"].success_event.reason, deletes["Job"].failure_reason) == (
        "DeletedRayJobSubmitter", "FailedToDeleteRayJobSubmitter")
    assert d.status is None and d.requeue_after == 3.0
    going = run(rayjob(running(jobDeploymentStatus=state), shutdownAfterJobFinishes=True),
                cluster(terminating=True), submitter(terminating=True))
    assert not going.actions and going.status is None, "already going: wait, delete nothing twice"


@pytest.mark.parametrize(("state", "expected"), [("Suspending", "Suspended"), ("Retrying", "")])
def test_releasing_clears_the_attempt_once_its_resources_are_gone(state: str, expected: str) -> None:
    before = running(jobDeploymentStatus=state, jobStatus="RUNNING", message="m", reason="AppFailed",
                     rayJobInfo={"startTime": ago(5)}, jobStatusCheckFailureStartTime=ago(3), failed=1)
    s = written(run(rayjob(before, shutdownAfterJobFinishes=True)))
    assert s.get("jobDeploymentStatus", "") == expected
    for gone in ("rayClusterName", "jobId", "dashboardURL", "message", "reason", "jobStatus",
                 "jobStatusCheckFailureStartTime"):
        assert gone not in s, gone
    assert s["rayJobInfo"] == {}
    assert s["rayClusterStatus"] == {"desiredCPU": "0", "desiredGPU": "0", "desiredMemory": "0", "desiredTPU": "0",
                                     "head": {}}
    assert s["failed"] == 1 and s["startTime"] == before["startTime"]


def test_releasing_in_httpmode_does_not_delete_a_job_of_the_rayjobs_name() -> None:
    d = run(rayjob(running(jobDeploymentStatus="Suspending"), submissionMode="HTTPMode",
                   shutdownAfterJobFinishes=True), submitter())
    assert written(d)["jobDeploymentStatus"] == "Suspended" and not d.actions


def test_suspended_stays_without_requeue_and_resumes_as_new() -> None:
    root = status("Suspended", jobId=None, rayClusterName=None)
    held = run(rayjob(root, suspend=True, shutdownAfterJobFinishes=True))
    assert held.is_noop
    resumed = written(run(rayjob(root, shutdownAfterJobFinishes=True)))
    assert resumed.get("jobDeploymentStatus", "") == "" and "jobStatus" not in resumed
    fresh = written(run(rayjob(resumed, shutdownAfterJobFinishes=True), now=NOW + timedelta(seconds=7)))
    assert fresh["jobDeploymentStatus"] == "Initializing"
    assert fresh["startTime"] == "2026-11-22T12:00:07Z"
    assert fresh["rayClusterName"] == generated_name(NAME, UID, "raycluster", fresh["startTime"])


def test_a_retry_gets_new_names() -> None:
    first = written(run(rayjob(), now=NOW))
    second = written(run(rayjob(status("", jobId=None, rayClusterName=None, failed=1)), now=NOW + timedelta(minutes=3)))
    assert first["rayClusterName"] != second["rayClusterName"] and first["jobId"] != second["jobId"]


# -- what is written, and when --------------------------------------------------------------------------


def test_a_new_message_alone_is_not_written() -> None:
    root = rayjob(running(jobStatus="RUNNING", message="step 1"))
    assert run(root, cluster(), submitter(), info(message="step 2")).status is None


def test_a_cluster_status_change_that_matters_is_written_and_one_that_does_not_is_not() -> None:
    root = rayjob(running(jobStatus="RUNNING"))
    c = cluster()
    c["status"]["lastUpdateTime"] = ago(1)
    assert run(root, c, submitter(), info()).status is None, "lastUpdateTime is not part of the consistent status"
    c["status"]["readyWorkerReplicas"] = 5
    assert written(run(root, c, submitter(), info()))["rayClusterStatus"]["readyWorkerReplicas"] == 5


def test_terminal_states_write_nothing() -> None:
    for state in ("Complete", "Failed"):
        d = run(rayjob(status(state, endTime=ago(1), jobStatus="SUCCEEDED")), cluster())
        assert d.status is None and not d.actions and d.requeue_after is None


def test_every_pass_uses_the_names_in_status_never_derives_again() -> None:
    d = run(rayjob(status("Initializing", rayClusterName="rj-given", jobId="id-given")))
    assert [a.object["metadata"]["name"] for a in only(d, Apply)] == ["rj-given"]


# -- prelude: managedBy, validation ---------------------------------------------------------------------


def test_another_manager_gets_nothing() -> None:
    assert run(rayjob(managedBy="kueue.x-k8s.io/multikueue"), cluster()).is_noop


def test_a_gone_rayjob_gets_nothing() -> None:
    assert reconcile(observe(None), now=NOW, settings=JobConfig()).is_noop


def test_invalid_spec_fails_validation_with_one_event_per_distinct_message() -> None:
    d = run(rayjob(ttlSecondsAfterFinished=10))
    s = written(d)
    assert (s["jobDeploymentStatus"], s["reason"]) == ("ValidationFailed", "ValidationFailed")
    assert "ttlSecondsAfterFinished" in s["message"] or "TTLSecondsAfterFinished" in s["message"]
    [event] = only(d, RecordEvent)
    assert (event.type, event.reason, event.action) == ("Warning", "InvalidRayJobSpec", "Validate")
    assert event.message == f"{NS}/{NAME}: {s['message']}"
    assert d.requeue_after is None
    again = run(rayjob(s, ttlSecondsAfterFinished=10))
    assert again.is_noop, "the status says it already: no second Event, no write"
    other = run(rayjob(s, ttlSecondsAfterFinished=10, suspend=True))
    assert only(other, RecordEvent) and written(other)["message"] != s["message"]


def test_unparsable_rayjob_fails_validation() -> None:
    d = run(rayjob(backoffLimit="many"))
    assert written(d)["jobDeploymentStatus"] == "ValidationFailed"
    assert only(d, RecordEvent)[0].reason == "InvalidRayJobSpec"


def test_validation_failed_stays_so_when_the_spec_is_corrected() -> None:
    assert run(rayjob(status("ValidationFailed", reason="ValidationFailed", message="x"))).is_noop


# -- what KubeRay cannot build either ------------------------------------------------------------------


def test_a_submitter_that_cannot_be_built_keeps_the_rayjob_initializing() -> None:
    spec = rayjob()["spec"]["rayClusterSpec"]
    spec["rayVersion"] = "2.5.0"  # metadata needs Ray 2.6.0
    d = run(rayjob(status("Initializing"), metadata={"team": "a"}, rayClusterSpec=spec), cluster(), head_service())
    assert d.status is None and d.requeue_after == 3.0
    (event,) = only(d, RecordEvent)  # beyond KubeRay, which only logs it: the user is told why
    assert event.type == "Warning" and event.reason == "FailedToBuild"
    assert "submitter Job" in event.message and "2.6.0" in event.message


def test_an_http_request_that_cannot_be_built_is_a_failed_submission() -> None:
    root = rayjob(running(), submissionMode="HTTPMode", entrypointResources="not json")
    d = run(root, cluster(), info(found=False))
    assert not only(d, RaySubmitJob)
    assert written(d)["jobStatusCheckFailureStartTime"] == "2026-11-22T12:00:00Z"
    assert [e.reason for e in only(d, RecordEvent)] == ["FailedToBuild"]


@pytest.mark.parametrize(("children", "reason"), [
    pytest.param("grace", "JobDeploymentStatusTransitionGracePeriodExceeded", id="grace-period"),
    pytest.param("submission", "SubmissionFailed", id="submission-failed"),
])
def test_other_failures_are_retried(children: str, reason: str) -> None:
    if children == "grace":
        root = rayjob(running(jobStatus="FAILED", rayJobInfo={"endTime": ago(400)}), backoffLimit=1)
        kids: list[Obj] = [cluster(), submitter()]
    else:
        root = rayjob(running(jobStatus="RUNNING"), backoffLimit=1)
        kids = [cluster(), submitter(failed=True, finished=1), info()]
    s = written(run(root, *kids))
    assert (s["jobDeploymentStatus"], s["reason"], s["failed"]) == ("Retrying", reason, 1)


def test_waiting_ignores_suspend() -> None:
    root = rayjob(status("Waiting", jobId=None), submissionMode="InteractiveMode", suspend=True,
                  shutdownAfterJobFinishes=True)
    d = run(root, cluster())
    assert d.status is None and d.requeue_after == 3.0


# -- what job-ctl keeps of a cluster it does not own ----------------------------------------------------


@pytest.mark.parametrize("state", ["Initializing", "Running", "Complete"])
def test_a_selected_cluster_kept_without_its_worker_groups_gives_the_same_decision(state: str) -> None:
    from raybus_job_ctl.handlers import keep_cluster

    selected = {"clusterSelector": {"ray.io/cluster": "shared"}, "rayClusterSpec": None}
    fields = {"rayClusterName": "shared", "jobStatus": "SUCCEEDED"} if state == "Complete" else {"rayClusterName": "shared"}
    root = rayjob(status(state, **fields), **selected, submissionMode="HTTPMode")
    whole = cluster("shared", owned=False)
    kept = keep_cluster(whole)
    assert "workerGroupSpecs" not in kept["spec"] and kept["status"] == whole["status"]
    children = (head_service("shared"), info(found=False)) if state == "Running" else (head_service("shared"),)
    assert run(root, kept, *children) == run(root, whole, *children)
    own = cluster()
    assert keep_cluster(own) is own  # a cluster the RayJob owns is kept whole (DeleteWorkers patches its groups)
