"""Each of the seven services starts against a real NATS, turns ready, serves metrics, and exits 0 on SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from raybus_testbed.procs import Proc, free_port, wait_until

pytestmark = pytest.mark.integration

SERVICES = ("watcher", "actuator", "cluster-ctl", "job-ctl", "serve-ctl", "cron", "scheduler-bridge")
BIN = Path(sys.executable).parent


def _status(url: str) -> int:
    return httpx.get(url, timeout=1).status_code


@pytest.fixture(params=SERVICES)
def service(request: pytest.FixtureRequest, nats_url: str, kubeconfig: Path, tmp_path: Path) -> Iterator[tuple[Proc, str]]:
    name = request.param
    exe = BIN / f"raybus-{name}"
    if not exe.exists():
        pytest.fail(f"{exe} is missing: run `bash scripts/dev-setup.sh`")
    port = free_port()
    proc = Proc(name, [str(exe)], tmp_path / f"{name}.log", env={
        "RAYBUS_NATS_URL": nats_url, "RAYBUS_HTTP_PORT": str(port), "RAYBUS_HTTP_HOST": "127.0.0.1",
        "RAYBUS_LOG_FORMAT": "json", "RAYBUS_SHUTDOWN_GRACE": "5",
        # Only the watcher and the actuator talk to Kubernetes; controllers must start without it.
        "KUBECONFIG": str(kubeconfig) if request.param in ("watcher", "actuator") else str(tmp_path / "none"),
    })
    proc.start()
    try:
        yield proc, f"http://127.0.0.1:{port}"
    finally:
        proc.kill()  # no-op when the test already stopped it


def test_starts_serves_and_stops_cleanly(service: tuple[Proc, str]) -> None:
    proc, base = service
    wait_until(lambda: _status(f"{base}/readyz") == 200, timeout=30, what=f"{proc.name} /readyz", proc=proc)
    assert _status(f"{base}/healthz") == 200
    metrics = httpx.get(f"{base}/metrics", timeout=2)
    assert metrics.status_code == 200
    assert metrics.headers["content-type"].startswith("text/plain")
    assert "# TYPE raybus_messages_total counter" in metrics.text
    assert "raybus_ready 1.0" in metrics.text

    assert proc.popen is not None
    proc.popen.send_signal(signal.SIGTERM)
    try:
        code = proc.popen.wait(timeout=15)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{proc.name} did not exit within 15s of SIGTERM:\n{proc.tail()}")
    assert code == 0, proc.tail()
    log = proc.log_path.read_text()
    assert f'"msg": "{proc.name} stopped"' in log, log
