"""The spine end to end: API server → watcher → bus → controller → actuator → API server,
with the demo controller (one ConfigMap per RayCluster), every service a real process.

The last two tests bring their own servers: one restarts NATS under a running stack, the other
runs a control plane without the watch cache, so compacting etcd really expires the watcher's
watches (410 Gone) while RayClusters are deleted.
"""

from __future__ import annotations

import asyncio
import copy
import os
import signal
import time
from pathlib import Path
from typing import Any

import nats as nats_client
import pytest
import yaml

from raybus_common.controller.partitions import DEFAULT_PARTITIONS
from raybus_common.kube.client import ApiError
from raybus_testbed.controlplane import ControlPlane
from raybus_testbed.demo_controller import GONE_REASON, WRITER, configmap_name
from raybus_testbed.kube import Kube
from raybus_testbed.nats import NatsServer
from raybus_testbed.services import Services
from raybus_testbed.waiting import wait_until

pytestmark = pytest.mark.integration
FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "valid" / "raycluster-head-only.yaml"
WATCH_DEMO = {"RAYBUS_WATCH_EXTRA": "configmap=raybus.io/demo=true"}


def spine(svcs: Services, *, demos: int = 1, **watcher_env: str) -> list[str]:
    """Start watcher, actuator and `demos` demo-controller replicas; return the replicas' names."""
    svcs.start("watcher", "raybus-watcher", **WATCH_DEMO, **watcher_env)
    svcs.start("actuator", "raybus-actuator")
    names = [f"demo-{i}" for i in range(1, demos + 1)]
    for name in names:
        svcs.start(name, "-m", "raybus_testbed.demo_controller")
    return names


def raycluster(name: str, replicas: int = 2) -> dict[str, Any]:
    obj = copy.deepcopy(yaml.safe_load(FIXTURE.read_text()))
    obj["metadata"] = {"name": name}
    obj["spec"]["workerGroupSpecs"] = [{"groupName": "w", "replicas": replicas, "minReplicas": 0,
                                        "maxReplicas": 10, "template": obj["spec"]["headGroupSpec"]["template"]}]
    return obj


def rcs(ns: str) -> str:
    return f"/apis/ray.io/v1/namespaces/{ns}/rayclusters"


def scale(api: Kube, ns: str, name: str, replicas: int) -> None:
    api.merge_patch(f"{rcs(ns)}/{name}", {"spec": {"workerGroupSpecs": raycluster(name, replicas)["spec"]
                                                   ["workerGroupSpecs"]}})


def cm(api: Kube, ns: str, cluster: str) -> dict[str, Any] | None:
    try:
        return api.get(f"/api/v1/namespaces/{ns}/configmaps/{configmap_name(cluster)}")
    except ApiError as e:
        if e.status == 404:  # not there (yet)
            return None
        raise


def workers(api: Kube, ns: str, cluster: str) -> str | None:
    got = cm(api, ns, cluster)
    return got["data"]["workers"] if got else None


def open_watches(api: Kube, resource: str, scope: str) -> float:
    """Watch requests the API server holds open for `resource` in `scope` (its own gauge)."""
    labels = (f'resource="{resource}"', f'scope="{scope}"', 'verb="WATCH"')
    return sum(float(line.rsplit(" ", 1)[1]) for line in api.text("/metrics").splitlines()
               if line.startswith("apiserver_longrunning_requests{") and all(x in line for x in labels))


def gone_events(api: Kube, ns: str) -> list[dict[str, Any]]:
    items = api.get(f"/apis/events.k8s.io/v1/namespaces/{ns}/events")["items"]
    return [e for e in items if e["reason"] == GONE_REASON]


def test_a_change_in_the_api_server_reaches_the_controller_and_is_applied(
        services: Services, control_plane: Kube, namespace: str) -> None:
    spine(services)
    control_plane.create(rcs(namespace), raycluster("spine"))
    wait_until(lambda: workers(control_plane, namespace, "spine") == "2", timeout=60,
                       what="the demo ConfigMap")
    scale(control_plane, namespace, "spine", 5)
    wait_until(lambda: workers(control_plane, namespace, "spine") == "5", timeout=60,
                       what="the ConfigMap to follow the new replicas")
    written = cm(control_plane, namespace, "spine")
    assert written is not None and written["metadata"]["annotations"][WRITER] == "demo-1"
    assert [f["manager"] for f in written["metadata"]["managedFields"]] == ["raybus"]
    control_plane.delete(f"{rcs(namespace)}/spine")
    wait_until(lambda: cm(control_plane, namespace, "spine") is None, timeout=60,
                       what="garbage collection of the ConfigMap")
    wait_until(lambda: {e["regarding"]["name"] for e in gone_events(control_plane, namespace)} == {"spine"},
                       timeout=60, what="the controller to see the deletion")


def test_three_replicas_share_the_roots_and_a_dead_ones_share_moves(
        services: Services, control_plane: Kube, namespace: str) -> None:
    replicas = spine(services, demos=3)
    held = "raybus_controller_partitions_held"
    wait_until(lambda: sorted(services.metric(r, held) > 0 for r in replicas) == [True] * 3
               and sum(services.metric(r, held) for r in replicas) == DEFAULT_PARTITIONS, timeout=30,
               what="the three replicas to split the partitions")
    names = [f"rc-{i}" for i in range(24)]
    for name in names:
        control_plane.create(rcs(namespace), raycluster(name))
    wait_until(lambda: all(cm(control_plane, namespace, n) for n in names), timeout=90,
                       what="a ConfigMap for every RayCluster")
    writers = {n: cm(control_plane, namespace, n)["metadata"]["annotations"][WRITER] for n in names}  # type: ignore[index]
    assert len(set(writers.values())) >= 2, f"one replica did all the work: {writers}"

    victim = max(replicas, key=lambda r: list(writers.values()).count(r))
    orphaned = [n for n, w in writers.items() if w == victim]
    services.procs[victim].kill()
    killed_at = time.monotonic()
    for name in orphaned:
        scale(control_plane, namespace, name, 3)
    wait_until(lambda: all(workers(control_plane, namespace, n) == "3" for n in orphaned), timeout=60,
                       what="the dead replica's roots reconciled by the others")
    took = time.monotonic() - killed_at
    new_writers = {n: cm(control_plane, namespace, n)["metadata"]["annotations"][WRITER] for n in orphaned}  # type: ignore[index]
    assert victim not in new_writers.values()
    print(f"\n{len(orphaned)} roots of the killed replica reconciled by others {took:.1f}s after SIGKILL")
    assert took < 10 + 5, f"takeover took {took:.1f}s (leases expire after 10 s)"
    # The others' roots were untouched by the kill: still written by their first owner.
    assert all(cm(control_plane, namespace, n)["metadata"]["annotations"][WRITER] == w  # type: ignore[index]
               for n, w in writers.items() if w != victim)


def test_restarting_nats_mid_stream_converges(tmp_path: Path, kubeconfig: Path, control_plane: Kube,
                                              namespace: str) -> None:
    nats = NatsServer(tmp_path / "nats")  # our own server: the session's keeps serving the other tests
    nats.start()
    svcs = Services(tmp_path, nats.url, kubeconfig)
    try:
        spine(svcs)
        names = [f"rc-{i}" for i in range(12)]
        for i, name in enumerate(names):
            control_plane.create(rcs(namespace), raycluster(name))
            if i == 5:
                nats.restart()  # file storage: streams, consumers and leases survive
        for name in names[:6]:
            scale(control_plane, namespace, name, 4)
        wait_until(lambda: all(workers(control_plane, namespace, n) == ("4" if i < 6 else "2")
                                       for i, n in enumerate(names)), timeout=120,
                           what="every RayCluster's ConfigMap after the NATS restart")
        assert all(p.running() for p in svcs.procs.values()), "a service died with NATS"
    finally:
        svcs.stop()
        nats.stop()


async def _bus_about(nats_url: str, ns: str, names: list[str]) -> str:
    """What the bus holds about `names` (state of the RayClusters and their ConfigMaps, results)."""
    nc = await nats_client.connect(nats_url)
    js, out = nc.jetstream(), []
    try:
        for name in names:
            for subject in (f"raybus.state.raycluster.{ns}.{name}", f"raybus.state.configmap.{ns}.{name}-demo",
                            f"raybus.res.raycluster.{ns}.{name}"):
                try:
                    msg = await js.get_last_msg("RAYBUS_RES" if ".res." in subject else "RAYBUS_STATE", subject)
                    out.append(f"{subject}: {(msg.data or b'')[:160]!r}")
                except Exception as e:  # noqa: BLE001 - diagnostics only
                    out.append(f"{subject}: {type(e).__name__}")
    finally:
        await nc.close()
    return "\n".join(out)


def test_deletions_during_an_expired_watch_still_reach_the_controller(tmp_path: Path, nats_url: str) -> None:
    cp = ControlPlane(tmp_path / "kube", watch_cache=False)
    cp.start()
    svcs = Services(tmp_path, nats_url, cp.kubeconfig)
    api, ns = cp.api, "expiry"
    try:
        api.create("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
        # Watching one namespace tells the watcher's watches apart from kube-controller-manager's
        # (cluster-wide) in the API server's metrics.
        spine(svcs, RAYBUS_WATCH_TIMEOUT_SECONDS="2", RAYBUS_WATCH_NAMESPACES=ns)
        names = [f"rc-{i}" for i in range(5)]
        for name in names:
            api.create(rcs(ns), raycluster(name))
        wait_until(lambda: all(cm(api, ns, n) for n in names), timeout=60, what="the demo ConfigMaps")

        watcher = svcs.procs["watcher"]
        assert watcher.pid is not None
        wait_until(lambda: open_watches(api, "rayclusters", "namespace") >= 1, timeout=30,
                   what="the watcher's RayCluster watch open (what the metric counts)")
        os.kill(watcher.pid, signal.SIGSTOP)  # its watches time out server-side while it sleeps
        try:
            wait_until(lambda: open_watches(api, "rayclusters", "namespace") == 0, timeout=30,
                       what="the stopped watcher's RayCluster watch to end at the API server")
            doomed = names[:3]
            for name in doomed:
                api.delete(f"{rcs(ns)}/{name}")
            wait_until(lambda: all(cm(api, ns, n) is None for n in doomed), timeout=60, what="garbage collection")
            cp.compact_etcd()  # the watcher's resourceVersions are history now
        finally:
            os.kill(watcher.pid, signal.SIGCONT)

        try:
            wait_until(lambda: {e["regarding"]["name"] for e in gone_events(api, ns)} == set(doomed), timeout=60,
                     what="every deletion to reach the controller")
        except TimeoutError:
            print(asyncio.run(_bus_about(nats_url, ns, doomed)))
            raise
        assert svcs.metric("watcher", "raybus_watcher_watch_expired_total") >= 1, "no watch expired: nothing tested"
        assert all(cm(api, ns, n) for n in names[3:])
        assert {e["regarding"]["name"] for e in gone_events(api, ns)} == set(doomed), "a live cluster reported gone"
    finally:
        svcs.stop()
        cp.stop()
