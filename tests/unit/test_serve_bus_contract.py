"""The Serve contract (`raybus_common.ray.serve`): what a dashboard's answer makes, the
`RayServeApplications` object and its change detection, where a RayService cluster's dashboard
and Serve port are, and `deployed_matches`. Pure: plain tables. The read-backs of a real Ray
are tests/integration/test_serve_bus.py."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from raybus_common.ray.jobs import Dashboard, same_observation
from raybus_common.ray.serve import (
    AppStatus,
    DeploymentStatus,
    ProxyHealth,
    ServeApps,
    apps_object,
    apps_of,
    as_deployed,
    deployed_matches,
    of_cluster,
    serve_dashboard,
    serve_port,
)

AT = datetime(2026, 12, 2, 8, 0, 0, tzinfo=UTC)
HEALTHY = ProxyHealth(pod_name="svc-rc-head", healthy=True)

# What Ray 2.60 answers to GET /api/serve/applications/?api_type=declarative (abridged).
ANSWER: dict[str, Any] = {
    "controller_info": {"node_id": "n1"}, "proxy_location": "EveryNode", "target_capacity": None,
    "applications": {
        "hello": {"name": "hello", "route_prefix": "/hello", "status": "RUNNING", "message": "",
                  "last_deployed_time_s": 1.7e9, "source": "declarative",
                  "deployed_app_config": {"name": "hello", "import_path": "raybus_hello:app",
                                          "route_prefix": "/hello"},
                  "deployments": {"Hello": {"name": "Hello", "status": "HEALTHY", "message": "",
                                            "status_trigger": "CONFIG_UPDATE_COMPLETED", "replicas": []}}},
        "": {"name": "", "status": "DEPLOYING", "message": "Deploying", "deployed_app_config": None,
             "deployments": {"D": {"status": "UPDATING", "message": "Starting 1 replica"}}},
    }}


def test_an_answer_becomes_the_status_of_each_application() -> None:
    apps = ServeApps.from_dashboard(ANSWER, HEALTHY)
    assert apps == ServeApps(proxy=HEALTHY, applications={
        "hello": AppStatus(status="RUNNING", deployments={"Hello": DeploymentStatus(status="HEALTHY")},
                           deployed_app_config={"name": "hello", "import_path": "raybus_hello:app",
                                                "route_prefix": "/hello"}),
        "default": AppStatus(status="DEPLOYING", message="Deploying",
                             deployments={"D": DeploymentStatus(status="UPDATING", message="Starting 1 replica")}),
    })
    assert apps.target_capacity is None and apps.error == ""


@pytest.mark.parametrize(("answer", "expected"), [
    ({}, ServeApps(proxy=HEALTHY)),
    ({"applications": None, "target_capacity": 50}, ServeApps(proxy=HEALTHY, target_capacity=50.0)),
    ({"applications": {"a": "junk", "b": {"status": None, "deployments": {"x": 1}}}},
     ServeApps(proxy=HEALTHY, applications={"b": AppStatus()})),
], ids=["serve-not-started", "no-applications-with-a-capacity", "what-is-not-an-object-is-left-out"])
def test_odd_answers(answer: dict[str, Any], expected: ServeApps) -> None:
    assert ServeApps.from_dashboard(answer, HEALTHY) == expected


@pytest.mark.parametrize(("statuses", "ready"), [
    ([], False),
    (["RUNNING"], True),
    (["RUNNING", "RUNNING"], True),
    (["RUNNING", "DEPLOYING"], False),
    (["UNHEALTHY"], False),
    (["DEPLOY_FAILED"], False),
], ids=["none", "one-running", "all-running", "one-deploying", "unhealthy", "deploy-failed"])
def test_ready_is_kuberays_rule(statuses: list[str], ready: bool) -> None:
    apps = ServeApps(applications={f"a{i}": AppStatus(status=s) for i, s in enumerate(statuses)})
    assert apps.ready is ready


def raycluster(*, uid: str = "c1", owner: bool = True, ports: list[dict[str, Any]] | None = None,
               service: str = "svc-rc-head-svc") -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "svc-rc", "namespace": "ns", "uid": uid, "resourceVersion": "9",
                            "labels": {"ray.io/originated-from-crd": "RayService",
                                       "ray.io/originated-from-cr-name": "svc", "team": "a"}}
    if owner:
        meta["ownerReferences"] = [
            {"apiVersion": "v1", "kind": "ConfigMap", "name": "other", "uid": "x"},
            {"apiVersion": "ray.io/v1", "kind": "RayService", "name": "svc", "uid": "s1", "controller": True,
             "blockOwnerDeletion": True}]
    container: dict[str, Any] = {"name": "ray-head", **({"ports": ports} if ports is not None else {})}
    return {"apiVersion": "ray.io/v1", "kind": "RayCluster", "metadata": meta,
            "spec": {"headGroupSpec": {"template": {"spec": {"containers": [container]}}}},
            "status": {"head": {"podIP": "10.244.0.9", "podName": "svc-rc-head", "serviceName": service}}}


def test_the_observation_is_named_after_the_cluster_and_owned_by_its_rayservice() -> None:
    apps = ServeApps.from_dashboard(ANSWER, HEALTHY)
    obj = apps_object(raycluster(), apps=apps, observed_at=AT)
    assert obj["apiVersion"] == "raybus.io/v1" and obj["kind"] == "RayServeApplications"
    assert obj["metadata"] == {
        "name": "svc-rc", "namespace": "ns", "uid": "c1/serve", "resourceVersion": str(int(AT.timestamp() * 1000)),
        "labels": {"ray.io/originated-from-crd": "RayService", "ray.io/originated-from-cr-name": "svc"},
        "ownerReferences": [{"apiVersion": "ray.io/v1", "kind": "RayService", "name": "svc", "uid": "s1",
                             "controller": True, "blockOwnerDeletion": True}]}
    assert obj["spec"] == {"rayClusterName": "svc-rc", "rayClusterUID": "c1"}
    assert obj["status"]["applications"]["hello"]["deployedAppConfig"]["import_path"] == "raybus_hello:app"
    assert obj["status"]["proxy"] == {"podName": "svc-rc-head", "healthy": True, "error": ""}
    assert obj["status"]["observedAt"] == AT.isoformat()
    assert apps_of(obj) == ("svc-rc", apps)
    assert "ownerReferences" not in apps_object(raycluster(owner=False), apps=apps, observed_at=AT)["metadata"]


def test_only_a_change_is_a_new_observation() -> None:
    apps = ServeApps.from_dashboard(ANSWER, HEALTHY)
    first = apps_object(raycluster(), apps=apps, observed_at=AT)
    later = apps_object(raycluster(), apps=apps, observed_at=AT.replace(second=5))
    assert same_observation(first, later)
    unhealthy = apps.model_copy(update={"proxy": ProxyHealth(pod_name="svc-rc-head", error="GET …: 503")})
    assert not same_observation(first, apps_object(raycluster(), apps=unhealthy, observed_at=AT))
    failed = apps.model_copy(update={"error": "no answer within 2s"})
    assert not same_observation(first, apps_object(raycluster(), apps=failed, observed_at=AT))
    assert not same_observation(first, apps_object(raycluster(uid="c2"), apps=apps, observed_at=AT))


@pytest.mark.parametrize(("obj", "uid", "mine"), [
    ({"spec": {"rayClusterUID": "c1"}}, "c1", True),
    ({"spec": {"rayClusterUID": "c1"}}, "c2", False),
    ({"spec": {}}, "c2", True),
], ids=["its-cluster", "an-older-cluster-of-that-name", "unknown-is-taken-as-its"])
def test_of_which_cluster_an_observation_is(obj: dict[str, Any], uid: str, mine: bool) -> None:
    assert of_cluster(obj, uid) is mine


def test_not_an_observation_of_serve() -> None:
    assert apps_of(None) is None and apps_of({"kind": "RayJobInfo"}) is None


@pytest.mark.parametrize(("ports", "port"), [
    (None, 8000),
    ([{"name": "dashboard", "containerPort": 8265}], 8000),
    ([{"name": "serve", "containerPort": 9000}], 9000),
    ([{"name": "serve", "containerPort": "9000"}], 8000),
], ids=["no-ports", "no-serve-port", "named-serve", "not-a-number"])
def test_the_serve_port_is_the_head_containers_port_named_serve(ports: list[dict[str, Any]] | None,
                                                                 port: int) -> None:
    assert serve_port(raycluster(ports=ports)) == port


def test_a_rayservice_clusters_dashboard_is_its_own_head_service() -> None:
    assert serve_dashboard(raycluster(ports=[{"name": "dashboard", "containerPort": 18265}])) == Dashboard(
        namespace="ns", cluster="svc-rc", url="svc-rc-head-svc.ns.svc:18265", head_service="svc-rc-head-svc",
        head_pod_ip="10.244.0.9", port=18265)
    assert serve_dashboard(raycluster(service="")).url == ""


# -- deployed_matches -------------------------------------------------------------------------------

HELLO = {"name": "hello", "import_path": "raybus_hello:app", "route_prefix": "/hello",
         "deployments": [{"name": "Hello", "user_config": {"greeting": "hello"}, "num_replicas": 1}]}
OTHER = {"name": "other", "import_path": "other:app", "route_prefix": "/other"}
LOGGING = {"encoding": "JSON", "log_level": "INFO"}


def deployed(*apps: dict[str, Any], status: str = "RUNNING", capacity: float | None = None,
             **extra: AppStatus) -> ServeApps:
    """What Ray shows after a config with `apps` was put (each app's config as Ray keeps it)."""
    shown = {str(a.get("name") or "default"): AppStatus(status=status, deployed_app_config=a) for a in apps}
    return ServeApps(applications={**shown, **extra}, target_capacity=capacity)


def hello_with(**changes: Any) -> dict[str, Any]:
    return {**HELLO, **changes}


MATCHES: list[tuple[str, dict[str, Any], ServeApps | None, bool]] = [
    ("nothing-observed-yet", {"applications": [HELLO]}, None, False),
    ("no-applications", {"applications": [HELLO]}, ServeApps(), False),
    ("the-same", {"applications": [HELLO]}, deployed(HELLO), True),
    ("the-same-while-it-deploys", {"applications": [HELLO]}, deployed(HELLO, status="DEPLOYING"), True),
    ("the-same-numbers-as-floats", {"applications": [HELLO]},
     deployed(hello_with(deployments=[{"name": "Hello", "user_config": {"greeting": "hello"}, "num_replicas": 1.0}])),
     True),
    ("a-changed-user-config", {"applications": [hello_with(deployments=[
        {"name": "Hello", "user_config": {"greeting": "hi"}, "num_replicas": 1}])]}, deployed(HELLO), False),
    ("a-field-added", {"applications": [hello_with(args={"x": 1})]}, deployed(HELLO), False),
    ("a-field-removed", {"applications": [{k: v for k, v in HELLO.items() if k != "route_prefix"}]},
     deployed(HELLO), False),
    ("an-application-added", {"applications": [HELLO, OTHER]}, deployed(HELLO), False),
    ("an-application-removed", {"applications": [HELLO]}, deployed(HELLO, OTHER), False),
    ("an-application-removed-and-being-deleted", {"applications": [HELLO]},
     deployed(HELLO, other=AppStatus(status="DELETING")), True),
    ("a-wanted-application-being-deleted", {"applications": [HELLO, OTHER]},
     deployed(HELLO, other=AppStatus(status="DELETING")), False),
    ("no-deployed-config-shown", {"applications": [HELLO]}, deployed(hello=AppStatus(status="RUNNING")), False),
    ("unnamed-is-default", {"applications": [{"import_path": "raybus_hello:app"}]},
     deployed({"import_path": "raybus_hello:app"}), True),
    ("the-global-logging-config-is-in-each-app", {"logging_config": LOGGING, "applications": [HELLO]},
     deployed(hello_with(logging_config=LOGGING)), True),
    ("an-apps-own-logging-config-wins", {"logging_config": LOGGING,
                                         "applications": [hello_with(logging_config={"log_level": "DEBUG"})]},
     deployed(hello_with(logging_config={"log_level": "DEBUG"})), True),
    ("a-new-global-logging-config", {"logging_config": LOGGING, "applications": [HELLO]}, deployed(HELLO), False),
    ("instance-options-are-not-compared", {"http_options": {"port": 8001}, "proxy_location": "HeadOnly",
                                           "applications": [HELLO]}, deployed(HELLO), True),
    ("the-same-target-capacity", {"target_capacity": 50, "applications": [HELLO]},
     deployed(HELLO, capacity=50.0), True),
    ("another-target-capacity", {"target_capacity": 50, "applications": [HELLO]}, deployed(HELLO), False),
    ("a-target-capacity-left", {"applications": [HELLO]}, deployed(HELLO, capacity=100.0), False),
    ("an-error-keeps-judging-the-last-answer", {"applications": [HELLO]},
     deployed(HELLO).model_copy(update={"error": "no answer"}), True),
]


@pytest.mark.parametrize(("desired", "observed", "matches"), [c[1:] for c in MATCHES], ids=[c[0] for c in MATCHES])
def test_deployed_matches(desired: dict[str, Any], observed: ServeApps | None, matches: bool) -> None:
    assert deployed_matches(desired, observed) is matches
    if observed is not None:  # the observation object, as serve-ctl's view holds it, reads the same
        obj = apps_object(raycluster(), apps=observed, observed_at=AT)
        assert deployed_matches(desired, obj) is matches


def test_what_ray_keeps_of_each_application() -> None:
    assert as_deployed({"logging_config": LOGGING, "applications": [HELLO, {"import_path": "a:b"}, "junk"]}) == {
        "hello": {**HELLO, "logging_config": LOGGING}, "default": {"import_path": "a:b", "logging_config": LOGGING}}
    assert as_deployed({}) == {}
