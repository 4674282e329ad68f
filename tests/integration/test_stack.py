"""`raybus up` starts the whole local stack and `raybus down` stops it (the README's command)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import yaml

from raybus_testbed.kube import Kube
from raybus_testbed.waiting import wait_until

pytestmark = pytest.mark.integration
RAYBUS = str(Path(sys.executable).parent / "raybus")
SAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "samples" / "raycluster-sample.yaml"
SERVICES = ("watcher", "actuator", "cluster-ctl", "job-ctl", "serve-ctl", "cron", "scheduler-bridge")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_up_starts_everything_and_down_stops_it(tmp_path: Path) -> None:
    env = {**os.environ, "RAYBUS_STATE_DIR": str(tmp_path / "state")}
    up = subprocess.run([RAYBUS, "up"], env=env, capture_output=True, text=True, check=False, timeout=300)
    state_file = tmp_path / "state" / "stack.json"
    try:
        assert up.returncode == 0, up.stderr[-3000:]
        state = json.loads(state_file.read_text())
        assert "kubeconfig" in up.stdout and state["nats_url"] in up.stdout
        for name in SERVICES:
            info = state["processes"][name]
            assert httpx.get(info["http"] + "/readyz", timeout=5).status_code == 200, name
            metrics = httpx.get(info["http"] + "/metrics", timeout=5)
            assert metrics.status_code == 200 and "# TYPE" in metrics.text, name
        api = Kube.connect(state["kubeconfig"])
        try:
            sample = api.get("/apis/ray.io/v1/namespaces/default/rayclusters/raycluster-sample")
            assert sample["spec"]["workerGroupSpecs"][0]["groupName"] == "cpu"
            nodes = api.get("/api/v1/nodes")["items"]
            assert len(nodes) >= 4
        finally:
            api.close()
        status = subprocess.run([RAYBUS, "status"], env=env, capture_output=True, text=True, check=False, timeout=30)
        assert status.returncode == 0 and "kube-apiserver" in status.stdout
    finally:
        pids = [int(p["pid"]) for p in json.loads(state_file.read_text())["processes"].values()] \
            if state_file.exists() else []
        down = subprocess.run([RAYBUS, "down"], env=env, capture_output=True, text=True, check=False, timeout=180)
    assert down.returncode == 0, down.stderr
    assert "stopped" in down.stdout
    assert pids and not [p for p in pids if alive(p)], "processes left running after raybus down"
    assert not state_file.exists()


def test_up_with_ray_runs_a_rayjob_for_real_and_down_stops_the_head(tmp_path: Path, pod_network: None) -> None:
    """`raybus up --ray`: a Ray head every head pod's IP reaches; an HTTPMode RayJob runs on it
    to Complete, and `raybus down` stops the head's processes too."""
    env = {**os.environ, "RAYBUS_STATE_DIR": str(tmp_path / "state")}
    up = subprocess.run([RAYBUS, "up", "--ray", "--no-sample"], env=env, capture_output=True, text=True, check=False,
                        timeout=400)
    state_file = tmp_path / "state" / "stack.json"
    try:
        assert up.returncode == 0, up.stderr[-3000:]
        state = json.loads(state_file.read_text())
        head = state["processes"]["ray-head"]
        assert "ray-head" in up.stdout
        api = Kube.connect(state["kubeconfig"])
        try:
            cluster = yaml.safe_load(SAMPLE.read_text())["spec"]
            container = cluster["headGroupSpec"]["template"]["spec"]["containers"][0]
            container["ports"] = [p if p["name"] != "dashboard" else {**p, "containerPort": head["dashboard_port"]}
                                  for p in container["ports"]]
            cluster["workerGroupSpecs"][0].update(replicas=1, minReplicas=1)
            api.create("/apis/ray.io/v1/namespaces/default/rayjobs", {
                "apiVersion": "ray.io/v1", "kind": "RayJob", "metadata": {"name": "local"},
                "spec": {"entrypoint": "python -c \"print('up --ray')\"", "submissionMode": "HTTPMode",
                         "rayClusterSpec": cluster}})
            path = "/apis/ray.io/v1/namespaces/default/rayjobs/local"
            wait_until(lambda: (api.get(path).get("status") or {}).get("jobDeploymentStatus") == "Complete",
                       timeout=180, what="the local RayJob Complete")
            job_id = api.get(path)["status"]["jobId"]
            assert httpx.get(f"{head['url']}/api/jobs/{job_id}", timeout=10).json()["status"] == "SUCCEEDED"
        finally:
            api.close()
    finally:
        pids = [int(p["pid"]) for p in json.loads(state_file.read_text())["processes"].values()] \
            if state_file.exists() else []
        down = subprocess.run([RAYBUS, "down"], env=env, capture_output=True, text=True, check=False, timeout=180)
    assert down.returncode == 0, down.stderr
    assert "ray-head" in down.stdout
    assert pids and not [p for p in pids if alive(p)], "processes left running after raybus down"
    gcs = subprocess.run(["pgrep", "-f", str(tmp_path / "state" / "ray")], capture_output=True, text=True, check=False)
    assert not gcs.stdout.strip(), f"Ray head processes left: {gcs.stdout}"
