"""`raybus up` / `raybus down`: the whole stack as local processes, no Docker needed.

Starts the control plane (etcd, kube-apiserver, controller-manager, scheduler, kwok with fake
nodes), NATS with JetStream and every Raybus service, detached, and records what runs where in
`<state dir>/stack.json` so `raybus down` (from any shell) can stop it all.

The services run outside the cluster, so they reach Ray dashboards by the head pod's IP
(`RAYBUS_RAY_DASHBOARD_ACCESS=pod`). With `--ray`, a real Ray head (`ray[default]` from PyPI,
`make ray`) is started too, and the kwok pod network is routed to this machine (root), so every
head pod's dashboard is that head and RayJobs really run: put the printed dashboard port in the
head container's `dashboard` port if it is not 8265.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import yaml

from raybus_testbed.controlplane import REPO_ROOT, ControlPlane
from raybus_testbed.nats import NatsServer
from raybus_testbed.procs import Proc, free_port
from raybus_testbed.rayhead import NoRay, RayHead, pod_network
from raybus_testbed.waiting import wait_until

SERVICES = ("watcher", "actuator", "cluster-ctl", "job-ctl", "serve-ctl", "cron", "scheduler-bridge")
SAMPLE = REPO_ROOT / "deploy" / "samples" / "raycluster-sample.yaml"


def state_dir() -> Path:
    return Path(os.environ.get("RAYBUS_STATE_DIR", Path.cwd() / ".raybus"))


def service_binary(name: str) -> str:
    exe = Path(sys.executable).parent / f"raybus-{name}"
    found = str(exe) if exe.exists() else shutil.which(f"raybus-{name}")
    if not found:
        raise SystemExit(f"raybus-{name} is not installed: run `make dev`")
    return found


def up(sample: bool = True, ray: bool = False) -> dict[str, Any]:
    root = state_dir()
    if (root / "stack.json").exists():
        raise SystemExit(f"a stack is already recorded in {root}/stack.json: `raybus down` first")
    root.mkdir(parents=True, exist_ok=True)
    cp = ControlPlane(root / "kube")
    cp.start()
    nats = NatsServer(root / "nats")
    nats.start()
    procs: dict[str, dict[str, Any]] = {n: {"pid": p.pid, "log": str(p.log_path)} for n, p in cp.procs.items()}
    procs["nats-server"] = {"pid": nats.proc.pid, "log": str(nats.proc.log_path), "url": nats.url}
    if ray:
        procs["ray-head"] = _ray_head(root)
    for name in SERVICES:
        port = free_port()
        proc = Proc(name, [service_binary(name)], root / "logs" / f"{name}.log", env={
            "RAYBUS_NATS_URL": nats.url, "RAYBUS_HTTP_PORT": str(port), "KUBECONFIG": str(cp.kubeconfig),
            "RAYBUS_SERVICE_NAME": name, "RAYBUS_LOG_FORMAT": "json", "RAYBUS_RAY_DASHBOARD_ACCESS": "pod",
        })
        proc.start()
        procs[name] = {"pid": proc.pid, "log": str(proc.log_path), "http": f"http://127.0.0.1:{port}"}
        wait_until(partial(_answers, f"http://127.0.0.1:{port}/readyz"), timeout=60, what=f"{name} /readyz", proc=proc)
    if sample:
        obj = yaml.safe_load(SAMPLE.read_text())
        cp.api.apply(f"/apis/ray.io/v1/namespaces/default/rayclusters/{obj['metadata']['name']}", obj)
    state = {"kubeconfig": str(cp.kubeconfig), "nats_url": nats.url, "server": cp.server, "processes": procs,
             "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    (root / "stack.json").write_text(json.dumps(state, indent=2))
    cp.api.close()
    return state


def _ray_head(root: Path) -> dict[str, Any]:
    """A Ray head every head pod's IP reaches (the pod network routed here)."""
    reason = pod_network()
    if reason is not None:
        raise SystemExit(f"--ray needs the kwok pod network routed to this machine: {reason}")
    try:
        head = RayHead(root / "ray")
        head.start()
    except NoRay as e:
        raise SystemExit(f"--ray: no Ray head: {e}") from e
    assert head.proc.pid is not None
    return {"pid": head.proc.pid, "log": str(head.proc.log_path), "url": head.url,
            "dashboard_port": head.dashboard_port}


def _answers(url: str) -> bool:
    return httpx.get(url, timeout=1).status_code == 200


def down() -> list[str]:
    path = state_dir() / "stack.json"
    if not path.exists():
        return []
    state = json.loads(path.read_text())
    stopped = []
    # Services first, then NATS, then the control plane from the top down.
    order = [*SERVICES, "ray-head", "nats-server", "kwok", "kube-scheduler", "kube-controller-manager", "kube-apiserver", "etcd"]
    for name in order:
        info = state["processes"].get(name)
        if info and _terminate(int(info["pid"])):
            stopped.append(name)
        if info and name == "ray-head":  # what `ray start` left of the head, in its process group
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(int(info["pid"]), signal.SIGKILL)
    path.unlink()
    return stopped


def _terminate(pid: int, timeout: float = 10.0) -> bool:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    try:
        wait_until(partial(_gone, pid), timeout=timeout, what=f"process {pid} to exit")
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return True


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def describe(state: dict[str, Any]) -> str:
    lines = [f"kubeconfig   {state['kubeconfig']}", f"NATS         {state['nats_url']}",
             f"API server   {state['server']}", "", f"{'process':<26}{'pid':>8}  endpoint / log"]
    for name, info in state["processes"].items():
        where = info.get("http") or info.get("url") or ""
        lines.append(f"{name:<26}{info['pid']:>8}  {where}  {info['log']}")
    lines += ["", f"export KUBECONFIG={state['kubeconfig']}", "raybus down   # stops it all"]
    return "\n".join(lines)
