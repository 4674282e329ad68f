"""Runs RayJob submitters for real, on this machine, and writes their status as a kubelet.

kwok plays every node's kubelet but never runs a container, so a RayJob whose submitter is a
container (K8sJobMode: a batch/v1 Job running `ray job submit …`; SidecarMode: the
`ray-job-submitter` container job-ctl, or KubeRay, adds to the head pod) could never submit
anything. The stages in `kwok-stages.yaml` make such a pod Running like any other, with a pod
IP and every container `running` (and complete no pod of a RayJob's Job); this runner takes it
from there:

    runner = PodRunner(kubeconfig, ray_venv, "127.0.0.1:8265", log_dir=tmp)
    runner.start()   # returns once it has listed the pods and is watching
    ...
    runner.stop()    # kills what still runs

It watches two sets of pods and runs, once kwok has made the pod Running and no runner has
taken it yet:

- **a submitter pod** (labelled `ray.io/originated-from-crd=RayJob`, owned by a Job): its
  container[0], for the whole pod;
- **a SidecarMode head pod** (labelled `ray.io/node-type=head`, owned by no Job, with a
  container named `ray-job-submitter`): that container alone, once its status is `running`;
  the Ray head container and the rest are kwok's, which `ray_head` stands in for. By the head
  label, not the RayJob's: job-ctl's head pods carry both, KubeRay's only the former, and the
  conformance tests run both operators' sidecars alike.

How a container is run, either way:

- its `command` + `args` run as a local process (a session of its own, so the whole group can
  be killed), with the container's `env` (`value`, and `valueFrom.secretKeyRef` read from the
  pod's namespace), `HOSTNAME` the pod's name, in a clean environment (none of this process's
  variables but `HOME` and `LANG`) whose `PATH` is led by the Ray venv's `bin`, so `ray` and
  `python` are Ray's;
- **the one test-only step**: the dashboard address the container names is replaced by
  `dashboard`. That is the value of `RAY_DASHBOARD_ADDRESS` (a cluster DNS name such as
  `x-head-svc.ns.svc.cluster.local:8265`, which does not resolve here), in that variable and
  wherever the command strings say `http://<address>` (as KubeRay's submitter command does);
  and, for a sidecar, the head's own dashboard on the pod's loopback, `http://127.0.0.1:<port>`
  and `http://localhost:<port>` in the command strings (`<port>`: the head container's port
  named `dashboard`, else 8265), which here would be this machine's, not the pod's;
- the whole output goes to `<log_dir>/<namespace>/<pod>.log`, after a header naming the
  container, the command as run and the substitutions made;
- a process that outlives `timeout` (600 s) is killed (exit code 137);
- the pod deleted while its process runs: the process group is killed, nothing is written.

What is written, through the pod's status subresource, as the kubelet would:

- a submitter pod: Running with container[0] `running` (its `containerID` is
  `podrunner://<pid>`, which is how a runner knows a pod is taken) while the process runs;
  then phase Succeeded or Failed with `terminated` (exitCode, reason Completed or Error,
  startedAt, finishedAt, and the last lines of output as `message`); a timeout fails the pod
  with reason DeadlineExceeded. kube-controller-manager's Job controller then marks the Job
  Complete or Failed, or makes a new pod (which runs again) while `backoffLimit` allows;
- a sidecar: only that container's entry of `containerStatuses`, in the same way (`running`
  with its `podrunner://<pid>`, then `terminated`), each write read-modify-written against the
  pod's resourceVersion; the other containers' entries, the phase and the conditions stay as
  kwok wrote them (a kubelet would also turn `Ready` False once the container ended; nothing
  here reads that). kwok's stages never write a Running pod owned by no Job again, so what is
  written stays.

What it does not do: other containers, init containers, `envFrom`, `valueFrom` other than a
Secret's key, volumes, probes, resources, restarts in place (`restartPolicy` is taken to be
`Never`, as KubeRay sets it; a sidecar under the `SidecarSubmitterRestart` gate, whose
container says `OnFailure`, runs once all the same). A container it cannot start (no command,
an unreadable Secret, an executable not found) is terminated at once with a reason saying why
(CreateContainerConfigError, StartError), where a kubelet would keep it waiting. Containers
whose process `stop()` killed stay running, and a later runner leaves them alone.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import os
import signal
import tempfile
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Self

from raybus_common.kube.client import MERGE, ApiError, KubeClient
from raybus_common.ray.jobs import head_dashboard_port

from .loopthread import LoopThread

log = logging.getLogger(__name__)

Obj = dict[str, Any]
LABEL = "ray.io/originated-from-crd=RayJob"  # submitter pods (those owned by a Job)
HEAD_LABEL = "ray.io/node-type=head"  # head pods, for a SidecarMode submitter container
CONTAINER_ID = "podrunner://"
DASHBOARD_ENV = "RAY_DASHBOARD_ADDRESS"
SIDECAR = "ray-job-submitter"  # the container job-ctl (as KubeRay) adds to a SidecarMode head pod


class ContainerError(Exception):
    """The container cannot be started; `reason` is the kubelet's word for why."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass
class Run:
    """One container's process, as run: for tests to count and for debugging."""

    namespace: str
    name: str
    uid: str
    log_path: Path
    container: str = ""  # its name
    sidecar: bool = False  # a head pod's submitter container, not a submitter pod
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


def container_index(pod: Obj) -> int | None:
    """Which container of a labelled pod the runner runs: a submitter pod's first, a head pod's
    `ray-job-submitter`; None for any other pod."""
    if owned_by_job(pod):
        return 0
    names = [c.get("name") for c in pod["spec"].get("containers") or []]
    return names.index(SIDECAR) if SIDECAR in names else None




def process_spec(pod: Obj, env_values: dict[str, str], *, ray_bin: Path, dashboard: str,
                 base_env: dict[str, str], index: int = 0) -> tuple[list[str], dict[str, str], str]:
    """The argv and environment container `index` runs with, and the substitutions made (for
    the log).

    `env_values` is the container's env resolved (Secrets read); the dashboard address it names
    is replaced by `dashboard`, there and as `http://<address>` in the command strings; a
    sidecar's (`index` > 0, or not owned by a Job) `http://127.0.0.1:<port>` and
    `http://localhost:<port>` of the head's dashboard port too."""
    container = pod["spec"]["containers"][index]
    argv = [*(container.get("command") or []), *(container.get("args") or [])]
    if not container.get("command"):
        raise ContainerError("CreateContainerConfigError",
                             f"container {container.get('name')!r} has no command (the pod runner cannot know an "
                             "image's entrypoint)")
    env = {**base_env, "HOSTNAME": pod["metadata"]["name"], **env_values}
    env["PATH"] = f"{ray_bin}{os.pathsep}{env.get('PATH') or base_env.get('PATH', '')}"
    ours = host_of(dashboard)
    swaps: dict[str, str] = {}
    named = env_values.get(DASHBOARD_ENV, "")
    if named:
        env[DASHBOARD_ENV] = ("http://" + ours) if named.startswith("http://") else ours
        swaps[host_of(named)] = ours
    if index > 0 or not owned_by_job(pod):
        port = head_dashboard_port(pod["spec"])
        swaps.update({f"127.0.0.1:{port}": ours, f"localhost:{port}": ours})
    for theirs, replacement in swaps.items():
        argv = [a.replace(f"http://{theirs}", f"http://{replacement}") for a in argv]
    said = ", ".join(f"{theirs} -> {replacement}" for theirs, replacement in swaps.items())
    return argv, env, said or "none (no RAY_DASHBOARD_ADDRESS)"


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
        self._loop: LoopThread | None = None
        self._watch_tasks: list[asyncio.Task[None]] = []
        self._origin: dict[str, str] = {}  # pod uid taken -> the selector of the watch that took it
        self._started: set[str] = set()  # pod uids taken
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._procs: dict[str, asyncio.subprocess.Process] = {}
        self._deleted: set[str] = set()

    # -- lifecycle (any thread) --------------------------------------------------------
    def start(self, timeout: float = 60.0) -> None:
        """Start watching on an event loop of its own thread; return once the first list is done."""
        self._loop = LoopThread("raybus-podrunner")
        try:
            self._loop.run(self._open(), timeout)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Kill every process still running, stop watching; idempotent."""
        loop = self._loop
        if loop is None or loop.closed:
            return
        try:
            loop.run(self._close(), 30)
        finally:
            loop.stop()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def runs_in(self, namespace: str) -> list[Run]:
        return [r for r in list(self.runs) if r.namespace == namespace]

    # -- on the runner's loop ------------------------------------------------------------
    async def _open(self) -> None:
        self._client = await KubeClient.connect(kubeconfig=self.kubeconfig, qps=100, burst=200)
        listed = {selector: asyncio.Event() for selector in (LABEL, HEAD_LABEL)}
        self._watch_tasks = [asyncio.create_task(self._watch(selector, event), name=f"podrunner-watch {selector}")
                             for selector, event in listed.items()]
        waiters = [asyncio.create_task(e.wait()) for e in listed.values()]
        pending: set[asyncio.Task[Any]] = {*waiters, *self._watch_tasks}
        try:
            while not all(w.done() for w in waiters):
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for task in done & set(self._watch_tasks):
                    task.result()  # a watch ends only by failing: raises what ended it
        finally:
            for waiter in waiters:
                waiter.cancel()

    async def _close(self) -> None:
        tasks = [t for t in (*self._watch_tasks, *self._tasks.values()) if not t.done()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._client is not None:
            await self._client.close()
            self._client = None

    async def _watch(self, selector: str, listed: asyncio.Event) -> None:
        """List the pods `selector` picks, then watch from there; list again after a 410 or a
        broken stream (a process of a pod gone meanwhile is killed)."""
        assert self._client is not None
        rv = ""
        while True:
            try:
                if not rv:
                    listing = await self._client.request("GET", "/api/v1/pods", params={"labelSelector": selector})
                    rv = listing["metadata"]["resourceVersion"]
                    present = {p["metadata"]["uid"] for p in listing["items"]}
                    for uid in [u for u in self._procs if self._origin.get(u) == selector and u not in present]:
                        self._gone(uid)
                    for pod in listing["items"]:
                        self._consider("ADDED", pod, selector)
                    listed.set()
                params = {"labelSelector": selector, "watch": "true", "resourceVersion": rv,
                          "allowWatchBookmarks": "true", "timeoutSeconds": "60"}
                async for event in self._client.stream("/api/v1/pods", params, read_timeout=90):
                    obj = event["object"]
                    if event["type"] == "ERROR":
                        rv = "" if obj.get("code") == 410 else rv
                        break
                    rv = obj["metadata"]["resourceVersion"]
                    if event["type"] != "BOOKMARK":
                        self._consider(event["type"], obj, selector)
            except ApiError as e:
                if not listed.is_set() and e.status in (401, 403):
                    raise
                log.warning("pod runner: watch of %s failed (%s); listing again", selector, e)
                rv = "" if e.status == 410 else rv
                await asyncio.sleep(1)

    def _consider(self, kind: str, pod: Obj, selector: str) -> None:
        """Start what the pod runs, if it is time: the submitter pods the RayJob label's watch
        sees, the sidecars the head label's watch sees (a Raybus head pod, which has both
        labels, is one of the latter)."""
        meta = pod["metadata"]
        uid = meta["uid"]
        if kind == "DELETED" or meta.get("deletionTimestamp"):
            self._gone(uid)
            return
        status = pod.get("status") or {}
        index = container_index(pod)
        if uid in self._started or index is None or owned_by_job(pod) != (selector == LABEL):
            return
        if status.get("phase") != "Running":
            return
        statuses = status.get("containerStatuses") or []
        if any(str(c.get("containerID", "")).startswith(CONTAINER_ID) for c in statuses):
            return  # another runner (an earlier one) took it
        if index > 0 or not owned_by_job(pod):
            mine = next((c for c in statuses if c.get("name") == SIDECAR), None)
            if mine is None or "running" not in (mine.get("state") or {}):
                return  # kwok has not started it (yet), or it has ended: nothing to run
        self._started.add(uid)
        self._origin[uid] = selector
        self._tasks[uid] = asyncio.create_task(self._run(pod, index),
                                               name=f"podrunner-{meta['namespace']}/{meta['name']}")

    def _gone(self, uid: str) -> None:
        """The pod is deleted: kill its process, and write nothing more."""
        self._deleted.add(uid)
        proc = self._procs.get(uid)
        if proc is not None:
            _kill_group(proc)

    async def _run(self, pod: Obj, index: int) -> None:
        meta = pod["metadata"]
        ns, name, uid = meta["namespace"], meta["name"], meta["uid"]
        container = pod["spec"]["containers"][index]
        run = Run(ns, name, uid, self.log_dir / ns / f"{name}.log", container=str(container.get("name", "")),
                  sidecar=index > 0 or not owned_by_job(pod))
        self.runs.append(run)
        run.log_path.parent.mkdir(parents=True, exist_ok=True)
        started = _now()
        try:
            env_values = await self._env(pod, container)
            run.argv, env, substituted = process_spec(pod, env_values, ray_bin=self.ray_bin, dashboard=self.dashboard,
                                                      base_env=self._base_env, index=index)
            workdir = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=run.log_path.parent))
            with open(run.log_path, "ab") as out:  # noqa: ASYNC230 - a local file, small writes
                out.write(f"# pod {ns}/{name} uid {uid} container {run.container}\n# dashboard {substituted}\n"
                          f"# argv {run.argv!r}\n".encode())
                out.flush()
                try:
                    proc = await asyncio.create_subprocess_exec(
                        *run.argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
                        stderr=asyncio.subprocess.STDOUT, env=env, cwd=workdir, start_new_session=True)
                except OSError as e:
                    raise ContainerError("StartError", f"{type(e).__name__}: {e}") from e
                self._procs[uid], run.pid = proc, proc.pid
                await self._report(pod, run, self._running(pod, index, proc.pid, started))
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
        await self._report(pod, run, self._terminated(pod, index, run, started))

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

    async def _env(self, pod: Obj, container: Obj) -> dict[str, str]:
        """The container's env, Secret references read."""
        assert self._client is not None
        values: dict[str, str] = {}
        for var in container.get("env") or []:
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
    def _container(pod: Obj, index: int, pid: int | None, state: Obj, *, ready: bool) -> Obj:
        c = pod["spec"]["containers"][index]
        status: Obj = {"name": c["name"], "image": c.get("image", ""), "imageID": "", "ready": ready,
                       "started": ready, "restartCount": 0, "state": state}
        if pid is not None:  # a container that never started has no id
            status["containerID"] = f"{CONTAINER_ID}{pid}"
        return status

    def _running(self, pod: Obj, index: int, pid: int, started: str) -> Obj:
        return {"phase": "Running", "containerStatuses": [
            self._container(pod, index, pid, {"running": {"startedAt": started}}, ready=True)]}

    def _terminated(self, pod: Obj, index: int, run: Run, started: str) -> Obj:
        """The pod's status once the process ended; for a sidecar, only its container's entry
        counts (`_report`)."""
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
            "containerStatuses": [self._container(pod, index, run.pid, {"terminated": terminated}, ready=False)],
        }
        if run.reason == "DeadlineExceeded":
            status["reason"] = "DeadlineExceeded"
            status["message"] = f"the pod runner killed the process after {self.timeout:g} s"
        return status

    async def _report(self, pod: Obj, run: Run, status: Obj) -> None:
        """A submitter pod's whole status; a sidecar's own container entry alone."""
        if run.sidecar:
            (entry,) = status["containerStatuses"]
            await self._write_container(pod, entry)
        else:
            await self._write(pod, status)

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

    async def _write_container(self, pod: Obj, entry: Obj) -> None:
        """One container's entry of `containerStatuses`, the others kept: the list is atomic (a
        patch replaces it whole), so it is read, changed and written against the
        resourceVersion read, again on a conflict."""
        assert self._client is not None
        meta = pod["metadata"]
        path = f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}"
        for attempt in range(10):
            if meta["uid"] in self._deleted:
                return
            try:
                current = await self._client.request("GET", path)
                if current["metadata"]["uid"] != meta["uid"] or current["metadata"].get("deletionTimestamp"):
                    return
                statuses = [entry if c.get("name") == entry["name"] else c
                            for c in (current.get("status") or {}).get("containerStatuses") or []]
                if not any(c.get("name") == entry["name"] for c in statuses):
                    statuses.append(entry)
                patch = {"metadata": {"uid": meta["uid"], "resourceVersion": current["metadata"]["resourceVersion"]},
                         "status": {"containerStatuses": statuses}}
                await self._client.request("PATCH", f"{path}/status", body=patch, content_type=MERGE)
                return
            except ApiError as e:
                if e.status in (404, 422) or attempt == 9:
                    log.warning("pod runner: container %s of %s/%s not written: %s", entry["name"],
                                meta["namespace"], meta["name"], e)
                    return
                await asyncio.sleep(0 if e.status == 409 else 0.5 * (attempt + 1))


def _kill_group(proc: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
