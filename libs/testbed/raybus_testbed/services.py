"""Raybus services as real processes for tests and benchmarks: started with the test's NATS
and kubeconfig, each on its own HTTP port, and waited for until `/readyz` answers 200.

    svcs = Services(tmp_path, nats_url, kubeconfig)
    svcs.start("watcher", "raybus-watcher", RAYBUS_WATCH_EXTRA="configmap=raybus.io/demo=true")
    svcs.start("demo-1", "-m", "raybus_testbed.demo_controller")
    ...
    svcs.stop()
"""

from __future__ import annotations

import sys
from pathlib import Path

import httpx

from .procs import Proc, free_port
from .waiting import wait_until

BIN = Path(sys.executable).parent


class Services:
    def __init__(self, workdir: Path, nats_url: str, kubeconfig: Path | str, **env: str) -> None:
        self.workdir, self.nats_url, self.kubeconfig = workdir, nats_url, str(kubeconfig)
        self.env = env  # for every service started here
        self.procs: dict[str, Proc] = {}
        self.ports: dict[str, int] = {}

    def start(self, name: str, *command: str, ready_timeout: float = 60.0, **env: str) -> Proc:
        """Start `command` (a console script such as `raybus-actuator`, or `-m module` to run
        with this interpreter) as service `name`; return once it reports ready. A name started
        again (after a kill, say) appends to the same log."""
        if command and command[0] == "-m":
            args = [sys.executable, *command]
        else:
            exe = BIN / command[0]
            if not exe.exists():
                raise FileNotFoundError(f"{exe} is missing: run `bash scripts/dev-setup.sh`")
            args = [str(exe), *command[1:]]
        port = free_port()
        proc = Proc(name, args, self.workdir / f"{name}.log", env={
            "RAYBUS_NATS_URL": self.nats_url, "RAYBUS_HTTP_PORT": str(port), "RAYBUS_HTTP_HOST": "127.0.0.1",
            "KUBECONFIG": self.kubeconfig, "RAYBUS_SERVICE_NAME": name, "RAYBUS_LOG_FORMAT": "json",
            "RAYBUS_SHUTDOWN_GRACE": "5", **self.env, **env})
        proc.start()
        self.procs[name], self.ports[name] = proc, port
        wait_until(lambda: httpx.get(self.url(name, "/readyz"), timeout=1).status_code == 200,
                   timeout=ready_timeout, what=f"{name} ready", proc=proc)
        return proc

    def url(self, name: str, path: str = "") -> str:
        return f"http://127.0.0.1:{self.ports[name]}{path}"

    def metric(self, name: str, metric: str) -> float:
        """Sum of every sample of `metric` (all label sets) that service `name` exports."""
        total = 0.0
        for line in httpx.get(self.url(name, "/metrics"), timeout=5).text.splitlines():
            if line.startswith(metric) and line[len(metric):len(metric) + 1] in ("{", " "):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def stop(self) -> None:
        for proc in self.procs.values():
            proc.stop()
