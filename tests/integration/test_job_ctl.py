"""job-ctl end to end: a real control plane with kwok nodes, real NATS, watcher + actuator +
cluster-ctl + job-ctl as processes, and a real Ray head standing in for every RayCluster's
dashboard: the kwok pod network is routed to this machine (`pod_network`), so a head pod's IP
reaches the local head (`ray_head`); the watcher and actuator reach dashboards by pod IP
(`RAYBUS_RAY_DASHBOARD_ACCESS=pod`). Ray's side is checked on Ray: the jobs counted on the head.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from raybus_testbed.kube import Kube
from raybus_testbed.rayhead import RayHead
from raybus_testbed.services import Services
from raybus_testbed.waiting import wait_until

pytestmark = pytest.mark.integration
SAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "samples" / "raycluster-sample.yaml"
TERMINAL = {"Complete", "Failed"}


def cluster_spec(dashboard_port: int) -> dict[str, Any]:
    spec: dict[str, Any] = copy.deepcopy(yaml.safe_load(SAMPLE.read_text())["spec"])
    head = spec["headGroupSpec"]["template"]["spec"]["containers"][0]
    head["ports"] = [p if p["name"] != "dashboard" else {**p, "containerPort": dashboard_port} for p in head["ports"]]
    spec["workerGroupSpecs"][0].update(replicas=1, minReplicas=1)
    return spec


def rayjob(name: str, head: RayHead, entrypoint: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "ray.io/v1", "kind": "RayJob", "metadata": {"name": name},
            "spec": {"entrypoint": entrypoint, "submissionMode": "HTTPMode",
                     "rayClusterSpec": cluster_spec(head.dashboard_port), **spec}}


class Job:
    def __init__(self, api: Kube, ns: str, name: str) -> None:
        self.api, self.ns, self.name = api, ns, name
        self.path = f"/apis/ray.io/v1/namespaces/{ns}/rayjobs/{name}"

    def get(self) -> dict[str, Any]:
        got: dict[str, Any] = self.api.get(self.path)
        return got

    def status(self) -> dict[str, Any]:
        return self.get().get("status") or {}

    def wait(self, check: Callable[[dict[str, Any]], bool], what: str, timeout: float = 120) -> dict[str, Any]:
        seen: dict[str, Any] = {}

        def ok() -> bool:
            seen.update(self.status())
            return check(seen)
        wait_until(ok, timeout=timeout, what=f"{self.name}: {what}")
        return dict(seen)

    def clusters(self) -> list[str]:
        items = self.api.get(f"/apis/ray.io/v1/namespaces/{self.ns}/rayclusters",
                             labelSelector=f"ray.io/originated-from-cr-name={self.name}")["items"]
        return sorted(c["metadata"]["name"] for c in items if not c["metadata"].get("deletionTimestamp"))

    def events(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.api.get(f"/apis/events.k8s.io/v1/namespaces/{self.ns}/events")["items"]
        return [e for e in items if e["regarding"].get("name") == self.name]


def create(api: Kube, ns: str, obj: dict[str, Any]) -> Job:
    api.create(f"/apis/ray.io/v1/namespaces/{ns}/rayjobs", obj)
    return Job(api, ns, obj["metadata"]["name"])


def ray_jobs(head: RayHead) -> list[dict[str, Any]]:
    answer = httpx.get(f"{head.url}/api/jobs/", headers=head.headers, timeout=10)
    answer.raise_for_status()
    jobs: list[dict[str, Any]] = answer.json()
    return jobs


def jobs_with_id(head: RayHead, submission_id: str) -> list[dict[str, Any]]:
    return [j for j in ray_jobs(head) if j.get("submission_id") == submission_id]


def start_stack(services: Services, *only: str) -> None:
    names = only or ("watcher", "actuator", "cluster-ctl", "job-ctl")
    for name in names:
        services.start(name, f"raybus-{name}", RAYBUS_RAY_DASHBOARD_ACCESS="pod", RAYBUS_RAY_POLL_SECONDS="1",
                       RAYBUS_LOG_LEVEL=os.environ.get("RAYBUS_TEST_LOG_LEVEL", "INFO"))


@pytest.fixture
def ray(ray_head: RayHead, pod_network: None) -> RayHead:
    return ray_head


def test_an_http_mode_job_runs_on_ray_to_complete_and_a_failing_one_ends_app_failed(
        services: Services, control_plane: Kube, namespace: str, ray: RayHead) -> None:
    start_stack(services)
    good = create(control_plane, namespace, rayjob("good", ray, "python -c \"print('hello from raybus')\""))
    bad = create(control_plane, namespace, rayjob("bad", ray, "python -c \"import sys; sys.exit(3)\""))

    done = good.wait(lambda s: s.get("jobDeploymentStatus") in TERMINAL, "finished")
    assert done["jobDeploymentStatus"] == "Complete" and done["jobStatus"] == "SUCCEEDED", done
    assert done["jobId"].startswith("good-") and len(done["jobId"]) == len("good-") + 5
    assert done["rayClusterName"].startswith("good-") and done["startTime"] and done["endTime"]
    assert done["succeeded"] == 1 and done["failed"] == 0
    assert done["dashboardURL"] == f"{done['rayClusterName']}-head-svc.{namespace}.svc.cluster.local:{ray.dashboard_port}"
    on_ray = jobs_with_id(ray, done["jobId"])
    assert len(on_ray) == 1 and on_ray[0]["status"] == "SUCCEEDED"
    assert good.clusters() == [done["rayClusterName"]]  # no shutdownAfterJobFinishes: the cluster stays
    assert "CreatedRayCluster" in {e["reason"] for e in good.events()}

    failed = bad.wait(lambda s: s.get("jobDeploymentStatus") in TERMINAL, "finished")
    assert failed["jobDeploymentStatus"] == "Failed" and failed["reason"] == "AppFailed", failed
    assert failed["jobStatus"] == "FAILED" and "exit code 3" in failed["message"], failed
    assert len(jobs_with_id(ray, failed["jobId"])) == 1


def test_retries_use_a_new_cluster_and_submission_each_time_then_shutdown_deletes_the_cluster(
        services: Services, control_plane: Kube, namespace: str, ray: RayHead) -> None:
    start_stack(services)
    job = create(control_plane, namespace, rayjob("retry", ray, "python -c \"import sys; sys.exit(1)\"",
                                                  backoffLimit=2, shutdownAfterJobFinishes=True))
    final = job.wait(lambda s: s.get("jobDeploymentStatus") == "Failed", "failed for good", timeout=240)
    assert final["failed"] == 3 and final["reason"] == "AppFailed", final
    attempts = [j for j in ray_jobs(ray) if str(j.get("submission_id", "")).startswith("retry-")]
    assert len(attempts) == 3 and len({j["submission_id"] for j in attempts}) == 3
    # shutdownAfterJobFinishes with no TTL: the last attempt's cluster goes; none is left
    wait_until(lambda: job.clusters() == [], timeout=60, what="retry: every cluster deleted")


def test_suspend_deletes_the_cluster_and_resume_starts_over(
        services: Services, control_plane: Kube, namespace: str, ray: RayHead) -> None:
    start_stack(services)
    job = create(control_plane, namespace, rayjob("pause", ray, "python -c \"import time; time.sleep(600)\"",
                                                  shutdownAfterJobFinishes=True))
    first = job.wait(lambda s: s.get("jobStatus") == "RUNNING", "running on Ray")
    control_plane.merge_patch(job.path, {"spec": {"suspend": True}})
    job.wait(lambda s: s.get("jobDeploymentStatus") == "Suspended", "suspended")
    wait_until(lambda: job.clusters() == [], timeout=60, what="pause: cluster deleted")
    control_plane.merge_patch(job.path, {"spec": {"suspend": False}})
    second = job.wait(lambda s: s.get("jobStatus") == "RUNNING" and s.get("jobId") != first["jobId"], "running again")
    assert second["rayClusterName"] != first["rayClusterName"] and job.clusters() == [second["rayClusterName"]]
    for submission in (first["jobId"], second["jobId"]):
        httpx.post(f"{ray.url}/api/jobs/{submission}/stop", headers=ray.headers, timeout=10)


def test_exactly_one_ray_job_per_rayjob_across_sigkills(
        services: Services, control_plane: Kube, namespace: str, ray: RayHead) -> None:
    """SIGKILL job-ctl and the actuator while 20 RayJobs are being submitted, then start them
    again: each RayJob has exactly one job on the Ray head."""
    start_stack(services)
    jobs = [create(control_plane, namespace, rayjob(f"once-{i}", ray, "python -c \"print(1)\"")) for i in range(20)]

    def submitted() -> int:
        ids = {j.get("submission_id") for j in ray_jobs(ray)}
        return sum(1 for j in jobs if j.status().get("jobId") in ids)

    wait_until(lambda: submitted() >= 3, timeout=120, what="some submissions on Ray")
    for name in ("job-ctl", "actuator"):
        services.procs[name].kill()
    start_stack(services, "actuator", "job-ctl")
    one_ray_job_each(ray, jobs)


def one_ray_job_each(ray: RayHead, jobs: list[Job]) -> None:
    """Every RayJob Complete, with exactly one job on the Ray head, the one its status names."""
    for j in jobs:
        j.wait(lambda s: s.get("jobDeploymentStatus") == "Complete", "complete", timeout=240)
    for j in jobs:
        status = j.status()
        assert len(jobs_with_id(ray, status["jobId"])) == 1, status
        assert [x for x in ray_jobs(ray) if str(x.get("submission_id", "")).startswith(f"{j.name}-")] \
            == jobs_with_id(ray, status["jobId"])


def test_exactly_one_ray_job_per_rayjob_with_two_replicas_one_of_them_killed(
        services: Services, control_plane: Kube, namespace: str, ray: RayHead) -> None:
    """Two job-ctl replicas and two actuators share the RayJobs; one replica of each is SIGKILLed
    while they submit and its RayJobs move to the other: still one Ray job per RayJob."""
    start_stack(services)
    for name in ("job-ctl-b", "actuator-b"):
        services.start(name, f"raybus-{name.removesuffix('-b')}", RAYBUS_RAY_DASHBOARD_ACCESS="pod",
                       RAYBUS_RAY_POLL_SECONDS="1")
    jobs = [create(control_plane, namespace, rayjob(f"two-{i}", ray, "python -c \"print(2)\"")) for i in range(12)]
    wait_until(lambda: sum(1 for j in jobs if j.status().get("jobId") in {x.get("submission_id") for x in ray_jobs(ray)})
               >= 2, timeout=120, what="some submissions on Ray")
    for name in ("job-ctl", "actuator"):
        services.procs[name].kill()
    one_ray_job_each(ray, jobs)


def test_a_k8s_job_mode_submitter_really_runs_and_the_rayjob_follows_the_ray_job(
        services: Services, control_plane: Kube, namespace: str, ray: RayHead, pod_runner: Any) -> None:
    """KubeRay's default mode: the submitter Job runs `ray job submit` (here on this machine, by
    the pod runner, against the local head); the RayJob follows the Ray job it submitted."""
    start_stack(services)
    obj = rayjob("k8s", ray, "python -c \"print('from a submitter')\"")
    del obj["spec"]["submissionMode"]  # the CRD's default: K8sJobMode
    job = create(control_plane, namespace, obj)
    done = job.wait(lambda s: s.get("jobDeploymentStatus") in TERMINAL, "finished", timeout=180)
    assert done["jobDeploymentStatus"] == "Complete" and done["jobStatus"] == "SUCCEEDED", done
    submitter = control_plane.get(f"/apis/batch/v1/namespaces/{namespace}/jobs/k8s")
    labels = submitter["metadata"]["labels"]
    assert labels["ray.io/originated-from-crd"] == "RayJob" and labels["ray.io/originated-from-cr-name"] == "k8s"
    assert labels["app.kubernetes.io/created-by"] == "kuberay-operator" and submitter["spec"]["backoffLimit"] == 2
    container = submitter["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["RAY_JOB_SUBMISSION_ID"] == done["jobId"] and env["RAY_DASHBOARD_ADDRESS"] == done["dashboardURL"]
    assert len(jobs_with_id(ray, done["jobId"])) == 1
    assert "CreatedRayJobSubmitter" in {e["reason"] for e in job.events()}


def test_an_interactive_job_as_kubectl_ray_makes_it_waits_for_its_job_id(
        services: Services, control_plane: Kube, namespace: str, ray: RayHead) -> None:
    """`kubectl ray job submit`: an InteractiveMode RayJob; once its cluster is up the plugin runs
    `ray job submit` itself and sets `spec.jobId`; the RayJob then follows that Ray job."""
    start_stack(services)
    job = create(control_plane, namespace, rayjob("interactive", ray, "", submissionMode="InteractiveMode"))
    waiting = job.wait(lambda s: s.get("jobDeploymentStatus") == "Waiting", "waiting for its job id")
    assert not waiting.get("jobId")
    submitted = httpx.post(f"{ray.url}/api/jobs/", headers=ray.headers, timeout=10, json={
        "entrypoint": "python -c \"print('by hand')\"", "submission_id": f"interactive-{namespace}"}).json()
    control_plane.merge_patch(job.path, {"spec": {"jobId": submitted["submission_id"]}})
    done = job.wait(lambda s: s.get("jobDeploymentStatus") in TERMINAL, "finished")
    assert done["jobDeploymentStatus"] == "Complete" and done["jobId"] == f"interactive-{namespace}", done
    assert len(jobs_with_id(ray, done["jobId"])) == 1  # Raybus submitted nothing itself


def test_deletion_rules_suspend_the_workers_then_delete_the_cluster_then_the_rayjob(
        services: Services, control_plane: Kube, namespace: str, ray: RayHead) -> None:
    start_stack(services)
    rules = [{"policy": policy, "condition": {"jobStatus": "SUCCEEDED", "ttlSeconds": ttl}}
             for policy, ttl in (("DeleteWorkers", 0), ("DeleteCluster", 8), ("DeleteSelf", 16))]
    job = create(control_plane, namespace, rayjob("rules", ray, "python -c \"print(1)\"",
                                                  deletionStrategy={"deletionRules": rules}))
    done = job.wait(lambda s: s.get("jobDeploymentStatus") == "Complete", "complete")
    cluster_path = f"/apis/ray.io/v1/namespaces/{namespace}/rayclusters/{done['rayClusterName']}"

    def workers_suspended() -> bool:
        return all(g.get("suspend") for g in control_plane.get(cluster_path)["spec"]["workerGroupSpecs"])
    wait_until(workers_suspended, timeout=30, what="rules: workers suspended first")
    assert job.clusters() == [done["rayClusterName"]]  # the cluster itself is not due yet
    wait_until(lambda: job.clusters() == [], timeout=60, what="rules: cluster deleted at its TTL")
    assert control_plane.exists(job.path)  # the RayJob is not due yet
    wait_until(lambda: not control_plane.exists(job.path), timeout=60, what="rules: the RayJob deleted itself last")


def test_active_deadline_fails_a_running_job_with_deadline_exceeded(
        services: Services, control_plane: Kube, namespace: str, ray: RayHead) -> None:
    start_stack(services)
    job = create(control_plane, namespace, rayjob("deadline", ray, "python -c \"import time; time.sleep(600)\"",
                                                  activeDeadlineSeconds=15, backoffLimit=2))
    failed = job.wait(lambda s: s.get("jobDeploymentStatus") == "Failed", "failed", timeout=90)
    assert failed["reason"] == "DeadlineExceeded" and failed["failed"] == 1, failed  # never retried
    assert "activeDeadlineSeconds" in failed["message"]
    httpx.post(f"{ray.url}/api/jobs/{failed['jobId']}/stop", headers=ray.headers, timeout=10)
