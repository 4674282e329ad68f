"""`raybus up` starts the whole local stack and `raybus down` stops it (the README's command)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from raybus_testbed.kube import Kube

pytestmark = pytest.mark.integration
RAYBUS = str(Path(sys.executable).parent / "raybus")
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
