"""A real Ray head for every head pod: each RayCluster's head pod (kwok's, which runs nothing)
gets a Ray head of its own on this machine, bound to the pod's IP, so `http://<podIP>:8265` is
that cluster's dashboard and not another's, and a test can watch traffic move between two
RayClusters (a RayService upgrade).

    heads = RayHeads(kube, namespace, workdir)   # selector: ray.io/node-type=head
    heads.start()                # returns once the pods are listed and watched
    head = heads.head("rc-head-x7k2p")  # that pod's RayHead, once its dashboard answers
    head.url                     # "http://10.244.0.7:8265"
    heads.close()                # every head stopped, its processes gone

Needs the pod CIDR routed to this machine (`rayhead.pod_network()`): then a pod's IP is a local
address and a process listening on it answers there.

When: a head is started for a pod of `namespace` matching `selector` once it is Running with
a pod IP (kwok's stages make it so) and not being deleted; it is stopped (every process of it,
as `RayHead.stop` does) when the pod is deleted, is gone from a new listing, or on `close()`.
One head per pod uid; a head that would not start leaves its error for `head()` to raise.
A pod IP kwok hands out again waits (up to a minute) for the previous holder's dashboard port.

How: `ray start --head` from the tests' Ray venv (`RayHead`, its env, its stopping by process
ids) with `--node-ip-address <podIP> --dashboard-host <podIP>`, the dashboard on the pod's
port named `dashboard` (else 8265, as KubeRay), `--num-cpus 1`, `--include-dashboard true`, a
100 MiB object store, no worker nodes, a temp dir (Ray's logs, kept) under
`workdir/<namespace>/<pod>-<uid>`. Ray binds some of its ports to the node IP and others to
every address (checked against Ray 2.60 with `ss -ltnp`), so every port is the head's own
(two Prometheus servers are moved by environment variables, not flags; ports Ray asks the
kernel for, such as a Serve replica's, never clash):

| `ray start` flag (or variable)    | listens on               | per head                       |
|-----------------------------------|--------------------------|--------------------------------|
| `--dashboard-port`                | the pod IP               | the pod's `dashboard` port     |
| `--runtime-env-agent-port`        | the pod IP               | a free port                    |
| `--ray-client-server-port`        | the pod IP and 127.0.0.1 | a free port                    |
| `--dashboard-agent-listen-port`   | the pod IP and 127.0.0.1 | a free port                    |
| `--port` (GCS)                    | every address            | a free port                    |
| `--dashboard-agent-grpc-port`     | every address            | a free port                    |
| `--metrics-export-port`           | 0.0.0.0                  | a free port                    |
| `--node-manager-port`             | every address            | a free port                    |
| `--object-manager-port`           | every address            | a free port                    |
| `--min/max-worker-port`           | every address            | a block of 64 of its own, below the ephemeral range |
| env `DASHBOARD_METRIC_PORT`       | 0.0.0.0                  | a free port                    |
| env `AUTOSCALER_METRIC_PORT`      | 0.0.0.0                  | a free port                    |

Free ports come from the kernel's ephemeral range (`procs.free_port`); worker ports are blocks
below it (20000-32767), each free when taken and held by one head of this process at a time:
a block picked at random among the free ones, as workers bind their ports only once they
start, so another test session's pool could otherwise take the same block meanwhile.

Ray Serve: its HTTP proxy binds exactly `http_options.host`:`port` of the serve config put to
the dashboard (Ray 2.60 `serve/_private/http_util.py`), for the life of the head. A config that
names the pod IP as host gets a proxy on `<podIP>:8000` per head, side by side. **The
limitation:** `0.0.0.0` (what Ray's schema fills in when a config gives no host, and what
KubeRay's examples say) binds every address: the first head's proxy then answers on every pod
IP, and any other head's proxy on that port fails to bind ("Failed to bind to address"). So a
test that wants per-cluster Serve traffic must put configs whose host is the pod's IP (or
whose ports differ); a RayService's `serveConfigV2`, written before its pods exist, cannot
name their IPs. Hence `serve_port`: the pool starts each head's Serve itself with the proxy on
`<podIP>:serve_port` (`start_serve`); Serve ignores the `http_options` of later configs, so the
RayService's own config deploys behind it. Likewise the shared `ray_head` (0.0.0.0:8265) and a head here on
`<podIP>:8265` exclude each other: whichever comes first holds the port.

Not done: Ray token authentication (`authOptions`), worker pods (a head pod's cluster has no
workers), GPUs, restarting a head that dies (it stays dead, as a crashed container would
without a kubelet).
"""

from __future__ import annotations

import contextlib
import logging
import random
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Self

import httpx

from raybus_common.kube.client import ApiError
from raybus_common.ray.jobs import head_dashboard_port

from .kube import Kube
from .procs import free_port
from .rayhead import NoRay, RayHead, ensure_ray, port_free
from .waiting import wait_until

log = logging.getLogger(__name__)

Obj = dict[str, Any]
HEAD_LABEL = "ray.io/node-type=head"  # KubeRay's head pods (and Raybus's)
OBJECT_STORE_BYTES = 100 * 1024 * 1024  # Ray's floor is 75 MB
WORKER_PORTS = 64  # per head: its workers, Serve's controller, proxy and replicas, job supervisors
WORKER_PORT_RANGE = range(20000, 32768, WORKER_PORTS)  # block starts, below Linux's ephemeral 32768-60999
# Prometheus servers no `ray start` flag moves, on 0.0.0.0 (at 44227 and 44217 unless told):
# the dashboard's and the autoscaler monitor's.
METRICS_PORT_ENV = ("DASHBOARD_METRIC_PORT", "AUTOSCALER_METRIC_PORT")
WATCH_SECONDS = 5  # each watch request's length: how soon `close()` is heard
PORT_WAIT = 60.0  # seconds a reused pod IP waits for the previous head to let go of its port

_blocks_lock = threading.Lock()
_blocks_held: set[int] = set()  # worker port blocks of live heads, across pools


def start_serve(head: RayHead, host: str, port: int, timeout: float = 180.0, attempts: int = 3) -> None:
    """Start `head`'s Serve with its HTTP proxy on `host:port`: a config with these
    `http_options` and no application. Serve keeps the proxy's address from its first start and
    ignores the `http_options` of later configs, so a RayService's own config (written before
    its pods exist, with no pod IP to name) then deploys behind this pod's proxy. On a busy
    machine Serve's first start can fail (its proxy actor killed before it ran: a 500): tried
    `attempts` times."""
    config = {"http_options": {"host": host, "port": port}, "applications": []}
    for attempt in range(1, attempts + 1):
        answer = httpx.put(f"{head.url}/api/serve/applications/", headers=head.headers, timeout=timeout, json=config)
        if answer.status_code < 300:
            return
        if attempt == attempts or answer.status_code < 500:
            raise RuntimeError(f"starting Serve on {host}:{port}: {answer.status_code} {answer.text[:200]}")


@dataclass(frozen=True)
class HeadPod:
    """What a head pod asks of its Ray head."""

    namespace: str
    name: str
    uid: str
    ip: str
    dashboard_port: int


def head_pod(pod: Obj) -> HeadPod | None:
    """The head `pod` wants now: once Running with an IP and not being deleted; else None."""
    meta, status = pod["metadata"], pod.get("status") or {}
    if meta.get("deletionTimestamp") or status.get("phase") != "Running" or not status.get("podIP"):
        return None
    return HeadPod(meta["namespace"], meta["name"], meta["uid"], status["podIP"],
                   head_dashboard_port(pod.get("spec") or {}))


@contextlib.contextmanager
def worker_ports() -> Iterator[range]:
    """A block of `WORKER_PORTS` ports, all free now and held by no other head of this process,
    for as long as the block is in use; one at random of those."""
    with _blocks_lock:
        starts = random.sample(WORKER_PORT_RANGE, len(WORKER_PORT_RANGE))
        start = next((s for s in starts if s not in _blocks_held
                      and all(port_free(p) for p in range(s, s + WORKER_PORTS))), None)
        if start is None:
            raise NoRay(f"no block of {WORKER_PORTS} free worker ports in {WORKER_PORT_RANGE}")
        _blocks_held.add(start)
    try:
        yield range(start, start + WORKER_PORTS)
    finally:
        with _blocks_lock:
            _blocks_held.discard(start)


@dataclass
class PodHead:
    """One pod's head, run by a thread of its own: started, kept until `gone`, stopped."""

    pod: HeadPod
    head: RayHead | None = None
    error: str = ""  # why it did not start
    answered: threading.Event = field(default_factory=threading.Event)  # started, or failed to
    gone: threading.Event = field(default_factory=threading.Event)  # the pod is gone: stop
    thread: threading.Thread | None = None

    def live(self) -> bool:
        return self.thread is not None and self.thread.is_alive() and not self.error


class RayHeads:
    """Ray heads for the head pods of `namespace` that `selector` picks (see the module)."""

    def __init__(self, kube: Kube, namespace: str, workdir: Path, *, selector: str = HEAD_LABEL,
                 venv: Path | None = None, start_timeout: float = 180.0, serve_port: int | None = None) -> None:
        self.kube, self.namespace, self.workdir, self.selector = kube, namespace, workdir, selector
        self.serve_port = serve_port  # start each head's Serve with its proxy on <podIP>:serve_port
        self.venv = venv or ensure_ray()
        self.start_timeout = start_timeout
        self._heads: dict[str, PodHead] = {}  # by pod uid, while the pod is there
        self._every: list[PodHead] = []  # every head ever started, for `close()` to wait for
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._listed = threading.Event()
        self._watcher: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------
    def start(self, timeout: float = 60.0) -> None:
        """Watch the pods; return once they are listed (their heads start meanwhile)."""
        self._watcher = threading.Thread(target=self._watch, name=f"rayheads-{self.namespace}", daemon=True)
        self._watcher.start()
        try:
            wait_until(lambda: self._listed.is_set() or not self._watcher_alive(), timeout=timeout,
                       what=f"the head pods of {self.namespace} listed")
            if not self._listed.is_set():
                raise RuntimeError(f"the watch of {self.namespace}'s head pods ended before listing them")
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Stop watching, then every head (all at once); return when their processes are gone."""
        self._closing.set()
        if self._watcher is not None:
            self._watcher.join(WATCH_SECONDS + 45)
        with self._lock:
            heads = list(self._every)
        for record in heads:
            record.gone.set()
        for record in heads:
            if record.thread is not None:
                record.thread.join(self.start_timeout + 60)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- what tests ask ------------------------------------------------------------------
    def head(self, name: str, timeout: float | None = None) -> RayHead:
        """Pod `name`'s head once its dashboard answers; `NoRay` saying why if it would not start."""
        record = wait_until(partial(self._answered, name), timeout=timeout or self.start_timeout + PORT_WAIT + 30,
                            what=f"a Ray head for pod {self.namespace}/{name}")
        assert record is not None  # wait_until returns what is truthy
        if record.error or record.head is None:
            raise NoRay(f"pod {self.namespace}/{name}'s Ray head did not start: {record.error}")
        return record.head

    def running(self) -> dict[str, RayHead]:
        """The heads whose dashboards answered and whose pods are there, by pod name."""
        with self._lock:
            return {r.pod.name: r.head for r in self._heads.values()
                    if r.head is not None and r.answered.is_set() and r.live() and not r.gone.is_set()}

    def _answered(self, name: str) -> PodHead | None:
        with self._lock:
            found = [r for r in self._heads.values() if r.pod.name == name and not r.gone.is_set()]
        return next((r for r in found if r.answered.is_set()), None)

    def _watcher_alive(self) -> bool:
        return self._watcher is not None and self._watcher.is_alive()

    # -- the watch (its own thread) --------------------------------------------------------
    def _watch(self) -> None:
        """List the head pods, then watch from there; list again after a 410 or a failed
        request, until `close()`."""
        path = f"/api/v1/namespaces/{self.namespace}/pods"
        rv = ""
        while not self._closing.is_set():
            try:
                if not rv:
                    listing = self.kube.get(path, labelSelector=self.selector)
                    rv = listing["metadata"]["resourceVersion"]
                    self._sync(listing["items"])
                    self._listed.set()
                params = {"labelSelector": self.selector, "watch": "true", "resourceVersion": rv,
                          "allowWatchBookmarks": "true", "timeoutSeconds": str(WATCH_SECONDS)}
                # Read to the end (`timeoutSeconds`): the server ends the stream after an ERROR too.
                for event in self.kube.watch(path, params, read_timeout=WATCH_SECONDS + 30):
                    if event["type"] == "ERROR":
                        rv = ""  # 410 Gone, or another failure: list afresh
                        continue
                    rv = event["object"]["metadata"]["resourceVersion"]
                    if event["type"] != "BOOKMARK":
                        self._consider(event["object"], deleted=event["type"] == "DELETED")
            except (ApiError, TimeoutError) as e:
                if not self._listed.is_set() and isinstance(e, ApiError) and e.status in (401, 403):
                    raise
                log.warning("ray heads: watch of %s's head pods failed (%s); listing again", self.namespace, e)
                rv = ""
                self._closing.wait(1)

    def _sync(self, pods: list[Obj]) -> None:
        """A fresh listing: heads of pods no longer there stop; the others as `_consider` says."""
        present = {p["metadata"]["uid"] for p in pods}
        with self._lock:
            vanished = [r for uid, r in self._heads.items() if uid not in present]
        for record in vanished:
            self._stop(record)
        for pod in pods:
            self._consider(pod, deleted=False)

    def _consider(self, pod: Obj, *, deleted: bool) -> None:
        uid = pod["metadata"]["uid"]
        wanted = None if deleted else head_pod(pod)
        with self._lock:
            record = self._heads.get(uid)
            if wanted is not None and record is None and not self._closing.is_set():
                new = self._heads[uid] = PodHead(wanted)
                self._every.append(new)
                new.thread = threading.Thread(target=self._run, args=(new,), daemon=True,
                                              name=f"rayhead-{wanted.namespace}/{wanted.name}")
                new.thread.start()
                return
        gone = deleted or bool(pod["metadata"].get("deletionTimestamp"))
        if record is not None and gone:
            self._stop(record)

    def _stop(self, record: PodHead) -> None:
        """The pod is gone: its head's thread stops it (once started, if it is starting)."""
        record.gone.set()
        with self._lock:
            if self._heads.get(record.pod.uid) is record:
                del self._heads[record.pod.uid]

    # -- one head (its own thread) ---------------------------------------------------------
    def _run(self, record: PodHead) -> None:
        pod = record.pod
        try:
            with worker_ports() as workers:
                head = self._started(record, workers)
                if head is not None:
                    record.gone.wait()
                    head.stop()
        except (NoRay, TimeoutError, RuntimeError, OSError) as e:
            record.error = f"{type(e).__name__}: {e}"
            log.warning("ray heads: no Ray head for pod %s/%s: %s", pod.namespace, pod.name, record.error)
        finally:
            record.answered.set()

    def _started(self, record: PodHead, workers: range) -> RayHead | None:
        """The pod's head started (None if the pod went first): its IP's dashboard port free."""
        pod = record.pod
        wait_until(lambda: record.gone.is_set() or port_free(pod.dashboard_port, pod.ip), timeout=PORT_WAIT,
                   what=f"{pod.ip}:{pod.dashboard_port} free (a previous holder of the pod IP stopping)")
        if record.gone.is_set():
            return None
        head = RayHead(self.workdir / pod.namespace / f"{pod.name}-{pod.uid[:8]}", venv=self.venv,
                       dashboard_port=pod.dashboard_port, num_cpus=1, host=pod.ip, options={
                           "--include-dashboard": "true", "--object-store-memory": str(OBJECT_STORE_BYTES),
                           "--node-manager-port": str(free_port()), "--object-manager-port": str(free_port()),
                           "--min-worker-port": str(workers.start), "--max-worker-port": str(workers.stop - 1)})
        assert head.proc.env is not None  # RayHead's own: the venv, the Serve apps, no usage stats
        head.proc.env.update({var: str(free_port()) for var in METRICS_PORT_ENV})
        record.head = head
        head.start(self.start_timeout)
        if self.serve_port is not None:
            start_serve(head, pod.ip, self.serve_port)
        record.answered.set()
        return head
