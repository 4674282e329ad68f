"""RayJobs side by side with KubeRay: N RayJobs in HTTPMode, one real Ray head, one machine.

The RayJob counterpart of `bench/vs_kuberay.py`, and built from it: a fresh kwok control plane
per run, runs alternating (KubeRay first, then Raybus first, ...), one QPS budget, each
operator as its own API user so the audit log tells its requests from everyone else's.

Each RayJob runs a cheap entrypoint (`--entrypoint`, default `true`) in HTTPMode on a
head-only RayCluster (no workers; the head asks 100m CPU, as clusterloader2's clusters do). A
real Ray head (`ray start --head`, `raybus_testbed.rayhead`) stands in for every cluster's
dashboard: the kwok pod CIDR is routed to this machine (`pod_network()`), so any head pod's IP
reaches it; the head's dashboard listens on a free port, not 8265 (a test session's head on
8265 would otherwise take calls meant for this one's, or this one theirs), and each RayJob's
head container names that port. The head is started afresh for each run, so every run starts
from an empty Ray job table (a head kept across runs would carry the last run's finished jobs
into the next one, and its work would not be the same in every run) and what is counted on it
is that run's.

- KubeRay runs with `-use-kubernetes-proxy`: its dashboard calls go through the API server's
  service proxy (`services/<head-svc>:dashboard/proxy`). They are in the audit log, counted
  apart from its Kubernetes API requests, and their cost is in the API server's CPU.
- Raybus runs the watcher, the actuator, cluster-ctl and job-ctl, with
  `RAYBUS_RAY_DASHBOARD_ACCESS=pod` (the watcher's poller and the actuator's Ray calls go to
  the head pod's IP); its dashboard calls are its polls and Ray actions, from their metrics.
- No `shutdownAfterJobFinishes`: what is timed is create → Complete; cleanup would come after
  the job is Complete on both sides, and cluster lifecycle is `bench/vs_kuberay.py`'s.
- The RayJobs are created at `--rate` per second on both sides (0: all at once, 16 writers).
  A Ray head starts one supervisor process per job, about a job a second on 2 busy cores: at a
  pace above that, jobs queue on the head (and Ray fails a job still PENDING after 15
  minutes), so the time would be Ray's, not the operator's.

Per run: seconds from the first create until every RayJob is finished (Complete or Failed),
each RayJob's time from its own create to Complete (p50 / p99 / max) and how much of it its Ray
job spent on the head (submitted to ended, Ray's own times: p50), how many ended Complete,
the operator's API requests and dashboard calls per job, conflicts (409), the CPU seconds and
peak RSS of the operator's processes, the Ray head's CPU seconds (shared work: the same jobs
on both sides), the control plane's CPU, and the Ray jobs on the head per RayJob, which must be
exactly one for every RayJob on both sides. Medians per operator and ratios go to
docs/benchmarks.md ("RayJobs side by side with KubeRay"), with a plot beside the page.

    .venv/bin/python bench/jobs.py --jobs 1000 [--runs 2] [--rate 1] [--nodes 20]
        [--qps 100 --burst 200 --kuberay-concurrency 1] [--operators kuberay,raybus]
        [--entrypoint true] [--save runs.json] [--no-write] [--keep DIR]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
from benchlib import (
    alternating,
    comparison,
    cpu_seconds,
    machine,
    median,
    pct,
    side_by_side,
    stop_cleanly_on_sigterm,
)
from scale import NAMESPACES, raycluster
from vs_kuberay import (
    PODS_PER_NODE,
    Operator,
    Usage,
    conflict_share,
    node_count,
    publish,
    run_cells,
    start_plane,
    wait_all,
)

from raybus_testbed.kube import Kube
from raybus_testbed.kuberay import oracle_version
from raybus_testbed.procs import free_port
from raybus_testbed.rayhead import RayHead, pod_network, ray_version

TERMINAL = ("Complete", "Failed")
CONTROLLERS = {"cluster-ctl": "raybus-cluster-ctl", "job-ctl": "raybus-job-ctl"}
RAY_ACTIONS = ('op="ray_submit_job"', 'op="ray_stop_job"', 'op="ray_delete_job"')


def rayjob(name: str, dashboard_port: int, entrypoint: str) -> dict[str, Any]:
    """An HTTPMode RayJob running `entrypoint` on a head-only cluster whose dashboard port is
    `dashboard_port` (the local Ray head's)."""
    spec = raycluster(name, 0)["spec"]
    del spec["workerGroupSpecs"]
    head = spec["headGroupSpec"]["template"]["spec"]["containers"][0]
    head["ports"] = [{**p, "containerPort": dashboard_port} if p["name"] == "dashboard" else p for p in head["ports"]]
    return {"apiVersion": "ray.io/v1", "kind": "RayJob", "metadata": {"name": name},
            "spec": {"entrypoint": entrypoint, "submissionMode": "HTTPMode", "rayClusterSpec": spec}}


def finished(obj: dict[str, Any]) -> bool:
    return (obj.get("status") or {}).get("jobDeploymentStatus") in TERMINAL


def ray_jobs_per_rayjob(names: Iterable[str], submission_ids: Iterable[str]) -> dict[str, int]:
    """How many Ray jobs each RayJob has on the head. Both operators name a submission
    `<rayjob>-<5 chars>` (no `spec.jobId` here); a submission id of no RayJob in `names` is not
    counted (none should be)."""
    counts = dict.fromkeys(names, 0)
    for sid in submission_ids:
        owner, _, suffix = sid.rpartition("-")
        if owner in counts and len(suffix) == 5:
            counts[owner] += 1
    return counts


def once_text(per_rayjob: dict[str, int]) -> str:
    """`exactly 1 for all 1,000`, or the RayJobs by how many Ray jobs they have."""
    spread = Counter(per_rayjob.values())
    if set(spread) == {1}:
        return f"exactly 1 for all {spread[1]:,}"
    return ", ".join(f"{k} Ray job{'s' if k != 1 else ''}: {v:,} RayJobs" for k, v in sorted(spread.items()))


def outcome(items: list[dict[str, Any]], on_head: list[dict[str, Any]], finished_at: dict[str, float],
            created: dict[str, float]) -> dict[str, Any]:
    """What a run ended with, from the RayJobs listed at its end, the Ray jobs on the head, and
    when each RayJob (`<ns>/<name>`) was created and finished: how many are Complete and Failed,
    each Complete one's time from its create (p50 / p99 / max; NaN if none is) and the median of
    the part of it its Ray job spent on the head (submitted to ended, Ray's `start_time` and
    `end_time`), the Ray jobs per RayJob (exactly one each, whose id is the RayJob's
    `status.jobId`, is the claim)."""
    def status(o: dict[str, Any]) -> dict[str, Any]:
        return dict(o.get("status") or {})

    states = Counter(status(o).get("jobDeploymentStatus", "") for o in items)
    ids = [str(j["submission_id"]) for j in on_head if j.get("submission_id")]
    per = ray_jobs_per_rayjob([o["metadata"]["name"] for o in items], ids)
    on_ray = {str(j["submission_id"]): j for j in on_head if j.get("submission_id")}
    unknown = sum(1 for o in items if status(o).get("jobId") not in on_ray)
    complete = {f"{o['metadata']['namespace']}/{o['metadata']['name']}": status(o).get("jobId") for o in items
                if status(o).get("jobDeploymentStatus") == "Complete"}
    latency = [t - created[k] for k, t in finished_at.items() if k in complete] or [float("nan")]
    on_head_s = [(j["end_time"] - j["start_time"]) / 1000 for j in (on_ray.get(i or "") for i in complete.values())
                 if j and j.get("end_time") and j.get("start_time")] or [float("nan")]
    return {"p50": pct(latency, 50), "p99": pct(latency, 99), "max": max(latency), "ray_p50": pct(on_head_s, 50),
            "complete": states.get("Complete", 0), "failed": states.get("Failed", 0),
            "ray_jobs_per_rayjob": dict(Counter(per.values())),
            "once": once_text(per) + (f"; {unknown} whose status.jobId is not on the head" if unknown else "")}


def head_cpu(head: RayHead) -> float:
    """CPU seconds of the Ray head's live processes, with those of the children they reaped
    (the job supervisors and entrypoints come and go)."""
    if head.proc.pid is None:
        return 0.0
    return sum(cpu_seconds(pid, children=True) for pid in head.leftovers(head.proc.pid))


def sum_metric(text: str, metric: str, having: Iterable[str] = ("",)) -> float:
    """Sum of the samples of `metric` in a Prometheus text page whose line holds any of `having`."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith(metric) and line[len(metric):len(metric) + 1] in ("{", " ") \
                and any(h in line for h in having):
            total += float(line.rsplit(" ", 1)[1])
    return total


def dashboard_calls(op: Operator, figures: dict[str, Any]) -> float:
    """The operator's calls to Ray dashboards: KubeRay's went through the API server's proxy
    (the audit log); Raybus's are the watcher's polls and the actuator's Ray actions."""
    if op.svcs is None:
        return float(figures["proxied"])
    watcher = httpx.get(op.svcs.url("watcher", "/metrics"), timeout=5).text
    actuator = httpx.get(op.svcs.url("actuator", "/metrics"), timeout=5).text
    return sum_metric(watcher, "raybus_watcher_ray_polls_total") + \
        sum_metric(actuator, "raybus_actuator_actions_total", RAY_ACTIONS)


class Pacer:
    """Creates the RayJobs at `rate` per second (0: all at once) from a thread, 16 requests at
    most in flight, noting when each create was sent (seconds since t0)."""

    def __init__(self, api: Kube, objects: list[tuple[str, dict[str, Any]]], rate: float, t0: float) -> None:
        self.api, self.objects, self.rate, self.t0 = api, objects, rate, t0
        self.created: dict[str, float] = {}
        self.futures: list[Future[Any]] = []
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _create(self, ns: str, obj: dict[str, Any]) -> None:
        self.created[f"{ns}/{obj['metadata']['name']}"] = time.perf_counter() - self.t0
        self.api.create(f"/apis/ray.io/v1/namespaces/{ns}/rayjobs", obj)

    def _run(self) -> None:
        with ThreadPoolExecutor(16) as pool:
            for i, (ns, obj) in enumerate(self.objects):
                if self.rate:
                    time.sleep(max(0.0, self.t0 + i / self.rate - time.perf_counter()))
                self.futures.append(pool.submit(self._create, ns, obj))

    def start(self) -> None:
        self.thread.start()

    def progress(self) -> str:
        """`, N created` for the progress line; raises the first create that failed."""
        for f in list(self.futures):
            if f.done() and f.exception() is not None:
                raise RuntimeError("a RayJob could not be created") from f.exception()
        return f", {len(self.created)} created"


def run_once(kind: str, label: str, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    head = RayHead(workdir / "head", dashboard_port=free_port())
    head.start()
    namespaces = [f"jobs-{i}" for i in range(NAMESPACES)]
    cp = op = None
    try:
        cp = start_plane(workdir, args.nodes, namespaces)
        api = cp.api
        op = Operator(kind, args, cp, namespaces, workdir, controllers=CONTROLLERS,
                      env={"RAYBUS_RAY_DASHBOARD_ACCESS": "pod"}, kuberay_proxy=True)
        op.start()
        usage, head0 = Usage(op, cp), head_cpu(head)
        objects = [(namespaces[i % NAMESPACES], rayjob(f"rj-{i}", head.dashboard_port, args.entrypoint))
                   for i in range(args.jobs)]
        t0, wall0 = time.perf_counter(), time.time()
        pacer = Pacer(api, objects, args.rate, t0)

        def progress() -> str:
            if not head.running():
                raise RuntimeError(f"the Ray head stopped: {head.proc.log_path}, {head.temp_dir}")
            return pacer.progress()
        pacer.start()
        finished_at, curve = wait_all(api, "/apis/ray.io/v1/rayjobs", args.jobs, t0, t0 + args.timeout, label,
                                      finished, "finished", progress)
        took, wall_done = time.perf_counter() - t0, time.time()
        figures = usage.figures(wall_done)
        shared = head_cpu(head) - head0
        calls = dashboard_calls(op, figures)
        ended = outcome(api.get("/apis/ray.io/v1/rayjobs")["items"],
                        httpx.get(f"{head.url}/api/jobs/", timeout=60).json(), finished_at, pacer.created)
        return {"operator": kind, "seconds": took, "curve": curve, "started": wall0, **ended,
                "dashboard_calls": calls, "head_cpu": shared, **figures}
    finally:
        if op is not None:
            op.stop()
        if cp is not None:
            cp.stop()
        head.stop()


def cpu_floor(rs: list[dict[str, Any]]) -> float:
    """Median over runs of (control plane + operator + Ray head CPU) / cores."""
    return float(statistics.median((x["plane_cpu"] + x["cpu"] + x["head_cpu"]) / x["cores"] for x in rs))


def report(args: argparse.Namespace, results: list[dict[str, Any]], plot: str) -> str:
    n = args.jobs
    by = {k: [r for r in results if r["operator"] == k] for k in ("kuberay", "raybus")}
    pace = f"{args.rate:g} created per second" if args.rate else "all created at once"
    limits = f"QPS {args.qps:g} / burst {args.burst}, KubeRay reconcile concurrency {args.kuberay_concurrency}"
    heading = f"## RayJobs side by side with KubeRay: {n:,} HTTPMode jobs on one Ray head, {pace}, {limits}"
    cmd = (f"python bench/jobs.py --jobs {n} --runs {args.runs} --rate {args.rate:g} --nodes {args.nodes} "
           f"--qps {args.qps:g} --burst {args.burst} --kuberay-concurrency {args.kuberay_concurrency}"
           + (f" --entrypoint '{args.entrypoint}'" if args.entrypoint != "true" else ""))
    rows = side_by_side(by, [
        ("time to all finished, from the first create (s)", "{:.0f}", lambda rs: median(rs, "seconds")),
        ("per job, its create to Complete: p50 (s)", "{:.1f}", lambda rs: median(rs, "p50")),
        ("per job, its create to Complete: p99 (s)", "{:.1f}", lambda rs: median(rs, "p99")),
        ("per job, its create to Complete: max (s)", "{:.1f}", lambda rs: median(rs, "max")),
        ("per job, of that on the Ray head (submitted to ended): p50 (s)", "{:.1f}",
         lambda rs: median(rs, "ray_p50")),
        ("RayJobs Complete", "{:.0f}", lambda rs: median(rs, "complete")),
        ("the operator's Kubernetes API requests per job", "{:.1f}", lambda rs: median(rs, "requests") / n),
        ("its Ray dashboard calls per job", "{:.1f}", lambda rs: median(rs, "dashboard_calls") / n),
        ("conflicts (409), % of its API requests", "{:.2f} %", conflict_share),
        ("operator CPU seconds until all finished", "{:.0f}", lambda rs: median(rs, "cpu")),
        ("peak RSS, all operator processes (MiB)", "{:.0f}", lambda rs: median(rs, "rss")),
        ("Ray head CPU seconds meanwhile (shared work)", "{:.0f}", lambda rs: median(rs, "head_cpu")),
        ("API server + etcd CPU seconds meanwhile", "{:.0f}", lambda rs: median(rs, "control_cpu")),
        ("whole control plane CPU seconds meanwhile", "{:.0f}", lambda rs: median(rs, "plane_cpu")),
        ("time floor from CPU: (control plane + operator + Ray head CPU) / cores (s)", "{:.0f}", cpu_floor),
    ])
    once = {k: "; ".join(sorted({r["once"] for r in rs})) or "—" for k, rs in by.items()}
    rows.append(f"| Ray jobs per RayJob, counted on the head | {once['kuberay']} | {once['raybus']} | |")
    runs = []
    for r in results:
        top, codes, procs, per = run_cells(r, n)
        proxied = ", ".join(f"{c}: {v}" for c, v in sorted(r["proxied_codes"].items())) or "—"
        runs.append(f"| {r['operator']} | {r['seconds']:.0f} s | {r['complete']} / {r['failed']} | {r['requests']} "
                    f"({top}) | {codes} | {r['dashboard_calls']:.0f} (proxied: {proxied}) | {procs} | "
                    f"{r['head_cpu']:.0f} s | {per} |")
    intro = (
        f"`{cmd}` on {machine()}: {n:,} RayJobs (`submissionMode: HTTPMode`, entrypoint `{args.entrypoint}`, a "
        f"head-only RayCluster each, no `shutdownAfterJobFinishes`) in {NAMESPACES} namespaces, {pace} on both "
        f"sides, {args.nodes} kwok nodes of {PODS_PER_NODE} pods; a fresh control plane and a fresh Ray "
        f"{ray_version()} head (`ray start --head`, 2 CPUs) per run, every head pod's IP routed to it; runs "
        f"alternating ({args.runs} per operator; medians). KubeRay {oracle_version()} (built from its Go module) at "
        f"{limits}, with `-use-kubernetes-proxy`: it reaches the dashboard through the API server's service proxy, "
        "so its dashboard calls are in the audit log (counted apart from its Kubernetes API requests; their "
        "cost is in the API server's CPU). Raybus (watcher, actuator, cluster-ctl, job-ctl, nats-server) with "
        "the same QPS and burst per client and `RAYBUS_RAY_DASHBOARD_ACCESS=pod`: its dashboard calls (the "
        "watcher's polls and the actuator's Ray actions, from their metrics) go to the head pod's IP. The "
        "operator's requests are counted from its start until the last RayJob finished. The Ray head runs "
        "the same jobs for both (a supervisor process per job): its CPU is shown apart. Ray jobs per RayJob "
        "are counted on the head after each run: exactly one each is the claim.")
    return comparison(heading, intro, rows, plot, "RayJobs finished over time",
                      ["operator", "all finished", "Complete / Failed", "its API requests (top verbs and resources)",
                       "response codes", "dashboard calls", "CPU / peak RSS by process", "Ray head CPU", "per job"],
                      runs)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--jobs", type=int, default=1000)
    p.add_argument("--runs", type=int, default=2, help="runs per operator, alternating")
    p.add_argument("--rate", type=float, default=1.0, help="RayJobs created per second (0: all at once)")
    p.add_argument("--nodes", type=int, default=0, help="kwok nodes of 500 pods (default: enough for the pods)")
    p.add_argument("--qps", type=float, default=100.0)
    p.add_argument("--burst", type=int, default=200)
    p.add_argument("--kuberay-concurrency", type=int, default=1)
    p.add_argument("--operators", default="kuberay,raybus")
    p.add_argument("--entrypoint", default="true", help="every RayJob's entrypoint")
    p.add_argument("--timeout", type=float, default=0,
                   help="seconds per run (default: the creates' time + 30 minutes)")
    p.add_argument("--save", type=Path, default=None, help="also write every run's figures to this JSON file")
    p.add_argument("--no-write", action="store_true", help="print the section; leave docs/ alone")
    p.add_argument("--keep", type=Path, default=None,
                   help="keep each run's logs (control plane, operator, Ray head) under this directory")
    args = p.parse_args()
    args.nodes = node_count(args.jobs, args.nodes)
    args.timeout = args.timeout or (args.jobs / args.rate if args.rate else 0) + 1800
    if (reason := pod_network()) is not None:
        p.error(f"the Ray head cannot stand in for the clusters' dashboards: {reason}")
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
    stop_cleanly_on_sigterm()
    kinds = [k.strip() for k in args.operators.split(",") if k.strip()]
    results: list[dict[str, Any]] = []
    for i, kind in alternating(kinds, args.runs):
        with tempfile.TemporaryDirectory(prefix=f"raybus-jobs-{kind}-") as tmp:
            workdir = Path(tempfile.mkdtemp(prefix=f"{kind}-{i + 1}-", dir=args.keep)) if args.keep else Path(tmp)
            r = run_once(kind, f"{kind} run {i + 1}/{args.runs}", args, workdir)
        results.append(r)
        print(f"{kind}: {r['seconds']:.0f} s, {r['complete']} Complete, {r['failed']} Failed, "
              f"{r['requests']} requests, {r['dashboard_calls']:.0f} dashboard calls, cpu {r['cpu']:.0f} s, "
              f"rss {r['rss']:.0f} MiB, Ray head cpu {r['head_cpu']:.0f} s, codes {r['codes']}, "
              f"Ray jobs per RayJob: {r['once']}", file=sys.stderr)
    suffix = f"{args.jobs}" + ("" if (args.rate, args.qps, args.burst, args.kuberay_concurrency) == (1, 100, 200, 1)
                               else f"-rate{args.rate:g}-qps{args.qps:g}-c{args.kuberay_concurrency}")
    plot = f"rayjobs-vs-kuberay-{suffix}.svg"
    publish(args, results, report(args, results, plot), plot, args.jobs, f"{args.jobs:,} RayJobs finished over time")


if __name__ == "__main__":
    main()
