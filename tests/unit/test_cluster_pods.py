"""The RayCluster pod builders (`raybus_cluster_ctl.pods`) against KubeRay v1.7's pod.go."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from raybus_cluster_ctl.config import ClusterConfig
from raybus_cluster_ctl.pods.build import head_pod, worker_pod
from raybus_common.crds.raycluster import FT_ENABLED_ANNOTATION, RayCluster

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "valid"
S = ClusterConfig()
Obj = dict[str, Any]


def fixture(name: str) -> Obj:
    data: Obj = yaml.safe_load((FIXTURES / f"raycluster-{name}.yaml").read_text())
    data["metadata"].setdefault("namespace", "default")  # as the API server would have it
    return data


def cluster(**spec: Any) -> Obj:
    """A small cluster `c` in namespace `ns`; keyword arguments replace spec fields."""
    base: Obj = {
        "apiVersion": "ray.io/v1", "kind": "RayCluster",
        "metadata": {"name": "c", "namespace": "ns", "uid": "uid-1"},
        "spec": {
            "rayVersion": "2.52.0",
            "headGroupSpec": {"rayStartParams": {}, "template": {"spec": {"containers": [
                {"name": "ray-head", "image": "rayproject/ray:2.52.0"}]}}},
            "workerGroupSpecs": [{"groupName": "g", "replicas": 1, "minReplicas": 0, "maxReplicas": 3,
                                  "rayStartParams": {}, "template": {"spec": {"containers": [
                                      {"name": "ray-worker", "image": "rayproject/ray:2.52.0"}]}}}],
        },
    }
    base["spec"].update(copy.deepcopy(spec))
    return base


def head(c: Obj, settings: ClusterConfig = S) -> Obj:
    return head_pod(RayCluster.model_validate(c), "c-head-x", settings)


def worker(c: Obj, settings: ClusterConfig = S, index: int = 0, **kw: Any) -> Obj:
    rc = RayCluster.model_validate(c)
    return worker_pod(rc, rc.spec.workers[index], "c-g-worker-x", settings, **kw)


def ray(pod: Obj) -> Obj:
    container: Obj = pod["spec"]["containers"][0]
    return container


def env(container: Obj) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env") or []}


def env_names(container: Obj) -> list[str]:
    return [e["name"] for e in container.get("env") or []]


def start(pod: Obj) -> str:
    value: str = env(ray(pod))["KUBERAY_GEN_RAY_START_CMD"]
    return value


def with_head(c: Obj, **fields: Any) -> Obj:
    c["spec"]["headGroupSpec"].update(fields)
    return c


def with_worker(c: Obj, **fields: Any) -> Obj:
    c["spec"]["workerGroupSpecs"][0].update(fields)
    return c


def with_ray_container(c: Obj, node: str, **fields: Any) -> Obj:
    group = c["spec"]["headGroupSpec"] if node == "head" else c["spec"]["workerGroupSpecs"][0]
    group["template"]["spec"]["containers"][0].update(fields)
    return c


FQDN = "c-head-svc.ns.svc.cluster.local"


# --- the whole ray start command, fixtures and inline ----------------------------------------

HEAD_START = "ray start --head  --block  --dashboard-agent-listen-port=52365  --dashboard-host=0.0.0.0 "
AGENT = " --dashboard-agent-listen-port=52365 "
START_COMMANDS = [
    ("cpu-workers-head", lambda: head(fixture("cpu-workers")),
     HEAD_START + " --memory=2147483648  --metrics-export-port=8080  --num-cpus=0 "),
    ("cpu-workers-small", lambda: worker(fixture("cpu-workers")),
     "ray start  --address=cpu-pool-head-svc.default.svc.cluster.local:6379  --block "
     + AGENT + " --memory=2147483648  --metrics-export-port=8080  --num-cpus=1 "),
    ("cpu-workers-large-keeps-user-resources", lambda: worker(fixture("cpu-workers"), index=1),
     "ray start  --address=cpu-pool-head-svc.default.svc.cluster.local:6379  --block "
     + AGENT + " --memory=8000000000  --metrics-export-port=8080  --num-cpus=4 "
     + ' --resources="{\\"highmem\\": 1}" '),
    ("gpu-worker-num-gpus-from-limits", lambda: worker(fixture("gpu-workers")),
     "ray start  --address=gpu-training-head-svc.default.svc.cluster.local:6379  --block "
     + AGENT + " --memory=51539607552  --metrics-export-port=8080  --num-cpus=8  --num-gpus=1 "),
    ("tpu-worker-resources-json", lambda: worker(fixture("tpu-multihost")),
     "ray start  --address=tpu-v4-slice-head-svc.default.svc.cluster.local:6379  --block "
     + AGENT + " --memory=214748364800  --metrics-export-port=8080  --num-cpus=100 "
     + " --resources='{\"TPU\":4}' "),
    ("autoscaler-head-no-monitor", lambda: head(fixture("autoscaler-v2")),
     HEAD_START + " --memory=2147483648  --metrics-export-port=8080  --no-monitor  --num-cpus=0 "),
    ("redis-password-param", lambda: head(fixture("gcs-ft-redis")),
     HEAD_START + " --memory=2147483648  --metrics-export-port=8080  --num-cpus=0  --redis-password=$REDIS_PASSWORD "),
    ("minimal-head", lambda: head(cluster()), HEAD_START + " --metrics-export-port=8080 "),
    ("custom-head-port-in-worker-address",
     lambda: worker(with_head(cluster(), rayStartParams={"port": "6380"})),
     f"ray start  --address={FQDN}:6380  --block " + AGENT + " --metrics-export-port=8080 "),
]


@pytest.mark.parametrize(("build", "expected"), [c[1:] for c in START_COMMANDS], ids=[c[0] for c in START_COMMANDS])
def test_ray_start_command(build: Any, expected: str) -> None:
    pod = build()
    assert start(pod) == expected
    assert ray(pod)["command"] == ["/bin/bash", "-c", "--"]
    assert ray(pod)["args"] == [f"ulimit -n ${{RAY_START_ULIMIT_OPEN_FILES:-65536}}; {expected}"]


# --- rayStartParams rendering and mutation ---------------------------------------------------

PARAMS = [
    ("true-is-a-bare-flag", {"disable-usage-stats": "True"}, " --disable-usage-stats "),
    ("false-is-dropped", {"disable-usage-stats": "false"}, None),
    ("log-color-false-kept", {"log-color": "false"}, " --log-color=false "),
    ("include-dashboard-false-kept", {"include-dashboard": "false"}, " --include-dashboard=false "),
    ("include-log-monitor-false-kept", {"include-log-monitor": "false"}, " --include-log-monitor=false "),
    ("block-forced-true", {"block": "false"}, " --block "),
    ("user-metrics-port-wins", {"metrics-export-port": "9090"}, " --metrics-export-port=9090 "),
    ("user-dashboard-host-wins", {"dashboard-host": "127.0.0.1"}, " --dashboard-host=127.0.0.1 "),
    ("user-num-cpus-wins-over-container", {"num-cpus": "7"}, " --num-cpus=7 "),
]


@pytest.mark.parametrize(("params", "fragment"), [p[1:] for p in PARAMS], ids=[p[0] for p in PARAMS])
def test_start_param_rendering(params: dict[str, str], fragment: str | None) -> None:
    c = with_ray_container(with_head(cluster(), rayStartParams=params), "head",
                           resources={"limits": {"cpu": "2"}})
    cmd = start(head(c))
    if fragment is None:
        assert all(k not in cmd for k in params)
    else:
        assert fragment in cmd
    assert "--block=" not in cmd


GROUP_FIELDS = [
    ("resources-cpu-memory-gpu", {"resources": {"CPU": "1500m", "memory": "1Gi", "nvidia.com/gpu": "2"}},
     [" --num-cpus=2 ", " --memory=1073741824 ", " --num-gpus=2 "]),
    ("resources-custom-json", {"resources": {"accel": "0.5", "Custom": "3"}},
     [" --resources='{\"Custom\":3,\"accel\":0.5}' "]),
    ("resources-mig-is-gpu", {"resources": {"nvidia.com/mig-1g.5gb": "1"}}, [" --num-gpus=1 "]),
    ("resources-override-params", {"resources": {"cpu": "3"}, "rayStartParams": {"num-cpus": "1"}},
     [" --num-cpus=3 "]),
    ("labels-sorted", {"labels": {"zone": "a", "accel": "v5"}}, [" --labels=accel=v5,zone=a "]),
]


@pytest.mark.parametrize(("fields", "fragments"), [g[1:] for g in GROUP_FIELDS], ids=[g[0] for g in GROUP_FIELDS])
def test_group_resources_and_labels_become_params(fields: Obj, fragments: list[str]) -> None:
    cmd = start(worker(with_worker(cluster(), **fields)))
    for fragment in fragments:
        assert fragment in cmd


CONTAINER_RESOURCES = [
    ("cpu-limit-rounded-up", {"limits": {"cpu": "1500m"}}, [" --num-cpus=2 "], ["--memory"]),
    ("cpu-from-requests-without-limit", {"requests": {"cpu": "3"}}, [" --num-cpus=3 "], []),
    ("memory-from-limits-only", {"requests": {"memory": "1Gi"}}, [], ["--memory"]),
    ("first-sorted-gpu-limit", {"limits": {"nvidia.com/gpu": "0", "amd.com/gpu": "2"}}, [" --num-gpus=2 "], []),
    ("neuron-cores", {"limits": {"aws.amazon.com/neuroncore": "2"}}, [" --resources='{\"neuron_cores\":2}' "], []),
    ("zero-tpu-ignored", {"limits": {"google.com/tpu": "0"}}, [], ["--resources"]),
]


@pytest.mark.parametrize(("resources", "present", "absent"), [r[1:] for r in CONTAINER_RESOURCES],
                         ids=[r[0] for r in CONTAINER_RESOURCES])
def test_container_resources_become_params(resources: Obj, present: list[str], absent: list[str]) -> None:
    cmd = start(worker(with_ray_container(cluster(), "worker", resources=resources)))
    for fragment in present:
        assert fragment in cmd
    for fragment in absent:
        assert fragment not in cmd


def test_tpu_not_added_when_resources_already_name_it() -> None:
    c = with_worker(cluster(), rayStartParams={"resources": "'{\"TPU\": 8}'"})
    with_ray_container(c, "worker", resources={"limits": {"google.com/tpu": "4"}})
    assert " --resources='{\"TPU\": 8}' " in start(worker(c))


def test_tpu_merged_into_existing_resources_json() -> None:
    c = with_worker(cluster(), rayStartParams={"resources": "'{\"a\": 1}'"})
    with_ray_container(c, "worker", resources={"limits": {"google.com/tpu": "4"}})
    assert " --resources='{\"TPU\":4,\"a\":1}' " in start(worker(c))


# --- the container command --------------------------------------------------------------------

def test_user_command_prefixes_the_generated_one() -> None:
    c = with_ray_container(cluster(), "head", command=["echo"], args=["hi"])
    pod = head(c)
    assert ray(pod)["args"][0].startswith(" echo  hi  && ulimit -n ${RAY_START_ULIMIT_OPEN_FILES:-65536}; ray start --head ")


def test_user_ray_start_is_left_alone() -> None:
    c = with_ray_container(cluster(), "head", command=["bash", "-c"], args=["ray start --head --block"])
    pod = head(c)
    assert ray(pod)["command"] == ["bash", "-c"]
    assert ray(pod)["args"] == ["ray start --head --block"]
    assert start(pod).startswith("ray start --head  --block ")


def test_overwrite_container_cmd_annotation_is_copied_and_honoured() -> None:
    c = with_ray_container(cluster(), "worker", command=["sleep"], args=["infinity"])
    c["metadata"]["annotations"] = {"ray.io/overwrite-container-cmd": "TRUE"}
    pod = worker(c)
    assert pod["metadata"]["annotations"]["ray.io/overwrite-container-cmd"] == "true"
    assert ray(pod)["command"] == ["sleep"]
    assert "KUBERAY_GEN_RAY_START_CMD" in env(ray(pod))


def test_login_shell() -> None:
    pod = worker(cluster(), ClusterConfig(enable_login_shell=True))
    assert ray(pod)["command"] == ["/bin/bash", "-cl", "--"]
    assert pod["spec"]["initContainers"][-1]["command"] == ["/bin/bash", "-cl", "--"]


# --- labels and metadata ---------------------------------------------------------------------

def test_head_labels_and_metadata() -> None:
    c = with_head(cluster(), labels={"accel": "none"})
    c["spec"]["headGroupSpec"]["template"]["metadata"] = {
        "name": "ignored", "labels": {"ray.io/node-type": "worker", "ray.io/group": "x", "ray.io/cluster": "y",
                                      "app.kubernetes.io/name": "mine", "team": "ml", "accel": "template"}}
    pod = head(c)
    assert pod["apiVersion"] == "v1" and pod["kind"] == "Pod"
    assert pod["metadata"]["name"] == "c-head-x"
    assert pod["metadata"]["namespace"] == "ns"
    assert "ownerReferences" not in pod["metadata"]
    assert pod["metadata"]["labels"] == {
        "ray.io/is-ray-node": "yes", "ray.io/cluster": "c", "ray.io/node-type": "head", "ray.io/group": "headgroup",
        "ray.io/identifier": "c-head", "app.kubernetes.io/name": "mine",
        "app.kubernetes.io/created-by": "kuberay-operator", "team": "ml", "accel": "none"}
    assert pod["metadata"]["annotations"] == {"ray.io/ft-enabled": "false", "ray.io/kuberay-version": "raybus-0.1.0"}


def test_worker_labels_from_fixture() -> None:
    pod = worker(fixture("cpu-workers"), index=1)
    assert pod["metadata"]["labels"] == {
        "ray.io/is-ray-node": "yes", "ray.io/cluster": "cpu-pool", "ray.io/node-type": "worker",
        "ray.io/group": "large", "ray.io/identifier": "cpu-pool-worker", "app.kubernetes.io/name": "kuberay",
        "app.kubernetes.io/created-by": "kuberay-operator", "tier": "large", "ray.io/worker-group-replica-index": "0"}
    assert FT_ENABLED_ANNOTATION not in pod["metadata"]["annotations"]


def test_identifier_is_check_labelled() -> None:
    c = cluster()
    c["metadata"]["name"] = "x" * 70
    assert head(c)["metadata"]["labels"]["ray.io/identifier"] == ("x" * 70 + "-head")[-63:]


MULTI_HOST = [
    ("multi-host-labels", {"numOfHosts": 4}, {"replica_group": "g-abcde", "host_index": 2, "replica_index": 1},
     {"ray.io/worker-group-replica-index": "1", "ray.io/worker-group-replica-name": "g-abcde",
      "ray.io/replica-host-index": "2"}),
    ("single-host-index-only", {}, {"replica_index": 3}, {"ray.io/worker-group-replica-index": "3"}),
]


@pytest.mark.parametrize(("fields", "kwargs", "expected"), [m[1:] for m in MULTI_HOST], ids=[m[0] for m in MULTI_HOST])
def test_multi_host_labels(fields: Obj, kwargs: Obj, expected: dict[str, str]) -> None:
    labels = worker(with_worker(cluster(), **fields), **kwargs)["metadata"]["labels"]
    keys = {"ray.io/worker-group-replica-index", "ray.io/worker-group-replica-name", "ray.io/replica-host-index"}
    assert {k: v for k, v in labels.items() if k in keys} == expected


def test_multi_host_labels_off_without_the_gate() -> None:
    settings = ClusterConfig(feature_gates={"RayMultiHostIndexing": False})
    labels = worker(with_worker(cluster(), numOfHosts=2), settings, replica_group="r", host_index=1)["metadata"]["labels"]
    assert not any(k.startswith("ray.io/worker-group-replica") or k == "ray.io/replica-host-index" for k in labels)


def test_rayservice_serve_label_and_env() -> None:
    c = cluster()
    c["metadata"]["labels"] = {"ray.io/originated-from-crd": "RayService"}
    h, w = head(c), worker(c)
    assert h["metadata"]["labels"]["ray.io/serve"] == "false"
    assert w["metadata"]["labels"]["ray.io/serve"] == "true"
    assert env(ray(h))["RAY_USAGE_STATS_EXTRA_TAGS"] == "kuberay_version=raybus-0.1.0;kuberay_crd=RayService"
    assert {k: env(ray(w))[k] for k in ("RAY_timeout_ms_task_wait_for_death_info",
                                         "RAY_gcs_server_request_timeout_seconds", "RAY_SERVE_KV_TIMEOUT_S")} == {
        "RAY_timeout_ms_task_wait_for_death_info": "0", "RAY_gcs_server_request_timeout_seconds": "5",
        "RAY_SERVE_KV_TIMEOUT_S": "5"}


def test_operator_defaults_fill_only_missing_keys() -> None:
    settings = ClusterConfig(default_pod_labels={"team": "ops", "ray.io/cluster": "no"},
                                  default_pod_annotations={"a": "1"},
                                  default_container_envs=[{"name": "X", "value": "1"}, {"name": "Y", "value": "d"}],
                                  worker_sidecar_containers=[{"name": "side", "image": "busybox"}])
    c = with_ray_container(cluster(), "worker", env=[{"name": "Y", "value": "user"}])
    c["spec"]["workerGroupSpecs"][0]["template"]["metadata"] = {"labels": {"team": "ml"}}
    pod = worker(c, settings)
    assert pod["metadata"]["labels"]["team"] == "ml"
    assert pod["metadata"]["labels"]["ray.io/cluster"] == "c"
    assert pod["metadata"]["annotations"] == {"a": "1"}
    assert env(ray(pod))["X"] == "1" and env(ray(pod))["Y"] == "user"
    assert [ct["name"] for ct in pod["spec"]["containers"]] == ["ray-worker", "side"]


# --- env vars --------------------------------------------------------------------------------

FIELD = {"fieldRef": {"fieldPath": "metadata.labels['ray.io/cluster']"}}


def test_head_env_order_and_values() -> None:
    container = ray(head(cluster()))
    assert env_names(container) == [
        "RAY_CLUSTER_NAME", "RAY_CLUSTER_NAMESPACE", "RAY_CLOUD_INSTANCE_ID", "RAY_NODE_TYPE_NAME",
        "KUBERAY_GEN_RAY_START_CMD", "RAY_PORT", "RAY_ADDRESS", "RAY_USAGE_STATS_KUBERAY_IN_USE",
        "RAY_USAGE_STATS_EXTRA_TAGS", "RAY_DASHBOARD_ENABLE_K8S_DISK_USAGE"]
    values = env(container)
    assert values["RAY_CLUSTER_NAME"] == FIELD
    assert values["RAY_CLUSTER_NAMESPACE"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}
    assert values["RAY_CLOUD_INSTANCE_ID"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert values["RAY_NODE_TYPE_NAME"] == {"fieldRef": {"fieldPath": "metadata.labels['ray.io/group']"}}
    assert values["RAY_ADDRESS"] == "127.0.0.1:6379"
    assert values["RAY_PORT"] == "6379"
    assert values["RAY_USAGE_STATS_EXTRA_TAGS"] == "kuberay_version=raybus-0.1.0;kuberay_crd=RayCluster"


def test_worker_env() -> None:
    values = env(ray(worker(cluster())))
    assert values["FQ_RAY_IP"] == FQDN
    assert values["RAY_IP"] == "c-head-svc"
    assert values["RAY_ADDRESS"] == f"{FQDN}:6379"
    assert "RAY_USAGE_STATS_EXTRA_TAGS" not in values


def test_user_env_wins_where_kuberay_checks() -> None:
    c = with_ray_container(cluster(), "head", env=[{"name": "RAY_ADDRESS", "value": "mine"},
                                                    {"name": "RAY_PORT", "value": "1"}])
    names = env_names(ray(head(c)))
    assert names.count("RAY_ADDRESS") == 1 and names.count("RAY_PORT") == 1
    assert env(ray(head(c)))["RAY_ADDRESS"] == "mine"


def test_cluster_domain_setting() -> None:
    values = env(ray(worker(cluster(), ClusterConfig(cluster_domain="corp.local"))))
    assert values["FQ_RAY_IP"] == "c-head-svc.ns.svc.corp.local"


AUTOSCALER_VERSION = [
    ("v2", "v2", "true", "Never"),
    ("v1", "v1", "false", None),
    ("unset", None, None, None),
]


@pytest.mark.parametrize(("version", "env_value", "restart"), [a[1:] for a in AUTOSCALER_VERSION],
                         ids=[a[0] for a in AUTOSCALER_VERSION])
def test_autoscaler_version_env_and_restart_policy(version: str | None, env_value: str | None,
                                                   restart: str | None) -> None:
    c = cluster(enableInTreeAutoscaling=True, autoscalerOptions={"version": version} if version else {})
    h, w = head(c), worker(c)
    assert env(ray(h)).get("RAY_enable_autoscaler_v2") == env_value
    assert h["spec"].get("restartPolicy") == restart
    assert w["spec"].get("restartPolicy") == restart
    assert "RAY_enable_autoscaler_v2" not in env(ray(w))


def test_token_auth_env() -> None:
    c = fixture("token-auth")
    secret_ref = {"secretKeyRef": {"name": "secured", "key": "auth_token"}}
    h, w = head(c), worker(c)
    for container in (ray(h), ray(w), w["spec"]["initContainers"][-1]):
        assert env(container)["RAY_AUTH_MODE"] == "token"
        assert env(container)["RAY_AUTH_TOKEN"] == secret_ref


def test_k8s_token_auth_mounts_projected_token() -> None:
    c = cluster(authOptions={"mode": "token", "enableK8sTokenAuth": True}, enableInTreeAutoscaling=True)
    h = head(c)
    assert env(ray(h))["RAY_ENABLE_K8S_TOKEN_AUTH"] == "true"
    assert "RAY_AUTH_TOKEN" not in env(ray(h))
    assert {"name": "ray-token", "projected": {"sources": [{"serviceAccountToken": {"path": "token"}}]}} in h["spec"]["volumes"]
    autoscaler = h["spec"]["containers"][1]
    assert {"name": "ray-token", "mountPath": "/var/run/secrets/ray.io/serviceaccount", "readOnly": True} in autoscaler["volumeMounts"]


def test_tls_needs_the_gate() -> None:
    c = cluster(tlsOptions={"enabled": True})
    assert "RAY_USE_TLS" not in env(ray(worker(c)))
    w = worker(c, ClusterConfig(feature_gates={"RayClusterMTLS": True}))
    assert env(ray(w))["RAY_TLS_CA_CERT"] == "/etc/ray/tls/ca.crt"
    assert [i["name"] for i in w["spec"]["initContainers"]] == ["wait-for-tls-ip-san", "wait-gcs-ready"]
    assert env(w["spec"]["initContainers"][1])["RAY_USE_TLS"] == "1"
    assert {"name": "ray-tls", "secret": {"secretName": "ray-worker-secret-c"}} in w["spec"]["volumes"]


# --- GCS fault tolerance ---------------------------------------------------------------------

def test_gcs_ft_redis_options() -> None:
    c = fixture("gcs-ft-redis")
    h, w = head(c), worker(c)
    assert h["metadata"]["annotations"]["ray.io/ft-enabled"] == "true"
    assert h["metadata"]["annotations"]["ray.io/external-storage-namespace"] == "ha-redis-gcs"
    values = env(ray(h))
    assert values["RAY_external_storage_namespace"] == "ha-redis-gcs"
    assert values["RAY_REDIS_ADDRESS"] == "redis.ray-system.svc.cluster.local:6379"
    assert values["REDIS_PASSWORD"] == {"secretKeyRef": {"name": "redis-credentials", "key": "password"}}
    assert "REDIS_USERNAME" not in values
    assert env(ray(w))["RAY_gcs_rpc_server_reconnect_timeout_s"] == "600"
    assert "ray.io/ft-enabled" not in w["metadata"]["annotations"]


def test_gcs_ft_legacy_annotation() -> None:
    c = fixture("gcs-ft-legacy-annotation")
    c["metadata"]["uid"] = "u-1"
    h = head(c)
    values = env(ray(h))
    assert h["metadata"]["annotations"]["ray.io/external-storage-namespace"] == "u-1"
    assert values["RAY_external_storage_namespace"] == "u-1"
    assert env_names(ray(h)).count("REDIS_PASSWORD") == 1  # the user's secret ref stays
    assert " --redis-password=$REDIS_PASSWORD " in start(h)


def test_gcs_ft_legacy_password_param_sets_env() -> None:
    c = with_head(cluster(), rayStartParams={"redis-password": "pw"})
    c["metadata"]["annotations"] = {"ray.io/ft-enabled": "true", "ray.io/external-storage-namespace": "ns-x"}
    values = env(ray(head(c)))
    assert values["REDIS_PASSWORD"] == "pw"
    assert values["RAY_external_storage_namespace"] == "ns-x"


def test_gcs_ft_redis_username_param() -> None:
    c = cluster(gcsFaultToleranceOptions={"redisAddress": "r:6379", "redisUsername": {"value": "u"}})
    h = head(c)
    assert " --redis-username=$REDIS_USERNAME " in start(h)
    assert env(ray(h))["REDIS_USERNAME"] == "u"


def test_gcs_ft_rocksdb() -> None:
    c = cluster(gcsFaultToleranceOptions={"backend": "rocksdb", "storage": {"subPath": "gcs"}})
    h = head(c)
    values = env(ray(h))
    assert values["RAY_gcs_storage"] == "rocksdb" and values["RAY_gcs_storage_path"] == "/data/gcs"
    assert {"name": "gcs-storage", "mountPath": "/data/gcs", "subPath": "gcs"} in ray(h)["volumeMounts"]
    assert {"name": "gcs-storage", "persistentVolumeClaim": {"claimName": "c-gcs-pvc"}} in h["spec"]["volumes"]
    assert "ray.io/external-storage-namespace" not in h["metadata"]["annotations"]


# --- init container, volumes, ports ----------------------------------------------------------

def test_wait_gcs_ready_init_container() -> None:
    c = with_ray_container(cluster(), "worker", env=[{"name": "A", "value": "1"}],
                           volumeMounts=[{"name": "v", "mountPath": "/v"}], imagePullPolicy="Always")
    c["spec"]["workerGroupSpecs"][0]["template"]["spec"]["initContainers"] = [{"name": "user", "image": "busybox"}]
    pod = worker(c)
    user, wait = pod["spec"]["initContainers"]
    assert wait["name"] == "wait-gcs-ready"
    assert wait["image"] == "rayproject/ray:2.52.0" and wait["imagePullPolicy"] == "Always"
    assert f"ray health-check --address {FQDN}:6379 > /dev/null 2>&1" in wait["args"][0]
    assert wait["resources"] == {"limits": {"cpu": "200m", "memory": "256Mi"},
                                 "requests": {"cpu": "200m", "memory": "256Mi"}}
    assert env_names(wait) == ["A", "FQ_RAY_IP", "RAY_IP"]
    assert wait["volumeMounts"] == [{"name": "v", "mountPath": "/v"}]
    assert env(user) == {"FQ_RAY_IP": FQDN, "RAY_IP": "c-head-svc"}


def test_init_container_injection_can_be_disabled() -> None:
    assert "initContainers" not in worker(cluster(), ClusterConfig(enable_init_container_injection=False))["spec"]


SHM = [
    ("limit", {"limits": {"memory": "2Gi"}, "requests": {"memory": "1Gi"}}, {}, {"medium": "Memory", "sizeLimit": "2Gi"}),
    ("request", {"requests": {"memory": "1Gi"}}, {}, {"medium": "Memory", "sizeLimit": "1Gi"}),
    ("none", {}, {}, {"medium": "Memory"}),
    ("plasma-directory-skips", {}, {"plasma-directory": "/tmp/p"}, None),
]


@pytest.mark.parametrize(("resources", "params", "empty_dir"), [s[1:] for s in SHM], ids=[s[0] for s in SHM])
def test_shared_memory_volume(resources: Obj, params: Obj, empty_dir: Obj | None) -> None:
    c = with_ray_container(with_head(cluster(), rayStartParams=params), "head", resources=resources)
    pod = head(c)
    volumes = {v["name"]: v for v in pod["spec"].get("volumes") or []}
    if empty_dir is None:
        assert "shared-mem" not in volumes
        assert not ray(pod).get("volumeMounts")
    else:
        assert volumes["shared-mem"]["emptyDir"] == empty_dir
        assert {"mountPath": "/dev/shm", "name": "shared-mem"} in ray(pod)["volumeMounts"]


def test_user_dev_shm_mount_is_kept() -> None:
    pod = worker(fixture("gpu-workers"))
    assert [m["name"] for m in ray(pod)["volumeMounts"]] == ["dshm"]
    assert [v["name"] for v in pod["spec"]["volumes"]] == ["dshm"]


PORTS = [
    ("appended", [{"name": "gcs-server", "containerPort": 6379}],
     [{"name": "gcs-server", "containerPort": 6379}, {"name": "metrics", "containerPort": 8080}]),
    ("user-metrics-kept", [{"name": "metrics", "containerPort": 9999}], [{"name": "metrics", "containerPort": 9999}]),
    ("no-ports", None, [{"name": "metrics", "containerPort": 8080}]),
]


@pytest.mark.parametrize(("ports", "expected"), [p[1:] for p in PORTS], ids=[p[0] for p in PORTS])
def test_metrics_port(ports: list[Obj] | None, expected: list[Obj]) -> None:
    c = with_ray_container(cluster(), "head", **({"ports": ports} if ports is not None else {}))
    assert ray(head(c))["ports"] == expected


# --- probes ----------------------------------------------------------------------------------

RAYLET = "wget --tries 1 -T 2 -q -O- http://localhost:52365/api/local_raylet_healthz | grep success"
GCS = "wget --tries 1 -T 10 -q -O- http://localhost:8265/api/gcs_healthz | grep success"
PROBES = [
    ("head-exec", "head", "2.52.0", {"exec": {"command": ["bash", "-c", f"{RAYLET} && {GCS}"]}}, 5),
    ("worker-exec", "worker", "2.52.0", {"exec": {"command": ["bash", "-c", RAYLET]}}, 2),
    ("head-http", "head", "2.53.0", {"httpGet": {"path": "/api/healthz", "port": 52365}}, 5),
    ("worker-http-newer", "worker", "2.54.1", {"httpGet": {"path": "/api/healthz", "port": 52365}}, 2),
    ("two-components", "worker", "2.53", {"httpGet": {"path": "/api/healthz", "port": 52365}}, 2),
    ("unparsable-version-exec", "worker", "nightly", {"exec": {"command": ["bash", "-c", RAYLET]}}, 2),
]


@pytest.mark.parametrize(("node", "version", "action", "timeout"), [p[1:] for p in PROBES], ids=[p[0] for p in PROBES])
def test_probes(node: str, version: str, action: Obj, timeout: int) -> None:
    c = cluster(rayVersion=version)
    container = ray(head(c) if node == "head" else worker(c))
    assert container["livenessProbe"] == {"initialDelaySeconds": 30, "timeoutSeconds": timeout, "periodSeconds": 5,
                                          "successThreshold": 1, "failureThreshold": 120, **action}
    assert container["readinessProbe"] == {"initialDelaySeconds": 10, "timeoutSeconds": timeout, "periodSeconds": 5,
                                           "successThreshold": 1, "failureThreshold": 10, **action}


def test_probes_follow_custom_ports() -> None:
    c = with_head(cluster(), rayStartParams={"dashboard-agent-listen-port": "1234", "dashboard-port": "9000"})
    cmd = ray(head(c))["livenessProbe"]["exec"]["command"][2]
    assert "http://localhost:1234/api/local_raylet_healthz" in cmd and "http://localhost:9000/api/gcs_healthz" in cmd


def test_only_nil_probes_are_filled() -> None:
    mine = {"tcpSocket": {"port": 6379}}
    pod = head(with_ray_container(cluster(), "head", readinessProbe=mine))
    assert ray(pod)["readinessProbe"] == mine
    assert "exec" in ray(pod)["livenessProbe"]


def test_probe_injection_can_be_disabled() -> None:
    container = ray(head(cluster(), ClusterConfig(enable_probes_injection=False)))
    assert "livenessProbe" not in container and "readinessProbe" not in container


def test_rayservice_worker_readiness_checks_serve() -> None:
    c = cluster(rayVersion="2.53.0")
    c["metadata"]["labels"] = {"ray.io/originated-from-crd": "RayService"}
    readiness = ray(worker(c))["readinessProbe"]
    assert readiness["failureThreshold"] == 1 and "httpGet" not in readiness
    assert readiness["exec"]["command"][2].endswith(
        "&& wget --tries 1 -T 10 -q -O- http://localhost:8000/-/healthz | grep success")


# --- autoscaler sidecar ----------------------------------------------------------------------

def test_autoscaler_sidecar_from_fixture() -> None:
    pod = head(fixture("autoscaler-v2"))
    names = [ct["name"] for ct in pod["spec"]["containers"]]
    assert names == ["ray-head", "autoscaler"]
    sidecar = pod["spec"]["containers"][1]
    cmd = "ray kuberay-autoscaler --cluster-name $(RAY_CLUSTER_NAME) --cluster-namespace $(RAY_CLUSTER_NAMESPACE)"
    assert sidecar["image"] == "rayproject/ray:2.52.0"
    assert sidecar["imagePullPolicy"] == "IfNotPresent"
    assert sidecar["command"] == ["/bin/bash", "-c", "--"] and sidecar["args"] == [cmd]
    assert env_names(sidecar) == ["RAY_CLUSTER_NAME", "RAY_CLUSTER_NAMESPACE", "RAY_HEAD_POD_NAME", "KUBERAY_CRD_VER",
                                  "KUBERAY_GEN_AUTOSCALER_START_CMD", "AUTOSCALER_UPDATE_INTERVAL_S"]
    assert env(sidecar)["KUBERAY_GEN_AUTOSCALER_START_CMD"] == cmd
    assert sidecar["securityContext"] == {"allowPrivilegeEscalation": False}
    assert sidecar["volumeMounts"] == [{"mountPath": "/tmp/ray", "name": "ray-logs"}]
    assert {"mountPath": "/tmp/ray", "name": "ray-logs"} in ray(pod)["volumeMounts"]
    assert {"name": "ray-logs", "emptyDir": {}} in pod["spec"]["volumes"]
    assert pod["spec"]["serviceAccountName"] == "elastic"


def test_autoscaler_defaults_and_overrides() -> None:
    c = cluster(enableInTreeAutoscaling=True)
    sidecar = head(c)["spec"]["containers"][1]
    assert sidecar["resources"] == {"limits": {"cpu": "500m", "memory": "512Mi"},
                                    "requests": {"cpu": "500m", "memory": "512Mi"}}
    c = cluster(enableInTreeAutoscaling=True, autoscalerOptions={"image": "my/as:1", "command": ["x"], "args": ["y"]})
    c["spec"]["headGroupSpec"]["template"]["spec"]["serviceAccountName"] = "sa"
    pod = head(c)
    sidecar = pod["spec"]["containers"][1]
    assert (sidecar["image"], sidecar["command"], sidecar["args"]) == ("my/as:1", ["x"], ["y"])
    assert pod["spec"]["serviceAccountName"] == "sa"


AUTOSCALER_OPTIONS = [
    ("unset-no-security-context", {}, {"securityContext": None, "resources": "default"}),
    ("empty-security-context-kept", {"securityContext": {}}, {"securityContext": {}, "resources": "default"}),
    ("security-context-copied", {"securityContext": {"runAsNonRoot": True}},
     {"securityContext": {"runAsNonRoot": True}, "resources": "default"}),
    ("empty-resources-replace-defaults", {"resources": {}}, {"securityContext": None, "resources": {}}),
    ("empty-lists-change-nothing", {"env": [], "command": [], "args": []}, {"securityContext": None, "resources": "default"}),
]


@pytest.mark.parametrize(("options", "want"), [r[1:] for r in AUTOSCALER_OPTIONS], ids=[r[0] for r in AUTOSCALER_OPTIONS])
def test_autoscaler_options_set_but_empty(options: Obj, want: Obj) -> None:
    """KubeRay `mergeAutoscalerOverrides`: a pointer field replaces when set, even to `{}`; a
    list only when non-empty. Without autoscalerOptions.securityContext, no securityContext."""
    sidecar = head(cluster(enableInTreeAutoscaling=True, autoscalerOptions=options))["spec"]["containers"][1]
    default = {"limits": {"cpu": "500m", "memory": "512Mi"}, "requests": {"cpu": "500m", "memory": "512Mi"}}
    assert sidecar.get("securityContext") == want["securityContext"]
    assert sidecar["resources"] == (default if want["resources"] == "default" else want["resources"])
    assert sidecar["command"] == ["/bin/bash", "-c", "--"] and sidecar["args"][0].startswith("ray kuberay-autoscaler")
    assert env_names(sidecar)[:4] == ["RAY_CLUSTER_NAME", "RAY_CLUSTER_NAMESPACE", "RAY_HEAD_POD_NAME", "KUBERAY_CRD_VER"]


def test_no_autoscaler_without_in_tree_autoscaling() -> None:
    pod = head(cluster())
    assert [ct["name"] for ct in pod["spec"]["containers"]] == ["ray-head"]
    assert "--no-monitor" not in start(pod)
    assert "serviceAccountName" not in pod["spec"]


# --- purity and the template hash ------------------------------------------------------------

def test_builders_do_not_mutate_the_cluster() -> None:
    rc = RayCluster.model_validate(fixture("gcs-ft-redis"))
    before = rc.model_dump()
    pod = head_pod(rc, "h", S)
    worker_pod(rc, rc.spec.workers[0], "w", S)
    pod["spec"]["containers"][0]["env"].append({"name": "LATER", "value": "x"})  # the pod is a copy, too
    assert rc.model_dump() == before


def test_builders_are_deterministic() -> None:
    c = fixture("tpu-multihost")
    assert worker(c, replica_group="r", host_index=1) == worker(c, replica_group="r", host_index=1)


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("raycluster-*.yaml")), ids=lambda p: p.stem)
def test_every_fixture_builds(path: Path) -> None:
    c = yaml.safe_load(path.read_text())
    rc = RayCluster.model_validate(c)
    h = head_pod(rc, "h", S)
    assert h["metadata"]["labels"]["ray.io/node-type"] == "head"
    assert start(h).startswith("ray start --head ")
    for group in rc.spec.workers:
        w = worker_pod(rc, group, "w", S)
        assert w["metadata"]["labels"]["ray.io/group"] == group.group_name
        assert f" --address={c['metadata']['name']}-head-svc." in start(w) or "headService" in c["spec"]["headGroupSpec"]
