"""Scale benchmark of cluster-ctl: N RayClusters (1 head + 3 workers each, the shape of KubeRay's
clusterloader2 `1000-raycluster` test) on the kwok control plane, until every one is `ready`.

For each cluster-ctl replica count asked for (`--replicas 1,2`), on a fresh control plane and
NATS: start the watcher, the actuator and the cluster-ctl replicas; create the N RayClusters
(16 writers, spread over 10 namespaces like clusterloader2); poll until all are `ready`. Then:

- seconds from the first create until all N are ready;
- API requests the API server served meanwhile (`apiserver_request_total`), in all and per
  cluster, minus the bench's own creates and polls (the rest includes kube-controller-manager,
  the scheduler and kwok, which KubeRay's runs pay too);
- Raybus's own writes (the actuator's actions: creates, status, events, deletes);
- peak RSS of each Raybus service and of nats-server.

    .venv/bin/python bench/scale.py [--clusters 1000] [--replicas 1,2] [--no-write]

KubeRay's published figure for 1,000 clusters (v1.1.1 on GKE) is a 258 s wait step
(KubeRay's benchmark docs). Figures go to docs/benchmarks.md ("Scale" section).
"""

from __future__ import annotations

import argparse
import copy
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import yaml
from benchlib import DOC, ROOT, machine, peak_rss_mib, stop_cleanly_on_sigterm, write_section

from raybus_testbed.controlplane import ControlPlane, FakeNode
from raybus_testbed.kube import Kube
from raybus_testbed.nats import NatsServer
from raybus_testbed.services import Services
from raybus_testbed.waiting import wait_until

SAMPLE = ROOT / "deploy" / "samples" / "raycluster-sample.yaml"
NAMESPACES = 10
NODES = tuple(FakeNode(f"kwok-big-{i}", cpu="1000", memory="4000Gi", pods="500") for i in range(20))


def raycluster(name: str, workers: int) -> dict[str, Any]:
    """The sample with clusterloader2's resources: requests 100m CPU, limit 1 CPU."""
    obj = copy.deepcopy(yaml.safe_load(SAMPLE.read_text()))
    obj["metadata"] = {"name": name}
    res = {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"cpu": "1", "memory": "256Mi"}}
    obj["spec"]["headGroupSpec"]["template"]["spec"]["containers"][0]["resources"] = res
    group = obj["spec"]["workerGroupSpecs"][0]
    group.update(replicas=workers, minReplicas=0, maxReplicas=max(workers, 5))
    group["template"]["spec"]["containers"][0]["resources"] = res
    return obj


def requests_total(api: Kube) -> float:
    total = 0.0
    for line in api.text("/metrics").splitlines():
        if line.startswith("apiserver_request_total{"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def run_once(args: argparse.Namespace, replicas: int, workdir: Path) -> dict[str, Any]:
    cp = ControlPlane(workdir / "kube", nodes=NODES)
    cp.start()
    nats = NatsServer(workdir / "nats")
    nats.start()
    api = cp.api
    svcs = Services(workdir, nats.url, cp.kubeconfig, RAYBUS_LOG_LEVEL="WARNING")
    try:
        namespaces = [f"scale-{i}" for i in range(NAMESPACES)]
        for ns in namespaces:
            api.create("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
        svcs.start("watcher", "raybus-watcher")
        svcs.start("actuator", "raybus-actuator")
        for r in range(replicas):
            svcs.start(f"cluster-ctl-{r}", "raybus-cluster-ctl")
        objects = [(namespaces[i % NAMESPACES], f"rc-{i}") for i in range(args.clusters)]
        before = requests_total(api)
        polls = 0
        t0 = time.perf_counter()
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(lambda o: api.create(f"/apis/ray.io/v1/namespaces/{o[0]}/rayclusters",
                                               raycluster(o[1], args.workers)), objects))
        created = time.perf_counter() - t0

        def all_ready() -> bool:
            nonlocal polls
            items = api.get("/apis/ray.io/v1/rayclusters")["items"]
            polls += 1
            ready = sum((i.get("status") or {}).get("state") == "ready" for i in items)
            print(f"  {time.perf_counter() - t0:6.1f}s  {ready}/{args.clusters} ready", file=sys.stderr)
            return ready == args.clusters

        wait_until(all_ready, timeout=args.timeout - created, interval=2,
                   what=f"all {args.clusters} RayClusters ready (timeout counted from the first create)")
        took = time.perf_counter() - t0
        served = requests_total(api) - before - args.clusters - polls - 1
        pods = len(api.get("/api/v1/pods")["items"])
        writes = svcs.metric("actuator", "raybus_actuator_actions_total")
        rss = {name: peak_rss_mib(p.pid) for name, p in svcs.procs.items()}
        rss["nats-server"] = peak_rss_mib(nats.proc.pid)
        return {"replicas": replicas, "seconds": took, "create_seconds": created, "requests": served,
                "writes": writes, "pods": pods, "rss_mib": rss}
    finally:
        svcs.stop()
        nats.stop()
        cp.stop()


def report(args: argparse.Namespace, results: list[dict[str, Any]]) -> str:
    n = args.clusters
    cmd = f"python bench/scale.py --clusters {n} --replicas {args.replicas} --workers {args.workers}"
    rows = []
    for r in results:
        rss = ", ".join(f"{k} {v:.0f}" for k, v in r["rss_mib"].items())
        rows.append(f"| {r['replicas']} | {r['seconds']:.0f} s (creates took {r['create_seconds']:.0f} s) | "
                    f"{r['pods']} | {r['requests']:.0f} ({r['requests'] / n:.1f} per cluster) | "
                    f"{r['writes']:.0f} ({r['writes'] / n:.1f} per cluster) | {rss} |")
    intro = (f"`{cmd}` on {machine()}: {n} RayClusters of 1 head + {args.workers} workers (requests 100m CPU) in "
             f"{NAMESPACES} namespaces, on the kwok control plane ({len(NODES)} fake nodes), everything on one "
             "machine. Time is from the first create until every RayCluster's `status.state` is `ready`; "
             "requests are what the API server served meanwhile (apiserver_request_total), less the "
             "bench's own creates and polls — kube-controller-manager, the scheduler and kwok included.")
    return "\n".join([
        "## Scale: RayClusters until ready (cluster-ctl)", "", intro, "",
        ("| cluster-ctl replicas | all ready after | pods | API requests, all clients | of which Raybus's writes "
         "| peak RSS (MiB) |"), "|---|---|---|---|---|---|",
        *rows, "",
        ("KubeRay's published figure for the same shape (clusterloader2 `1000-raycluster`, KubeRay v1.1.1 on "
         "GKE) is a 258 s wait step (648 s in all)."), ""])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clusters", type=int, default=1000)
    p.add_argument("--workers", type=int, default=3)
    p.add_argument("--replicas", default="1,2", help="cluster-ctl replica counts to run, comma-separated")
    p.add_argument("--timeout", type=float, default=1800.0)
    p.add_argument("--no-write", action="store_true")
    args = p.parse_args()
    stop_cleanly_on_sigterm()
    results = []
    for replicas in (int(x) for x in args.replicas.split(",")):
        with tempfile.TemporaryDirectory(prefix="raybus-scale-") as tmp:
            results.append(run_once(args, replicas, Path(tmp)))
        print(results[-1], file=sys.stderr)
    section = report(args, results)
    print(section)
    if not args.no_write:
        write_section(section)
        print(f"written to {DOC.relative_to(ROOT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
