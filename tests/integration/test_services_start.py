"""Each of the seven services starts against a real NATS, turns ready, serves metrics, and exits 0 on SIGTERM."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import httpx
import pytest

from raybus_testbed.services import Services

pytestmark = pytest.mark.integration

SERVICES = ("watcher", "actuator", "cluster-ctl", "job-ctl", "serve-ctl", "cron", "scheduler-bridge")


@pytest.mark.parametrize("name", SERVICES)
def test_starts_serves_and_stops_cleanly(name: str, services: Services, tmp_path: Path) -> None:
    # Only the watcher and the actuator talk to Kubernetes; controllers must start without it.
    kube = {} if name in ("watcher", "actuator") else {"KUBECONFIG": str(tmp_path / "none")}
    proc = services.start(name, f"raybus-{name}", ready_timeout=30, **kube)  # returns once /readyz is 200
    assert httpx.get(services.url(name, "/healthz"), timeout=1).status_code == 200
    metrics = httpx.get(services.url(name, "/metrics"), timeout=2)
    assert metrics.status_code == 200
    assert metrics.headers["content-type"].startswith("text/plain")
    assert "# TYPE raybus_messages_total counter" in metrics.text
    assert "raybus_ready 1.0" in metrics.text

    assert proc.popen is not None
    proc.popen.send_signal(signal.SIGTERM)
    try:
        code = proc.popen.wait(timeout=15)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{name} did not exit within 15s of SIGTERM:\n{proc.tail()}")
    assert code == 0, proc.tail()
    log = proc.log_path.read_text()
    assert f'"msg": "{name} stopped"' in log, log
