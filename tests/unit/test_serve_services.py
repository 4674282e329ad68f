"""A RayService's head and serve Services (A.9: `BuildHeadServiceForRayService`, `BuildServeService`
isRayService, `reconcileServices`), and the objects of an incremental upgrade (A.7.1: the Gateway,
the HTTPRoute, the per-cluster serve Service)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from serve_core_views import (
    NS,
    OWNER,
    Obj,
    cluster_config,
    incremental,
    raycluster,
    rayservice,
    typed,
    typed_cluster,
)

from raybus_serve_ctl import gateway as gw
from raybus_serve_ctl.services import head_service_for, outdated, serve_service_for, switched

CB = {"app.kubernetes.io/created-by": "kuberay-operator"}
HEAD_SELECTOR = {"ray.io/cluster": "rs-abcde", "ray.io/node-type": "head", "ray.io/identifier": "rs-abcde-head",
                 "app.kubernetes.io/name": "kuberay", **CB}


def target(config: Obj | None = None, name: str = "rs-abcde") -> Any:
    return typed_cluster(raycluster(name, config))


# --- head Service ----------------------------------------------------------------------------------------
def test_head_service() -> None:
    svc = head_service_for(rayservice(), target())
    assert (svc["apiVersion"], svc["kind"]) == ("v1", "Service")
    assert svc["metadata"] == {
        "name": "rs-head-svc", "namespace": NS, "annotations": {}, "ownerReferences": [OWNER],
        "labels": {"ray.io/originated-from-cr-name": "rs", "ray.io/originated-from-crd": "RayService",
                   "ray.io/node-type": "head", "ray.io/identifier": "rs-head", **CB}}
    assert svc["spec"] == {
        "selector": HEAD_SELECTOR, "clusterIP": "None", "publishNotReadyAddresses": True,
        "ports": [{"name": n, "port": p, "appProtocol": "tcp"} for n, p in (
            ("client", 10001), ("dashboard", 8265), ("gcs-server", 6379), ("metrics", 8080), ("serve", 8000))]}


def test_head_service_ignores_what_is_the_clusters_own() -> None:
    """No headServiceAnnotations; the selector's app name stays kuberay whatever the template says."""
    config = cluster_config(headServiceAnnotations={"a": "b"})
    config["headGroupSpec"]["template"]["metadata"] = {"labels": {"app.kubernetes.io/name": "mine"}}
    svc = head_service_for(rayservice(config=config), target(config))
    assert svc["metadata"]["annotations"] == {}
    assert svc["spec"]["selector"] == HEAD_SELECTOR


@pytest.mark.parametrize(("service_type", "cluster_ip_service", "headless"), [
    pytest.param(None, False, True, id="default-headless"),
    pytest.param("ClusterIP", True, False, id="ENABLE_RAY_HEAD_CLUSTER_IP_SERVICE"),
    pytest.param("NodePort", False, False, id="node-port"),
])
def test_head_service_type(service_type: str | None, cluster_ip_service: bool, headless: bool) -> None:
    config = cluster_config()
    if service_type:
        config["headGroupSpec"]["serviceType"] = service_type
    svc = head_service_for(rayservice(config=config), target(config), cluster_ip_service=cluster_ip_service)
    assert (svc["spec"].get("clusterIP") == "None") is headless
    assert svc["spec"].get("type") == service_type


def test_head_service_from_a_custom_head_service() -> None:
    config = cluster_config()
    config["headGroupSpec"]["headService"] = {"metadata": {"labels": {"user": "x"}, "annotations": {"u": "v"}},
                                              "spec": {"type": "LoadBalancer", "ports": [{"name": "extra",
                                                                                          "port": 9999}]}}
    svc = head_service_for(rayservice(config=config), target(config))
    assert svc["metadata"]["name"] == "rs-head-svc"
    assert svc["metadata"]["labels"]["ray.io/originated-from-cr-name"] == "rs" and "user" not in svc["metadata"]["labels"]
    assert svc["metadata"]["annotations"] == {"u": "v"}
    assert svc["spec"]["type"] == "LoadBalancer" and "clusterIP" not in svc["spec"]
    assert svc["spec"]["ports"][0] == {"name": "extra", "port": 9999}
    assert svc["spec"]["selector"] == HEAD_SELECTOR


# --- serve Service ---------------------------------------------------------------------------------------
SERVE_LABELS = {"ray.io/originated-from-cr-name": "rs", "ray.io/originated-from-crd": "RayService",
                "ray.io/serve": "rs-serve", **CB}
SERVE_SELECTOR = {"ray.io/cluster": "rs-abcde", "ray.io/serve": "true"}
GRPC = [{"containerPort": 8000, "name": "serve"}, {"containerPort": 9000, "name": "serve-grpc"},
        {"containerPort": 8265, "name": "dashboard"}]


def serve(spec: dict[str, Any] | None = None, *, ports: list[Obj] | None = None, inc: bool = False) -> Obj | None:
    config = cluster_config(ports=ports)
    raw = rayservice(config=config, **(spec or {}))
    return serve_service_for(raw, typed(raw), target(config), incremental=inc)


def test_serve_service() -> None:
    svc = serve(ports=GRPC)
    assert svc is not None
    assert svc["metadata"] == {"name": "rs-serve-svc", "namespace": NS, "labels": SERVE_LABELS, "annotations": {},
                               "ownerReferences": [OWNER]}
    assert svc["spec"] == {"selector": SERVE_SELECTOR, "ports": [{"name": "serve", "port": 8000},
                                                                 {"name": "serve-grpc", "port": 9000}]}


def test_serve_service_type_follows_the_head() -> None:
    config = cluster_config()
    config["headGroupSpec"]["serviceType"] = "NodePort"
    raw = rayservice(config=config)
    svc = serve_service_for(raw, typed(raw), target(config), incremental=False)
    assert svc is not None and svc["spec"]["type"] == "NodePort"


def test_serve_service_from_the_template() -> None:
    template = {"metadata": {"name": "public", "namespace": "elsewhere", "labels": {"ray.io/serve": "mine", "u": "1"},
                             "annotations": {"a": "b"}},
                "spec": {"type": "LoadBalancer", "selector": {"x": "y"},
                         "ports": [{"name": "serve-grpc", "port": 9000, "appProtocol": "kubernetes.io/h2c"},
                                   {"name": "unrelated", "port": 1}]}}
    svc = serve({"serveService": template}, ports=GRPC)
    assert svc is not None
    assert (svc["metadata"]["name"], svc["metadata"]["namespace"]) == ("public", NS)
    assert svc["metadata"]["labels"] == {**SERVE_LABELS, "u": "1"}, "ours win"
    assert svc["metadata"]["annotations"] == {"a": "b"}
    assert svc["spec"]["selector"] == SERVE_SELECTOR and svc["spec"]["type"] == "LoadBalancer"
    assert svc["spec"]["ports"] == [{"name": "serve", "port": 8000},
                                    {"name": "serve-grpc", "port": 9000, "appProtocol": "kubernetes.io/h2c"}]
    assert template["spec"]["selector"] == {"x": "y"}, "the spec is not changed"


def test_a_template_without_serve_ports_keeps_its_own() -> None:
    template = {"spec": {"ports": [{"name": "http", "port": 80, "targetPort": 8000}]}}
    svc = serve({"serveService": template}, ports=[{"containerPort": 8265, "name": "dashboard"}])
    assert svc is not None
    assert svc["metadata"]["name"] == "rs-serve-svc" and svc["spec"]["ports"] == template["spec"]["ports"]


@pytest.mark.parametrize("spec", [
    pytest.param(None, id="no-template"),
    pytest.param({"serveService": {"spec": {}}, "upgradeStrategy": incremental()}, id="incremental-ignores-template"),
])
def test_no_serve_port_cannot_be_built(spec: dict[str, Any] | None) -> None:
    ports = [{"containerPort": 8265, "name": "dashboard"}]
    assert serve(spec, ports=ports, inc=spec is not None) is None


def test_incremental_serve_service_is_the_clusters() -> None:
    svc = serve({"serveService": {"metadata": {"name": "ignored"}}}, inc=True)
    assert svc is not None
    assert svc["metadata"]["name"] == "rs-abcde-serve-svc"
    assert svc["metadata"]["labels"] == {"ray.io/originated-from-cr-name": "rs-abcde",
                                         "ray.io/originated-from-crd": "RayService", "ray.io/serve": "rs-abcde-serve",
                                         **CB}
    assert svc["spec"] == {"selector": SERVE_SELECTOR, "ports": [{"name": "serve", "port": 8000}]}


# --- switching ----------------------------------------------------------------------------------------------
def test_switching_keeps_the_allocated_ips_and_the_metadata() -> None:
    old_target, new_target = target(name="rs-aaaaa"), target(name="rs-bbbbb")
    desired_old = head_service_for(rayservice(), old_target, cluster_ip_service=True)
    current = copy.deepcopy(desired_old)
    current["metadata"].update(uid="svc-uid", resourceVersion="3", labels={"kept": "yes"})
    current["spec"].update(clusterIP="10.0.0.7", clusterIPs=["10.0.0.7"])
    current["status"] = {"loadBalancer": {}}
    desired = head_service_for(rayservice(), new_target, cluster_ip_service=True)
    assert not outdated(current, desired_old) and outdated(current, desired)
    out = switched(current, desired)
    assert out["spec"]["selector"]["ray.io/cluster"] == "rs-bbbbb"
    assert (out["spec"]["clusterIP"], out["spec"]["clusterIPs"]) == ("10.0.0.7", ["10.0.0.7"])
    assert out["metadata"] == current["metadata"] and "status" not in out
    assert current["spec"]["selector"]["ray.io/cluster"] == "rs-aaaaa", "the observed Service is not changed"


def test_switching_a_headless_service_stays_headless() -> None:
    current = head_service_for(rayservice(), target(name="rs-aaaaa"))
    out = switched(current, head_service_for(rayservice(), target(name="rs-bbbbb")))
    assert out["spec"]["clusterIP"] == "None" and "clusterIPs" not in out["spec"]


# --- the incremental upgrade's objects --------------------------------------------------------------------
def test_gateway() -> None:
    assert gw.gateway_for(rayservice(), gateway_class="istio") == {
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
        "metadata": {"name": "rs-gateway", "namespace": NS, "labels": CB, "ownerReferences": [OWNER]},
        "spec": {"gatewayClassName": "istio", "listeners": [{"name": "http", "protocol": "HTTP", "port": 80}]}}


def test_httproute() -> None:
    grpc_only = cluster_config(ports=[{"containerPort": 9000, "name": "serve-grpc"}])
    route = gw.httproute_for(rayservice(), active=target(name="rs-aaaaa"), pending=target(grpc_only, "rs-bbbbb"),
                             weights=(75, 25))
    assert route is not None
    assert route["metadata"] == {"name": "rs-httproute", "namespace": NS, "labels": CB, "ownerReferences": [OWNER]}
    assert route["spec"] == {
        "parentRefs": [{"name": "rs-gateway", "namespace": NS}],
        "rules": [{"matches": [{"path": {"type": "PathPrefix", "value": "/"}}], "backendRefs": [
            {"name": "rs-aaaaa-serve-svc", "namespace": NS, "port": 8000, "weight": 75},
            {"name": "rs-bbbbb-serve-svc", "namespace": NS, "port": 8000, "weight": 25}]}]}
    only_active = gw.httproute_for(rayservice(), active=target(name="rs-aaaaa"), pending=None, weights=(100, 0))
    assert only_active is not None and len(only_active["spec"]["rules"][0]["backendRefs"]) == 1
    assert gw.httproute_for(rayservice(), active=None, pending=target(), weights=(100, 0)) is None


def test_cluster_serve_service_is_owned_by_its_cluster() -> None:
    raw_cluster = raycluster("rs-abcde")
    raw = rayservice(upgradeStrategy=incremental())
    svc = gw.cluster_serve_service(raw, typed(raw), raw_cluster, typed_cluster(raw_cluster))
    assert svc is not None and svc["metadata"]["name"] == "rs-abcde-serve-svc"
    assert svc["metadata"]["ownerReferences"] == [{"apiVersion": "ray.io/v1", "kind": "RayCluster", "name": "rs-abcde",
                                                   "uid": "uid-rs-abcde", "controller": True,
                                                   "blockOwnerDeletion": True}]
    no_port = raycluster("rs-abcde", cluster_config(ports=[{"containerPort": 8265, "name": "dashboard"}]))
    assert gw.cluster_serve_service(raw, typed(raw), no_port, typed_cluster(no_port)) is None


def _with(obj: Obj, path: str, value: Any) -> Obj:
    out = copy.deepcopy(obj)
    node: Any = out
    *parents, last = path.split(".")
    for part in parents:
        node = node[int(part)] if part.isdigit() else node[part]
    node[last] = value
    return out


GATEWAY = gw.gateway_for(rayservice(), gateway_class="istio")


@pytest.mark.parametrize(("existing", "equal"), [
    pytest.param(GATEWAY, True, id="same"),
    pytest.param(_with(GATEWAY, "spec.gatewayClassName", "envoy"), False, id="class"),
    pytest.param(_with(GATEWAY, "spec.listeners.0.port", 8080), False, id="listener-port"),
    pytest.param(_with(GATEWAY, "spec.listeners.0.hostname", "x.example"), True, id="listener-hostname-not-compared"),
    pytest.param(_with(GATEWAY, "metadata.labels", {}), True, id="labels-not-compared"),
])
def test_gateway_equal(existing: Obj, equal: bool) -> None:
    assert gw.gateway_equal(existing, GATEWAY) is equal


ROUTE = gw.httproute_for(rayservice(), active=target(name="rs-aaaaa"), pending=target(name="rs-bbbbb"),
                         weights=(50, 50)) or {}


@pytest.mark.parametrize(("existing", "equal"), [
    pytest.param(ROUTE, True, id="same"),
    pytest.param(_with(ROUTE, "spec.rules.0.backendRefs.0.weight", 60), False, id="weight"),
    pytest.param(_with(ROUTE, "spec.rules.0.backendRefs.1.port", 9000), False, id="port"),
    pytest.param(_with(ROUTE, "spec.rules.0.backendRefs.1.name", "x-serve-svc"), False, id="backend-name"),
    pytest.param(_with(ROUTE, "spec.rules.0.backendRefs.1.kind", "Service"), True, id="defaulted-kind-not-compared"),
    pytest.param(_with(ROUTE, "spec.parentRefs.0.namespace", "other"), False, id="parent-namespace"),
    pytest.param(_with(ROUTE, "spec.hostnames", []), True, id="empty-hostnames-are-none"),
    pytest.param(_with(ROUTE, "spec.hostnames", ["x.example"]), False, id="hostnames"),
    pytest.param(_with(ROUTE, "spec.rules.0.filters", []), True, id="empty-filters-are-none"),
])
def test_httproute_equal(existing: Obj, equal: bool) -> None:
    assert gw.httproute_equal(existing, ROUTE) is equal


def test_an_unset_weight_compares_as_1() -> None:
    one = _with(ROUTE, "spec.rules.0.backendRefs.0.weight", 1)
    unset = copy.deepcopy(one)
    del unset["spec"]["rules"][0]["backendRefs"][0]["weight"]
    assert gw.httproute_equal(unset, one)
