"""raybus_testbed.kubectl_ray: the plugin's bodies, selectors and tables, against values read
off KubeRay's kubectl-plugin source (ray-operator/v1.7.0) and its printers' rules."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from raybus_testbed import kubectl_ray as kr

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_create_cluster_with_the_flags_defaults_is_the_plugins_apply_body() -> None:
    body = kr.create_cluster("demo", "ns")
    assert body["metadata"] == {"name": "demo", "namespace": "ns"}
    spec = body["spec"]
    assert spec["rayVersion"] == "2.52.0" and set(spec) == {"rayVersion", "headGroupSpec", "workerGroupSpecs"}
    head = spec["headGroupSpec"]["template"]["spec"]["containers"][0]
    assert head == {"name": "ray-head", "image": "rayproject/ray:2.52.0",
                    "resources": {"requests": {"cpu": "2", "memory": "4Gi"}, "limits": {"memory": "4Gi"}},
                    "ports": [{"name": "gcs-server", "containerPort": 6379}, {"name": "dashboard", "containerPort": 8265},
                              {"name": "client", "containerPort": 10001}]}
    assert "rayStartParams" not in spec["headGroupSpec"]
    (group,) = spec["workerGroupSpecs"]
    assert {k: v for k, v in group.items() if k != "template"} == {"groupName": "default-group", "replicas": 1, "numOfHosts": 1}
    worker = group["template"]["spec"]["containers"][0]
    assert worker["name"] == "ray-worker" and worker["resources"]["requests"] == {"cpu": "2", "memory": "4Gi"}


@pytest.mark.parametrize(("flags", "path", "expected"), [
    ({"head_gpu": "1"}, ("headGroupSpec", "limits"), {"memory": "4Gi", "nvidia.com/gpu": "1"}),
    ({"head_cpu": "500m", "head_memory": "1.5Gi"}, ("headGroupSpec", "requests"), {"cpu": "500m", "memory": "1536Mi"}),
    ({"worker_tpu": "4"}, ("workerGroupSpecs", "requests"), {"cpu": "2", "memory": "4Gi", "google.com/tpu": "4"}),
    ({"worker_ephemeral_storage": "10Gi"}, ("workerGroupSpecs", "limits"), {"memory": "4Gi", "ephemeral-storage": "10Gi"}),
], ids=["head-gpu-limit", "canonical-quantities", "worker-tpu", "worker-ephemeral"])
def test_resource_flags(flags: dict[str, Any], path: tuple[str, str], expected: dict[str, str]) -> None:
    spec = kr.create_cluster("c", "ns", **flags)["spec"]
    group = spec[path[0]] if path[0] == "headGroupSpec" else spec[path[0]][0]
    assert group["template"]["spec"]["containers"][0]["resources"][path[1]] == expected


@pytest.mark.parametrize(("image", "version", "expected"), [
    (kr.DEFAULT_IMAGE, "2.52.0", "rayproject/ray:2.52.0"),
    (kr.DEFAULT_IMAGE, "2.41.0", "rayproject/ray:2.41.0"),
    ("", "2.41.0", "rayproject/ray:2.41.0"),
    ("my/ray:x", "2.41.0", "my/ray:x"),
], ids=["default", "version-moves-default-image", "empty", "own-image-kept"])
def test_image_follows_the_ray_version_only_when_defaulted(image: str, version: str, expected: str) -> None:
    assert kr.resolve_image(image, version) == expected


def test_autoscaler_labels_and_params() -> None:
    body = kr.create_cluster("c", "ns", labels={"a": "b"}, autoscaler="v2", head_ray_start_params={"num-cpus": "0"})
    assert body["metadata"]["labels"] == {"a": "b"}
    assert body["spec"]["enableInTreeAutoscaling"] is True and body["spec"]["autoscalerOptions"] == {"version": "v2"}
    assert body["spec"]["headGroupSpec"]["rayStartParams"] == {"num-cpus": "0"}


def cluster(**group: Any) -> dict[str, Any]:
    g = {"groupName": "g", "replicas": 1, "minReplicas": 0, "maxReplicas": 5, **group}
    return {"metadata": {"name": "c", "namespace": "ns"}, "spec": {"workerGroupSpecs": [g]}}


def test_add_worker_group_appends_the_plugins_group() -> None:
    rc = cluster()
    got = kr.add_worker_group(rc, "big", gpu="1")
    assert rc["spec"]["workerGroupSpecs"] == cluster()["spec"]["workerGroupSpecs"], "the input is left alone"
    new = got["spec"]["workerGroupSpecs"][1]
    assert (new["groupName"], new["replicas"], new["minReplicas"], new["maxReplicas"], new["numOfHosts"]) == ("big", 1, 1, 10, 1)
    res = new["template"]["spec"]["containers"][0]["resources"]
    assert res["limits"] == res["requests"] == {"cpu": "2", "memory": "4Gi", "nvidia.com/gpu": "1"}
    assert new["template"]["spec"]["containers"][0]["image"] == "rayproject/ray:2.52.0"


@pytest.mark.parametrize(("kw", "replicas", "line"), [
    ({"replicas": 3}, 3, "Updated worker group g in Ray cluster c in namespace ns (Scaled Replicas: 1 to 3)"),
    ({"replicas": 1}, None, "Worker group g in Ray cluster c in namespace ns already matches the requested configuration. Skipping."),
    ({"min_replicas": 1, "max_replicas": 4}, 1,
     "Updated worker group g in Ray cluster c in namespace ns (Scaled minReplicas: 0 to 1, Scaled maxReplicas: 5 to 4)"),
], ids=["replicas", "unchanged", "min-max"])
def test_scale(kw: dict[str, int], replicas: int | None, line: str) -> None:
    updated, printed = kr.scale(cluster(), "g", **kw)
    assert printed == line
    assert (updated["spec"]["workerGroupSpecs"][0]["replicas"] if updated else None) == replicas


@pytest.mark.parametrize(("group", "kw", "error"), [
    ("x", {"replicas": 1}, "worker group x not found in Ray cluster c in namespace ns. Available worker groups: g"),
    ("g", {"replicas": 6}, "cannot set --replicas (6) greater than --max-replicas (5)"),
    ("g", {"min_replicas": 2}, "cannot set --replicas (1) less than --min-replicas (2)"),
], ids=["unknown-group", "above-max", "below-min"])
def test_scale_refuses(group: str, kw: dict[str, int], error: str) -> None:
    with pytest.raises(kr.PluginError, match=error.replace("(", r"\(").replace(")", r"\)")):
        kr.scale(cluster(), group, **kw)


def test_job_submit_body_is_interactive_with_its_job_id() -> None:
    body = kr.submit_rayjob("j", "ns", "python x.py", "raysubmit_ABC")
    spec = body["spec"]
    assert (spec["submissionMode"], spec["jobId"], spec["entrypoint"]) == ("InteractiveMode", "raysubmit_ABC", "python x.py")
    assert spec["ttlSecondsAfterFinished"] == 0 and spec["shutdownAfterJobFinishes"] is False
    (group,) = spec["rayClusterSpec"]["workerGroupSpecs"]
    assert group["groupName"] == "default-group" and "numOfHosts" not in group


def test_submission_id_and_ray_command() -> None:
    sid = kr.submission_id()
    assert sid.startswith("raysubmit_") and len(sid) == 26 and not set(sid[10:]) - set(kr.SUBMISSION_CHARS)
    assert kr.ray_submit_command("http://localhost:8265", sid, ".", ["python", "-c", "1"]) == [
        "ray", "job", "submit", "--address", "http://localhost:8265", "--submission-id", sid,
        "--working-dir", ".", "--", "python", "-c", "1"]


@pytest.mark.parametrize(("status", "ready"), [
    ({"state": "ready"}, True), ({"conditions": [{"type": "Ready", "status": "True"}]}, True),
    ({"state": "suspended", "conditions": [{"type": "HeadPodReady", "status": "True"}]}, False), ({}, False),
], ids=["state", "ready-condition", "head-ready-only", "none"])
def test_cluster_ready(status: dict[str, Any], ready: bool) -> None:
    assert kr.cluster_ready({"status": status}) is ready


@pytest.mark.parametrize(("kind", "obj", "svc", "cluster_name"), [
    ("raycluster", {"metadata": {"name": "c"}, "status": {"head": {"serviceName": "c-head-svc"}}}, "c-head-svc", "c"),
    ("rayjob", {"metadata": {"name": "j"}, "status": {"rayClusterName": "j-x",
                                                       "rayClusterStatus": {"head": {"serviceName": "j-x-head-svc"}}}},
     "j-x-head-svc", "j-x"),
    ("rayservice", {"metadata": {"name": "s"}, "status": {"activeServiceStatus": {
        "rayClusterName": "s-y", "rayClusterStatus": {"head": {"serviceName": "s-y-head-svc"}}}}}, "s-y-head-svc", "s-y"),
], ids=["cluster", "job", "service"])
def test_head_service_and_log_cluster(kind: str, obj: dict[str, Any], svc: str, cluster_name: str) -> None:
    assert kr.head_service_name(kind, obj) == svc and kr.log_cluster_name(kind, obj) == cluster_name


def test_selectors_and_arguments() -> None:
    assert kr.log_selector("c") == "ray.io/cluster=c"
    assert kr.log_selector("c", "head") == "ray.io/node-type=head, ray.io/cluster=c"
    assert kr.node_selector("c") == "ray.io/is-ray-node=yes,ray.io/cluster=c" and kr.node_selector() == "ray.io/is-ray-node=yes"
    assert kr.workergroup_selector("g", "c") == "ray.io/node-type=worker,ray.io/group=g,ray.io/cluster=c"
    assert kr.parse_resources(["a", "RayJob/b", "rayservice/c"]) == [("raycluster", "a"), ("rayjob", "b"), ("rayservice", "c")]
    with pytest.raises(ValueError, match="invalid resource type/name: pod/x"):
        kr.parse_resources(["pod/x"])
    assert kr.ray_path("rayjob", "ns", "b") == "/apis/ray.io/v1/namespaces/ns/rayjobs/b"


def test_token() -> None:
    rc = {"metadata": {"name": "c", "namespace": "ns"}, "spec": {"authOptions": {"mode": "token"}}}
    assert kr.token(rc, {"data": {"auth_token": base64.b64encode(b"s3cret").decode()}}) == "s3cret"
    with pytest.raises(kr.PluginError, match="does not have an auth_token"):
        kr.token(rc, {"data": {}})
    with pytest.raises(kr.PluginError, match="was not configured to use authentication tokens"):
        kr.token({**rc, "spec": {}}, None)


@pytest.mark.parametrize(("image", "version"), [
    ("raybus/actuator:0.1.0", "0.1.0"), ("localhost:5000/raybus/actuator:v1", "v1"), ("raybus/actuator", "latest"),
    ("quay.io/kuberay/operator:v1.5.0@sha256:abc", "v1.5.0@sha256:abc"),
], ids=["tag", "registry-port", "no-tag", "tag-and-digest"])
def test_operator_version(image: str, version: str) -> None:
    dep = {"spec": {"template": {"spec": {"containers": [{"name": "x", "image": image}]}}}}
    assert kr.operator_version([dep]) == version


@pytest.mark.parametrize(("seconds", "text"), [
    (-5, "<invalid>"), (-1, "0s"), (59, "59s"), (119, "119s"), (125, "2m5s"), (600, "10m"), (3 * 3600 + 60, "3h1m"),
    (9 * 3600, "9h"), (50 * 3600, "2d2h"), (30 * 86400, "30d"), (3 * 365 * 86400, "3y"), (9 * 365 * 86400, "9y"),
], ids=["invalid", "almost-now", "s", "under-2m", "m-s", "m", "h-m", "h", "d-h", "d", "y", "many-y"])
def test_human_duration(seconds: int, text: str) -> None:
    assert kr.human_duration(seconds) == text


def test_get_clusters_table() -> None:
    created = (NOW - timedelta(seconds=30)).isoformat().replace("+00:00", "Z")
    rc = {"metadata": {"name": "demo", "namespace": "ns", "creationTimestamp": created},
          "status": {"desiredWorkerReplicas": 1, "availableWorkerReplicas": 1, "desiredCPU": "4",
                     "desiredMemory": "8Gi", "state": "ready",
                     "conditions": [{"type": "HeadPodReady", "status": "True"},
                                    {"type": "RayClusterProvisioned", "status": "True"}]}}
    text = kr.get_clusters([rc], NOW)
    assert text.splitlines()[0].split("   ")[0] == "NAME"
    assert kr.table_rows(text) == [{"NAME": "demo", "NAMESPACE": "ns", "DESIRED WORKERS": "1", "AVAILABLE WORKERS": "1",
                                    "CPUS": "4", "GPUS": "0", "TPUS": "0", "MEMORY": "8Gi",
                                    "CONDITION": "RayClusterProvisioned", "STATUS": "ready", "AGE": "30s"}]
    assert kr.get_clusters([], NOW) == ""


def test_table_alignment() -> None:
    assert kr.table(["Name", "X"], [["a", "1"], ["longer", "2"]]) == "NAME     X\na        1\nlonger   2\n"


def pod(name: str, group: str, ready: bool, cpu: str = "2") -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "ns", "creationTimestamp": "2026-01-02T03:00:05Z",
                         "labels": {"ray.io/cluster": "c", "ray.io/node-type": "worker", "ray.io/group": group}},
            "spec": {"containers": [{"name": "ray-worker", "resources": {"requests": {"cpu": cpu, "memory": "4Gi"}}}]},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": str(ready)}]}}


def test_get_workergroups_and_nodes_tables() -> None:
    rc = cluster(replicas=2, template={"spec": {"containers": [
        {"name": "w", "resources": {"requests": {"cpu": "2"}, "limits": {"cpu": "3", "memory": "4Gi", "nvidia.com/gpu": "1"}}}]}})
    pods = {("c", "g"): [pod("w1", "g", True), pod("w2", "g", False)]}
    assert kr.table_rows(kr.get_workergroups([rc], pods)) == [
        {"NAME": "g", "MIN": "0", "MAX": "5", "REPLICAS": "1/2", "CPUS": "4", "GPUS": "2", "TPUS": "0", "MEMORY": "8Gi",
         "CLUSTER": "c"}]
    rows = kr.table_rows(kr.get_nodes(pods[("c", "g")], NOW, all_namespaces=True))
    assert rows[0] == {"NAMESPACE": "ns", "NAME": "w1", "CPUS": "2", "GPUS": "0", "TPUS": "0", "MEMORY": "4Gi",
                       "CLUSTER": "c", "TYPE": "worker", "WORKER GROUP": "g", "AGE": "4m"}
