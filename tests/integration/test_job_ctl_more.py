"""job-ctl end to end, continued (`test_job_ctl.py` starts the stack the same way, and its
helpers are imported from it): SidecarMode with the submitter container really run, a RayJob
on a RayCluster picked by `clusterSelector`, RayJobs that fail validation beside one that
runs, a RayJob deleted while its Ray job runs, job-ctl's `kuberay_job_*` metrics, and
`raybus tail --object rayjob/…` telling a RayJob's story. A real control plane with kwok nodes,
real NATS, watcher + actuator + cluster-ctl + job-ctl as processes, a real Ray head behind
every head pod's IP; Ray's side is checked on Ray.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from test_job_ctl import TERMINAL, cluster_spec, create, jobs_with_id, ray_jobs, rayjob, start_stack

from raybus_testbed.kube import Kube
from raybus_testbed.podrunner import CONTAINER_ID, SIDECAR, PodRunner
from raybus_testbed.rayhead import RayHead
from raybus_testbed.services import Services
from raybus_testbed.waiting import wait_until

pytestmark = pytest.mark.integration
RAYBUS = str(Path(sys.executable).parent / "raybus")


@pytest.fixture
def ray(ray_head: RayHead, pod_network: None) -> RayHead:
    return ray_head


def head_pods(api: Kube, ns: str, cluster: str) -> list[dict[str, Any]]:
    pods: list[dict[str, Any]] = api.get(f"/api/v1/namespaces/{ns}/pods",
                                         labelSelector=f"ray.io/cluster={cluster},ray.io/node-type=head")["items"]
    return pods


def names(api: Kube, path: str) -> list[str]:
    return sorted(o["metadata"]["name"] for o in api.get(path)["items"] if not o["metadata"].get("deletionTimestamp"))


# -- SidecarMode ----------------------------------------------------------------------------------

def test_a_sidecar_mode_job_is_submitted_by_its_head_pods_container_and_completes(
        services: Services, control_plane: Kube, namespace: str, ray: RayHead, pod_runner: PodRunner) -> None:
    """The submitter is the `ray-job-submitter` container job-ctl adds to the head pod: the pod
    runner runs it (KubeRay's command, against the head's dashboard on the pod's loopback);
    the RayJob completes when the container has ended and the Ray job succeeded. No submitter
    Job, no HTTP submission: one Ray job, the sidecar's."""
    start_stack(services)
    job = create(control_plane, namespace, rayjob("sidecar", ray, "python -c \"print('from the sidecar')\"",
                                                  submissionMode="SidecarMode"))
    done = job.wait(lambda s: s.get("jobDeploymentStatus") in TERMINAL, "finished", timeout=180)
    assert done["jobDeploymentStatus"] == "Complete" and done["jobStatus"] == "SUCCEEDED", done
    (on_ray,) = jobs_with_id(ray, done["jobId"])
    assert on_ray["status"] == "SUCCEEDED"
    assert control_plane.get(f"/apis/batch/v1/namespaces/{namespace}/jobs")["items"] == []

    (head,) = head_pods(control_plane, namespace, done["rayClusterName"])
    assert head["metadata"]["labels"]["ray.io/originated-from-cr-name"] == "sidecar"
    assert [c["name"] for c in head["spec"]["containers"]][-1] == SIDECAR
    statuses = {s["name"]: s for s in head["status"]["containerStatuses"]}
    sidecar = statuses.pop(SIDECAR)
    assert sidecar["containerID"].startswith(CONTAINER_ID)
    assert sidecar["state"]["terminated"]["exitCode"] == 0
    assert "from the sidecar" in sidecar["state"]["terminated"]["message"]
    assert head["status"]["phase"] == "Running" and all("running" in s["state"] for s in statuses.values())

    (run,) = pod_runner.runs_in(namespace)
    assert (run.name, run.sidecar, run.reason) == (head["metadata"]["name"], True, "Completed")
    assert f"--submission-id {done['jobId']}" in " ".join(run.argv)


# -- clusterSelector --------------------------------------------------------------------------------

def test_a_job_picking_an_existing_cluster_runs_on_it_and_leaves_it_alone(
        services: Services, control_plane: Kube, namespace: str, ray: RayHead) -> None:
    """`clusterSelector: {ray.io/cluster: shared}`: job-ctl creates no RayCluster and no head
    Service of the RayJob's own, submits to the picked cluster's dashboard, and does not delete
    the cluster when the job is done, even with `shutdownAfterJobFinishes`."""
    start_stack(services)
    clusters = f"/apis/ray.io/v1/namespaces/{namespace}/rayclusters"
    control_plane.create(clusters, {"apiVersion": "ray.io/v1", "kind": "RayCluster", "metadata": {"name": "shared"},
                                    "spec": cluster_spec(ray.dashboard_port)})
    wait_until(lambda: (control_plane.get(f"{clusters}/shared").get("status") or {}).get("state") == "ready",
               timeout=120, what="the shared cluster ready")
    uid = control_plane.get(f"{clusters}/shared")["metadata"]["uid"]

    job = create(control_plane, namespace, {
        "apiVersion": "ray.io/v1", "kind": "RayJob", "metadata": {"name": "picked"},
        "spec": {"entrypoint": "python -c \"print('on a shared cluster')\"", "submissionMode": "HTTPMode",
                 "clusterSelector": {"ray.io/cluster": "shared"}, "shutdownAfterJobFinishes": True}})
    done = job.wait(lambda s: s.get("jobDeploymentStatus") in TERMINAL, "finished")
    assert done["jobDeploymentStatus"] == "Complete" and done["jobStatus"] == "SUCCEEDED", done
    assert done["rayClusterName"] == "shared"
    assert done["dashboardURL"] == f"shared-head-svc.{namespace}.svc.cluster.local:{ray.dashboard_port}"
    assert len(jobs_with_id(ray, done["jobId"])) == 1

    time.sleep(8)  # passes enough for a shutdown (TTL 0) to have been decided, were it to be
    cluster = control_plane.get(f"{clusters}/shared")
    assert cluster["metadata"]["uid"] == uid and not cluster["metadata"].get("deletionTimestamp")
    assert not cluster["metadata"].get("ownerReferences")
    assert names(control_plane, clusters) == ["shared"]
    services_now = names(control_plane, f"/api/v1/namespaces/{namespace}/services")
    assert "picked-head-svc" not in services_now and "shared-head-svc" in services_now
    reasons = {e["reason"] for e in job.events()}
    assert not reasons & {"CreatedRayCluster", "DeletedRayCluster", "CreatedService"}, reasons
    assert job.status()["jobDeploymentStatus"] == "Complete"


# -- bad input --------------------------------------------------------------------------------------

def test_invalid_rayjobs_fail_validation_naming_the_field_and_a_valid_one_beside_them_completes(
        services: Services, control_plane: Kube, namespace: str, ray: RayHead) -> None:
    """What the CRD admits but KubeRay's validation refuses: `suspend: true` without
    `shutdownAfterJobFinishes`, and a 48-character name (a RayJob's cluster is named
    `<rayjob>-xxxxx`, at most 53). Each ends ValidationFailed with a message naming the field
    and a Warning Event; nothing is made for it; a valid RayJob created with them completes."""
    start_stack(services)
    long_name = "n" * 48
    suspended = create(control_plane, namespace, rayjob("suspended", ray, "python -c \"print(1)\"", suspend=True))
    too_long = create(control_plane, namespace, rayjob(long_name, ray, "python -c \"print(1)\""))
    fine = create(control_plane, namespace, rayjob("fine", ray, "python -c \"print('fine')\""))

    for bad, field, event in ((suspended, "spec.suspend", "InvalidRayJobSpec"),
                              (too_long, "metadata.name", "InvalidRayJobMetadata")):
        status = bad.wait(lambda s: s.get("jobDeploymentStatus") == "ValidationFailed", "validation failed")
        assert status["reason"] == "ValidationFailed" and status["message"].startswith(f"{field}: "), status
        warnings = wait_until(lambda b=bad: [e for e in b.events() if e["type"] == "Warning"], timeout=30,
                              what=f"{bad.name}: a Warning Event")
        assert [(e["reason"], field in e["note"]) for e in warnings] == [(event, True)], warnings
    assert "shutdownAfterJobFinishes" in suspended.status()["message"]
    assert "47 characters" in too_long.status()["message"]

    done = fine.wait(lambda s: s.get("jobDeploymentStatus") in TERMINAL, "finished")
    assert done["jobDeploymentStatus"] == "Complete", done
    for bad in (suspended, too_long):  # still so, with nothing made for them
        assert bad.status()["jobDeploymentStatus"] == "ValidationFailed"
        assert bad.clusters() == [] and not bad.status().get("jobId")
        assert "ray.io/rayjob-finalizer" not in (bad.get()["metadata"].get("finalizers") or [])
        assert not [j for j in ray_jobs(ray) if str(j.get("submission_id", "")).startswith(f"{bad.name}-")]


# -- deletion while running ---------------------------------------------------------------------------

def test_deleting_a_running_rayjob_stops_its_ray_job_and_the_rayjob_goes(
        services: Services, control_plane: Kube, namespace: str, ray: RayHead) -> None:
    start_stack(services)
    job = create(control_plane, namespace, rayjob("doomed", ray, "python -c \"import time; time.sleep(600)\""))
    running = job.wait(lambda s: s.get("jobStatus") == "RUNNING", "running on Ray", timeout=120)
    assert job.get()["metadata"]["finalizers"] == ["ray.io/rayjob-finalizer"]

    control_plane.delete(job.path)
    wait_until(lambda: [j["status"] for j in jobs_with_id(ray, running["jobId"])] == ["STOPPED"], timeout=60,
               what="doomed: its Ray job stopped on the head")
    wait_until(lambda: not control_plane.exists(job.path), timeout=60, what="doomed: the RayJob gone")
    wait_until(lambda: job.clusters() == [], timeout=60, what="doomed: its cluster collected")


# -- metrics ----------------------------------------------------------------------------------------

def samples(services: Services, metric: str, **labels: str) -> list[tuple[dict[str, str], float]]:
    """job-ctl's samples of `metric` whose labels include `labels`."""
    text = httpx.get(services.url("job-ctl", "/metrics"), timeout=5).text
    return [(s.labels, s.value) for family in text_string_to_metric_families(text) for s in family.samples
            if s.name == metric and labels.items() <= s.labels.items()]


def test_job_ctl_exports_kuberays_job_metrics(
        services: Services, control_plane: Kube, namespace: str, ray: RayHead) -> None:
    start_stack(services)
    job = create(control_plane, namespace, rayjob("measured", ray, "python -c \"import time; time.sleep(10)\""))
    job.wait(lambda s: s.get("jobStatus") == "RUNNING", "running on Ray")
    ids = {"name": "measured", "namespace": namespace, "uid": job.get()["metadata"]["uid"]}

    assert samples(services, "kuberay_job_info", **ids) == [(ids, 1.0)]
    wait_until(lambda: samples(services, "kuberay_job_deployment_status", **ids)
               == [({**ids, "deployment_status": "Running"}, 1.0)], timeout=30, what="measured: Running exported")
    assert samples(services, "kuberay_job_execution_duration_seconds", **ids) == []  # not finished

    done = job.wait(lambda s: s.get("jobDeploymentStatus") in TERMINAL, "finished")
    assert done["jobDeploymentStatus"] == "Complete", done
    wait_until(lambda: samples(services, "kuberay_job_deployment_status", **ids)
               == [({**ids, "deployment_status": "Complete"}, 1.0)], timeout=30, what="measured: Complete exported")
    ((labels, seconds),) = samples(services, "kuberay_job_execution_duration_seconds", **ids)
    assert labels == {**ids, "job_deployment_status": "Complete", "retry_count": "0"}
    assert 10 <= seconds < 180, seconds  # from the attempt's start to its end: the job slept 10 s of it
    assert samples(services, "kuberay_job_info", **ids) == [(ids, 1.0)]


# -- raybus tail ------------------------------------------------------------------------------------

def tail(nats_url: str, obj: str, *args: str) -> list[str]:
    """`raybus tail --object obj --no-follow`'s lines (a replay never shows the work queue's
    actions: they are gone once carried out)."""
    out = subprocess.run([RAYBUS, "tail", "--nats-url", nats_url, "--object", obj, "--no-follow", *args],
                         check=False, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout.splitlines()


def test_raybus_tail_replays_a_finished_rayjobs_story(
        services: Services, control_plane: Kube, namespace: str, ray: RayHead, nats_url: str) -> None:
    """After the fact, from the start of the streams: the RayJob's last state, its Ray job's
    last observation (`raybus.state.rayjobinfo…`, jobStatus SUCCEEDED), and the results of
    what was done for it in order (the finalizer, the cluster, the Ray submission, the status).
    The state streams keep one message per subject and the actions are consumed: earlier
    observations and the actions themselves only a live tail sees (next test)."""
    start_stack(services)
    job = create(control_plane, namespace, rayjob("told", ray, "python -c \"print('tell me')\""))
    done = job.wait(lambda s: s.get("jobDeploymentStatus") in TERMINAL, "finished")
    assert done["jobDeploymentStatus"] == "Complete", done
    obj = f"rayjob/{namespace}/told"

    lines = tail(nats_url, obj)
    assert any(f"raybus.state.rayjob.{namespace}.told" in line or f"rayjob/{namespace}/told" in line
               for line in lines), lines
    submitted = [i for i, line in enumerate(lines) if "ray_submit_job → ok" in line]
    assert len(submitted) == 1 and f"rayjobinfo/{namespace}/told" in lines[submitted[0]], lines
    finalizer = next(i for i, line in enumerate(lines) if "add_finalizer → ok" in line)
    cluster = next(i for i, line in enumerate(lines) if "apply → ok" in line)  # the RayCluster
    assert finalizer < cluster < submitted[0], lines
    assert any("apply_status → ok" in line for line in lines[submitted[0]:]), lines  # then Complete

    raw = [json.loads(line) for line in tail(nats_url, obj, "--json")]
    observations = [m["payload"]["object"]["status"] for m in raw
                    if m["subject"] == f"raybus.state.rayjobinfo.{namespace}.told" and m["payload"].get("object")]
    assert [o["jobStatus"] for o in observations] == ["SUCCEEDED"], observations
    results = [m["payload"] for m in raw if m["subject"].startswith("raybus.res.")]
    (submit,) = [r for r in results if r.get("op") == "ray_submit_job"]
    assert submit["outcome"] == "ok"
    states = [m["payload"]["object"] for m in raw if m["subject"] == f"raybus.state.rayjob.{namespace}.told"]
    assert states and states[-1]["status"]["jobDeploymentStatus"] == "Complete"
    assert states[-1]["status"]["jobId"] == done["jobId"]


def test_raybus_tail_follows_a_rayjobs_story_live(
        services: Services, control_plane: Kube, namespace: str, ray: RayHead, nats_url: str,
        tmp_path: Path) -> None:
    """Followed live from before the RayJob exists: every observation of its Ray job (the
    jobStatus values as they changed), the `ray_submit_job` action and its result."""
    start_stack(services)
    obj = f"rayjob/{namespace}/live"
    out = tmp_path / "tail.out"
    with open(out, "w") as sink, subprocess.Popen(
            [RAYBUS, "tail", "--nats-url", nats_url, "--object", obj, "--json"], stdout=sink,
            stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"}) as proc:
        try:
            time.sleep(3)  # subscribed
            assert proc.poll() is None, out.read_text()[-3000:]
            job = create(control_plane, namespace, rayjob("live", ray, "python -c \"import time; time.sleep(4)\""))
            done = job.wait(lambda s: s.get("jobDeploymentStatus") in TERMINAL, "finished")
            assert done["jobDeploymentStatus"] == "Complete", done
            time.sleep(3)  # the last messages reach the tail
        finally:
            proc.terminate()
    text = out.read_text()
    messages = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    assert messages, text[-3000:]
    observed = [m["payload"]["object"]["status"]["jobStatus"] for m in messages
                if m["subject"] == f"raybus.state.rayjobinfo.{namespace}.live" and m["payload"].get("object")]
    assert "RUNNING" in observed and observed[-1] == "SUCCEEDED", observed
    acts = [m for m in messages if m["subject"].startswith("raybus.act.")
            and (m["payload"].get("action") or {}).get("op") == "ray_submit_job"]
    assert acts and acts[0]["payload"]["action"]["request"]["submission_id"] == done["jobId"]
    assert [m["payload"]["outcome"] for m in messages if m["subject"].startswith("raybus.res.")
            and m["payload"].get("op") == "ray_submit_job"] == ["ok"]
