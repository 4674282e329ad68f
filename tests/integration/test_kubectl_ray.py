"""Every `kubectl ray` command against Raybus: the plugin's own API calls (its bodies, label and
field selectors, field paths, field manager; `raybus_testbed.kubectl_ray`, read off KubeRay's
kubectl-plugin at ray-operator/v1.7.0) made on a real control plane with kwok nodes, real NATS
and the Raybus services as processes, and their outcome checked.

Where this machine differs from a real cluster: kwok runs no kubelet the API server can reach,
so a pod's `log` answers 404 (checked: the call is made for exactly the pods the plugin selects)
and `kubectl port-forward` (used by `session` and `job submit`) cannot upgrade its connection.
The Ray dashboard is therefore reached through the API server's services proxy, with the plugin's
own `--address` (+ `--headers`, `--verify`) for `job submit`: the same head Service, found from
the same status field, as the port-forward would use. The Ray client port (10001) is gRPC, not
reachable through that proxy: `session` is checked on the dashboard port.
"""

from __future__ import annotations

import json
import os
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from raybus_common.kube.client import APPLY, ApiError
from raybus_testbed import kubectl_ray as kr
from raybus_testbed.kube import Kube
from raybus_testbed.rayheads import RayHeads
from raybus_testbed.services import Services
from raybus_testbed.waiting import wait_until

pytestmark = pytest.mark.integration
Obj = dict[str, Any]


def start_stack(services: Services, *names: str) -> None:
    for name in names:
        services.start(name, f"raybus-{name}", RAYBUS_RAY_DASHBOARD_ACCESS="pod", RAYBUS_RAY_POLL_SECONDS="1",
                       RAYBUS_LOG_LEVEL=os.environ.get("RAYBUS_TEST_LOG_LEVEL", "INFO"))


def apply(api: Kube, path: str, body: Obj) -> Obj:
    """The plugin's Apply: server-side apply under its field manager, not forced."""
    return api.request("PATCH", path, body=body, content_type=APPLY, params={"fieldManager": kr.FIELD_MANAGER})


def pods(api: Kube, ns: str, selector: str) -> list[Obj]:
    items: list[Obj] = api.get(f"/api/v1/namespaces/{ns}/pods", labelSelector=selector)["items"]
    return [p for p in items if not p["metadata"].get("deletionTimestamp")]


def get_workergroups(api: Kube, ns: str, cluster: str) -> list[dict[str, str]]:
    """`kubectl ray get workergroups -c CLUSTER`: clusters by field selector, then each group's pods."""
    clusters = api.get(kr.ray_path("raycluster", ns), fieldSelector=kr.name_selector(cluster))["items"]
    listed = {(c["metadata"]["name"], g["groupName"]): pods(api, ns, kr.workergroup_selector(g["groupName"], cluster))
              for c in clusters for g in c["spec"]["workerGroupSpecs"]}
    return kr.table_rows(kr.get_workergroups(clusters, listed))


def operator_deployment() -> Obj:
    """What the Helm chart must render for `kubectl ray version`: a Deployment labelled
    app.kubernetes.io/name=kuberay-operator whose first container's image tag is Raybus's version."""
    labels = {"app.kubernetes.io/name": "kuberay-operator", "app.kubernetes.io/instance": "raybus",
              "app.kubernetes.io/version": "0.1.0"}
    selector = {"app.kubernetes.io/instance": "raybus", "app.kubernetes.io/component": "actuator"}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "raybus-actuator", "labels": labels},
            "spec": {"replicas": 0, "selector": {"matchLabels": selector}, "template": {
                "metadata": {"labels": selector},
                "spec": {"containers": [{"name": "actuator", "image": "raybus/actuator:0.1.0"}]}}}}


def test_version_create_get_scale_log_delete_a_cluster(services: Services, control_plane: Kube, namespace: str) -> None:
    api, ns = control_plane, namespace
    start_stack(services, "watcher", "actuator", "cluster-ctl")

    # version: Deployments of every namespace by the plugin's selector, the first one's image tag
    api.create(f"/apis/apps/v1/namespaces/{ns}/deployments", operator_deployment())
    listed = api.get("/apis/apps/v1/deployments", labelSelector=kr.OPERATOR_SELECTOR)["items"]
    assert [d["metadata"]["namespace"] for d in listed] == [ns]
    assert kr.operator_version(listed) == "0.1.0"

    # create cluster demo --wait: refused if it exists (a GET), applied, watched until provisioned
    path = kr.ray_path("raycluster", ns, "demo")
    assert not api.exists(path)
    created = apply(api, path, kr.create_cluster("demo", ns))
    assert {m["manager"] for m in created["metadata"]["managedFields"]} == {kr.FIELD_MANAGER}

    def provisioned() -> bool:
        status = api.get(path).get("status") or {}
        return status.get("state") == "ready" or any(
            c["type"] == "RayClusterProvisioned" and c["status"] == "True" for c in status.get("conditions") or [])
    wait_until(provisioned, timeout=90, what="demo provisioned")

    # get cluster demo: listed by field selector; the columns from status
    wait_until(lambda: (api.get(path).get("status") or {}).get("availableWorkerReplicas") == 1, timeout=60,
               what="demo: 1 available worker")
    clusters = api.get(kr.ray_path("raycluster", ns), fieldSelector=kr.name_selector("demo"))["items"]
    (row,) = kr.table_rows(kr.get_clusters(clusters, datetime.now(UTC)))
    assert {k: v for k, v in row.items() if k != "AGE"} == {
        "NAME": "demo", "NAMESPACE": ns, "DESIRED WORKERS": "1", "AVAILABLE WORKERS": "1", "CPUS": "4", "GPUS": "0",
        "TPUS": "0", "MEMORY": "8Gi", "CONDITION": "RayClusterProvisioned", "STATUS": "ready"}, row

    # get nodes -c demo: pods by ray.io/is-ray-node=yes and the cluster
    nodes = kr.table_rows(kr.get_nodes(pods(api, ns, kr.node_selector("demo")), datetime.now(UTC)))
    assert sorted((n["TYPE"], n["WORKER GROUP"], n["CPUS"], n["MEMORY"], n["CLUSTER"]) for n in nodes) == [
        ("head", "headgroup", "2", "4Gi", "demo"), ("worker", "default-group", "2", "4Gi", "demo")], nodes

    # create workergroup extra -c demo: GET, append, PUT (an Update)
    api.request("PUT", path, body=kr.add_worker_group(api.get(path), "extra", cpu="1", memory="2Gi"),
                params={"fieldManager": kr.FIELD_MANAGER})
    # scale cluster demo -w default-group -r 3: GET, change, PUT
    updated, line = kr.scale(api.get(path), "default-group", replicas=3)
    assert updated is not None and line.endswith("(Scaled Replicas: 1 to 3)")
    api.request("PUT", path, body=updated)

    def groups_follow() -> bool:
        rows = {r["NAME"]: r for r in get_workergroups(api, ns, "demo")}
        return rows.get("default-group", {}).get("REPLICAS") == "3/3" and rows.get("extra", {}).get("REPLICAS") == "1/1"
    wait_until(groups_follow, timeout=90, what="demo: default-group 3/3 and extra 1/1 ready")
    assert {r["NAME"]: (r["MIN"], r["MAX"], r["CPUS"], r["MEMORY"]) for r in get_workergroups(api, ns, "demo")} == {
        "default-group": ("0", "2147483647", "6", "12Gi"), "extra": ("1", "10", "1", "2Gi")}
    assert len(pods(api, ns, kr.workergroup_selector("default-group", "demo"))) == 3

    # log demo --node-type head / all: the pods selected, then each one's log (first container)
    (head,) = pods(api, ns, kr.log_selector("demo", "head"))
    assert len(pods(api, ns, kr.log_selector("demo", "worker"))) == 4 and len(pods(api, ns, kr.log_selector("demo"))) == 5
    assert kr.log_params(head) == {"container": "ray-head"}
    with pytest.raises(ApiError) as answer:  # kwok serves no logs: the API server's answer for a kubelet that has none
        api.text(f"/api/v1/namespaces/{ns}/pods/{head['metadata']['name']}/log", **kr.log_params(head))
    assert answer.value.status == 404 and "pods/log" in str(answer.value), answer.value

    # delete demo -y
    api.request("DELETE", path)
    wait_until(lambda: not api.exists(path) and not pods(api, ns, "ray.io/cluster=demo"), timeout=90,
               what="demo and its pods gone")


def test_get_token_of_a_token_auth_cluster(services: Services, control_plane: Kube, namespace: str) -> None:
    api, ns = control_plane, namespace
    start_stack(services, "watcher", "actuator", "cluster-ctl")
    body = kr.create_cluster("secured", ns, worker_replicas=0)
    body["spec"]["authOptions"] = {"mode": "token"}  # `create cluster` has no flag for it: a user's own manifest
    apply(api, kr.ray_path("raycluster", ns, "secured"), body)
    secret = f"/api/v1/namespaces/{ns}/secrets/secured"
    wait_until(lambda: api.exists(secret), timeout=60, what="the secured cluster's token Secret")
    printed = kr.token(api.get(kr.ray_path("raycluster", ns, "secured")), api.get(secret))
    assert len(printed) == 44  # base64 of 32 random bytes
    apply(api, kr.ray_path("raycluster", ns, "open"), kr.create_cluster("open", ns, worker_replicas=0))
    with pytest.raises(kr.PluginError, match="not configured to use authentication tokens"):
        kr.token(api.get(kr.ray_path("raycluster", ns, "open")), None)


def proxy(ns: str, svc: str, port: int) -> str:
    return f"/api/v1/namespaces/{ns}/services/{svc}:{port}/proxy"


def test_job_submit_session_log_and_delete_a_rayjob(services: Services, control_plane: Kube, namespace: str,
                                                     ray_heads: RayHeads, tmp_path: Path) -> None:
    """`job submit --name kjob --address <services proxy> --headers … --verify <ca> --working-dir
    … -- python …`: the InteractiveMode RayJob with its jobId, its cluster Ready, `ray job submit`
    run with that id on the cluster's own Ray, and the RayJob following it to SUCCEEDED."""
    api, ns = control_plane, namespace
    start_stack(services, "watcher", "actuator", "cluster-ctl", "job-ctl")
    sid = kr.submission_id()
    path = kr.ray_path("rayjob", ns, "kjob")
    apply(api, path, kr.submit_rayjob("kjob", ns, "python -c \"print('hello from kubectl ray')\"", sid))

    wait_until(lambda: (api.get(path).get("status") or {}).get("rayClusterName"), timeout=60, what="kjob: its cluster")
    cluster = api.get(path)["status"]["rayClusterName"]
    cluster_path = kr.ray_path("raycluster", ns, cluster)
    wait_until(lambda: kr.cluster_ready(api.get(cluster_path)), timeout=120, what=f"{cluster} ready")
    svc = kr.head_service_name("raycluster", api.get(cluster_path))
    assert svc == f"{cluster}-head-svc"

    # The dashboard through the API server (the plugin waits for a 2xx on it before submitting).
    dashboard = proxy(ns, svc, 8265)
    wait_until(lambda: "ray" in api.text(f"{dashboard}/api/version").lower(), timeout=180, what="the head's dashboard")
    config = yaml.safe_load(Path(api.kubeconfig).read_text())
    server, ca = config["clusters"][0]["cluster"]["server"], config["clusters"][0]["cluster"]["certificate-authority"]
    headers = json.dumps({"Authorization": f"Bearer {config['users'][0]['user']['token']}"})
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "README").write_text("the job's working dir\n")
    cmd = kr.ray_submit_command(server + dashboard, sid, str(tmp_path / "work"),
                                ["python", "-c", "print('hello from kubectl ray')"], headers=headers, verify=ca)
    ray = ray_heads.venv / "bin" / "ray"
    done = subprocess.run([str(ray), *cmd[1:]], check=False, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "hello from kubectl ray" in done.stdout

    # The plugin then watches the RayJob until its jobStatus is terminal.
    def finished() -> bool:
        return (api.get(path).get("status") or {}).get("jobStatus") in kr.TERMINAL_JOB_STATUS
    wait_until(finished, timeout=120, what="kjob: a terminal jobStatus")
    status = api.get(path)["status"]
    assert (status["jobStatus"], status["jobId"], status.get("jobDeploymentStatus")) == ("SUCCEEDED", sid, "Complete"), status
    on_ray = [j for j in json.loads(api.text(f"{dashboard}/api/jobs/")) if j.get("submission_id") == sid]
    assert len(on_ray) == 1 and on_ray[0]["status"] == "SUCCEEDED", "submitted once, by the plugin's command"

    # session rayjob/kjob: the head Service from the RayJob's status, its dashboard port
    job = api.get(path)
    assert kr.head_service_name("rayjob", job) == svc and [p for _, p in kr.SESSION_PORTS["rayjob"]] == [8265]
    service_ports = {p["port"] for p in api.get(f"/api/v1/namespaces/{ns}/services/{svc}")["spec"]["ports"]}
    assert {p for _, p in kr.SESSION_PORTS["raycluster"]} <= service_ports, service_ports
    assert json.loads(api.text(f"{dashboard}/api/version"))["ray_version"]

    # log rayjob/kjob: the cluster from status.rayClusterName, its pods
    selected = pods(api, ns, kr.log_selector(kr.log_cluster_name("rayjob", job)))
    assert sorted(p["metadata"]["labels"]["ray.io/node-type"] for p in selected) == ["head", "worker"]

    # delete rayjob/kjob -y: the RayJob goes, and its cluster with it
    api.request("DELETE", path)
    wait_until(lambda: not api.exists(path) and not api.exists(cluster_path), timeout=120,
               what="kjob and its cluster gone")
