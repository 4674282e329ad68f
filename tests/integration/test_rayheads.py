"""`ray_heads` (`raybus_testbed.rayheads.RayHeads`) against the real control plane and real Ray:
two RayClusters' head pods (made directly, as KubeRay labels them; kwok makes them Running with
pod IPs) each get a Ray head of their own, bound to their pod IP:

- each pod IP's dashboard is its own head's (`/api/version` names that head's session), each
  serves its metrics on a port of its own, and a pod that is no head pod gets none;
- a Ray job submitted to one head runs on that head's cluster (its driver's GCS is at that pod
  IP) and is unknown to the other;
- a Serve application put to one head (`raybus_hello`, route prefix `/`, the proxy on the pod
  IP) answers at that pod IP's serve port and nothing listens there on the other's;
- deleting a pod stops its head (every process gone, its dashboard refusing) and only its;
- a pool started after its pods are Running starts their heads from its first listing, picks
  pods by its own selector, and `close()` stops every head it runs.

The pods name their dashboard port (the head container's port named `dashboard`, as KubeRay's
do): 8265, unless something already listens on 8265 on every address (the session's `ray_head`,
or another session's), which excludes a head on `<podIP>:8265`; then a free port.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from raybus_testbed.kube import Kube
from raybus_testbed.procs import free_port
from raybus_testbed.rayhead import DASHBOARD_PORT, RayHead, port_free
from raybus_testbed.rayheads import RayHeads
from raybus_testbed.waiting import wait_until

pytestmark = pytest.mark.integration

PODS = "/api/v1/namespaces/{ns}/pods"
DEPLOYED = 180.0  # seconds for Serve's controller, proxy and replica on a busy machine


def head_pod(name: str, cluster: str, dashboard_port: int, *, node_type: str = "head") -> dict[str, Any]:
    """A RayCluster's head pod as KubeRay labels it (kwok runs nothing of it)."""
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {
        "ray.io/node-type": node_type, "ray.io/cluster": cluster, "app.kubernetes.io/created-by": "kuberay-operator"}},
        "spec": {"restartPolicy": "Always", "containers": [{
            "name": "ray-head", "image": "rayproject/ray:2.60.0", "command": ["/bin/bash", "-c", "false"],
            "ports": [{"name": "gcs-server", "containerPort": 6379},
                      {"name": "dashboard", "containerPort": dashboard_port},
                      {"name": "serve", "containerPort": 8000}]}]}}


def pod_ip(kube: Kube, namespace: str, name: str) -> str:
    pod = kube.get(f"{PODS.format(ns=namespace)}/{name}")
    return str((pod.get("status") or {}).get("podIP") or "")


def refused(url: str) -> bool:
    """Nothing listens at `url`'s address and port."""
    try:
        httpx.get(url, timeout=5)
    except httpx.ConnectError:
        return True
    return False


def metrics_served(head: RayHead) -> bool:
    """The head's dashboard serves its Prometheus metrics on the port the pool gave it."""
    assert head.proc.env is not None
    port = head.proc.env["DASHBOARD_METRIC_PORT"]
    return httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).status_code == 200


def session_of(head: RayHead) -> str:
    return str(httpx.get(head.url + "/api/version", timeout=10).json()["session_name"])


def submit(head: RayHead, job_id: str, entrypoint: str) -> None:
    answer = httpx.post(head.url + "/api/jobs/", json={"entrypoint": entrypoint, "submission_id": job_id}, timeout=30)
    assert answer.status_code == 200, answer.text


def job_status(head: RayHead, job_id: str) -> str:
    return str(httpx.get(f"{head.url}/api/jobs/{job_id}", timeout=10).json()["status"])


def test_each_head_pod_gets_a_ray_head_of_its_own_at_its_pod_ip(control_plane: Kube, namespace: str,
                                                                ray_heads: RayHeads) -> None:
    port = DASHBOARD_PORT if port_free(DASHBOARD_PORT) else free_port()
    pods = PODS.format(ns=namespace)
    control_plane.create(pods, head_pod("rc-a-head", "rc-a", port))
    control_plane.create(pods, head_pod("rc-b-head", "rc-b", port))
    control_plane.create(pods, head_pod("rc-a-worker", "rc-a", port, node_type="worker"))
    ip_a = wait_until(lambda: pod_ip(control_plane, namespace, "rc-a-head"), timeout=60, what="rc-a-head's pod IP")
    ip_b = wait_until(lambda: pod_ip(control_plane, namespace, "rc-b-head"), timeout=60, what="rc-b-head's pod IP")
    assert ip_a != ip_b

    a, b = ray_heads.head("rc-a-head"), ray_heads.head("rc-b-head")
    assert (a.url, b.url) == (f"http://{ip_a}:{port}", f"http://{ip_b}:{port}")
    # Each IP's dashboard is its own head's: the session its `ray start` opened.
    assert session_of(a).endswith(f"_{a.proc.pid}") and session_of(b).endswith(f"_{b.proc.pid}")
    assert a.proc.pid != b.proc.pid
    for head in (a, b):  # the Prometheus servers `ray start` has no flag for: each head's own port
        wait_until(lambda h=head: metrics_served(h), timeout=60, what=f"{head.url}'s dashboard metrics")
    wait_until(lambda: pod_ip(control_plane, namespace, "rc-a-worker"), timeout=60, what="the worker pod's IP")
    assert sorted(ray_heads.running()) == ["rc-a-head", "rc-b-head"]  # the worker pod has none

    # A job on A runs in A's cluster (its driver's GCS is at A's pod IP); B never heard of it.
    job_id = f"{namespace}-on-a"
    submit(a, job_id, "python -c \"import ray; ray.init(); print('gcs', ray.get_runtime_context().gcs_address)\"")
    wait_until(lambda: job_status(a, job_id) in ("SUCCEEDED", "FAILED", "STOPPED"), timeout=180,
               what="the job on A to end")
    logs = httpx.get(f"{a.url}/api/jobs/{job_id}/logs", timeout=10).json()["logs"]
    assert job_status(a, job_id) == "SUCCEEDED", logs
    assert f"gcs {ip_a}:" in logs
    assert httpx.get(f"{b.url}/api/jobs/{job_id}", timeout=10).status_code == 404
    assert [j["submission_id"] for j in httpx.get(f"{b.url}/api/jobs/", timeout=10).json()] == []

    # Serve on A, its proxy on A's pod IP: it answers there, and nothing listens on B's IP.
    config = {"http_options": {"host": ip_a, "port": a.serve_port},
              "applications": [{"name": "hello", "import_path": "raybus_hello:app", "route_prefix": "/"}]}
    put = httpx.put(f"{a.url}/api/serve/applications/", json=config, timeout=60)
    assert put.status_code == 200, put.text
    served = f"http://{ip_a}:{a.serve_port}/"
    wait_until(lambda: httpx.get(served, timeout=10).text == "hello", timeout=DEPLOYED,
               what=f"{served} to say hello")
    assert refused(f"http://{ip_b}:{a.serve_port}/")
    assert httpx.get(f"{b.url}/api/serve/applications/", timeout=30).json().get("applications") in ({}, None)

    # Deleting A's pod stops A's head, all of it; B's goes on.
    session = a.proc.pid
    assert session is not None
    control_plane.delete(f"{pods}/rc-a-head")
    wait_until(lambda: not a.running() and not a.leftovers(session), timeout=120,
               what="A's Ray head's processes to exit")
    assert refused(a.url + "/api/version") and refused(served)
    wait_until(lambda: sorted(ray_heads.running()) == ["rc-b-head"], timeout=30, what="only B's head listed")
    assert session_of(b).endswith(f"_{b.proc.pid}") and b.running()


def test_a_pool_started_after_its_pods_starts_their_heads_from_the_listing_and_close_stops_them(
        control_plane: Kube, namespace: str, ray_heads: RayHeads, tmp_path: Path) -> None:
    """A pool of its own whose selector picks one pod (labelled as no head, so `ray_heads`
    leaves it alone), Running before the pool starts; `close()` stops its head."""
    port = DASHBOARD_PORT if port_free(DASHBOARD_PORT) else free_port()
    control_plane.create(PODS.format(ns=namespace), head_pod("listed", "listed", port, node_type="worker"))
    ip = wait_until(lambda: pod_ip(control_plane, namespace, "listed"), timeout=60, what="the pod's IP")
    pool = RayHeads(control_plane, namespace, tmp_path / "listed", selector="ray.io/cluster=listed")
    pool.start()
    try:
        head = pool.head("listed")
        session = head.proc.pid
        assert session is not None and session_of(head).endswith(f"_{session}")
        assert head.url == f"http://{ip}:{port}" and list(pool.running()) == ["listed"]
        assert ray_heads.running() == {}
    finally:
        pool.close()
    assert not head.running() and not head.leftovers(session)
    assert refused(head.url + "/api/version")
    assert pool.running() == {}
