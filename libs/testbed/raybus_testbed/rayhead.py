"""A real Ray head for tests: `ray start --head` from a venv with `ray[default,serve]` (PyPI),
whose dashboard's Job and Serve APIs are what the watcher's pollers and the actuator talk to.

    with RayHead(tmp_path) as head:
        head.url               # "http://127.0.0.1:8265", the dashboard
        head.dashboard_port    # 8265 unless another head holds it (then a free port)
        head.serve_port        # 8000 unless taken (then a free port): for a serve config's http_options
    # here every process of the head is gone

`ensure_ray()` finds the venv: `RAYBUS_RAY_VENV` (one made elsewhere), else the cache's
`~/.cache/raybus/ray-<RAYBUS_RAY_VERSION>/venv`, made by `scripts/ray-venv.sh` (`make ray`)
when missing; `NoRay` says why when there is none, so a test can skip in one line.

The head runs with 2 CPUs, no usage stats, every port of its own (the GCS, the agents, the
client server, metrics) except the dashboard's: 8265, the port KubeRay and a RayCluster's
head container use, so a kwok head pod's IP reaches it once `pod_network()` routes the pod
CIDR to this machine (the dashboard listens on 0.0.0.0). Its temp dir (Ray's logs) is under
`workdir` and kept; `ray start`'s own output is `workdir/ray-head.log`.

Ray Serve: the head imports Serve applications from `SERVE_APPS` (on its PYTHONPATH), e.g.
`raybus_hello:app`. Serve's proxy starts with the first serve config put to the dashboard and
listens where that config's `http_options` say (Ray's schema: 0.0.0.0, port 8000), for as long
as the head runs; Ray ignores other `http_options` later. `serve_port` is the port to name there:
8000, KubeRay's default port `serve`, unless something listens on it already (another head).

It is stopped by its process ids, never by `ray stop`, which kills every Ray process on the
machine (another test session's head too): SIGTERM to `ray start --block` (it stops what it
started, at once: draining is turned off), then SIGTERM and, 5 s later, SIGKILL to whatever is
left in its session or names its temp dir.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import shutil
import signal
import socket
import subprocess
import tempfile
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import Self

import httpx

from .procs import Proc, free_port
from .waiting import wait_until

REPO_ROOT = Path(__file__).resolve().parents[3]
VENV_SCRIPT = REPO_ROOT / "scripts" / "ray-venv.sh"
VERSION = "2.60.0"
EXTRAS = "default,serve"  # scripts/ray-venv.sh's; its ready marker reads "<version> <extras>"
SERVE_APPS = Path(__file__).resolve().parent / "serveapps"  # Serve applications the head can import
DASHBOARD_PORT = 8265  # KubeRay's default dashboard port
SERVE_PORT = 8000  # KubeRay's default serve port
ALL_ADDRESSES = "0.0.0.0"  # the shared head's dashboard host; any other host is a node IP
POD_CIDR = "10.244.0.0/16"  # kwok's --cidr (controlplane.py): the head pods' IPs
# Ray checks that its unix sockets' paths (temp dir + "/session_<date>_<pid>/sockets/plasma_store")
# fit in sun_path (107 bytes); a longer workdir gets a short symlink in /tmp instead.
MAX_TEMP_DIR = 40


class NoRay(RuntimeError):
    """No Ray venv and no way to make one, or a head that would not start."""


def ray_version() -> str:
    return os.environ.get("RAYBUS_RAY_VERSION") or VERSION


def ensure_ray(version: str | None = None) -> Path:
    """The venv with `ray[default,serve]==version` (default `RAYBUS_RAY_VERSION`, else VERSION):
    `RAYBUS_RAY_VENV` if set, else the cached one, made (or given Serve) by `scripts/ray-venv.sh`
    if missing."""
    version = version or ray_version()
    given = os.environ.get("RAYBUS_RAY_VENV")
    cached = Path(os.environ.get("RAYBUS_CACHE", Path.home() / ".cache" / "raybus")) / f"ray-{version}" / "venv"
    marker = cached / ".raybus-ready"
    if not given and marker.is_file() and marker.read_text().strip() == f"{version} {EXTRAS}" and \
            os.access(cached / "bin" / "ray", os.X_OK):
        return cached
    out = subprocess.run(["bash", str(VENV_SCRIPT)], env={**os.environ, "RAYBUS_RAY_VERSION": version},
                         check=False, capture_output=True, text=True)
    if out.returncode != 0:
        raise NoRay(f"scripts/ray-venv.sh failed ({out.returncode}): {out.stderr.strip()[-2000:]}")
    return Path(out.stdout.strip().splitlines()[-1])


def port_free(port: int, host: str = ALL_ADDRESSES) -> bool:
    """Whether `port` can be listened on at `host`: nothing listens on it there nor on 0.0.0.0
    (for 0.0.0.0: on no address at all)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
        return True


class RayHead:
    """One Ray head (GCS, raylet, dashboard, agents) as local processes, logging under `workdir`.

    `dashboard_port` None: 8265 when free at `start`, else a free port (read `dashboard_port`). `token`
    turns on Ray's token authentication (`RAY_AUTH_MODE=token`): every dashboard request then
    needs `x-ray-authorization: Bearer <token>`. `host` other than 0.0.0.0 (a pod's IP, see
    `rayheads`) is the node's IP and where the dashboard listens (`--node-ip-address`,
    `--dashboard-host`), and where `url` and `serve_url` point; `options` are more `ray start`
    flags and their values."""

    def __init__(self, workdir: Path, *, venv: Path | None = None, dashboard_port: int | None = None,
                 num_cpus: int = 2, token: str = "", host: str = ALL_ADDRESSES,
                 options: dict[str, str] | None = None) -> None:
        self.workdir, self.num_cpus, self.token = workdir, num_cpus, token
        self.host, self.options = host, options or {}
        self.venv = venv or ensure_ray()
        self.pick_port = dashboard_port is None
        self.dashboard_port, self.gcs_port = dashboard_port or DASHBOARD_PORT, free_port()
        self.serve_port = SERVE_PORT
        self.temp_dir = workdir / "ray"
        self._link: Path | None = None
        self.ports = {"--dashboard-agent-listen-port": free_port(), "--dashboard-agent-grpc-port": free_port(),
                      "--ray-client-server-port": free_port(), "--metrics-export-port": free_port(),
                      "--runtime-env-agent-port": free_port()}
        self.proc = Proc("ray-head", self._command(self.temp_dir), workdir / "ray-head.log", env={
            # Jobs' entrypoints run `python` and `ray` of the head's venv, not the caller's.
            "PATH": f"{self.venv / 'bin'}:{os.environ.get('PATH', '/usr/bin:/bin')}", "VIRTUAL_ENV": str(self.venv),
            "PYTHONPATH": str(SERVE_APPS), "RAY_USAGE_STATS_ENABLED": "0",
            "RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S": "0",  # no draining on SIGTERM: nothing to hand over in a test
            **({"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": token} if token else {}),
        })

    def _command(self, ray_dir: Path) -> list[str]:
        return [str(self.venv / "bin" / "ray"), "start", "--head", "--block", "--disable-usage-stats",
                *(("--node-ip-address", self.host) if self.host != ALL_ADDRESSES else ()),
                "--dashboard-host", self.host, "--dashboard-port", str(self.dashboard_port),
                "--port", str(self.gcs_port), "--num-cpus", str(self.num_cpus),
                "--temp-dir", str(ray_dir), *(x for flag, port in self.ports.items() for x in (flag, str(port))),
                *(x for flag, value in self.options.items() for x in (flag, value))]

    @property
    def address(self) -> str:
        """Where the head answers: loopback, or its `host`."""
        return "127.0.0.1" if self.host == ALL_ADDRESSES else self.host

    @property
    def url(self) -> str:
        """The dashboard (on loopback unless the head has a `host`)."""
        return f"http://{self.address}:{self.dashboard_port}"

    @property
    def serve_url(self) -> str:
        """Serve's proxy (on loopback unless the head has a `host`), once a serve config started it."""
        return f"http://{self.address}:{self.serve_port}"

    @property
    def headers(self) -> dict[str, str]:
        return {"x-ray-authorization": f"Bearer {self.token}"} if self.token else {}

    def start(self, timeout: float = 120.0) -> None:
        """Start the head; return once the GCS is healthy and the Job API answers, both from this
        head (not another one on the same port). `NoRay` (with where the logs are) if it does not."""
        if self.pick_port and not port_free(self.dashboard_port, self.host):
            self.dashboard_port = free_port()
        if not port_free(self.dashboard_port, self.host):
            raise NoRay(f"the dashboard port {self.host}:{self.dashboard_port} is taken (another Ray head?)")
        if not port_free(self.serve_port, self.host):
            self.serve_port = free_port()
        self.temp_dir.mkdir(parents=True, exist_ok=True)
        ray_dir = self.temp_dir
        if len(str(ray_dir)) > MAX_TEMP_DIR:
            self._link = Path(tempfile.mkdtemp(prefix="rb-ray-")) / "t"
            self._link.symlink_to(self.temp_dir)
            ray_dir = self._link
        self.proc.args = self._command(ray_dir)
        self.proc.start()
        try:
            for path, what in (("/api/version", "this head's dashboard"), ("/api/gcs_healthz", "its GCS"),
                               ("/api/jobs/", "its Job API")):
                wait_until(partial(self._answers, path), timeout=timeout, what=what, proc=self.proc)
        except (TimeoutError, RuntimeError) as e:
            self.stop()
            first = str(e).splitlines()[0]
            raise NoRay(f"the Ray head did not start: {first} (logs: {self.proc.log_path}, {self.temp_dir})") from e

    def _answers(self, path: str) -> bool:
        """`path` answers 200; for /api/version, with the session `ray start` (this head) opened."""
        answer = httpx.get(self.url + path, headers=self.headers, timeout=2)
        if path == "/api/version":
            return answer.status_code == 200 and str(answer.json().get("session_name")).endswith(f"_{self.proc.pid}")
        return answer.status_code == 200

    def running(self) -> bool:
        return self.proc.running()

    def stop(self) -> None:
        """SIGTERM to `ray start` (it stops the processes it started), then to what is left of the
        head (its agents outlive the raylet a while), SIGKILL to what is left after 5 s; idempotent."""
        session = self.proc.pid
        self.proc.stop(timeout=30)
        if session is not None:
            for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 10.0)):
                for pid in self.leftovers(session):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, sig)
                with contextlib.suppress(TimeoutError):
                    wait_until(lambda: not self.leftovers(session), timeout=wait, interval=0.1,
                               what="the Ray head's processes to exit")
                    break
            if left := self.leftovers(session):
                raise RuntimeError(f"Ray head processes {left} survived SIGKILL")
        if self._link is not None:
            self._link.unlink(missing_ok=True)
            shutil.rmtree(self._link.parent, ignore_errors=True)
            self._link = None

    def leftovers(self, session: int) -> list[int]:
        """Live processes of this head: in the session `ray start` opened, or naming its temp dir
        (a process Ray put in a session of its own)."""
        marks = [str(self.temp_dir).encode(), *([str(self._link).encode()] if self._link else [])]
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue  # gone meanwhile, or not ours to read
            state, _ppid, _pgrp, sid = stat.rsplit(")", 1)[1].split()[:4]
            if state != "Z" and (int(sid) == session or any(m in cmdline for m in marks)):
                found.append(int(entry.name))
        return found

    def log(self, lines: int = 30) -> str:
        return self.proc.tail(lines)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def pod_network(cidr: str = POD_CIDR) -> str | None:
    """Make every address of the pod CIDR this machine (`ip route add local <cidr> dev lo`), so a
    server listening on 0.0.0.0 answers at any kwok pod's IP. None when the route is there (or
    was added now); else one line saying why it cannot be."""
    probe = str(ipaddress.ip_network(cidr)[1])
    ip = shutil.which("ip")
    if ip is None:
        return f"no `ip` command (iproute2) to route {cidr} to this machine"

    def local() -> bool:
        out = subprocess.run([ip, "route", "get", probe], check=False, capture_output=True, text=True)
        return out.returncode == 0 and out.stdout.startswith("local ")

    if local():
        return None
    if os.geteuid() != 0:
        return f"not root: cannot `ip route add local {cidr} dev lo`"
    out = subprocess.run([ip, "route", "add", "local", cidr, "dev", "lo"], check=False, capture_output=True, text=True)
    if out.returncode != 0:
        return f"`ip route add local {cidr} dev lo` refused: {out.stderr.strip() or out.returncode}"
    return None if local() else f"`ip route add local {cidr} dev lo` succeeded, yet {probe} is not local"
