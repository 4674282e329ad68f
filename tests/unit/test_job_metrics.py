"""KubeRay's RayJob metrics from the view, and the Retrying durations noted as decisions are taken."""

from __future__ import annotations

from typing import Any

from job_views import NAME, NOW, NS, UID, ago, cluster, info, observe, rayjob, running, submitter

from raybus_job_ctl.config import JobConfig
from raybus_job_ctl.handlers import decide
from raybus_job_ctl.metrics import Retries, families
from raybus_job_ctl.reconcile import reconcile

Obj = dict[str, Any]
IDS = {"name": NAME, "namespace": NS, "uid": UID}


def job(name: str, st: Obj) -> Obj:
    return {"metadata": {"name": name, "namespace": NS, "uid": f"u-{name}"}, "status": st}


def samples(jobs: list[Obj], retries: Retries | None = None) -> dict[str, list[tuple[dict[str, str], float]]]:
    return {f.name: [(s.labels, s.value) for s in f.samples] for f in families(jobs, retries or Retries())}


def test_info_deployment_status_and_the_duration_of_finished_attempts() -> None:
    got = samples([
        job("done", {"jobDeploymentStatus": "Complete", "startTime": ago(100), "endTime": ago(40), "failed": 1}),
        job("broke", {"jobDeploymentStatus": "Failed", "startTime": ago(30), "endTime": ago(10), "failed": 3}),
        job("busy", {"jobDeploymentStatus": "Running", "startTime": ago(5)}),
    ])
    assert [labels["name"] for labels, _ in got["kuberay_job_info"]] == ["done", "broke", "busy"]
    assert [(labels["name"], labels["deployment_status"]) for labels, _ in got["kuberay_job_deployment_status"]] == [
        ("done", "Complete"), ("broke", "Failed"), ("busy", "Running")]
    assert [(labels["name"], labels["job_deployment_status"], labels["retry_count"], value)
            for labels, value in got["kuberay_job_execution_duration_seconds"]] == [
        ("done", "Complete", "1", 60.0), ("broke", "Failed", "2", 20.0)]


def test_a_retrying_transition_is_noted_from_the_decision_and_forgotten_with_its_rayjob() -> None:
    retries = Retries()
    root = rayjob(running(jobStatus="RUNNING", failed=0), backoffLimit=2)
    observed = observe(root, cluster(), submitter(complete=True, finished=1), info(job_status="FAILED"))
    decision = reconcile(observed, now=NOW, settings=JobConfig())
    assert decision.status is not None and decision.status["jobDeploymentStatus"] == "Retrying"
    retries.observe(observed, decision, NOW)
    got = samples([root], retries)["kuberay_job_execution_duration_seconds"]
    assert got == [({**IDS, "job_deployment_status": "Retrying", "retry_count": "0"}, 10.0)]
    assert samples([], retries)["kuberay_job_execution_duration_seconds"] == []
    assert samples([root], retries)["kuberay_job_execution_duration_seconds"] == [], "gone for good once it left"


def test_decide_is_reconcile_plus_the_note() -> None:
    root = rayjob(running(jobStatus="RUNNING"))
    observed = observe(root, cluster(), submitter(), info(message="x"))
    assert decide(observed, now=NOW, settings=JobConfig()) == reconcile(observed, now=NOW, settings=JobConfig())
