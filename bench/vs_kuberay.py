"""Raybus and the real KubeRay operator side by side: one workload, one machine, one QPS budget.

N RayClusters of 1 head + W workers (the shape of `bench/scale.py` and of KubeRay's
clusterloader2 `1000-raycluster` test, 10 namespaces) are created against a fresh kwok control
plane per run, and each operator in turn brings them to `ready`. Runs alternate (KubeRay first,
then Raybus first, ...). Each operator talks to the API server as its own user, so the API
server's audit log tells its requests from everyone else's (kube-controller-manager, the
scheduler, kwok and the bench's own creates and polls). Per run:

- seconds from the first create until all N clusters are ready, and when each one became ready
  (p50 / p99 / max: the stragglers);
- the operator's own API requests until then, per cluster, by verb and resource; its conflicts
  (409) and other failures;
- the operator's CPU seconds and peak RSS, all its processes (KubeRay: one; Raybus: watcher,
  actuator, cluster-ctl and nats-server), and the CPU the API server and etcd spent meanwhile.

KubeRay is built from its Go module (`make kuberay`; `RAYBUS_KUBERAY_VERSION`, or
`RAYBUS_KUBERAY_BIN` for a binary built elsewhere) and runs with its defaults (QPS 100 / burst
200, reconcile concurrency 1) unless told otherwise, and with the feature gates Raybus turns
on by default; Raybus runs with the same QPS and burst on each client that writes or reads.
Medians per operator and the ratios go to docs/benchmarks.md, with a plot of clusters ready
over time (an SVG beside the page).

    .venv/bin/python bench/vs_kuberay.py --clusters 1000 [--runs 2] [--workers 3] [--nodes 20]
        [--qps 100 --burst 200 --kuberay-concurrency 1] [--operators kuberay,raybus] [--no-write]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from benchlib import (
    DOC,
    ROOT,
    alternating,
    audit_counts,
    comparison,
    cpu_seconds,
    machine,
    median,
    pct,
    peak_rss_mib,
    side_by_side,
    stop_cleanly_on_sigterm,
    write_section,
)
from scale import NAMESPACES, raycluster

from raybus_common.kube.client import ApiError
from raybus_testbed.controlplane import ControlPlane, FakeNode
from raybus_testbed.kube import Kube
from raybus_testbed.kuberay import V17_DEFAULT_GATES, KubeRay, operator_binary, oracle_version
from raybus_testbed.nats import NatsServer
from raybus_testbed.services import Services

OPERATOR = "operator"  # the API user the operator under test runs as
PODS_PER_NODE = 500


def nodes(count: int) -> tuple[FakeNode, ...]:
    return tuple(FakeNode(f"kwok-big-{i}", cpu="1000", memory="4000Gi", pods=str(PODS_PER_NODE)) for i in range(count))


def node_count(pods: int, asked: int = 0) -> int:
    """`asked` kwok nodes, or (0) enough for `pods` with a tenth to spare, 20 at least."""
    return asked or max(20, math.ceil(pods * 1.1 / PODS_PER_NODE))


def start_plane(workdir: Path, node_total: int, namespaces: Sequence[str],
                scheduler_qps: float | None = None) -> ControlPlane:
    """A fresh control plane with an audit log, `node_total` kwok nodes, the user OPERATOR and
    `namespaces`."""
    cp = ControlPlane(workdir / "kube", nodes=nodes(node_total), users=(OPERATOR,), audit=True,
                      scheduler_qps=scheduler_qps)
    cp.start()
    for ns in namespaces:
        cp.api.create("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    return cp


def cluster_ctls(replicas: int) -> dict[str, str]:
    """cluster-ctl's replicas (`--cluster-ctl-replicas`), each its own process: name -> command."""
    names = ["cluster-ctl"] + [f"cluster-ctl-{i}" for i in range(2, replicas + 1)]
    return dict.fromkeys(names, "raybus-cluster-ctl")


class Operator:
    """KubeRay, or Raybus's services and NATS, started against the control plane as OPERATOR.

    Raybus runs the watcher, the actuator and `controllers` (service name -> console script),
    each service with `env` on top of the bench's own; `kuberay_proxy` has KubeRay reach Ray
    dashboards through the API server's service proxy (`-use-kubernetes-proxy`)."""

    def __init__(self, kind: str, args: argparse.Namespace, cp: ControlPlane, namespaces: list[str],
                 workdir: Path, *, controllers: Mapping[str, str], env: Mapping[str, str] | None = None,
                 kuberay_proxy: bool = False) -> None:
        self.kind, self.args, self.cp, self.namespaces, self.workdir = kind, args, cp, namespaces, workdir
        self.controllers, self.env, self.kuberay_proxy = dict(controllers), dict(env or {}), kuberay_proxy
        self.kuberay: KubeRay | None = None
        self.nats: NatsServer | None = None
        self.svcs: Services | None = None

    def start(self) -> None:
        kubeconfig = self.cp.kubeconfig_for(OPERATOR)
        if self.kind == "kuberay":
            self.kuberay = KubeRay(self.workdir, kubeconfig, namespaces=self.namespaces, binary=operator_binary(),
                                   feature_gates=V17_DEFAULT_GATES, concurrency=self.args.kuberay_concurrency,
                                   qps=self.args.qps, burst=self.args.burst)
            if self.kuberay_proxy:
                self.kuberay.proc.args.append("-use-kubernetes-proxy=true")
            self.kuberay.start()
            return
        self.nats = NatsServer(self.workdir / "nats")
        self.nats.start()
        self.svcs = Services(self.workdir, self.nats.url, kubeconfig, RAYBUS_LOG_LEVEL="WARNING",
                             RAYBUS_QPS=str(self.args.qps), RAYBUS_BURST=str(self.args.burst), **self.env)
        self.svcs.start("watcher", "raybus-watcher", RAYBUS_WATCH_NAMESPACES=",".join(self.namespaces))
        self.svcs.start("actuator", "raybus-actuator")
        for name, command in self.controllers.items():
            self.svcs.start(name, command)

    def pids(self) -> dict[str, int | None]:
        if self.kuberay is not None:
            return {"ray-operator": self.kuberay.proc.pid}
        assert self.svcs is not None and self.nats is not None
        return {**{name: p.pid for name, p in self.svcs.procs.items()}, "nats-server": self.nats.proc.pid}

    def counts(self) -> dict[str, float]:
        """Raybus's own counters: state messages the watcher published, reconciles, actions."""
        if self.svcs is None:
            return {}
        return {"state messages": self.svcs.metric("watcher", "raybus_watcher_events_total"),
                "reconciles": sum(self.svcs.metric(c, "raybus_controller_reconciles_total") for c in self.controllers),
                "actions": sum(self.svcs.metric(c, "raybus_controller_actions_total") for c in self.controllers)}

    def stop(self) -> None:
        if self.kuberay is not None:
            self.kuberay.stop()
        if self.svcs is not None:
            self.svcs.stop()
        if self.nats is not None:
            self.nats.stop()


class Usage:
    """What an operator spends from the moment this is made: the CPU seconds of its processes
    and of the control plane's; at `figures`, also their peak RSS, the operator's requests
    (audit log) and Raybus's own counters."""

    def __init__(self, op: Operator, cp: ControlPlane) -> None:
        self.op, self.cp = op, cp
        self.pids = op.pids()
        self.control = {n: proc.pid for n, proc in cp.procs.items()}  # apiserver, etcd, scheduler, kcm, kwok
        self.cpu0 = {n: cpu_seconds(p) for n, p in {**self.pids, **self.control}.items()}

    def figures(self, until: float) -> dict[str, Any]:
        """The figures at the end of the measured part, which ended at `until` (epoch seconds)."""
        cpu = {n: cpu_seconds(p) - self.cpu0[n] for n, p in {**self.pids, **self.control}.items()}
        rss = {n: peak_rss_mib(p) for n, p in self.pids.items()}
        audit = audit_counts(self.cp.audit_log, OPERATOR, until)
        return {
            "requests": audit["requests"], "by_verb": audit["by_verb"], "codes": audit["codes"],
            "proxied": audit["proxied"], "proxied_codes": audit["proxied_codes"],
            "cpu": sum(cpu[n] for n in self.pids), "cpu_by_process": {n: cpu[n] for n in self.pids},
            "control_cpu": sum(cpu[n] for n in ("kube-apiserver", "etcd")),
            "plane_cpu": sum(cpu[n] for n in self.control), "cores": os.cpu_count() or 1,
            "rss": sum(rss.values()), "rss_by_process": rss, "counts": self.op.counts(),
        }


class Profiler:
    """py-spy attached to each of Raybus's Python services while the clusters come up (`--profile`):
    collapsed stacks per service, summarised as the functions with the most samples, on their
    own (self) and with what they call (inclusive)."""

    def __init__(self, pyspy: str, pids: dict[str, int | None], out: Path) -> None:
        out.mkdir(parents=True, exist_ok=True)
        self.out = out
        self.procs = {
            name: subprocess.Popen([pyspy, "record", "--format", "raw", "--rate", "50", "--nonblocking",
                                    "--pid", str(pid), "--output", str(out / f"{name}.txt")],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for name, pid in pids.items() if pid is not None and name != "nats-server"}

    def stop(self) -> dict[str, list[str]]:
        for proc in self.procs.values():
            proc.send_signal(signal.SIGINT)
        for proc in self.procs.values():
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
        return {name: summarise(self.out / f"{name}.txt") for name in self.procs}


_FRAME = re.compile(r"^(.*?) \((.*?)(?::\d+)?\)$")


def summarise(path: Path, top: int = 12) -> list[str]:
    """The top functions of a py-spy raw (collapsed) profile, by self and by inclusive samples."""
    own: Counter[str] = Counter()
    incl: Counter[str] = Counter()
    total = 0
    if not path.exists():
        return [f"(no profile at {path})"]
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = []
        for f in stack.split(";"):
            m = _FRAME.match(f)
            name = f"{m.group(1)} ({Path(m.group(2)).name})" if m else f
            frames.append(name)
        own[frames[-1]] += n
        for name in set(frames):
            incl[name] += n
    if not total:
        return ["(no samples)"]
    lines = [f"{total} samples"]
    lines += [f"  self {100 * c / total:5.1f}%  {name}" for name, c in own.most_common(top)]
    lines += [f"  incl {100 * c / total:5.1f}%  {name}" for name, c in incl.most_common(top * 2)
              if c < total * 0.98][:top]
    return lines


def wait_all(api: Kube, resource: str, n: int, t0: float, deadline: float, label: str,
             done: Callable[[dict[str, Any]], bool], word: str, more: Callable[[], str] = lambda: ""
             ) -> tuple[dict[str, float], list[tuple[float, int]]]:
    """When each of `n` objects at `resource` (a list path) was first `done` (seconds since
    t0), from one list and then a watch (a list of every object each second would cost the API
    server more than the operators' own work), and the count of done ones over time; a progress
    line (`more()` appended) on stderr at most once a second."""
    ready_at: dict[str, float] = {}
    curve: list[tuple[float, int]] = [(0.0, 0)]
    shown = 0.0

    def note(obj: dict[str, Any]) -> None:
        nonlocal shown
        now = time.perf_counter() - t0
        key = f"{obj['metadata']['namespace']}/{obj['metadata']['name']}"
        if key not in ready_at and done(obj):
            ready_at[key] = now
            curve.append((now, len(ready_at)))
        if now - shown >= 1.0 or len(ready_at) == n:
            shown = now
            print(f"\r  {label}: {now:6.1f}s  {len(ready_at)}/{n} {word}{more()}", end="", file=sys.stderr)

    rv = ""
    while len(ready_at) < n:
        if time.perf_counter() > deadline:
            raise TimeoutError(f"{label}: {len(ready_at)}/{n} {word} after {deadline - t0:.0f} s")
        if not rv:  # at the start, and after 410 Gone
            try:
                listing = api.get(resource)
            except ApiError as e:  # 429: the watch cache of a CRD installed just now is still filling
                if e.status != 429:
                    raise
                time.sleep(e.retry_after or 1.0)
                continue
            for item in listing["items"]:
                note(item)
            rv = listing["metadata"]["resourceVersion"]
            continue
        params = {"watch": "true", "resourceVersion": rv, "allowWatchBookmarks": "true", "timeoutSeconds": "30"}
        for event in api.watch(resource, params, read_timeout=60):
            obj = event.get("object") or {}
            if event.get("type") == "ERROR":
                rv = ""
                break
            rv = (obj.get("metadata") or {}).get("resourceVersion") or rv
            if event.get("type") in ("ADDED", "MODIFIED"):
                note(obj)
            if len(ready_at) >= n:
                break
    print(file=sys.stderr)
    return ready_at, curve


def run_once(kind: str, label: str, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    namespaces = [f"scale-{i}" for i in range(NAMESPACES)]
    cp = start_plane(workdir, args.nodes, namespaces, args.scheduler_qps or None)
    api = cp.api
    op = Operator(kind, args, cp, namespaces, workdir, controllers=cluster_ctls(args.cluster_ctl_replicas))
    try:
        op.start()
        usage = Usage(op, cp)
        objects = [(namespaces[i % NAMESPACES], f"rc-{i}") for i in range(args.clusters)]
        profiler = (Profiler(args.profile_with, usage.pids, args.profile / label.replace(" ", "-").replace("/", "of"))
                    if args.profile and kind == "raybus" else None)
        t0, wall0 = time.perf_counter(), time.time()
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(lambda o: api.create(f"/apis/ray.io/v1/namespaces/{o[0]}/rayclusters",
                                               raycluster(o[1], args.workers)), objects))
        ready_at, curve = wait_all(api, "/apis/ray.io/v1/rayclusters", args.clusters, t0, t0 + args.timeout, label,
                                   lambda obj: (obj.get("status") or {}).get("state") == "ready", "ready")
        took, wall_ready = time.perf_counter() - t0, time.time()
        figures = usage.figures(wall_ready)
        if profiler is not None:
            for name, lines in profiler.stop().items():
                print(f"profile of {name} ({label}):", *lines, sep="\n", file=sys.stderr)
        times = list(ready_at.values())
        return {"operator": kind, "seconds": took, "curve": curve, "started": wall0,
                "p50": pct(times, 50), "p99": pct(times, 99), "max": max(times), **figures}
    finally:
        op.stop()
        cp.stop()


def conflicts(r: dict[str, Any]) -> int:
    return int(r["codes"].get(409, 0))


def conflict_share(rs: list[dict[str, Any]]) -> float:
    """Median over runs of the conflicts (409) in % of the operator's requests."""
    return float(statistics.median(100 * conflicts(x) / max(1, x["requests"]) for x in rs))


def cpu_floor(rs: list[dict[str, Any]]) -> float:
    """Median over runs of (control plane + operator CPU) / cores: a lower bound on the time."""
    return float(statistics.median((x["plane_cpu"] + x["cpu"]) / x["cores"] for x in rs))


def svg(results: list[dict[str, Any]], n: int, title: str) -> str:
    """Clusters ready over time, one line per run (KubeRay blue, Raybus orange)."""
    width, height, left, bottom, top, right = 720, 400, 60, 40, 30, 20
    t_max = max(r["curve"][-1][0] for r in results) or 1.0
    sx = (width - left - right) / t_max
    sy = (height - top - bottom) / n
    colours = {"kuberay": "#1f77b4", "raybus": "#ff7f0e"}
    parts = [(f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             'font-family="sans-serif" font-size="12">'),
             f'<rect width="{width}" height="{height}" fill="white"/>',
             f'<text x="{left}" y="18">{title}</text>']
    step = 10 ** max(0, math.floor(math.log10(t_max)))
    for i in range(int(t_max // step) + 1):
        x = left + i * step * sx
        parts.append(f'<line x1="{x:.1f}" y1="{height - bottom}" x2="{x:.1f}" y2="{top}" stroke="#eee"/>')
        parts.append(f'<text x="{x:.1f}" y="{height - bottom + 15}" text-anchor="middle">{i * step:.0f}</text>')
    for frac in (0, 0.25, 0.5, 0.75, 1.0):
        y = height - bottom - frac * n * sy
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" stroke="#eee"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{frac * n:.0f}</text>')
    parts.append(f'<text x="{(left + width - right) / 2}" y="{height - 5}" text-anchor="middle">seconds since the '
                 'first create</text>')
    for r in results:
        points = " ".join(f"{left + t * sx:.1f},{height - bottom - c * sy:.1f}" for t, c in r["curve"])
        parts.append(f'<polyline fill="none" stroke="{colours[r["operator"]]}" stroke-width="1.5" '
                     f'points="{points}"/>')
    for j, (name, colour) in enumerate(colours.items()):
        y = top + 16 + 16 * j
        parts.append(f'<line x1="{left + 12}" y1="{y - 4}" x2="{left + 32}" y2="{y - 4}" stroke="{colour}" '
                     'stroke-width="3"/>')
        parts.append(f'<text x="{left + 38}" y="{y}">{"KubeRay " + oracle_version() if name == "kuberay" else "Raybus"}'
                     '</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def run_cells(r: dict[str, Any], n: int) -> tuple[str, str, str, str]:
    """Texts of one run's row: its top requests by verb and resource, its response codes, CPU /
    peak RSS by process, and Raybus's counters per object (of `n`)."""
    top = ", ".join(f"{k} {v}" for k, v in list(r["by_verb"].items())[:6])
    codes = ", ".join(f"{c}: {v}" for c, v in sorted(r["codes"].items()))
    procs = ", ".join(f"{k} {r['cpu_by_process'][k]:.0f} s / {r['rss_by_process'][k]:.0f} MiB"
                      for k in r["cpu_by_process"])
    per = ", ".join(f"{k} {v / n:.1f}" for k, v in (r.get("counts") or {}).items()) or "—"
    return top, codes, procs, per


def report(args: argparse.Namespace, results: list[dict[str, Any]], plot: str) -> str:
    n = args.clusters
    by = {k: [r for r in results if r["operator"] == k] for k in ("kuberay", "raybus")}
    limits = f"QPS {args.qps:g} / burst {args.burst}, KubeRay reconcile concurrency {args.kuberay_concurrency}"
    scheduler = (f", kube-scheduler at QPS {args.scheduler_qps:g}" if args.scheduler_qps else "")
    replicas = (f", {args.cluster_ctl_replicas} cluster-ctl replicas" if args.cluster_ctl_replicas > 1 else "")
    heading = f"## Side by side with KubeRay: {n:,} clusters, {limits}{scheduler}{replicas}"
    cmd = (f"python bench/vs_kuberay.py --clusters {n} --workers {args.workers} --runs {args.runs} "
           f"--nodes {args.nodes} --qps {args.qps:g} --burst {args.burst} "
           f"--kuberay-concurrency {args.kuberay_concurrency}"
           + (f" --scheduler-qps {args.scheduler_qps:g}" if args.scheduler_qps else "")
           + (f" --cluster-ctl-replicas {args.cluster_ctl_replicas}" if args.cluster_ctl_replicas > 1 else ""))
    rows = side_by_side(by, [
        ("time to all ready (s)", "{:.0f}", lambda rs: median(rs, "seconds")),
        ("per cluster: p50 time to ready (s)", "{:.0f}", lambda rs: median(rs, "p50")),
        ("per cluster: p99 time to ready (s)", "{:.0f}", lambda rs: median(rs, "p99")),
        ("per cluster: last ready (s)", "{:.0f}", lambda rs: median(rs, "max")),
        ("the operator's API requests per cluster", "{:.1f}", lambda rs: median(rs, "requests") / n),
        ("conflicts (409), % of its requests", "{:.2f} %", conflict_share),
        ("operator CPU seconds until all ready", "{:.0f}", lambda rs: median(rs, "cpu")),
        ("peak RSS, all operator processes (MiB)", "{:.0f}", lambda rs: median(rs, "rss")),
        ("API server + etcd CPU seconds meanwhile", "{:.0f}", lambda rs: median(rs, "control_cpu")),
        ("whole control plane CPU seconds meanwhile (+ scheduler, controller-manager, kwok)", "{:.0f}",
         lambda rs: median(rs, "plane_cpu")),
        ("time floor from CPU: (control plane + operator CPU) / cores (s)", "{:.0f}", cpu_floor),
    ])
    runs = []
    for r in results:
        top, codes, procs, per = run_cells(r, n)
        runs.append(f"| {r['operator']} | {r['seconds']:.0f} s | {r['requests']} ({top}) | {codes} | {procs} "
                    f"| {per} |")
    intro = (f"`{cmd}` on {machine()}: {n:,} RayClusters of 1 head + {args.workers} workers in {NAMESPACES} "
             f"namespaces, {args.nodes} kwok nodes of {PODS_PER_NODE} pods, a fresh control plane per run, "
             f"runs alternating ({args.runs} per operator; medians). KubeRay {oracle_version()} (built from its Go "
             f"module) at {limits}; Raybus with the same QPS and burst per client. The operator's requests are "
             "counted from the API server's audit log (it runs as its own user), from its start until the "
             "last cluster is ready; CPU and RSS are the operator's own processes (Raybus: watcher, actuator, "
             "cluster-ctl, nats-server). The machine is saturated: the time floor row is the CPU the "
             "control plane and the operator spent, divided by the cores, a lower bound on the time whatever "
             "the operator's QPS (the bench's own creates and watch come on top).")
    return comparison(heading, intro, rows, plot, "clusters ready over time",
                      ["operator", "all ready", "its requests (top verbs and resources)", "response codes",
                       "CPU / peak RSS by process", "per cluster"], runs)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clusters", type=int, default=1000)
    p.add_argument("--workers", type=int, default=3)
    p.add_argument("--runs", type=int, default=2, help="runs per operator, alternating")
    p.add_argument("--nodes", type=int, default=0, help="kwok nodes of 500 pods (default: enough for the pods)")
    p.add_argument("--qps", type=float, default=100.0)
    p.add_argument("--burst", type=int, default=200)
    p.add_argument("--kuberay-concurrency", type=int, default=1)
    p.add_argument("--cluster-ctl-replicas", type=int, default=1, help="Raybus's cluster-ctl processes")
    p.add_argument("--operators", default="kuberay,raybus")
    p.add_argument("--timeout", type=float, default=3600.0)
    p.add_argument("--scheduler-qps", type=float, default=0,
                   help="kube-scheduler's client QPS (burst twice that); default: its own, 50 / 100")
    p.add_argument("--profile", type=Path, default=None,
                   help="profile Raybus's services with py-spy into this directory (not written to the docs)")
    p.add_argument("--profile-with", default=shutil.which("py-spy") or "py-spy", help="the py-spy binary")
    p.add_argument("--save", type=Path, default=None, help="also write every run's figures to this JSON file")
    p.add_argument("--no-write", action="store_true")
    args = p.parse_args()
    pods = args.clusters * (1 + args.workers)
    args.nodes = node_count(pods, args.nodes)
    if args.nodes * PODS_PER_NODE < pods:
        p.error(f"{args.nodes} nodes of {PODS_PER_NODE} pods cannot hold {pods} pods")
    stop_cleanly_on_sigterm()
    kinds = [k.strip() for k in args.operators.split(",") if k.strip()]
    results: list[dict[str, Any]] = []
    for i, kind in alternating(kinds, args.runs):
        with tempfile.TemporaryDirectory(prefix=f"raybus-vs-{kind}-") as tmp:
            r = run_once(kind, f"{kind} run {i + 1}/{args.runs}", args, Path(tmp))
        results.append(r)
        print(f"{kind}: {r['seconds']:.0f} s, {r['requests']} requests, cpu {r['cpu']:.0f} s, "
              f"rss {r['rss']:.0f} MiB, codes {r['codes']}", file=sys.stderr)
    suffix = f"{args.clusters}" + ("" if (args.qps, args.burst, args.kuberay_concurrency) == (100, 200, 1)
                                   else f"-qps{args.qps:g}-c{args.kuberay_concurrency}") + (
        f"-sched{args.scheduler_qps:g}" if args.scheduler_qps else "") + (
        f"-ctl{args.cluster_ctl_replicas}" if args.cluster_ctl_replicas > 1 else "")
    plot = f"vs-kuberay-{suffix}.svg"
    publish(args, results, report(args, results, plot), plot, args.clusters,
            f"{args.clusters:,} RayClusters ready over time")


def publish(args: argparse.Namespace, results: list[dict[str, Any]], section: str, plot: str, n: int,
            title: str) -> None:
    """Print the section; with `--save`, every run's figures to that JSON file; unless
    `--no-write`, the plot (how many of the `n` objects were done over time, titled `title`) as
    docs/`plot` and the section into docs/benchmarks.md."""
    print(section)
    if args.save is not None:  # every figure of every run, to redo the report or the plot later
        args.save.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "results": results},
                                        indent=1))
    if not args.no_write:
        (DOC.parent / plot).write_text(svg(results, n, title))
        write_section(section)
        print(f"written to {DOC.relative_to(ROOT)} and docs/{plot}", file=sys.stderr)


if __name__ == "__main__":
    main()
