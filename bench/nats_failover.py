"""Failover run: a rollout of N RayClusters with the stack on a 3-node NATS cluster (every stream
and the lease bucket at three replicas) while NATS nodes are killed with SIGKILL.

On a fresh kwok control plane and a fresh `NatsCluster`: start the watcher, the actuator and the
cluster-ctl replicas with `RAYBUS_STREAM_REPLICAS=3` and all three NATS URLs; create the N
RayClusters (the small shape of bench/scale.py); then

1. create a third of them; SIGKILL one NATS node at once (their reconciliation in flight);
   create the second third with it down and wait until `progress` of those are ready; start
   it again and wait until it has rejoined and caught up (`/healthz`);
2. SIGKILL another node; create the last third; wait for progress again; start it again;
3. wait until every RayCluster is `ready`.

Checked at the end (and by tests/integration/test_nats_cluster.py on 30 clusters): nothing
lost — every cluster ready with its pods; nothing applied twice — every pod ever created
(a watch on pods from before the first create, `PodLedger`) is counted per cluster and must be
exactly 1 head + the workers, no name or uid twice. The convergence time goes to
docs/benchmarks.md ("NATS failover"); the test asserts no time.

    .venv/bin/python bench/nats_failover.py [--clusters 500] [--workers 1] [--replicas 2] [--no-write]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import nats
import nats.js.errors
from benchlib import DOC, ROOT, machine, stop_cleanly_on_sigterm, write_section
from scale import NODES, raycluster

from raybus_common.bus import subjects
from raybus_common.bus.streams import STATE
from raybus_testbed.controlplane import ControlPlane
from raybus_testbed.kube import Kube
from raybus_testbed.nats import NatsCluster
from raybus_testbed.services import Services
from raybus_testbed.waiting import wait_until

CLUSTER_LABEL = "ray.io/cluster"


class PodLedger:
    """Every pod the API server ever admitted, from a watch that starts before the rollout
    (resumed from the last resourceVersion when a watch request ends): uid -> (namespace,
    name, cluster). A pod created twice for one slot shows as one pod too many for its cluster,
    even if the surplus was deleted again."""

    def __init__(self, kubeconfig: Path | str) -> None:
        self.api = Kube.connect(kubeconfig)
        self.pods: dict[str, tuple[str, str, str]] = {}
        self.rv = self.api.get("/api/v1/pods")["metadata"]["resourceVersion"]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pod-ledger", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            params = {"watch": "true", "timeoutSeconds": "10", "resourceVersion": self.rv,
                      "allowWatchBookmarks": "true"}
            for ev in self.api.watch("/api/v1/pods", params, read_timeout=30):
                meta = ev["object"].get("metadata") or {}
                self.rv = meta.get("resourceVersion", self.rv)
                if ev["type"] == "ADDED":
                    labels = meta.get("labels") or {}
                    self.pods[meta["uid"]] = (meta["namespace"], meta["name"], labels.get(CLUSTER_LABEL, ""))
                if self._stop.is_set():
                    break

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        self.api.close()

    def per_cluster(self) -> Counter[tuple[str, str]]:
        return Counter((ns, cluster) for ns, _, cluster in self.pods.values())

    def names_twice(self) -> list[tuple[str, str]]:
        names = Counter((ns, name) for ns, name, _ in self.pods.values())
        return [k for k, n in names.items() if n > 1]


@dataclass
class Outcome:
    clusters: int
    workers: int
    seconds: float = 0.0
    create_seconds: float = 0.0
    events: list[str] = field(default_factory=list)  # what was killed/started, and when (seconds from the start)
    not_ready: list[str] = field(default_factory=list)
    wrong_pods: dict[str, int] = field(default_factory=dict)  # cluster -> pods now, where not 1 + workers
    created_twice: dict[str, int] = field(default_factory=dict)  # cluster -> pods ever created, where > 1 + workers
    names_twice: list[str] = field(default_factory=list)
    pods_ever: int = 0  # pods ever created for these clusters
    not_ready_on_bus: int = 0  # of the clusters not ready, those whose observation is in RAYBUS_STATE


def ready_count(api: Kube) -> int:
    items = api.get("/apis/ray.io/v1/rayclusters")["items"]
    return sum((i.get("status") or {}).get("state") == "ready" for i in items)


def rollout(api: Kube, kubeconfig: Path, nats: NatsCluster, objects: list[tuple[str, str]], workers: int, *,
            timeout: float, progress: int) -> Outcome:
    """Create the clusters in thirds, kill and restart two NATS nodes one after the other as
    described above, wait for all ready and judge. `progress`: clusters of the batch created
    while a node is down that must get ready before it is started again."""
    n, out = len(objects), Outcome(len(objects), workers)
    ledger = PodLedger(kubeconfig)
    t0 = time.perf_counter()

    def note(what: str) -> None:
        out.events.append(f"{time.perf_counter() - t0:.0f}s {what}")
        print(f"  {out.events[-1]}", file=sys.stderr)

    def wait_ready(at_least: int, what: str) -> int:
        got = 0

        def enough() -> bool:
            nonlocal got
            got = ready_count(api)
            return got >= at_least
        wait_until(enough, timeout=timeout, interval=1, what=what)
        return got

    def create(batch: list[tuple[str, str]]) -> None:
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(lambda o: api.create(f"/apis/ray.io/v1/namespaces/{o[0]}/rayclusters",
                                               raycluster(o[1], workers)), batch))

    third = max(1, n // 3)
    batches = [objects[:third], objects[third:2 * third], objects[2 * third:]]
    try:
        create(batches[0])
        done = len(batches[0])
        for victim, batch in ((0, batches[1]), (1, batches[2])):
            node = nats.nodes[victim]
            node.kill()  # right after a batch of creates: its clusters are being reconciled
            note(f"SIGKILL {node.name} ({ready_count(api)}/{n} ready)")
            create(batch)  # the next batch while the node is down
            done += len(batch)
            ready = wait_ready(max(1, done - len(batch) + min(progress, len(batch))),
                               f"clusters ready with {node.name} down")
            node.start()
            wait_until(lambda node=node: nats.current(node), timeout=timeout,
                       what=f"{node.name} rejoined and current")
            note(f"{node.name} back and current ({ready}/{n} ready when started)")
        out.create_seconds = time.perf_counter() - t0
        try:
            wait_ready(n, f"all {n} RayClusters ready")
            out.seconds = time.perf_counter() - t0
            note(f"all {n} ready")
        except TimeoutError:
            note(f"{ready_count(api)}/{n} ready when the wait ended")
        judge(api, ledger, objects, out)
        if out.not_ready:
            out.not_ready_on_bus = asyncio.run(observed_on_bus(nats.url, out.not_ready))
        return out
    finally:
        ledger.close()


def judge(api: Kube, ledger: PodLedger, objects: list[tuple[str, str]], out: Outcome) -> None:
    want = 1 + out.workers
    states = {(i["metadata"]["namespace"], i["metadata"]["name"]): (i.get("status") or {}).get("state")
              for i in api.get("/apis/ray.io/v1/rayclusters")["items"]}
    now = Counter((p["metadata"]["namespace"], (p["metadata"].get("labels") or {}).get(CLUSTER_LABEL, ""))
                  for p in api.get("/api/v1/pods")["items"] if not p["metadata"].get("deletionTimestamp"))
    # Let the ledger see every pod that exists now, so a missed one is not a false "lost".
    wait_until(lambda: len(ledger.pods) >= sum(now.values()), timeout=60, what="the pod watch caught up")
    ever = ledger.per_cluster()
    for ns, name in objects:
        key = f"{ns}/{name}"
        if states.get((ns, name)) != "ready":
            out.not_ready.append(key)
        if now[(ns, name)] != want:
            out.wrong_pods[key] = now[(ns, name)]
        if ever[(ns, name)] > want:
            out.created_twice[key] = ever[(ns, name)]
    out.names_twice = [f"{ns}/{name}" for ns, name in ledger.names_twice()]
    out.pods_ever = sum(ever[o] for o in objects)


async def observed_on_bus(url: str, keys: list[str]) -> int:
    """How many of these clusters (`ns/name`) the watcher did publish: a lost cluster on the bus
    was lost by the controllers, one missing from it by the watcher."""
    nc = await nats.connect(url.split(","))
    try:
        js, found = nc.jetstream(), 0
        for key in keys:
            ns, name = key.split("/")
            try:
                await js.get_last_msg(STATE, subjects.state("raycluster", ns, name))
                found += 1
            except nats.js.errors.NotFoundError:
                pass
        return found
    finally:
        await nc.close()


def start_stack(svcs: Services, replicas: int) -> None:
    svcs.start("watcher", "raybus-watcher")
    svcs.start("actuator", "raybus-actuator")
    for r in range(replicas):
        svcs.start(f"cluster-ctl-{r}", "raybus-cluster-ctl")


def stack_env() -> dict[str, str]:
    """Streams and the lease bucket at three replicas (the cluster's size); INFO logs, so that a
    run that stalls shows its disconnects, reconnects and lease changes."""
    return {"RAYBUS_STREAM_REPLICAS": "3", "RAYBUS_LOG_LEVEL": "INFO"}


def run(args: argparse.Namespace, workdir: Path) -> Outcome:
    cp = ControlPlane(workdir / "kube", nodes=NODES)
    cp.start()
    nats = NatsCluster(workdir / "nats")
    nats.start()
    svcs = Services(workdir, nats.url, cp.kubeconfig, **stack_env())
    try:
        namespaces = [f"failover-{i}" for i in range(10)]
        for ns in namespaces:
            cp.api.create("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
        start_stack(svcs, args.replicas)
        objects = [(namespaces[i % len(namespaces)], f"rc-{i}") for i in range(args.clusters)]
        return rollout(cp.api, cp.kubeconfig, nats, objects, args.workers, timeout=args.timeout,
                       progress=max(1, args.clusters // 20))
    finally:
        svcs.stop()
        nats.stop()
        cp.stop()


def report(args: argparse.Namespace, out: Outcome) -> str:
    cmd = (f"python bench/nats_failover.py --clusters {args.clusters} --workers {args.workers} "
           f"--replicas {args.replicas}")
    lost = len(out.not_ready) + len(out.wrong_pods)
    return "\n".join([
        "## NATS failover: a rollout while NATS nodes die", "",
        (f"`{cmd}` on {machine()}: {out.clusters} RayClusters of 1 head + {out.workers} worker(s) on the kwok "
         f"control plane, the watcher, the actuator and {args.replicas} cluster-ctl replica(s) on a 3-node NATS "
         "cluster (`raybus_testbed.nats.NatsCluster`, every stream and the `raybus_leases` bucket at "
         "`RAYBUS_STREAM_REPLICAS=3`, clients given all three URLs). Once a third of the clusters are "
         "created, one node is killed with SIGKILL; the second third is created with it down and, once "
         "some of those are ready, it is started again; when it has caught up (`/healthz`) a second node "
         "is killed, the last third created, and it is restarted the same way."), "",
        "| figure | value |", "|---|---|",
        ("| all ready after (from the first create) | "
         + (f"{out.seconds:.0f} s" if out.seconds else f"not within the {args.timeout:.0f} s timeout")
         + f" (creates and kills took {out.create_seconds:.0f} s) |"),
        f"| clusters not ready, or with a wrong pod count (lost) | {lost} |",
        (f"| clusters with a pod created twice (pods ever created, by a watch from the start) | "
         f"{len(out.created_twice)} of {out.clusters} ({out.pods_ever} pods created in all, "
         f"{out.clusters * (1 + out.workers)} wanted) |"),
        f"| pod names seen twice | {len(out.names_twice)} |",
        (f"| of the clusters not ready, observed on the bus (`raybus.state.raycluster...` in RAYBUS_STATE) | "
         f"{out.not_ready_on_bus} of {len(out.not_ready)} |"),
        "| what happened | " + "; ".join(out.events) + " |", ""])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clusters", type=int, default=500)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--replicas", type=int, default=2, help="cluster-ctl replicas")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds each wait may take")
    p.add_argument("--no-write", action="store_true")
    args = p.parse_args()
    stop_cleanly_on_sigterm()
    with tempfile.TemporaryDirectory(prefix="raybus-failover-") as tmp:
        out = run(args, Path(tmp))
    print(out, file=sys.stderr)
    section = report(args, out)
    print(section)
    if not args.no_write:
        write_section(section)
        print(f"written to {DOC.relative_to(ROOT)}", file=sys.stderr)
    if out.not_ready or out.wrong_pods or out.created_twice or out.names_twice:
        sys.exit(1)


if __name__ == "__main__":
    main()
