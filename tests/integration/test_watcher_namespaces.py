"""raybus-watcher over many watched namespaces, and under the RBAC of `deploy/rbac/watcher.yaml`.

Real control plane, real NATS, the services as processes. The watcher runs as a service
account (a token from the TokenRequest API) bound to the ClusterRole of
`deploy/rbac/watcher.yaml`, so these tests also prove that role grants what the watcher needs.

- 50 watched namespaces, a head-only RayCluster in each: every cluster gets its head pod and
  its status, with the ClusterRole bound cluster-wide (each kind watched once, filtered to the
  watched namespaces) and bound per namespace (cluster-wide lists forbidden: 700 watches, one
  connection each). Before the fix the watcher opened 700 watches over a 100-connection pool:
  it never became ready, or clusters never converged. A RayCluster in a namespace not watched,
  created before the others, never reaches the bus.
- A watch the watcher may not open (no RoleBinding in one watched namespace) keeps `/readyz`
  at 503, naming each watch and the API's 403; once the RoleBinding exists the watches
  recover without a restart.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import nats
import pytest
import yaml
from nats.js.errors import NotFoundError

from raybus_common.bus import subjects
from raybus_common.bus.streams import STATE
from raybus_common.kube.resources import GATEWAY_API, OWNED, RAY, SCHEDULERS
from raybus_testbed.kube import Kube
from raybus_testbed.procs import Proc, free_port
from raybus_testbed.services import BIN, Services
from raybus_testbed.waiting import wait_until

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
RBAC = ROOT / "deploy" / "rbac" / "watcher.yaml"
HEAD_ONLY = ROOT / "tests" / "fixtures" / "valid" / "raycluster-head-only.yaml"
WATCHED_KINDS = len(RAY) + len(OWNED) + len(GATEWAY_API) + len(SCHEDULERS)  # the optional kinds' CRDs are installed
_run = itertools.count()


def cluster_role() -> dict[str, Any]:
    [role] = [d for d in yaml.safe_load_all(RBAC.read_text()) if d["kind"] == "ClusterRole"]
    return dict(role)


def binding(kind: str, name: str, sa_ns: str, namespace: str | None = None) -> dict[str, Any]:
    """A (Cluster)RoleBinding of the watcher's ClusterRole to service account `raybus-watcher` in `sa_ns`."""
    meta: dict[str, Any] = {"name": name, **({"namespace": namespace} if namespace else {})}
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind, "metadata": meta,
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "raybus-watcher"},
            "subjects": [{"kind": "ServiceAccount", "name": "raybus-watcher", "namespace": sa_ns}]}


def bind_in(api: Kube, sa_ns: str, namespace: str) -> None:
    api.create(f"/apis/rbac.authorization.k8s.io/v1/namespaces/{namespace}/rolebindings",
               binding("RoleBinding", "raybus-watcher", sa_ns, namespace))


def watcher_kubeconfig(api: Kube, admin: Path, sa_ns: str, out: Path) -> Path:
    """A kubeconfig for service account `raybus-watcher` in `sa_ns` (created here), with a
    token from the TokenRequest API; the ClusterRole is (re)applied from the deploy file."""
    role = cluster_role()
    api.apply(f"/apis/rbac.authorization.k8s.io/v1/clusterroles/{role['metadata']['name']}", role)
    api.create(f"/api/v1/namespaces/{sa_ns}/serviceaccounts",
               {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "raybus-watcher"}})
    token = api.create(f"/api/v1/namespaces/{sa_ns}/serviceaccounts/raybus-watcher/token",
                       {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                        "spec": {"expirationSeconds": 3600}})["status"]["token"]
    cfg = yaml.safe_load(admin.read_text())
    cfg["users"] = [{"name": "raybus-watcher", "user": {"token": token}}]
    for ctx in cfg["contexts"]:
        ctx["context"]["user"] = "raybus-watcher"
    out.write_text(yaml.safe_dump(cfg))
    return out


@pytest.fixture
def many_namespaces(control_plane: Kube, scheduler_crds: Kube) -> Iterator[list[str]]:
    """51 fresh namespaces: 50 to watch and, last, one that is not watched."""
    run = next(_run)
    names = [f"wns-{run}-{i}" for i in range(51)]
    for name in names:
        control_plane.create("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                    "metadata": {"name": name}})
    yield names
    for name in names:
        control_plane.delete(f"/api/v1/namespaces/{name}")


def head_only(name: str) -> dict[str, Any]:
    rc = copy.deepcopy(yaml.safe_load(HEAD_ONLY.read_text()))
    rc["metadata"] = {"name": name}
    small = {"cpu": "100m", "memory": "256Mi"}
    rc["spec"]["headGroupSpec"]["rayStartParams"]["num-cpus"] = "1"
    rc["spec"]["headGroupSpec"]["template"]["spec"]["containers"][0]["resources"] = {"requests": small,
                                                                                     "limits": small}
    return dict(rc)


def converged(api: Kube, namespaces: list[str]) -> list[str]:
    """The watched namespaces whose cluster has no head pod or no ready status yet (empty: done)."""
    heads = {p["metadata"]["namespace"] for p in api.get("/api/v1/pods", labelSelector="ray.io/node-type=head")["items"]}
    ready = {rc["metadata"]["namespace"] for rc in api.get("/apis/ray.io/v1/rayclusters")["items"]
             if (rc.get("status") or {}).get("state") == "ready"}
    return [ns for ns in namespaces if ns not in heads or ns not in ready]


async def on_bus(nats_url: str, subject: str) -> bool:
    nc = await nats.connect(nats_url)
    try:
        await nc.jetstream().get_last_msg(STATE, subject)
        return True
    except NotFoundError:
        return False
    finally:
        await nc.close()


@pytest.mark.parametrize("rbac", ["cluster-wide", "per-namespace"])
def test_fifty_namespaces_every_cluster_converges(rbac: str, services: Services, control_plane: Kube,
                                                 kubeconfig: Path, nats_url: str, tmp_path: Path,
                                                 many_namespaces: list[str]) -> None:
    watched, outside = many_namespaces[:50], many_namespaces[50]
    sa_ns = watched[0]
    sa_config = watcher_kubeconfig(control_plane, kubeconfig, sa_ns, tmp_path / "watcher.kubeconfig")
    crb = f"/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/raybus-watcher-{sa_ns}"
    if rbac == "cluster-wide":  # each kind watched once, in all namespaces, filtered
        control_plane.create("/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
                             binding("ClusterRoleBinding", f"raybus-watcher-{sa_ns}", sa_ns))
    else:  # no cluster-wide list: every kind watched in each namespace (fallback)
        for ns in watched:
            bind_in(control_plane, sa_ns, ns)
    try:
        env = {"RAYBUS_WATCH_NAMESPACES": ",".join(watched)}
        services.start("watcher", "raybus-watcher", KUBECONFIG=str(sa_config), ready_timeout=120, **env)
        services.start("actuator", "raybus-actuator")
        services.start("cluster-ctl", "raybus-cluster-ctl", **env)

        # Not watched, and created first: were it published, it would be before the others.
        control_plane.create(f"/apis/ray.io/v1/namespaces/{outside}/rayclusters", head_only("outside"))
        for ns in watched:
            control_plane.create(f"/apis/ray.io/v1/namespaces/{ns}/rayclusters", head_only("solo"))
        wait_until(lambda: not converged(control_plane, watched), timeout=240, proc=services.procs["watcher"],
                   what="a head pod and a ready status for the RayCluster of each of 50 namespaces")

        assert not asyncio.run(on_bus(nats_url, subjects.state("raycluster", outside, "outside")))
        assert not control_plane.get(f"/api/v1/namespaces/{outside}/pods")["items"]
        body = httpx.get(services.url("watcher", "/readyz"), timeout=5).json()
        assert body == {"ready": True, "stopping": False, "reasons": []}
        lists = services.metric("watcher", "raybus_watcher_lists_total")  # at least one a watch
        assert lists < 50 if rbac == "cluster-wide" else lists >= WATCHED_KINDS * 50
    finally:
        control_plane.delete(crb)


def start_unready(workdir: Path, nats_url: str, kubeconfig: Path, **env: str) -> tuple[Proc, str]:
    """raybus-watcher as a process, not waited for (it is not expected to become ready)."""
    port = free_port()
    proc = Proc("watcher", [str(BIN / "raybus-watcher")], workdir / "watcher.log", env={
        "RAYBUS_NATS_URL": nats_url, "RAYBUS_HTTP_PORT": str(port), "RAYBUS_HTTP_HOST": "127.0.0.1",
        "KUBECONFIG": str(kubeconfig), "RAYBUS_LOG_FORMAT": "json", "RAYBUS_SHUTDOWN_GRACE": "5", **env})
    proc.start()
    return proc, f"http://127.0.0.1:{port}/readyz"


def readiness(url: str) -> tuple[int, dict[str, Any]]:
    resp = httpx.get(url, timeout=2)
    return resp.status_code, resp.json()


@pytest.mark.parametrize("above", ["4", "1"], ids=["per-namespace", "cluster-wide-falls-back"])
def test_a_watch_that_cannot_be_opened_makes_readyz_fail_with_the_reason(
        above: str, control_plane: Kube, kubeconfig: Path, nats_url: str, tmp_path: Path,
        many_namespaces: list[str]) -> None:
    allowed, denied = many_namespaces[:2]
    sa_config = watcher_kubeconfig(control_plane, kubeconfig, allowed, tmp_path / "watcher.kubeconfig")
    bind_in(control_plane, allowed, allowed)  # no RoleBinding in `denied` (yet)
    proc, url = start_unready(tmp_path, nats_url, sa_config, RAYBUS_WATCH_NAMESPACES=f"{allowed},{denied}",
                              RAYBUS_WATCH_CLUSTER_WIDE_ABOVE=above)
    try:
        def only_denied_left() -> dict[str, Any] | None:
            status, body = readiness(url)
            reasons = body.get("reasons", [])
            # The watches in `allowed` are open (on a busy machine one may still be opening: wait
            # for it); those in `denied` name their 403, ten of them, and the count of the rest.
            if (status == 503 and len(reasons) == 11 and reasons[-1] == f"and {WATCHED_KINDS - 10} more watches "
                    "not open" and all(f" in {denied}: 403 Forbidden: " in r for r in reasons[:10])):
                return body
            return None

        body = wait_until(only_denied_left, timeout=60, proc=proc, what="/readyz: 503, the denied watches named")
        assert body["ready"] is False
        assert body["reasons"][-1] == f"and {WATCHED_KINDS - 10} more watches not open"
        assert all(r.startswith("watch of ") and "cannot list resource" in r for r in body["reasons"][:10])

        bind_in(control_plane, allowed, denied)  # fixed while it runs: the watches retry and open
        wait_until(lambda: readiness(url) == (200, {"ready": True, "stopping": False, "reasons": []}),
                   timeout=90, proc=proc, what="/readyz 200 once the RoleBinding exists")
    finally:
        proc.stop()
    assert proc.popen is not None and proc.popen.returncode == 0, proc.tail()
