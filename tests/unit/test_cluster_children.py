"""The non-pod children of a RayCluster (`raybus_cluster_ctl.children`, in the pass's order from
`plan.children`), against KubeRay v1.7's names, labels, selectors, ports and shapes
(KubeRay v1.7's `common/service.go`, `common/ingress.go`, `common/rbac.go` and the RayCluster controller)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from raybus_cluster_ctl.children import auth_secret as secrets
from raybus_cluster_ctl.children import cleanup_job, ingress, rbac, services
from raybus_cluster_ctl.config import ClusterConfig
from raybus_cluster_ctl.plan import children as plan
from raybus_cluster_ctl.pods.build import head_pod
from raybus_common import gotext
from raybus_common.crds.raycluster import RayCluster

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "valid"
Obj = dict[str, Any]


class ch:
    """The builders under test, over the cluster as JSON (parsed as reconcile parses it)."""

    check_name = staticmethod(gotext.check_name)
    check_label = staticmethod(gotext.check_label)

    @staticmethod
    def head_service(cluster: Obj, **kw: Any) -> Obj:
        return services.head_service(RayCluster.model_validate(cluster), **kw)

    @staticmethod
    def serve_service(cluster: Obj) -> Obj | None:
        return services.serve_service(RayCluster.model_validate(cluster))

    @staticmethod
    def headless_worker_service(cluster: Obj) -> Obj | None:
        return services.headless_worker_service(RayCluster.model_validate(cluster))

    @staticmethod
    def ingress(cluster: Obj) -> Obj | None:
        return ingress.ingress(RayCluster.model_validate(cluster))

    @staticmethod
    def autoscaler_rbac(cluster: Obj) -> list[Obj]:
        return rbac.autoscaler_rbac(RayCluster.model_validate(cluster))

    @staticmethod
    def auth_secret(cluster: Obj, token: str) -> Obj | None:
        return secrets.auth_secret(RayCluster.model_validate(cluster), token)

    @staticmethod
    def children(cluster: Obj) -> list[Obj]:
        return plan.children(RayCluster.model_validate(cluster))

    @staticmethod
    def redis_cleanup_job(cluster: Obj, head_pod: Obj | None = None) -> Obj | None:
        """From `head_pod`, else from the head pod the pass would build (as deletion does)."""
        rc = RayCluster.model_validate(cluster)
        return cleanup_job.redis_cleanup_job(rc, head_pod if head_pod is not None else built_head(rc))


def built_head(rc: RayCluster) -> Obj:
    return head_pod(rc, "h", ClusterConfig())
CB = {"app.kubernetes.io/created-by": "kuberay-operator"}
DEFAULT_HEAD_PORTS = [("client", 10001), ("dashboard", 8265), ("gcs-server", 6379), ("metrics", 8080)]


def fixture(name: str) -> dict[str, Any]:
    cluster: dict[str, Any] = yaml.safe_load((FIXTURES / f"raycluster-{name}.yaml").read_text())
    cluster["metadata"].setdefault("namespace", "team-a")
    return cluster


def inline(name: str = "demo", *, head: dict[str, Any] | None = None, spec: dict[str, Any] | None = None,
           annotations: dict[str, str] | None = None, ports: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "ray-head", "image": "rayproject/ray:2.52.0"}
    if ports is not None:
        container["ports"] = ports
    meta: dict[str, Any] = {"name": name, "namespace": "ns", "uid": "uid-1"}
    if annotations:
        meta["annotations"] = annotations
    return {"apiVersion": "ray.io/v1", "kind": "RayCluster", "metadata": meta,
            "spec": {"headGroupSpec": {"rayStartParams": {}, "template": {"spec": {"containers": [container]}},
                                       **(head or {})}, **(spec or {})}}


def port_pairs(svc: dict[str, Any]) -> list[tuple[str, int]]:
    return [(p["name"], p["port"]) for p in svc["spec"]["ports"]]


# --- names -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("fn", "raw", "want"), [
    (ch.check_name, "short", "short"),
    (ch.check_name, "a" * 10 + "b" * 50, "b" * 50),
    (ch.check_name, "1abc", "rabc"),
    (ch.check_name, "-abc", "rabc"),
    (ch.check_name, "x" * 10 + "-" + "y" * 49, "r" + "y" * 49),
    (ch.check_label, "a" * 10 + "b" * 63, "b" * 63),
    (ch.check_label, "1abc", "1abc"),
    (ch.check_label, ".abc", "rabc"),
], ids=["short", "name-keeps-last-50", "name-digit", "name-punct", "name-punct-after-clip",
        "label-keeps-last-63", "label-digit-kept", "label-punct"])
def test_check_name_and_label(fn: Any, raw: str, want: str) -> None:
    assert fn(raw) == want


# --- head Service --------------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "svc_name", "ports", "headless"), [
    ("head-only", "solo-head-head-svc", DEFAULT_HEAD_PORTS, True),
    ("cpu-workers", "cpu-pool-head-svc", DEFAULT_HEAD_PORTS, True),
    ("tpu-multihost", "tpu-v4-slice-head-svc", DEFAULT_HEAD_PORTS, True),
    ("head-service-ingress", "exposed-head",
     [("dashboard", 8265), ("client", 10001), ("metrics", 8080), ("gcs-server", 6379)], False),
], ids=["head-only", "cpu-workers", "tpu-multihost", "custom-head-service"])
def test_head_service_from_fixtures(name: str, svc_name: str, ports: list[tuple[str, int]], headless: bool) -> None:
    cluster = fixture(name)
    cname = cluster["metadata"]["name"]
    svc = ch.head_service(cluster)
    want_selector = {"ray.io/cluster": cname, "ray.io/node-type": "head", "ray.io/identifier": f"{cname}-head",
                     "app.kubernetes.io/name": "kuberay", **CB}
    assert (svc["apiVersion"], svc["kind"]) == ("v1", "Service")
    assert svc["metadata"]["name"] == svc_name
    assert svc["metadata"]["namespace"] == "team-a"
    assert svc["spec"]["selector"] == want_selector
    assert want_selector.items() <= svc["metadata"]["labels"].items()
    assert port_pairs(svc) == ports
    assert (svc["spec"].get("clusterIP") == "None") is headless
    assert svc["spec"].get("publishNotReadyAddresses", False) is headless
    assert "ownerReferences" not in svc["metadata"]


def test_custom_head_service_merges_labels_annotations_and_type() -> None:
    svc = ch.head_service(fixture("head-service-ingress"))
    assert svc["metadata"]["labels"]["exposure"] == "internal"
    assert svc["metadata"]["annotations"] == {"service.beta.kubernetes.io/aws-load-balancer-internal": "true",
                                              "prometheus.io/scrape": "true", "prometheus.io/port": "8080"}
    assert svc["spec"]["type"] == "ClusterIP"
    # The user's ports stay as written; only the computed gcs-server port is new (appProtocol tcp).
    assert svc["spec"]["ports"][0] == {"name": "dashboard", "port": 8265, "targetPort": 8265}
    assert svc["spec"]["ports"][-1] == {"name": "gcs-server", "port": 6379, "appProtocol": "tcp"}


def test_custom_head_service_forces_selector_namespace_and_our_labels() -> None:
    custom = {"metadata": {"namespace": "elsewhere", "labels": {"ray.io/cluster": "spoof", "keep": "me"},
                           "annotations": {"a": "user", "b": "user"}},
              "spec": {"selector": {"app": "x"}, "type": "NodePort"}}
    cluster = inline(head={"headService": custom}, spec={"headServiceAnnotations": {"a": "ours"}})
    svc = ch.head_service(cluster)
    assert svc["metadata"]["name"] == "demo-head-svc"
    assert svc["metadata"]["namespace"] == "ns"
    assert svc["metadata"]["labels"]["ray.io/cluster"] == "demo"
    assert svc["metadata"]["labels"]["keep"] == "me"
    assert svc["metadata"]["annotations"] == {"a": "ours", "b": "user"}
    assert svc["spec"]["selector"]["ray.io/node-type"] == "head"
    assert "app" not in svc["spec"]["selector"]
    assert svc["spec"]["type"] == "NodePort"
    assert "clusterIP" not in svc["spec"]
    assert [p["name"] for p in svc["spec"]["ports"]] == ["client", "dashboard", "gcs-server", "metrics", "serve"]
    assert custom["spec"]["selector"] == {"app": "x"}  # the input is not mutated


@pytest.mark.parametrize(("head", "ports", "clusterip", "kw", "headless", "type_"), [
    ({}, None, None, {}, True, None),
    ({}, [], None, {}, True, None),
    ({"serviceType": "ClusterIP"}, None, None, {}, True, "ClusterIP"),
    ({"serviceType": "NodePort"}, None, None, {}, False, "NodePort"),
    ({"serviceType": "LoadBalancer"}, None, None, {}, False, "LoadBalancer"),
    ({}, None, None, {"cluster_ip_service": True}, False, None),
], ids=["default", "empty-ports", "clusterip", "nodeport", "loadbalancer", "operator-clusterip-env"])
def test_head_service_type_and_headless(head: dict[str, Any], ports: Any, clusterip: Any, kw: dict[str, Any],
                                        headless: bool, type_: str | None) -> None:
    svc = ch.head_service(inline(head=head, ports=ports), **kw)
    assert (svc["spec"].get("clusterIP") == "None") is headless
    assert svc["spec"].get("type") == type_


@pytest.mark.parametrize(("ports", "want"), [
    (None, [("client", 10001), ("dashboard", 8265), ("gcs-server", 6379), ("metrics", 8080), ("serve", 8000)]),
    ([{"name": "gcs", "containerPort": 6380}], [("gcs", 6380), ("metrics", 8080)]),
    ([{"containerPort": 7000}, {"name": "metrics", "containerPort": 9090}], [("7000-port", 7000), ("metrics", 9090)]),
    ([{"name": "serve", "containerPort": 8000}, {"name": "dashboard", "containerPort": 8265}],
     [("dashboard", 8265), ("metrics", 8080), ("serve", 8000)]),
], ids=["defaults", "metrics-added", "unnamed-and-custom-metrics", "sorted-by-name"])
def test_head_service_ports(ports: Any, want: list[tuple[str, int]]) -> None:
    svc = ch.head_service(inline(ports=ports))
    assert port_pairs(svc) == want
    assert {p["appProtocol"] for p in svc["spec"]["ports"]} == {"tcp"}


def test_head_service_app_name_label_follows_template_and_annotations() -> None:
    cluster = inline(spec={"headServiceAnnotations": {"x": "y"}})
    cluster["spec"]["headGroupSpec"]["template"]["metadata"] = {"labels": {"app.kubernetes.io/name": "mine"}}
    svc = ch.head_service(cluster)
    assert svc["spec"]["selector"]["app.kubernetes.io/name"] == "mine"
    assert svc["metadata"]["labels"]["app.kubernetes.io/name"] == "mine"
    assert svc["metadata"]["annotations"] == {"x": "y"}


def test_head_identifier_is_check_labelled() -> None:
    svc = ch.head_service(inline("c" * 60))
    assert svc["spec"]["selector"]["ray.io/identifier"] == ("c" * 60 + "-head")[-63:]


# --- serve and headless Services ----------------------------------------------------------------

@pytest.mark.parametrize(("annotations", "ports", "want"), [
    (None, None, None),
    ({"ray.io/enable-serve-service": "false"}, None, None),
    ({"ray.io/enable-serve-service": "True"}, None, None),
    ({"ray.io/enable-serve-service": "true"}, None, [("serve", 8000)]),
    ({"ray.io/enable-serve-service": "true"}, [{"name": "dashboard", "containerPort": 8265}], None),
    ({"ray.io/enable-serve-service": "true"},
     [{"name": "serve-grpc", "containerPort": 9000}, {"name": "serve", "containerPort": 8000},
      {"name": "server", "containerPort": 1}], [("serve", 8000), ("serve-grpc", 9000)]),
], ids=["no-annotation", "false", "not-exactly-true", "default-ports", "no-serve-port", "serve-prefixed"])
def test_serve_service(annotations: Any, ports: Any, want: list[tuple[str, int]] | None) -> None:
    svc = ch.serve_service(inline(annotations=annotations, ports=ports))
    if want is None:
        assert svc is None
        return
    assert svc is not None
    assert svc["metadata"]["name"] == "demo-serve-svc"
    assert svc["metadata"]["labels"] == {"ray.io/originated-from-cr-name": "demo", "ray.io/originated-from-crd":
                                         "RayCluster", "ray.io/serve": "demo-serve", "ray.io/cluster": "demo", **CB}
    assert svc["spec"]["selector"] == {"ray.io/cluster": "demo"}
    assert port_pairs(svc) == want
    assert all("appProtocol" not in p for p in svc["spec"]["ports"])
    assert "clusterIP" not in svc["spec"]


def test_serve_service_type_follows_head_service_type() -> None:
    cluster = inline(annotations={"ray.io/enable-serve-service": "true"}, head={"serviceType": "NodePort"})
    svc = ch.serve_service(cluster)
    assert svc is not None and svc["spec"]["type"] == "NodePort"


@pytest.mark.parametrize(("hosts", "present"), [([], False), ([1], False), ([1, 1], False), ([1, 4], True),
                                                ([2], True)],
                         ids=["no-groups", "single-host", "two-single-host", "one-multi-host", "two-hosts"])
def test_headless_worker_service(hosts: list[int], present: bool) -> None:
    groups = [{"groupName": f"g{i}", "numOfHosts": n, "template": {}} for i, n in enumerate(hosts)]
    svc = ch.headless_worker_service(inline(spec={"workerGroupSpecs": groups}))
    assert (svc is not None) is present
    if svc is not None:
        assert svc["metadata"]["name"] == "demo-headless"
        assert svc["metadata"]["labels"] == {"ray.io/headless-worker-svc": "demo", "ray.io/cluster": "demo", **CB}
        assert svc["spec"] == {"clusterIP": "None", "selector": {"ray.io/cluster": "demo", "ray.io/node-type": "worker"},
                               "type": "ClusterIP", "publishNotReadyAddresses": True}


# --- Ingress ---------------------------------------------------------------------------------------

def test_ingress_from_fixture() -> None:
    ing = ch.ingress(fixture("head-service-ingress"))
    assert ing is not None
    assert (ing["apiVersion"], ing["kind"]) == ("networking.k8s.io/v1", "Ingress")
    assert ing["metadata"]["name"] == "exposed-head-ingress"
    assert ing["metadata"]["labels"] == {"ray.io/cluster": "exposed", "ray.io/identifier": "exposed-head",
                                         "app.kubernetes.io/name": "kuberay", **CB}
    assert ing["spec"]["rules"] == [{"host": "ray.example.com", "http": {"paths": [
        {"path": "/exposed", "pathType": "Prefix",
         "backend": {"service": {"name": "exposed-head", "port": {"number": 8265}}}}]}}]
    assert ing["spec"]["tls"] == [{"hosts": ["ray.example.com"], "secretName": "ray-example-tls"}]
    assert "ingressClassName" not in ing["spec"]


@pytest.mark.parametrize(("head", "annotations", "ports", "want_rule", "want_class"), [
    ({"enableIngress": True}, None, None,
     {"http": {"paths": [{"path": "/", "pathType": "Prefix",
                          "backend": {"service": {"name": "demo-head-svc", "port": {"number": 8265}}}}]}}, None),
    ({"enableIngress": True, "ingressOptions": {"pathType": "Exact", "path": "/ui"}},
     {"kubernetes.io/ingress.class": "nginx"}, [{"name": "dashboard", "containerPort": 9999}],
     {"http": {"paths": [{"path": "/ui", "pathType": "Exact",
                          "backend": {"service": {"name": "demo-head-svc", "port": {"number": 9999}}}}]}}, "nginx"),
], ids=["defaults", "class-and-custom-dashboard-port"])
def test_ingress_shapes(head: dict[str, Any], annotations: Any, ports: Any, want_rule: dict[str, Any],
                        want_class: str | None) -> None:
    ing = ch.ingress(inline(head=head, annotations=annotations, ports=ports))
    assert ing is not None
    assert ing["spec"]["rules"] == [want_rule]
    assert ing["spec"].get("ingressClassName") == want_class
    assert "kubernetes.io/ingress.class" not in ing["metadata"]["annotations"]
    assert "tls" not in ing["spec"]


def test_ingress_copies_cluster_annotations_and_clips_name() -> None:
    ing = ch.ingress(inline("n" * 45, head={"enableIngress": True},
                            annotations={"nginx.ingress.kubernetes.io/rewrite-target": "/$1"}))
    assert ing is not None
    assert ing["metadata"]["annotations"] == {"nginx.ingress.kubernetes.io/rewrite-target": "/$1"}
    assert ing["metadata"]["name"] == ("n" * 45 + "-head-ingress")[-50:]


@pytest.mark.parametrize("head", [{}, {"enableIngress": False}], ids=["unset", "false"])
def test_no_ingress_unless_enabled(head: dict[str, Any]) -> None:
    assert ch.ingress(inline(head=head)) is None


# --- autoscaler RBAC ---------------------------------------------------------------------------

RBAC_LABELS = {"ray.io/cluster": "elastic", "app.kubernetes.io/name": "kuberay", **CB}


def test_autoscaler_rbac_from_fixture() -> None:
    sa, role, rb = ch.autoscaler_rbac(fixture("autoscaler-v2"))
    assert [(o["apiVersion"], o["kind"]) for o in (sa, role, rb)] == [
        ("v1", "ServiceAccount"), ("rbac.authorization.k8s.io/v1", "Role"),
        ("rbac.authorization.k8s.io/v1", "RoleBinding")]
    assert {o["metadata"]["name"] for o in (sa, role, rb)} == {"elastic"}
    assert all(o["metadata"]["labels"] == RBAC_LABELS for o in (sa, role, rb))
    assert role["rules"] == [
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch", "patch"]},
        {"apiGroups": [""], "resources": ["pods/resize"], "verbs": ["patch"]},
        {"apiGroups": ["ray.io"], "resources": ["rayclusters"], "verbs": ["get", "patch"]}]
    assert rb["subjects"] == [{"kind": "ServiceAccount", "name": "elastic", "namespace": "team-a"}]
    assert rb["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "elastic"}


@pytest.mark.parametrize(("name", "sa_name", "kinds", "want_sa", "want_role"), [
    ("demo", None, ["ServiceAccount", "Role", "RoleBinding"], "demo", "demo"),
    ("demo", "my-sa", ["Role", "RoleBinding"], "my-sa", "demo"),
    ("9" + "d" * 59, None, ["ServiceAccount", "Role", "RoleBinding"], "d" * 50, "d" * 50),
    ("demo", "s" * 60, ["ServiceAccount", "Role", "RoleBinding"], "s" * 50, "demo"),
], ids=["cluster-named", "user-sa-not-created", "long-cluster-name", "long-user-sa-clipped-and-created"])
def test_autoscaler_rbac_names(name: str, sa_name: str | None, kinds: list[str], want_sa: str, want_role: str) -> None:
    cluster = inline(name, spec={"enableInTreeAutoscaling": True})
    if sa_name:
        cluster["spec"]["headGroupSpec"]["template"]["spec"]["serviceAccountName"] = sa_name
    objs = ch.autoscaler_rbac(cluster)
    assert [o["kind"] for o in objs] == kinds
    rb = objs[-1]
    assert rb["subjects"][0]["name"] == want_sa
    assert rb["roleRef"]["name"] == want_role == objs[-2]["metadata"]["name"] == rb["metadata"]["name"]
    if kinds[0] == "ServiceAccount":
        assert objs[0]["metadata"]["name"] == want_sa


@pytest.mark.parametrize("spec", [{}, {"enableInTreeAutoscaling": False}], ids=["unset", "false"])
def test_no_rbac_without_autoscaling(spec: dict[str, Any]) -> None:
    assert ch.autoscaler_rbac(inline(spec=spec)) == []


# --- auth Secret ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("auth", "present"), [
    (None, False),
    ({"mode": "disabled"}, False),
    ({"mode": "token"}, True),
    ({}, True),  # KubeRay quirk: empty mode still gets a Secret
    ({"mode": "token", "secretName": "mine"}, False),
    ({"mode": "token", "secretName": ""}, True),
    ({"mode": "token", "enableK8sTokenAuth": True}, False),
], ids=["none", "disabled", "token", "empty-mode", "byo-secret", "empty-secret-name", "k8s-token-auth"])
def test_auth_secret(auth: Any, present: bool) -> None:
    spec = {} if auth is None else {"authOptions": auth}
    secret = ch.auth_secret(inline(spec=spec), "tok")
    assert (secret is not None) is present
    if secret is not None:
        assert secret == {"apiVersion": "v1", "kind": "Secret",
                          "metadata": {"name": "demo", "namespace": "ns",
                                       "labels": {"ray.io/cluster": "demo", **CB}, "annotations": {}},
                          "stringData": {"auth_token": "tok"}}


def test_auth_secret_from_fixture_is_check_named() -> None:
    secret = ch.auth_secret(fixture("token-auth"), "abc")
    assert secret is not None and secret["metadata"]["name"] == "secured"
    long = inline("7" + "x" * 55, spec={"authOptions": {"mode": "token"}})
    assert ch.auth_secret(long, "t")["metadata"]["name"] == "x" * 50  # type: ignore[index]


# --- Redis cleanup Job ---------------------------------------------------------------------------

def test_redis_cleanup_job_from_fixture() -> None:
    job = ch.redis_cleanup_job(fixture("gcs-ft-redis"))
    assert job is not None
    assert (job["apiVersion"], job["kind"]) == ("batch/v1", "Job")
    assert job["metadata"]["name"] == "ha-redis-redis-cleanup"
    labels = job["metadata"]["labels"]
    assert labels["ray.io/node-type"] == "redis-cleanup"
    assert {"ray.io/cluster": "ha-redis", "ray.io/group": "headgroup", "ray.io/identifier": "ha-redis-head",
            "ray.io/is-ray-node": "yes", **CB}.items() <= labels.items()
    assert job["metadata"]["annotations"] == {"ray.io/ft-enabled": "true", "ray.io/kuberay-version": "raybus-0.1.0",
                                              "ray.io/external-storage-namespace": "ha-redis-gcs"}  # the head pod's
    spec = job["spec"]
    assert (spec["backoffLimit"], spec["activeDeadlineSeconds"]) == (0, 300)
    assert spec["template"]["metadata"]["labels"] == labels
    pod = spec["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    (ray,) = pod["containers"]
    assert ray["image"] == "rayproject/ray:2.52.0"
    assert ray["command"] == ["/bin/bash", "-c", "--"]
    assert ray["resources"] == {"limits": {"cpu": "200m", "memory": "256Mi"},
                                "requests": {"cpu": "200m", "memory": "256Mi"}}
    env = {e["name"]: e for e in ray["env"]}
    assert env["RAY_REDIS_ADDRESS"]["value"] == "redis.ray-system.svc.cluster.local:6379"
    assert env["REDIS_PASSWORD"]["valueFrom"] == {"secretKeyRef": {"name": "redis-credentials", "key": "password"}}
    assert env["RAY_external_storage_namespace"]["value"] == "ha-redis-gcs"
    assert [e["name"] for e in ray["env"][-2:]] == ["RAY_redis_db_connect_retries",
                                                     "RAY_redis_db_connect_wait_milliseconds"]
    assert (env["RAY_redis_db_connect_retries"]["value"], env["RAY_redis_db_connect_wait_milliseconds"]["value"]) \
        == ("120", "500")
    (args,) = ray["args"]
    assert args.startswith("echo \"To get more information")
    assert "cleanup_redis_storage(host=parsed.hostname, port=parsed.port, password=" in args
    assert "username=" not in args


@pytest.mark.parametrize(("annotations", "spec", "present"), [
    (None, {}, False),
    ({"ray.io/ft-enabled": "TRUE"}, {}, True),
    ({"ray.io/ft-enabled": "false"}, {}, False),
    (None, {"gcsFaultToleranceOptions": {"redisAddress": "r:6379"}}, True),
    (None, {"gcsFaultToleranceOptions": {"backend": "redis", "redisAddress": "r:6379"}}, True),
    (None, {"gcsFaultToleranceOptions": {"backend": "rocksdb"}}, False),
], ids=["no-ft", "legacy-annotation-any-case", "annotation-false", "options", "explicit-redis", "rocksdb"])
def test_redis_cleanup_job_only_for_redis_ft(annotations: Any, spec: dict[str, Any], present: bool) -> None:
    assert (ch.redis_cleanup_job(inline(annotations=annotations, spec=spec)) is not None) is present


def test_redis_cleanup_job_legacy_annotation_and_username() -> None:
    legacy = ch.redis_cleanup_job(fixture("gcs-ft-legacy-annotation"))
    assert legacy is not None
    assert legacy["metadata"]["name"] == "ha-legacy-redis-cleanup"
    user = inline(spec={"gcsFaultToleranceOptions": {"redisAddress": "r:6379", "redisUsername": {"value": "u"}}})
    job = ch.redis_cleanup_job(user)
    assert job is not None
    ray = job["spec"]["template"]["spec"]["containers"][0]
    assert "username=os.getenv('REDIS_USERNAME', parsed.username), password=" in ray["args"][0]
    assert {"name": "REDIS_USERNAME", "value": "u"} in ray["env"]
    # No options and no annotation override: the storage namespace is the cluster UID.
    assert job["metadata"]["annotations"]["ray.io/external-storage-namespace"] == "uid-1"


def test_redis_cleanup_job_from_built_head_pod() -> None:
    head_pod = {
        "metadata": {"generateName": "demo-head-", "labels": {"ray.io/node-type": "head", "x": "y"},
                     "annotations": {"ray.io/ft-enabled": "true"}},
        "spec": {"restartPolicy": "Always",
                 "initContainers": [{"name": "wait-for-tls-ip-san"}, {"name": "user-init"}],
                 "containers": [{"name": "ray-head", "image": "img", "env": [{"name": "REDIS_USERNAME", "value": "u"}],
                                 "livenessProbe": {"exec": {}}, "readinessProbe": {"exec": {}}},
                                {"name": "autoscaler", "image": "img"}]}}
    cluster = inline(spec={"gcsFaultToleranceOptions": {"redisAddress": "r:6379"}})
    job = ch.redis_cleanup_job(cluster, head_pod=copy.deepcopy(head_pod))
    assert job is not None
    pod = job["spec"]["template"]["spec"]
    assert job["metadata"]["labels"] == {"ray.io/node-type": "redis-cleanup", "x": "y"}
    assert [c["name"] for c in pod["containers"]] == ["ray-head"]
    assert [c["name"] for c in pod["initContainers"]] == ["user-init"]
    assert "livenessProbe" not in pod["containers"][0] and "readinessProbe" not in pod["containers"][0]
    assert "username=" in pod["containers"][0]["args"][0]
    assert pod["restartPolicy"] == "Never"


def test_redis_cleanup_job_name_is_check_labelled() -> None:
    job = ch.redis_cleanup_job(inline("a" * 53, annotations={"ray.io/ft-enabled": "true"}))
    assert job is not None and job["metadata"]["name"] == ("a" * 53 + "-redis-cleanup")[-63:]


# --- children() -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "want"), [
    ("head-only", [("Service", "solo-head-head-svc")]),
    ("autoscaler-v2", [("ServiceAccount", "elastic"), ("Role", "elastic"), ("RoleBinding", "elastic"),
                       ("Service", "elastic-head-svc")]),
    ("head-service-ingress", [("Ingress", "exposed-head-ingress"), ("Service", "exposed-head")]),
    ("tpu-multihost", [("Service", "tpu-v4-slice-head-svc"), ("Service", "tpu-v4-slice-headless")]),
    ("token-auth", [("Service", "secured-head-svc")]),
    ("gcs-ft-redis", [("Service", "ha-redis-head-svc")]),
], ids=["head-only", "autoscaler", "ingress", "multihost", "auth-secret-not-included", "cleanup-job-not-included"])
def test_children_in_creation_order(name: str, want: list[tuple[str, str]]) -> None:
    objs = ch.children(fixture(name))
    assert [(o["kind"], o["metadata"]["name"]) for o in objs] == want


def test_children_includes_serve_service_last() -> None:
    cluster = inline(annotations={"ray.io/enable-serve-service": "true"}, head={"enableIngress": True},
                     spec={"enableInTreeAutoscaling": True,
                           "workerGroupSpecs": [{"groupName": "tpu", "numOfHosts": 2, "template": {}}]})
    assert [o["kind"] for o in ch.children(cluster)] == ["ServiceAccount", "Role", "RoleBinding", "Ingress",
                                                          "Service", "Service", "Service"]
    assert ch.children(cluster)[-1]["metadata"]["name"] == "demo-serve-svc"


@pytest.mark.parametrize("name", sorted(p.stem.removeprefix("raycluster-") for p in FIXTURES.glob("raycluster-*.yaml")))
def test_every_child_is_labelled_and_unowned(name: str) -> None:
    cluster = fixture(name)
    objs = ch.children(cluster)
    extra = [ch.auth_secret(cluster, "t"), ch.redis_cleanup_job(cluster)]
    objs += [o for o in extra if o is not None]
    assert objs
    for o in objs:
        assert o["metadata"]["labels"]["app.kubernetes.io/created-by"] == "kuberay-operator"
        assert o["metadata"]["labels"]["ray.io/cluster"] == cluster["metadata"]["name"]
        assert o["metadata"]["namespace"] == "team-a"
        assert "ownerReferences" not in o["metadata"]


def test_builders_do_not_mutate_the_cluster() -> None:
    cluster = fixture("head-service-ingress")
    cluster["metadata"]["annotations"] = {"kubernetes.io/ingress.class": "nginx", "ray.io/ft-enabled": "true"}
    rc = RayCluster.model_validate(cluster)
    before = rc.model_dump()
    made = plan.children(rc)
    head = built_head(rc)
    cleanup_job.redis_cleanup_job(rc, head)
    for obj in made:  # what was built is a copy: changing it changes nothing in the model
        obj["metadata"]["labels"]["later"] = "x"
        obj["metadata"]["annotations"]["later"] = "x"
    assert rc.model_dump() == before
    assert head == built_head(rc)
