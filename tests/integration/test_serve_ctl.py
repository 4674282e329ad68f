"""serve-ctl end to end: a real control plane with kwok nodes, real NATS, the watcher, the
actuator, cluster-ctl and serve-ctl as processes, and a real Ray head with Ray Serve
(`ray_head`) standing in for every head pod: the kwok pod network is routed to this machine
(`pod_network`), so a head pod's IP reaches it. What Serve serves is asked of Serve itself, at
the head pod's IP.

One shared head cannot tell two clusters apart (both clusters' pod IPs reach it): here a spec
change shows the pending cluster, the switch of both Services and the old cluster's deletion
after its delay (with serve-ctl SIGKILLed mid-upgrade and restarted), not that the traffic moved
between two Rays.
"""

from __future__ import annotations

import copy
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
import yaml

from raybus_testbed.kube import Kube
from raybus_testbed.rayhead import RayHead
from raybus_testbed.services import Services
from raybus_testbed.waiting import wait_until

if TYPE_CHECKING:
    from raybus_testbed.rayheads import RayHeads

pytestmark = pytest.mark.integration
SAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "samples" / "raycluster-sample.yaml"
ENV = {"RAYBUS_RAY_DASHBOARD_ACCESS": "pod", "RAYBUS_RAY_POLL_SECONDS": "1", "RAYBUS_RAY_TIMEOUT_SECONDS": "10",
       "RAYBUS_LOG_LEVEL": os.environ.get("RAYBUS_TEST_LOG_LEVEL", "INFO")}
DEPLOYED = 240.0  # seconds for Serve to start its controller, proxy and replica on a busy head


def cluster_config(head: Any, image: str = "rayproject/ray:2.52.0") -> dict[str, Any]:
    """The sample cluster, its head naming `head`'s dashboard and serve ports."""
    spec: dict[str, Any] = copy.deepcopy(yaml.safe_load(SAMPLE.read_text())["spec"])
    container = spec["headGroupSpec"]["template"]["spec"]["containers"][0]
    container["image"] = image
    container["ports"] = [p for p in container["ports"] if p["name"] != "dashboard"] + [
        {"name": "dashboard", "containerPort": head.dashboard_port}, {"name": "serve", "containerPort": head.serve_port}]
    spec["workerGroupSpecs"][0].update(replicas=1, minReplicas=1)
    return spec


def serve_config(head: RayHead, greeting: str) -> str:
    return yaml.safe_dump({
        "http_options": {"host": "0.0.0.0", "port": head.serve_port},
        "applications": [{"name": "hello", "import_path": "raybus_hello:app", "route_prefix": "/hello",
                          "deployments": [{"name": "Hello", "user_config": {"greeting": greeting}}]}]})


@pytest.fixture
def ray(ray_head: RayHead, pod_network: None) -> Any:
    yield ray_head
    httpx.delete(f"{ray_head.url}/api/serve/applications/", headers=ray_head.headers, timeout=120)


@dataclass(frozen=True)
class Ports:
    """Where every head's own Ray listens (`cluster_config` puts them in the head's spec)."""

    dashboard_port: int
    serve_port: int


@pytest.fixture
def rays(services: Services, control_plane: Kube, namespace: str, pod_network: None,
         tmp_path: Path) -> Iterator[Callable[[], tuple[RayHeads, Ports]]]:
    """Called: a Ray of its own for each head pod, at the pod's IP (`RayHeads`, Serve's proxy on
    `<podIP>:<serve port>`), then the watcher, the actuator, cluster-ctl and serve-ctl. Skips the
    test when Ray is missing; the Rays are closed after the test."""
    from raybus_testbed.procs import free_port
    from raybus_testbed.rayhead import NoRay
    from raybus_testbed.rayheads import RayHeads

    started: list[RayHeads] = []

    def start() -> tuple[RayHeads, Ports]:
        ports = Ports(dashboard_port=free_port(), serve_port=free_port())
        try:
            heads = RayHeads(control_plane, namespace, tmp_path / "heads", serve_port=ports.serve_port)
        except NoRay as e:
            pytest.skip(f"no Ray: {e}")
        heads.start()
        started.append(heads)
        for name in ("watcher", "actuator", "cluster-ctl", "serve-ctl"):
            services.start(name, f"raybus-{name}", **ENV)
        return heads, ports

    yield start
    for heads in started:
        heads.close()


def test_a_rayservice_serves_redeploys_in_place_and_upgrades_to_a_new_cluster(
        services: Services, control_plane: Kube, namespace: str, ray: RayHead) -> None:
    for name in ("watcher", "actuator", "cluster-ctl", "serve-ctl"):
        services.start(name, f"raybus-{name}", **ENV)
    base = f"/apis/ray.io/v1/namespaces/{namespace}/rayservices"
    control_plane.create(base, {"apiVersion": "ray.io/v1", "kind": "RayService", "metadata": {"name": "hello"},
                                "spec": {"serveConfigV2": serve_config(ray, "hello"), "rayClusterDeletionDelaySeconds": 5,
                                         "rayClusterConfig": cluster_config(ray)}})

    def status() -> dict[str, Any]:
        got: dict[str, Any] = control_plane.get(f"{base}/hello").get("status") or {}
        return got

    def ready(st: dict[str, Any]) -> bool:
        return any(c["type"] == "Ready" and c["status"] == "True" for c in st.get("conditions") or [])

    def selects(svc: str) -> str:
        got = control_plane.get(f"/api/v1/namespaces/{namespace}/services/{svc}")
        return str(got["spec"]["selector"]["ray.io/cluster"])

    def head_pod(cluster: str) -> dict[str, Any]:
        pods = control_plane.get(f"/api/v1/namespaces/{namespace}/pods",
                                 labelSelector=f"ray.io/cluster={cluster},ray.io/node-type=head")["items"]
        assert len(pods) == 1, pods
        return dict(pods[0])

    def served(cluster: str) -> str:
        ip = head_pod(cluster)["status"]["podIP"]
        return httpx.get(f"http://{ip}:{ray.serve_port}/hello", timeout=10).text

    wait_until(lambda: ready(status()), timeout=DEPLOYED, what="hello: Ready")
    first = status()
    active = first["activeServiceStatus"]["rayClusterName"]
    assert first["activeServiceStatus"]["applicationStatuses"]["hello"]["status"] == "RUNNING"
    assert first["serviceStatus"] == "Running" and first["numServeEndpoints"] >= 1
    assert not (first.get("pendingServiceStatus") or {}).get("rayClusterName")
    assert selects("hello-head-svc") == selects("hello-serve-svc") == active
    assert head_pod(active)["metadata"]["labels"]["ray.io/serve"] == "true"
    assert served(active) == "hello"
    assert services.metric("serve-ctl", "kuberay_service_info") == 1
    assert 'condition="true"' in httpx.get(services.url("serve-ctl", "/metrics"), timeout=5).text

    # A changed serve config is put on the same cluster: no new cluster.
    control_plane.merge_patch(f"{base}/hello", {"spec": {"serveConfigV2": serve_config(ray, "hi")}})
    wait_until(lambda: served(active) == "hi", timeout=DEPLOYED, what="hello: redeployed in place")
    assert status()["activeServiceStatus"]["rayClusterName"] == active
    clusters = f"/apis/ray.io/v1/namespaces/{namespace}/rayclusters"
    assert [c["metadata"]["name"] for c in control_plane.get(clusters)["items"]] == [active]

    # A changed cluster spec: a pending cluster, the Services switched to it once it serves,
    # promoted, and the old cluster deleted after its 5 s.
    control_plane.merge_patch(f"{base}/hello", {"spec": {"rayClusterConfig": cluster_config(
        ray, image="rayproject/ray:2.53.0")}})
    # serve-ctl SIGKILLed mid-upgrade (the pending cluster named): a new one resumes it.
    wait_until(lambda: bool((status().get("pendingServiceStatus") or {}).get("rayClusterName")), timeout=60,
               what="hello: a pending cluster")
    pending = status()["pendingServiceStatus"]["rayClusterName"]
    services.procs["serve-ctl"].kill()
    services.start("serve-ctl", "raybus-serve-ctl", **ENV)
    wait_until(lambda: status().get("activeServiceStatus", {}).get("rayClusterName") not in (None, active)
               and ready(status()), timeout=DEPLOYED, what="hello: upgraded to a new cluster")
    new = status()["activeServiceStatus"]["rayClusterName"]
    assert new == pending, "the upgrade resumed with the cluster named before the SIGKILL"
    assert selects("hello-head-svc") == selects("hello-serve-svc") == new
    wait_until(lambda: [c["metadata"]["name"] for c in control_plane.get(clusters)["items"]] == [new], timeout=90,
               what="the old cluster deleted")
    reasons = {e["reason"] for e in control_plane.get(f"/apis/events.k8s.io/v1/namespaces/{namespace}/events")["items"]
               if e["regarding"].get("name") == "hello"}
    assert {"CreatedRayCluster", "CreatedService", "UpdatedService", "DeletedRayCluster",
            "UpdatedServeApplications"} <= reasons, reasons


def test_an_upgrade_moves_traffic_between_two_rays_with_no_failed_request(
        rays: Callable[[], tuple[RayHeads, Ports]], control_plane: Kube, namespace: str) -> None:
    """Each head pod gets a Ray of its own at its pod IP (`RayHeads`, Serve's proxy on
    `<podIP>:<serve port>`); a client loop plays kube-proxy for the serve Service (the head pod of
    the cluster its selector names, at every request) through a cluster spec change: every request
    is answered, first by the old cluster's Ray, then by the new one's, never a failure."""
    _, ports = rays()
    base = f"/apis/ray.io/v1/namespaces/{namespace}/rayservices"

    def config(greeting: str) -> str:
        return yaml.safe_dump({"applications": [{
            "name": "hello", "import_path": "raybus_hello:app", "route_prefix": "/hello",
            "deployments": [{"name": "Hello", "user_config": {"greeting": greeting}}]}]})

    control_plane.create(base, {"apiVersion": "ray.io/v1", "kind": "RayService", "metadata": {"name": "two"},
                                "spec": {"serveConfigV2": config("blue"), "rayClusterDeletionDelaySeconds": 5,
                                         "rayClusterConfig": cluster_config(ports)}})

    def status() -> dict[str, Any]:
        got: dict[str, Any] = control_plane.get(f"{base}/two").get("status") or {}
        return got

    def ready() -> bool:
        return any(c["type"] == "Ready" and c["status"] == "True" for c in status().get("conditions") or [])

    wait_until(ready, timeout=DEPLOYED, what="two: Ready")
    first = status()["activeServiceStatus"]["rayClusterName"]
    answers: list[tuple[str, str]] = []  # (cluster, what it said, or the failure)
    stop = threading.Event()

    def client() -> None:
        while not stop.is_set():
            try:
                svc = control_plane.get(f"/api/v1/namespaces/{namespace}/services/two-serve-svc")
                cluster = svc["spec"]["selector"]["ray.io/cluster"]
                pods = control_plane.get(f"/api/v1/namespaces/{namespace}/pods",
                                         labelSelector=f"ray.io/cluster={cluster},ray.io/node-type=head")["items"]
                ip = pods[0]["status"]["podIP"]
                got = httpx.get(f"http://{ip}:{ports.serve_port}/hello", timeout=10)
                answers.append((cluster, got.text if got.status_code == 200 else f"FAILED {got.status_code}"))
            except Exception as e:  # noqa: BLE001 - every failure is the test's finding
                answers.append(("?", f"FAILED {type(e).__name__}: {e}"))
            time.sleep(0.2)

    loop = threading.Thread(target=client, daemon=True)
    loop.start()
    control_plane.merge_patch(f"{base}/two", {"spec": {"serveConfigV2": config("green"), "rayClusterConfig":
                                                       cluster_config(ports, image="rayproject/ray:2.53.0")}})
    wait_until(lambda: status()["activeServiceStatus"]["rayClusterName"] != first and ready(), timeout=DEPLOYED,
               what="two: upgraded to a new cluster")
    second = status()["activeServiceStatus"]["rayClusterName"]
    clusters = f"/apis/ray.io/v1/namespaces/{namespace}/rayclusters"
    wait_until(lambda: [c["metadata"]["name"] for c in control_plane.get(clusters)["items"]] == [second],
               timeout=90, what="the old cluster deleted")
    time.sleep(2)
    stop.set()
    loop.join(timeout=30)
    failures = [a for a in answers if a[1].startswith("FAILED")]
    assert not failures, failures[:5]
    said = [text for _, text in answers]
    assert said[0] == "blue" and said[-1] == "green", said
    switch = said.index("green")
    assert set(said[:switch]) == {"blue"} and set(said[switch:]) == {"green"}, "no flapping"
    assert {c for c, text in answers if text == "blue"} == {first}
    assert {c for c, text in answers if text == "green"} == {second}


def test_an_incremental_upgrade_steps_the_httproute_weights_between_two_rays(
        rays: Callable[[], tuple[RayHeads, Ports]], control_plane: Kube, namespace: str) -> None:
    """NewClusterWithIncrementalUpgrade with the Gateway API's CRDs (no gateway controller: the
    test accepts the Gateway and HTTPRoute as one would): the Gateway, the HTTPRoute and each
    cluster's serve Service made; on a spec change the route's weights step by stepSizePercent,
    each Ray gets its target capacity, and the new cluster is promoted at 100 % traffic."""
    from datetime import UTC, datetime

    from raybus_testbed import gatewayapi

    if not control_plane.exists("/apis/gateway.networking.k8s.io/v1"):
        pytest.skip("the control plane serves no Gateway API (see its log for why)")
    heads, ports = rays()
    gw_api = f"/apis/gateway.networking.k8s.io/v1/namespaces/{namespace}"
    stop = threading.Event()

    def gateway_controller() -> None:  # accepts what serve-ctl makes, as a gateway controller would
        while not stop.is_set():
            now = datetime.now(UTC)
            for plural, name, make in (("gateways", "inc-gateway", gatewayapi.gateway_status),
                                       ("httproutes", "inc-httproute", gatewayapi.route_status)):
                try:
                    obj = control_plane.get(f"{gw_api}/{plural}/{name}")
                    want = make(obj, now=now)  # the CRD defaults a Gateway's conditions to Unknown/Pending
                    if not accepted(obj.get("status") or {}, want):
                        control_plane.merge_patch(f"{gw_api}/{plural}/{name}/status", {"status": want})
                except Exception:  # noqa: BLE001, S110 - not made yet, or changed meanwhile: next round
                    pass
            time.sleep(0.5)

    def accepted(status: dict[str, Any], want: dict[str, Any]) -> bool:
        def true(conds: list[dict[str, Any]]) -> set[str]:
            return {c["type"] for c in conds or [] if c.get("status") == "True"}
        if "conditions" in want:
            return true(status.get("conditions") or []) >= true(want["conditions"])
        return len(status.get("parents") or []) == len(want["parents"]) and all(
            true(have.get("conditions") or []) >= true(wanted["conditions"])
            for have, wanted in zip(status.get("parents") or [], want["parents"], strict=False))

    controller = threading.Thread(target=gateway_controller, daemon=True)
    controller.start()
    try:
        base = f"/apis/ray.io/v1/namespaces/{namespace}/rayservices"
        hello = yaml.safe_dump({"applications": [{"name": "hello", "import_path": "raybus_hello:app",
                                                  "route_prefix": "/hello"}]})
        strategy = {"type": "NewClusterWithIncrementalUpgrade", "clusterUpgradeOptions": {
            "maxSurgePercent": 50, "stepSizePercent": 50, "intervalSeconds": 3, "gatewayClassName": "test"}}
        control_plane.create(base, {"apiVersion": "ray.io/v1", "kind": "RayService", "metadata": {"name": "inc"},
                                    "spec": {"serveConfigV2": hello, "rayClusterDeletionDelaySeconds": 5,
                                             "upgradeStrategy": strategy,
                                             "rayClusterConfig": {**cluster_config(ports),
                                                                  "enableInTreeAutoscaling": True}}})

        def status() -> dict[str, Any]:
            got: dict[str, Any] = control_plane.get(f"{base}/inc").get("status") or {}
            return got

        def ready() -> bool:
            return any(c["type"] == "Ready" and c["status"] == "True" for c in status().get("conditions") or [])

        def weights() -> list[tuple[str, int]]:
            route = control_plane.get(f"{gw_api}/httproutes/inc-httproute")
            return [(b["name"], b.get("weight", 1)) for b in route["spec"]["rules"][0]["backendRefs"]]

        wait_until(lambda: ready() and (status().get("activeServiceStatus") or {}).get("rayClusterName"),
                   timeout=DEPLOYED, what="inc: Ready, its first cluster active")
        first = status()["activeServiceStatus"]["rayClusterName"]
        wait_until(lambda: control_plane.exists(f"{gw_api}/httproutes/inc-httproute"), timeout=60, what="the HTTPRoute")
        assert weights() == [(f"{first}-serve-svc", 100)]
        gateway = control_plane.get(f"{gw_api}/gateways/inc-gateway")
        assert gateway["spec"]["gatewayClassName"] == "test" and gateway["spec"]["listeners"][0]["port"] == 80
        assert control_plane.exists(f"/api/v1/namespaces/{namespace}/services/{first}-serve-svc")

        control_plane.merge_patch(f"{base}/inc", {"spec": {"rayClusterConfig": {
            **cluster_config(ports, image="rayproject/ray:2.53.0"), "enableInTreeAutoscaling": True}}})
        seen: list[list[tuple[str, int]]] = []

        def promoted() -> bool:
            current = weights()
            if not seen or seen[-1] != current:
                seen.append(current)
            active = status()["activeServiceStatus"]["rayClusterName"]
            return active != first and not (status().get("pendingServiceStatus") or {}).get("rayClusterName")

        wait_until(promoted, timeout=DEPLOYED, what="inc: the new cluster promoted", interval=0.5)
        second = status()["activeServiceStatus"]["rayClusterName"]
        pending_weights = [dict(w).get(f"{second}-serve-svc") for w in seen]
        steps = [w for w in pending_weights if w is not None]
        assert steps[:1] == [0] and 50 in steps and 100 in steps, seen
        assert steps == sorted(steps), f"the new cluster's weight only rises: {seen}"
        head = control_plane.get(f"/api/v1/namespaces/{namespace}/services/inc-head-svc")
        wait_until(lambda: control_plane.get(f"/api/v1/namespaces/{namespace}/services/inc-head-svc")["spec"]
                   ["selector"]["ray.io/cluster"] == second, timeout=60, what="the head Service on the new cluster")
        assert head is not None
        new_ray = heads.head(head_pod_name(control_plane, namespace, second))
        capacity = httpx.get(f"{new_ray.url}/api/serve/applications/", timeout=30).json().get("target_capacity")
        assert capacity == 100, capacity
    finally:
        stop.set()


def head_pod_name(api: Kube, namespace: str, cluster: str) -> str:
    pods = api.get(f"/api/v1/namespaces/{namespace}/pods",
                   labelSelector=f"ray.io/cluster={cluster},ray.io/node-type=head")["items"]
    return str(pods[0]["metadata"]["name"])
