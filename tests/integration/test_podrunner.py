"""The pod runner runs RayJob submitter pods for real (kwok never runs a container) and writes
their status as a kubelet would, so kube-controller-manager's Job controller completes, fails
and retries submitter Jobs; kwok still makes every other pod Running/Ready and completes other
Jobs' pods.

Each submitter Job here is made by hand the way KubeRay makes one in K8sJobMode (labels,
`restartPolicy: Never`, `/bin/bash -ce --` and one command string, the env) against a dashboard
address that is a cluster DNS name (which resolves nowhere here: the runner substitutes the
session's Ray head), and what happened is read on that Ray head through its HTTP API. A
SidecarMode head pod is made by hand the same way (the Ray head container, then
`ray-job-submitter` with KubeRay's sidecar command against the head's loopback): only that
container runs, and only its entry of the pod's status changes.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from raybus_testbed.kube import Kube
from raybus_testbed.podrunner import CONTAINER_ID, PodRunner
from raybus_testbed.procs import free_port
from raybus_testbed.rayhead import RayHead
from raybus_testbed.waiting import wait_until

pytestmark = pytest.mark.integration

LABELS = {"ray.io/originated-from-cr-name": "rj", "ray.io/originated-from-crd": "RayJob",
          "app.kubernetes.io/created-by": "kuberay-operator"}


def fake_address(ns: str) -> str:
    """The dashboard address as KubeRay gives it (`status.dashboardURL`): not resolvable here."""
    return f"rj-head-svc.{ns}.svc.cluster.local:8265"


def kuberay_command(address: str, job_id: str, entrypoint: str) -> str:
    """KubeRay v1.7's K8sJobMode submitter command (rayjob.md §3.1), as one string."""
    a = f"http://{address}"
    return (
        f"until python -c \"import urllib.request; r=urllib.request.urlopen('{a}/api/gcs_healthz', timeout=10); "
        f"exit(0 if b'success' in r.read() else 1)\" >/dev/null 2>&1 ; "
        f"do echo \"Waiting for Ray Dashboard GCS to become healthy at {a} ...\" ; sleep 2 ; done ; "
        f"if ! ray job status --address {a} {job_id} >/dev/null 2>&1 ; "
        f"then ray job submit --address {a} --no-wait --submission-id {job_id} -- {entrypoint} ; "
        f"fi ; ray job logs --address {a} --follow {job_id}")


def submitter_job(name: str, ns: str, job_id: str, command: str, *, backoff_limit: int = 2,
                  labels: dict[str, str] | None = None) -> dict[str, Any]:
    labels = LABELS if labels is None else labels
    container = {
        "name": "ray-job-submitter", "image": "rayproject/ray:2.60.0",
        "command": ["/bin/bash", "-ce", "--"], "args": [command],
        "resources": {"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "500m", "memory": "200Mi"}},
        "env": [{"name": "PYTHONUNBUFFERED", "value": "1"},
                {"name": "RAY_DASHBOARD_ADDRESS", "value": fake_address(ns)},
                {"name": "RAY_JOB_SUBMISSION_ID", "value": job_id}],
    }
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name, "labels": labels},
            "spec": {"backoffLimit": backoff_limit, "template": {
                "metadata": {"labels": labels},
                "spec": {"restartPolicy": "Never", "containers": [container]}}}}


def job_condition(api: Kube, ns: str, name: str) -> str:
    """"Complete" or "Failed" once the Job has that condition True, else ""."""
    conditions = (api.get(f"/apis/batch/v1/namespaces/{ns}/jobs/{name}").get("status") or {}).get("conditions") or []
    return next((c["type"] for c in conditions if c["status"] == "True" and c["type"] in ("Complete", "Failed")), "")


def pods_of(api: Kube, ns: str, job: str) -> list[dict[str, Any]]:
    pods = api.get(f"/api/v1/namespaces/{ns}/pods", labelSelector=f"job-name={job}")["items"]
    return sorted(pods, key=lambda p: p["metadata"]["creationTimestamp"])


def container_state(pod: dict[str, Any]) -> dict[str, Any]:
    (status,) = pod["status"]["containerStatuses"]
    return status


def ray_jobs(head_url: str, submission_id: str) -> list[dict[str, Any]]:
    """The Ray jobs on the head with this submission id."""
    jobs = httpx.get(f"{head_url}/api/jobs/", timeout=10).raise_for_status().json()
    return [j for j in jobs if j.get("submission_id") == submission_id]


def pod_history(api: Kube, ns: str, since: str) -> list[dict[str, Any]]:
    """Every version of the namespace's pods since resourceVersion `since`, replayed by a watch
    from there (the API server's watch cache still holds them)."""
    seen: list[dict[str, Any]] = []
    for event in api.watch(f"/api/v1/namespaces/{ns}/pods",
                           {"watch": "true", "resourceVersion": since, "timeoutSeconds": "2"}, read_timeout=10):
        if event["type"] in ("ADDED", "MODIFIED"):
            seen.append(event["object"])
    return seen


def session_alive(pid: int) -> bool:
    """Whether any process of the session `pid` leads (the submitter and all it started) lives."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                state, _ppid, _pgrp, sid = (entry / "stat").read_text().rsplit(")", 1)[1].split()[:4]
            except OSError:
                continue
            if int(sid) == pid and state != "Z":
                return True
    return False


def test_a_submitter_job_runs_kuberays_command_against_the_ray_head(
        control_plane: Kube, namespace: str, pod_runner: PodRunner, ray_head: RayHead) -> None:
    job_id = f"{namespace}-hello"
    since = control_plane.get(f"/api/v1/namespaces/{namespace}/pods")["metadata"]["resourceVersion"]
    control_plane.create(f"/apis/batch/v1/namespaces/{namespace}/jobs", submitter_job(
        "rj", namespace, job_id, kuberay_command(fake_address(namespace), job_id,
                                                 "python -c \"print('hello from ray')\"")))

    assert wait_until(lambda: job_condition(control_plane, namespace, "rj"), timeout=180,
                      what="the submitter Job to finish") == "Complete"
    (ray_job,) = ray_jobs(ray_head.url, job_id)
    assert ray_job["status"] == "SUCCEEDED"
    assert ray_job["entrypoint"] == "python -c 'print('\"'\"'hello from ray'\"'\"')'"

    (pod,) = pods_of(control_plane, namespace, "rj")
    assert pod["status"]["phase"] == "Succeeded"
    status = container_state(pod)
    assert status["containerID"].startswith(CONTAINER_ID)
    terminated = status["state"]["terminated"]
    assert (terminated["exitCode"], terminated["reason"]) == (0, "Completed")
    assert terminated["startedAt"] <= terminated["finishedAt"]
    assert "hello from ray" in terminated["message"]  # `ray job logs --follow` printed the job's output

    # It was running, as the runner's, before it ended; and kwok never finished it: every
    # terminated state the pod ever had is the runner's.
    history = pod_history(control_plane, namespace, since)
    states = [s["state"] for p in history for s in (p.get("status") or {}).get("containerStatuses") or []
              if s.get("containerID", "").startswith(CONTAINER_ID)]
    assert any("running" in s for s in states)
    assert all(s.get("containerID", "").startswith(CONTAINER_ID) for p in history
               for s in (p.get("status") or {}).get("containerStatuses") or [] if "terminated" in s["state"])

    (run,) = pod_runner.runs_in(namespace)
    log = run.log_path.read_text()
    assert fake_address(namespace) not in " ".join(run.argv)
    assert f"{fake_address(namespace)} -> {ray_head.url.removeprefix('http://')}" in log
    assert "hello from ray" in log


def test_a_failing_entrypoint_fails_the_ray_job_and_not_kuberays_submitter(
        control_plane: Kube, namespace: str, pod_runner: PodRunner, ray_head: RayHead) -> None:
    """`ray job logs --follow` ends 0 whatever the Ray job's fate, so KubeRay's submitter pod
    succeeds; KubeRay learns of the failure from the dashboard (AppFailed), not from the Job."""
    job_id = f"{namespace}-exit3"
    control_plane.create(f"/apis/batch/v1/namespaces/{namespace}/jobs", submitter_job(
        "rj", namespace, job_id, kuberay_command(fake_address(namespace), job_id, "exit 3")))

    assert wait_until(lambda: job_condition(control_plane, namespace, "rj"), timeout=180,
                      what="the submitter Job to finish") == "Complete"
    (ray_job,) = ray_jobs(ray_head.url, job_id)
    assert ray_job["status"] == "FAILED"
    assert "exit code 3" in ray_job["message"]


def test_a_failed_submitter_is_retried_and_does_not_submit_twice(
        control_plane: Kube, namespace: str, pod_runner: PodRunner, ray_head: RayHead) -> None:
    """A submitter that fails when its Ray job failed (KubeRay's command and then a check, as a
    `submitterPodTemplate` may say): the Job controller retries it (backoffLimit 1: two pods)
    and fails the Job; the retry finds the job by `ray job status` and only follows its logs."""
    job_id = f"{namespace}-retry"
    address = fake_address(namespace)
    command = (kuberay_command(address, job_id, "exit 3")
               + f" ; ray job status --address http://{address} {job_id} | grep -q succeeded")
    control_plane.create(f"/apis/batch/v1/namespaces/{namespace}/jobs",
                         submitter_job("rj", namespace, job_id, command, backoff_limit=1))

    assert wait_until(lambda: job_condition(control_plane, namespace, "rj"), timeout=240,
                      what="the submitter Job to finish") == "Failed"
    pods = pods_of(control_plane, namespace, "rj")
    assert [p["status"]["phase"] for p in pods] == ["Failed", "Failed"]
    for pod in pods:
        terminated = container_state(pod)["state"]["terminated"]
        assert (terminated["exitCode"], terminated["reason"]) == (1, "Error")
    (ray_job,) = ray_jobs(ray_head.url, job_id)
    assert ray_job["status"] == "FAILED"

    logs = {run.name: run.log_path.read_text() for run in pod_runner.runs_in(namespace)}
    first, second = (logs[p["metadata"]["name"]] for p in pods)
    assert f"Job '{job_id}' submitted successfully" in first
    assert "submitted successfully" not in second and "already exists" not in second
    assert "exit code 3" in second  # it followed the logs of the job the first pod submitted


def test_a_deleted_submitter_pod_has_its_process_killed(control_plane: Kube, namespace: str,
                                                         pod_runner: PodRunner) -> None:
    control_plane.create(f"/apis/batch/v1/namespaces/{namespace}/jobs",
                         submitter_job("rj", namespace, "unused", "sleep 600 & sleep 600", backoff_limit=0))
    run = wait_until(lambda: next((r for r in pod_runner.runs_in(namespace) if r.pid), None), timeout=60,
                     what="the runner to start the submitter")
    assert run.pid is not None
    wait_until(lambda: "running" in container_state(pods_of(control_plane, namespace, "rj")[0])["state"],
               timeout=30, what="the pod Running as the runner's")
    assert session_alive(run.pid)

    control_plane.delete(f"/apis/batch/v1/namespaces/{namespace}/jobs/rj", propagationPolicy="Background")
    wait_until(lambda: not session_alive(run.pid), timeout=60, what="the submitter's processes to be killed")
    wait_until(lambda: run.reason == "Deleted", timeout=10, what="the run to end as Deleted")


def test_a_submitter_that_runs_too_long_is_killed_and_fails(control_plane: Kube, namespace: str,
                                                            pod_runner: PodRunner) -> None:
    pod_runner.timeout = 3
    try:
        control_plane.create(f"/apis/batch/v1/namespaces/{namespace}/jobs", submitter_job(
            "rj", namespace, "unused", "echo started ; sleep 600", backoff_limit=0))
        assert wait_until(lambda: job_condition(control_plane, namespace, "rj"), timeout=90,
                          what="the submitter Job to finish") == "Failed"
    finally:
        pod_runner.timeout = 600
    (pod,) = pods_of(control_plane, namespace, "rj")
    assert (pod["status"]["phase"], pod["status"]["reason"]) == ("Failed", "DeadlineExceeded")
    terminated = container_state(pod)["state"]["terminated"]
    assert terminated["exitCode"] == 137
    assert "after 3 s" in terminated["message"] and "started" in terminated["message"]
    (run,) = pod_runner.runs_in(namespace)
    assert run.pid is not None and not session_alive(run.pid)


def test_the_container_env_and_secrets_reach_the_process(control_plane: Kube, namespace: str,
                                                         pod_runner: PodRunner) -> None:
    control_plane.create(f"/api/v1/namespaces/{namespace}/secrets", {
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "tok"}, "stringData": {"auth_token": "s3cret"}})
    job = submitter_job("rj", namespace, "the-id",
                        'echo "id=$RAY_JOB_SUBMISSION_ID token=$RAY_AUTH_TOKEN dash=$RAY_DASHBOARD_ADDRESS '
                        'host=$HOSTNAME ray=$(command -v ray) home=$HOME"', backoff_limit=0)
    job["spec"]["template"]["spec"]["containers"][0]["env"] += [
        {"name": "RAY_AUTH_TOKEN", "valueFrom": {"secretKeyRef": {"name": "tok", "key": "auth_token"}}},
        {"name": "MISSING", "valueFrom": {"secretKeyRef": {"name": "nope", "key": "k", "optional": True}}}]
    control_plane.create(f"/apis/batch/v1/namespaces/{namespace}/jobs", job)

    assert wait_until(lambda: job_condition(control_plane, namespace, "rj"), timeout=90,
                      what="the Job to finish") == "Complete"
    (pod,) = pods_of(control_plane, namespace, "rj")
    message = container_state(pod)["state"]["terminated"]["message"]
    assert (f"id=the-id token=s3cret dash={pod_runner.dashboard} host={pod['metadata']['name']} "
            f"ray={pod_runner.ray_bin / 'ray'} home={os.environ.get('HOME', '/tmp')}") == message


def test_a_submitter_naming_a_missing_secret_fails_saying_why(control_plane: Kube, namespace: str,
                                                              pod_runner: PodRunner) -> None:
    job = submitter_job("rj", namespace, "unused", "echo never", backoff_limit=0)
    job["spec"]["template"]["spec"]["containers"][0]["env"].append(
        {"name": "RAY_AUTH_TOKEN", "valueFrom": {"secretKeyRef": {"name": "absent", "key": "auth_token"}}})
    control_plane.create(f"/apis/batch/v1/namespaces/{namespace}/jobs", job)

    assert wait_until(lambda: job_condition(control_plane, namespace, "rj"), timeout=90,
                      what="the Job to finish") == "Failed"
    terminated = container_state(pods_of(control_plane, namespace, "rj")[0])["state"]["terminated"]
    assert terminated["reason"] == "CreateContainerConfigError"
    assert "absent" in terminated["message"]


def test_kwok_still_runs_every_other_pod(control_plane: Kube, namespace: str, pod_runner: PodRunner) -> None:
    """Regression for the stages: a plain pod and a RayJob-labelled pod no Job owns (a RayJob's
    cluster's pod, say) become Running/Ready by kwok; a plain Job's pod is completed by kwok."""
    base = {"apiVersion": "v1", "kind": "Pod",
            "spec": {"containers": [{"name": "main", "image": "busybox", "command": ["false"]}]}}
    control_plane.create(f"/api/v1/namespaces/{namespace}/pods", {**base, "metadata": {"name": "plain"}})
    control_plane.create(f"/api/v1/namespaces/{namespace}/pods",
                         {**base, "metadata": {"name": "labelled", "labels": LABELS}})
    control_plane.create(f"/apis/batch/v1/namespaces/{namespace}/jobs",
                         submitter_job("plain-job", namespace, "unused", "false", backoff_limit=0, labels={}))

    def ready(name: str) -> bool:
        pod = control_plane.get(f"/api/v1/namespaces/{namespace}/pods/{name}")
        conditions = (pod.get("status") or {}).get("conditions") or []
        return pod["status"].get("phase") == "Running" and any(
            c["type"] == "Ready" and c["status"] == "True" for c in conditions)

    for name in ("plain", "labelled"):
        wait_until(lambda n=name: ready(n), timeout=60, what=f"pod {name} Running and Ready")
    # kwok completes it with exit 0 although its command is `false`: nothing ran it.
    assert wait_until(lambda: job_condition(control_plane, namespace, "plain-job"), timeout=90,
                      what="the plain Job to finish") == "Complete"
    (pod,) = pods_of(control_plane, namespace, "plain-job")
    assert "containerID" not in container_state(pod)

    # A submitter made now is run; the runner's watch (in resourceVersion order) has then seen
    # the labelled pod Running and passed it by.
    control_plane.create(f"/apis/batch/v1/namespaces/{namespace}/jobs",
                         submitter_job("rj", namespace, "unused", "echo ran", backoff_limit=0))
    assert wait_until(lambda: job_condition(control_plane, namespace, "rj"), timeout=90,
                      what="the submitter Job to finish") == "Complete"
    assert [run.name for run in pod_runner.runs_in(namespace)] == [pods_of(control_plane, namespace, "rj")[0]
                                                                    ["metadata"]["name"]]
    assert ready("labelled")


# -- SidecarMode: the submitter container of a RayJob's head pod ---------------------------------

def kuberay_sidecar_command(port: int, job_id: str, entrypoint: str) -> str:
    """KubeRay v1.7's SidecarMode submitter command (rayjob.md §3.1): the head's dashboard on the
    pod's loopback, no `ray job status` guard, `ray job submit` following the job to its end."""
    a = f"http://127.0.0.1:{port}"
    return (
        f"until python -c \"import urllib.request; r=urllib.request.urlopen('http://localhost:{port}/api/gcs_healthz', "
        f"timeout=10); exit(0 if b'success' in r.read() else 1)\" >/dev/null 2>&1 ; "
        f"do echo \"Waiting for Ray Dashboard GCS to become healthy at {a} ...\" ; sleep 2 ; done ; "
        f"ray job submit --address {a} --submission-id {job_id} -- {entrypoint} ;")


def head_pod(name: str, port: int, command: str, job_id: str, *, rayjob_labels: bool = True) -> dict[str, Any]:
    """A SidecarMode head pod as job-ctl's RayCluster makes one: the Ray head container (kwok's;
    its dashboard port `port`), then `ray-job-submitter`; `restartPolicy: Never`; the RayJob's
    labels (KubeRay's head pod has none: `rayjob_labels=False`); owned by no Job."""
    labels = {**(LABELS if rayjob_labels else {}), "ray.io/node-type": "head", "ray.io/cluster": f"{name}-cluster"}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels},
            "spec": {"restartPolicy": "Never", "containers": [
                {"name": "ray-head", "image": "rayproject/ray:2.60.0", "command": ["/bin/bash", "-c", "false"],
                 "ports": [{"name": "gcs-server", "containerPort": 6379},
                           {"name": "dashboard", "containerPort": port}]},
                {"name": "ray-job-submitter", "image": "rayproject/ray:2.60.0",
                 "command": ["/bin/bash", "-ce", "--"], "args": [command],
                 "env": [{"name": "PYTHONUNBUFFERED", "value": "1"}, {"name": "RAY_DASHBOARD_ADDRESS", "value": ""},
                         {"name": "RAY_JOB_SUBMISSION_ID", "value": job_id}]}]}}


def statuses(pod: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["name"]: s for s in pod["status"].get("containerStatuses") or []}


def test_a_sidecar_submits_from_its_head_pod_and_only_its_container_status_changes(
        control_plane: Kube, namespace: str, pod_runner: PodRunner, ray_head: RayHead) -> None:
    job_id = f"{namespace}-sidecar"
    # A dashboard port nothing listens on (free_port never hands out the head's twice): only the
    # runner's substitution makes the sidecar reach `ray_head`.
    port = free_port()
    pods = f"/api/v1/namespaces/{namespace}/pods"
    since = control_plane.get(pods)["metadata"]["resourceVersion"]
    plain = head_pod("plain", port, "unused", "unused")  # a head pod without a sidecar: left to kwok
    plain["spec"]["containers"].pop()
    control_plane.create(pods, plain)
    control_plane.create(pods, head_pod("head", port, kuberay_sidecar_command(
        port, job_id, "python -c \"print('hello from the sidecar')\""), job_id))

    def sidecar() -> dict[str, Any]:
        return statuses(control_plane.get(f"{pods}/head"))["ray-job-submitter"]
    wait_until(lambda: "terminated" in sidecar()["state"], timeout=180, what="the sidecar to end")
    (ray_job,) = ray_jobs(ray_head.url, job_id)
    assert ray_job["status"] == "SUCCEEDED"

    pod = control_plane.get(f"{pods}/head")
    mine = statuses(pod)["ray-job-submitter"]
    terminated = mine["state"]["terminated"]
    assert mine["containerID"].startswith(CONTAINER_ID) and mine["ready"] is False
    assert (terminated["exitCode"], terminated["reason"]) == (0, "Completed")
    assert terminated["startedAt"] <= terminated["finishedAt"]
    assert "hello from the sidecar" in terminated["message"]  # `ray job submit` followed the job's logs
    # The rest is kwok's, as it was: the pod Running and Ready, the head container running.
    head = statuses(pod)["ray-head"]
    assert pod["status"]["phase"] == "Running" and "containerID" not in head and "running" in head["state"]
    assert {c["type"]: c["status"] for c in pod["status"]["conditions"]}["Ready"] == "True"

    # The runner's writes came in order (running, then terminated), kwok wrote nothing over
    # them, and every version kept the head container as kwok made it.
    time.sleep(3)
    history = [p for p in pod_history(control_plane, namespace, since) if p["metadata"]["name"] == "head"]
    ours = [statuses(p)["ray-job-submitter"] for p in history
            if statuses(p).get("ray-job-submitter", {}).get("containerID", "").startswith(CONTAINER_ID)]
    assert ["running" in s["state"] for s in ours][:1] == [True] and "terminated" in ours[-1]["state"]
    first = history.index(next(p for p in history if statuses(p).get("ray-job-submitter", {}).get("containerID")))
    assert all(statuses(p)["ray-job-submitter"].get("containerID", "").startswith(CONTAINER_ID)
               for p in history[first:])
    assert all(statuses(p)["ray-head"] == head and p["status"]["phase"] == "Running" for p in history[first:])
    assert control_plane.get(f"{pods}/head")["metadata"]["resourceVersion"] == history[-1]["metadata"]["resourceVersion"]

    assert control_plane.get(f"{pods}/plain")["status"]["phase"] == "Running"
    (run,) = pod_runner.runs_in(namespace)  # not the plain head's
    assert (run.name, run.container, run.sidecar, run.reason) == ("head", "ray-job-submitter", True, "Completed")
    assert f"127.0.0.1:{port}" not in " ".join(run.argv) and f"localhost:{port}" not in " ".join(run.argv)
    assert f"127.0.0.1:{port} -> {ray_head.url.removeprefix('http://')}" in run.log_path.read_text()


def test_a_sidecar_whose_ray_job_fails_terminates_with_an_error_and_the_pod_stays_running(
        control_plane: Kube, namespace: str, pod_runner: PodRunner, ray_head: RayHead) -> None:
    """`ray job submit` without `--no-wait` exits 1 when the job FAILED: KubeRay's SidecarMode
    learns of it from the container (SubmissionFailed / AppFailed), the pod itself runs on. The
    head pod as KubeRay makes it, without the RayJob's labels, is run all the same."""
    job_id = f"{namespace}-sidecar-exit3"
    port = free_port()
    pods = f"/api/v1/namespaces/{namespace}/pods"
    control_plane.create(pods, head_pod("head", port, kuberay_sidecar_command(port, job_id, "exit 3"), job_id,
                                        rayjob_labels=False))

    def sidecar() -> dict[str, Any]:
        return statuses(control_plane.get(f"{pods}/head"))["ray-job-submitter"]
    wait_until(lambda: "terminated" in sidecar()["state"], timeout=180, what="the sidecar to end")
    terminated = sidecar()["state"]["terminated"]
    assert (terminated["exitCode"], terminated["reason"]) == (1, "Error")
    (ray_job,) = ray_jobs(ray_head.url, job_id)
    assert ray_job["status"] == "FAILED" and "exit code 3" in ray_job["message"]
    pod = control_plane.get(f"{pods}/head")
    assert pod["status"]["phase"] == "Running" and "running" in statuses(pod)["ray-head"]["state"]


def test_a_head_pod_deleted_while_its_sidecar_runs_has_the_process_killed(
        control_plane: Kube, namespace: str, pod_runner: PodRunner, ray_head: RayHead) -> None:
    pods = f"/api/v1/namespaces/{namespace}/pods"
    control_plane.create(pods, head_pod("head", free_port(), "sleep 600 & sleep 600", "unused"))
    run = wait_until(lambda: next((r for r in pod_runner.runs_in(namespace) if r.pid), None), timeout=60,
                     what="the runner to start the sidecar")
    assert run.pid is not None and run.sidecar
    wait_until(lambda: statuses(control_plane.get(f"{pods}/head"))["ray-job-submitter"].get("containerID"),
               timeout=30, what="the sidecar running as the runner's")
    assert session_alive(run.pid)

    control_plane.delete(f"{pods}/head")
    wait_until(lambda: not session_alive(run.pid), timeout=60, what="the sidecar's processes to be killed")
    wait_until(lambda: run.reason == "Deleted", timeout=10, what="the run to end as Deleted")
