"""Runs RayJob submitter pods for real, on this machine, and writes their status as a kubelet.

kwok plays every node's kubelet but never runs a container, so a RayJob in K8sJobMode (whose
submitter is a batch/v1 Job running `ray job submit …`) could never submit anything. The stages
in `kwok-stages.yaml` make such a pod (labelled `ray.io/originated-from-crd=RayJob` and owned
by a Job) Running like any other, with a pod IP, and then leave it alone; this runner takes it
from there:

    runner = PodRunner(kubeconfig, ray_venv, "127.0.0.1:8265", log_dir=tmp)
    runner.start()   # returns once it has listed the pods and is watching
    ...
    runner.stop()    # kills what still runs

For each such pod, once kwok has made it Running and no runner has started it yet:

- container[0]'s `command` + `args` run as a local process (a session of its own, so the whole
  group can be killed), with the container's `env` (`value`, and `valueFrom.secretKeyRef` read
  from the pod's namespace), `HOSTNAME` the pod's name, in a clean environment (none of this
  process's variables but `HOME` and `LANG`) whose `PATH` is led by the Ray venv's `bin`, so
  `ray` and `python` are Ray's;
- **the one test-only step**: the dashboard address the pod names (the value of
  `RAY_DASHBOARD_ADDRESS`, a cluster DNS name such as `x-head-svc.ns.svc.cluster.local:8265`,
  which does not resolve here) is replaced by `dashboard`, in that variable and wherever the
  command strings say `http://<address>` (as KubeRay's submitter command does);
- the status is written through the pod's status subresource as the kubelet would: Running
  with container[0] `running` (its `containerID` is `podrunner://<pid>`, which is how a runner
  knows a pod is taken) while the process runs; then phase Succeeded or Failed with
  `terminated` (exitCode, reason Completed or Error, startedAt, finishedAt, and the last lines
  of output as `message`). kube-controller-manager's Job controller then marks the Job
  Complete or Failed, or makes a new pod (which runs again) while `backoffLimit` allows;
- a pod deleted while its process runs: the process group is killed, nothing is written;
- a process that outlives `timeout` (600 s) is killed; its pod fails (reason DeadlineExceeded);
- the whole output goes to `<log_dir>/<namespace>/<pod>.log`, after a header naming the
  command as run and the substitution made.

What it does not do: other containers, init containers, `envFrom`, `valueFrom` other than a
Secret's key, volumes, probes, resources, restarts in place (`restartPolicy` is taken to be
`Never`, as KubeRay sets it). A container it cannot start (no command, an unreadable Secret, an
executable not found) fails its pod at once with a `terminated` reason saying why
(CreateContainerConfigError, StartError), where a kubelet would keep it waiting. Pods whose
process `stop()` killed stay Running, and a later runner leaves them alone.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import os
import signal
import tempfile
import threading
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Self

from raybus_common.kube.client import MERGE, ApiError, KubeClient

log = logging.getLogger(__name__)

Obj = dict[str, Any]
LABEL = "ray.io/originated-from-crd=RayJob"
CONTAINER_ID = "podrunner://"
DASHBOARD_ENV = "RAY_DASHBOARD_ADDRESS"


class ContainerError(Exception):
    """The container cannot be started; `reason` is the kubelet's word for why."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass
class Run:
    """One pod's process, as run: for tests to count and for debugging."""

    namespace: str
    name: str
    uid: str
    log_path: Path
    argv: list[str] = field(default_factory=list)
    pid: int | None = None
    exit_code: int | None = None
    reason: str = ""  # Completed, Error, DeadlineExceeded, Deleted, Stopped, CreateContainerConfigError, StartError
    output: str = ""  # the last lines


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def owned_by_job(pod: Obj) -> bool:
    return any(ref.get("kind") == "Job" for ref in pod["metadata"].get("ownerReferences") or [])


def host_of(address: str) -> str:
    """`host:port` of a dashboard address given with or without `http://`."""
    return address.removeprefix("http://").rstrip("/")


def process_spec(pod: Obj, env_values: dict[str, str], *, ray_bin: Path, dashboard: str,
                 base_env: dict[str, str]) -> tuple[list[str], dict[str, str], str]:
    """The argv and environment container[0] runs with, and the substitution made (for the log).

    `env_values` is the container's env resolved (Secrets read); the dashboard address it names
    is replaced by `dashboard`, there and as `http://<address>` in the command strings."""
    container = pod["spec"]["containers"][0]
    argv = [*(container.get("command") or []), *(container.get("args") or [])]
    if not container.get("command"):
        raise ContainerError("CreateContainerConfigError",
                             "container[0] has no command (the pod runner cannot know an image's entrypoint)")
    env = {**base_env, "HOSTNAME": pod["metadata"]["name"], **env_values}
    env["PATH"] = f"{ray_bin}{os.pathsep}{env.get('PATH') or base_env.get('PATH', '')}"
    named = env_values.get(DASHBOARD_ENV, "")
    if not named:
        return argv, env, "none (no RAY_DASHBOARD_ADDRESS)"
    ours = host_of(dashboard)
    env[DASHBOARD_ENV] = ("http://" + ours) if named.startswith("http://") else ours
    argv = [a.replace(f"http://{host_of(named)}", f"http://{ours}") for a in argv]
    return argv, env, f"{host_of(named)} -> {ours}"


class PodRunner:
    def __init__(self, kubeconfig: Path | str, ray_venv: Path | str, dashboard: str, *,
                 log_dir: Path | None = None, timeout: float = 600.0, tail_lines: int = 20) -> None:
        self.kubeconfig = str(kubeconfig)
        self.ray_bin = Path(ray_venv) / "bin"
        if not (self.ray_bin / "ray").exists():
            raise FileNotFoundError(f"no `ray` in {self.ray_bin}")
        self.dashboard = host_of(dashboard)
        self.log_dir = log_dir or Path(tempfile.mkdtemp(prefix="raybus-podrunner-"))
        self.timeout, self.tail_lines = timeout, tail_lines
        self.runs: list[Run] = []
        # What a container's image would give it: a system PATH, a home, a locale.
        self._base_env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": os.environ.get("HOME", "/tmp"),
                          "LANG": os.environ.get("LANG", "C.UTF-8")}
        self._client: KubeClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._watch_task: asyncio.Task[None] | None = None
        self._listed: asyncio.Event | None = None
        self._started: set[str] = set()  # pod uids taken
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._procs: dict[str, asyncio.subprocess.Process] = {}
        self._deleted: set[str] = set()

    # -- lifecycle (any thread) --------------------------------------------------------
    def start(self, timeout: float = 60.0) -> None:
        """Start watching on an event loop of its own thread; return once the first list is done."""
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="raybus-podrunner", daemon=True)
        self._thread.start()
        try:
            asyncio.run_coroutine_threadsafe(self._open(), self._loop).result(timeout)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Kill every process still running, stop watching; idempotent."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            asyncio.run_coroutine_threadsafe(self._close(), loop).result(30)
            asyncio.run_coroutine_threadsafe(loop.shutdown_asyncgens(), loop).result(10)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            if self._thread is not None:
                self._thread.join(10)
            loop.close()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def runs_in(self, namespace: str) -> list[Run]:
        return [r for r in list(self.runs) if r.namespace == namespace]

    # -- on the runner's loop ------------------------------------------------------------
    async def _open(self) -> None:
        self._listed = asyncio.Event()
        self._client = await KubeClient.connect(kubeconfig=self.kubeconfig, qps=100, burst=200)
        self._watch_task = asyncio.create_task(self._watch(self._listed), name="podrunner-watch")
        listed = asyncio.create_task(self._listed.wait())
        await asyncio.wait({listed, self._watch_task}, return_when=asyncio.FIRST_COMPLETED)
        if not listed.done():
            listed.cancel()
            self._watch_task.result()  # raises what ended it

    async def _close(self) -> None:
        tasks = [t for t in (self._watch_task, *self._tasks.values()) if t is not None and not t.done()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._client is not None:
            await self._client.close()
            self._client = None
        # A closed TLS connection is torn down over the next turns of the loop (aiohttp's
        # advice: a short sleep), which must happen before the loop stops, or it leaks.
        await asyncio.sleep(0.25)

    async def _watch(self, listed: asyncio.Event) -> None:
        """List, then watch from there; list again after a 410 or a broken stream."""
        assert self._client is not None
        rv = ""
        while True:
            try:
                if not rv:
                    listing = await self._client.request("GET", "/api/v1/pods", params={"labelSelector": LABEL})
                    rv = listing["metadata"]["resourceVersion"]
                    present = {p["metadata"]["uid"] for p in listing["items"]}
                    for uid in [u for u in self._procs if u not in present]:
                        self._gone(uid)
                    for pod in listing["items"]:
                        self._consider("ADDED", pod)
                    listed.set()
                params = {"labelSelector": LABEL, "watch": "true", "resourceVersion": rv,
                          "allowWatchBookmarks": "true", "timeoutSeconds": "60"}
                async for event in self._client.stream("/api/v1/pods", params, read_timeout=90):
                    obj = event["object"]
                    if event["type"] == "ERROR":
                        rv = "" if obj.get("code") == 410 else rv
                        break
                    rv = obj["metadata"]["resourceVersion"]
                    if event["type"] != "BOOKMARK":
                        self._consider(event["type"], obj)
            except ApiError as e:
                if not listed.is_set() and e.status in (401, 403):
                    raise
                log.warning("pod runner: watch failed (%s); listing again", e)
                rv = "" if e.status == 410 else rv
                await asyncio.sleep(1)

    def _consider(self, kind: str, pod: Obj) -> None:
        meta = pod["metadata"]
        uid = meta["uid"]
        if kind == "DELETED" or meta.get("deletionTimestamp"):
            self._gone(uid)
            return
        status = pod.get("status") or {}
        if uid in self._started or not owned_by_job(pod) or status.get("phase") != "Running":
            return
        if any(str(c.get("containerID", "")).startswith(CONTAINER_ID) for c in status.get("containerStatuses") or []):
            return  # another runner (an earlier one) took it
        self._started.add(uid)
        self._tasks[uid] = asyncio.create_task(self._run(pod), name=f"podrunner-{meta['namespace']}/{meta['name']}")

    def _gone(self, uid: str) -> None:
        """The pod is deleted: kill its process, and write nothing more."""
        self._deleted.add(uid)
        proc = self._procs.get(uid)
        if proc is not None:
            _kill_group(proc)

    async def _run(self, pod: Obj) -> None:
        meta = pod["metadata"]
        ns, name, uid = meta["namespace"], meta["name"], meta["uid"]
        run = Run(ns, name, uid, self.log_dir / ns / f"{name}.log")
        self.runs.append(run)
        run.log_path.parent.mkdir(parents=True, exist_ok=True)
        started = _now()
        try:
            env_values = await self._env(pod)
            run.argv, env, substituted = process_spec(pod, env_values, ray_bin=self.ray_bin,
                                                      dashboard=self.dashboard, base_env=self._base_env)
            workdir = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=run.log_path.parent))
            with open(run.log_path, "ab") as out:  # noqa: ASYNC230 - a local file, small writes
                out.write(f"# pod {ns}/{name} uid {uid}\n# dashboard {substituted}\n# argv {run.argv!r}\n".encode())
                out.flush()
                try:
                    proc = await asyncio.create_subprocess_exec(
                        *run.argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
                        stderr=asyncio.subprocess.STDOUT, env=env, cwd=workdir, start_new_session=True)
                except OSError as e:
                    raise ContainerError("StartError", f"{type(e).__name__}: {e}") from e
                self._procs[uid], run.pid = proc, proc.pid
                await self._write(pod, self._running(pod, proc.pid, started))
                await self._follow(run, proc, out)
        except ContainerError as e:
            run.exit_code, run.reason, run.output = 128, e.reason, str(e)
        except asyncio.CancelledError:
            if uid in self._procs:
                _kill_group(self._procs[uid])
            run.reason = "Stopped"
            raise
        finally:
            self._procs.pop(uid, None)
            self._tasks.pop(uid, None)
        if uid in self._deleted:
            run.reason = "Deleted"
            return
        await self._write(pod, self._terminated(pod, run, started))

    async def _follow(self, run: Run, proc: asyncio.subprocess.Process, out: IO[bytes]) -> None:
        """Copy the output to the log while the process runs; its outcome into `run`."""
        tail: deque[bytes] = deque(maxlen=64)  # the last chunks read, enough for the last lines

        async def pump() -> None:
            assert proc.stdout is not None
            while chunk := await proc.stdout.read(65536):
                out.write(chunk)
                out.flush()
                tail.append(chunk)

        pumping = asyncio.create_task(pump())
        deadline = False
        try:
            await asyncio.wait_for(proc.wait(), self.timeout)
        except TimeoutError:
            deadline = True
        # As a container's end ends every process in it: nothing it left behind lives on.
        _kill_group(proc)
        await proc.wait()
        try:
            await asyncio.wait_for(pumping, 10)
        except TimeoutError:
            pass
        code = proc.returncode
        assert code is not None
        run.exit_code = code if code >= 0 else 128 - code  # killed by signal N: 128+N, as a runtime says
        lines = b"".join(tail).decode(errors="replace").rstrip("\n").splitlines()
        run.output = "\n".join(lines[-self.tail_lines:])[-4096:]  # a kubelet keeps at most 4096 bytes
        if deadline:
            run.reason = "DeadlineExceeded"
            run.output = f"killed by the pod runner after {self.timeout:g} s\n{run.output}"
        else:
            run.reason = "Completed" if run.exit_code == 0 else "Error"

    async def _env(self, pod: Obj) -> dict[str, str]:
        """container[0]'s env, Secret references read."""
        assert self._client is not None
        values: dict[str, str] = {}
        for var in pod["spec"]["containers"][0].get("env") or []:
            if "valueFrom" not in var:
                values[var["name"]] = str(var.get("value", ""))
                continue
            ref = var["valueFrom"].get("secretKeyRef")
            if ref is None:
                raise ContainerError("CreateContainerConfigError",
                                     f"env {var['name']}: only value and valueFrom.secretKeyRef are supported")
            path = f"/api/v1/namespaces/{pod['metadata']['namespace']}/secrets/{ref['name']}"
            try:
                data = (await self._client.request("GET", path)).get("data") or {}
            except ApiError as e:
                if e.status == 404 and ref.get("optional"):
                    continue
                raise ContainerError("CreateContainerConfigError", f"secret {ref['name']!r}: {e}") from e
            if ref["key"] not in data:
                if ref.get("optional"):
                    continue
                raise ContainerError("CreateContainerConfigError",
                                     f"couldn't find key {ref['key']} in Secret {ref['name']}")
            values[var["name"]] = base64.b64decode(data[ref["key"]]).decode()
        return values

    # -- the status a kubelet would write ------------------------------------------------
    @staticmethod
    def _container(pod: Obj, pid: int | None, state: Obj, *, ready: bool) -> Obj:
        c = pod["spec"]["containers"][0]
        status: Obj = {"name": c["name"], "image": c.get("image", ""), "imageID": "", "ready": ready,
                       "started": ready, "restartCount": 0, "state": state}
        if pid is not None:  # a container that never started has no id
            status["containerID"] = f"{CONTAINER_ID}{pid}"
        return status

    def _running(self, pod: Obj, pid: int, started: str) -> Obj:
        return {"phase": "Running",
                "containerStatuses": [self._container(pod, pid, {"running": {"startedAt": started}}, ready=True)]}

    def _terminated(self, pod: Obj, run: Run, started: str) -> Obj:
        now = _now()
        ok = run.exit_code == 0
        why = "PodCompleted" if ok else "PodFailed"
        terminated: Obj = {"exitCode": run.exit_code, "reason": run.reason if run.reason != "DeadlineExceeded"
                           else "Error", "startedAt": started, "finishedAt": now}
        if run.output:
            terminated["message"] = run.output
        status: Obj = {
            "phase": "Succeeded" if ok else "Failed",
            "conditions": [
                {"type": "PodScheduled", "status": "True", "lastTransitionTime": started},
                {"type": "Initialized", "status": "True", "lastTransitionTime": started},
                {"type": "ContainersReady", "status": "False", "reason": why, "lastTransitionTime": now},
                {"type": "Ready", "status": "False", "reason": why, "lastTransitionTime": now},
            ],
            "containerStatuses": [self._container(pod, run.pid, {"terminated": terminated}, ready=False)],
        }
        if run.reason == "DeadlineExceeded":
            status["reason"] = "DeadlineExceeded"
            status["message"] = f"the pod runner killed the process after {self.timeout:g} s"
        return status

    async def _write(self, pod: Obj, status: Obj) -> None:
        assert self._client is not None
        meta = pod["metadata"]
        if meta["uid"] in self._deleted:
            return
        path = f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}/status"
        # The uid as a precondition: a pod of the same name made since is not this one.
        patch = {"metadata": {"uid": meta["uid"]}, "status": status}
        for attempt in range(5):
            try:
                await self._client.request("PATCH", path, body=patch, content_type=MERGE)
                return
            except ApiError as e:
                if e.status in (404, 409, 422) or attempt == 4:
                    log.warning("pod runner: status of %s/%s not written: %s", meta["namespace"], meta["name"], e)
                    return
                await asyncio.sleep(0.5 * (attempt + 1))


def _kill_group(proc: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
