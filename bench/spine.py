"""Benchmark of the spine: API server → watcher → bus → controller → actuator → API server.

Runs real processes on a real control plane (built and started here, or the cluster named by
RAYBUS_TEST_KUBECONFIG) and a real nats-server: one watcher, one actuator and the demo
controller (`raybus_testbed.demo_controller`, a near no-op: one ConfigMap per RayCluster that
holds its worker count). The bench watches the ConfigMaps itself and measures:

- throughput: N RayClusters created at once (16 writers), then all N scaled at once; events/s
  is N divided by the time from the first API write until the last ConfigMap shows the change;
- latency: one RayCluster scaled every 100 ms, each time from just before the API write until
  the bench's own watch sees the ConfigMap with the new value (p50/p95/p99/max);
- peak RSS of each service and of nats-server.

    .venv/bin/python bench/spine.py [--clusters 500] [--samples 200] [--qps 100] [--no-write]

Figures are printed and written to docs/benchmarks.md (the "Spine" section), with the command
and the machine. No assertion on time here: tests never assert on wall-clock time.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import yaml
from benchlib import DOC, ROOT, machine, pct, peak_rss_mib, stop_cleanly_on_sigterm, write_section

from raybus_common.kube.client import ApiError
from raybus_testbed.controlplane import ControlPlane
from raybus_testbed.demo_controller import configmap_name
from raybus_testbed.kube import Kube
from raybus_testbed.nats import NatsServer
from raybus_testbed.services import Services

FIXTURE = ROOT / "tests" / "fixtures" / "valid" / "raycluster-head-only.yaml"
NS = "bench-spine"


class ConfigMapWatch:
    """Records when each (ConfigMap, workers value) was first seen, from a watch of its own."""

    def __init__(self, api: Kube, namespace: str) -> None:
        self.api, self.namespace = api, namespace
        self.seen: dict[tuple[str, str], float] = {}
        self.cond = threading.Condition()
        self._stop = False

    def start(self) -> None:
        """Take the starting resourceVersion now, so nothing written after this call is missed."""
        rv = self.api.get(f"/api/v1/namespaces/{self.namespace}/configmaps", limit="1")["metadata"]["resourceVersion"]
        self.thread = threading.Thread(target=self._run, args=(rv,), daemon=True, name="cm-watch")
        self.thread.start()

    def _run(self, rv: str) -> None:
        while not self._stop:
            try:
                rv = self._follow(rv)
            except ApiError:
                if self._stop:
                    return  # the control plane is going away
                time.sleep(0.5)  # a broken stream: resume from the last resourceVersion seen

    def _follow(self, rv: str) -> str:
        params = {"watch": "1", "labelSelector": "raybus.io/demo=true", "resourceVersion": rv,
                  "allowWatchBookmarks": "true", "timeoutSeconds": "60"}
        for event in self.api.watch(f"/api/v1/namespaces/{self.namespace}/configmaps", params):
            if self._stop:
                break
            if event["type"] == "ERROR":
                raise RuntimeError(f"the bench's own watch failed: {event['object'].get('message')}")
            obj = event["object"]
            rv = obj["metadata"].get("resourceVersion", rv)
            if event["type"] in ("ADDED", "MODIFIED"):
                key = (obj["metadata"]["name"], (obj.get("data") or {}).get("workers", ""))
                with self.cond:
                    self.seen.setdefault(key, time.perf_counter())
                    self.cond.notify_all()
        return rv

    def wait_for(self, keys: set[tuple[str, str]], timeout: float) -> float:
        """Block until every key was seen; return when the last one was."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while not keys <= self.seen.keys():
                left = deadline - time.monotonic()
                if left <= 0:
                    missing = len(keys - self.seen.keys())
                    raise TimeoutError(f"{missing} of {len(keys)} ConfigMaps not seen after {timeout:.0f}s")
                self.cond.wait(min(left, 1.0))
            return max(self.seen[k] for k in keys)

    def stop(self) -> None:
        self._stop = True
        self.api.close()  # ends the watch in progress, too


def raycluster(name: str, replicas: int) -> dict[str, Any]:
    obj = copy.deepcopy(yaml.safe_load(FIXTURE.read_text()))
    obj["metadata"] = {"name": name}
    obj["spec"]["workerGroupSpecs"] = [{"groupName": "w", "replicas": replicas, "minReplicas": 0,
                                        "maxReplicas": 100, "template": obj["spec"]["headGroupSpec"]["template"]}]
    return obj


def scale_patch(replicas: int) -> dict[str, Any]:
    return {"spec": {"workerGroupSpecs": raycluster("x", replicas)["spec"]["workerGroupSpecs"]}}


def run(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    existing = os.environ.get("RAYBUS_TEST_KUBECONFIG")
    cp: ControlPlane | None = None
    if existing:
        api, kubeconfig = Kube.connect(existing), Path(existing)
    else:
        cp = ControlPlane(workdir / "kube")
        cp.start()
        api, kubeconfig = cp.api, cp.kubeconfig
    nats = NatsServer(workdir / "nats")
    nats.start()
    svcs = Services(workdir, nats.url, kubeconfig, RAYBUS_LOG_LEVEL="WARNING")
    out: dict[str, Any] = {}
    try:
        api.create("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
        svcs.start("watcher", "raybus-watcher", RAYBUS_WATCH_EXTRA="configmap=raybus.io/demo=true",
                   RAYBUS_WATCH_NAMESPACES=NS)
        svcs.start("actuator", "raybus-actuator", RAYBUS_QPS=str(args.qps), RAYBUS_BURST=str(args.qps * 2))
        svcs.start("demo-ctl", "-m", "raybus_testbed.demo_controller")
        watch = ConfigMapWatch(Kube.connect(kubeconfig), NS)
        watch.start()
        rcs = f"/apis/ray.io/v1/namespaces/{NS}/rayclusters"
        names = [f"rc-{i}" for i in range(args.clusters)]

        with ThreadPoolExecutor(16) as pool:
            t0 = time.perf_counter()
            list(pool.map(lambda n: api.create(rcs, raycluster(n, 1)), names))
            created = time.perf_counter() - t0
            last = watch.wait_for({(configmap_name(n), "1") for n in names}, timeout=600)
            out["create_seconds"], out["create_api_seconds"] = last - t0, created

            t0 = time.perf_counter()
            list(pool.map(lambda n: api.merge_patch(f"{rcs}/{n}", scale_patch(2)), names))
            last = watch.wait_for({(configmap_name(n), "2") for n in names}, timeout=600)
            out["update_seconds"] = last - t0

        latencies: list[float] = []
        for i in range(args.samples):
            name, replicas = names[i % len(names)], 10 + i
            start = time.perf_counter()
            api.merge_patch(f"{rcs}/{name}", scale_patch(replicas))
            seen = watch.wait_for({(configmap_name(name), str(replicas))}, timeout=60)
            latencies.append(seen - start)
            time.sleep(max(0.0, 0.1 - (time.perf_counter() - start)))
        out["latency_ms"] = {k: 1000 * v for k, v in (
            ("p50", statistics.median(latencies)), ("p95", pct(latencies, 95)), ("p99", pct(latencies, 99)),
            ("max", max(latencies)))}
        out["rss_mib"] = {name: peak_rss_mib(p.pid) for name, p in svcs.procs.items()}
        out["rss_mib"]["nats-server"] = peak_rss_mib(nats.proc.pid)
        watch.stop()
    finally:
        svcs.stop()
        nats.stop()
        if cp is not None:
            cp.stop()
    return out


def report(args: argparse.Namespace, r: dict[str, Any]) -> str:
    n = args.clusters
    cmd = f"python bench/spine.py --clusters {n} --samples {args.samples} --qps {args.qps}"
    lat = r["latency_ms"]
    rss = ", ".join(f"{k} {v:.0f}" for k, v in r["rss_mib"].items())
    setup = (f"`{cmd}` on {machine()}. One replica of each service; actuator QPS {args.qps} / burst "
             f"{args.qps * 2}; the demo controller (one ConfigMap per RayCluster) stands for a no-op controller.")
    create = (f"| {n} RayClusters created → {n} ConfigMaps applied | {r['create_seconds']:.1f} s "
              f"({n / r['create_seconds']:.0f} events/s; the API writes themselves took "
              f"{r['create_api_seconds']:.1f} s) |")
    update = (f"| {n} RayClusters scaled → {n} ConfigMaps updated | {r['update_seconds']:.1f} s "
              f"({n / r['update_seconds']:.0f} events/s) |")
    latency = (f"| latency, API write → action applied (n={args.samples}, one every 100 ms) | p50 {lat['p50']:.0f} ms, "
               f"p95 {lat['p95']:.0f} ms, p99 {lat['p99']:.0f} ms, max {lat['max']:.0f} ms |")
    path = ("Each event crosses the API server's watch, the watcher, `raybus.state.*`, the controller's "
            "replay consumer, `raybus.act.*`, the actuator's work queue and a server-side apply, and is "
            "seen by the bench through a watch of its own.")
    return "\n".join([f"## Spine: watcher → controller → actuator (actuator QPS {args.qps})", "", setup, "", "| measure | value |", "|---|---|",
                      create, update, latency, f"| peak RSS (MiB) | {rss} |", "", path, ""])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clusters", type=int, default=500)
    p.add_argument("--samples", type=int, default=200)
    p.add_argument("--qps", type=int, default=100, help="actuator client-side QPS (burst is twice this)")
    p.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md alone")
    args = p.parse_args()
    stop_cleanly_on_sigterm()
    with tempfile.TemporaryDirectory(prefix="raybus-bench-") as tmp:
        result = run(args, Path(tmp))
    section = report(args, result)
    print(section)
    print(json.dumps(result, indent=2), file=sys.stderr)
    if not args.no_write:
        write_section(section)
        print(f"written to {DOC.relative_to(ROOT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
