"""The Serve side of the bus against real servers: a real Ray head with Ray Serve (`ray_head`,
`ray[default,serve]`), the control plane, NATS, and raybus-actuator and raybus-watcher as
processes (no controller runs: the test writes the statuses cluster-ctl would, and sends the
actions serve-ctl would).

- A `RayPutServeConfig` on `raybus.act.rayserveapplications.<ns>.<cluster>` is carried out by the
  actuator (`PUT /api/serve/applications/`) and answered on `raybus.res.rayserveapplications.…`; the
  head then serves the test application (`raybus_testbed/serveapps/raybus_hello.py`).
- The watcher's serve poller publishes the `RayServeApplications` of the RayService's
  RayCluster once its head is ready: the application RUNNING, the head's proxy healthy, owned
  by the RayService; `deployed_matches` tells the deployed config from a changed one until the
  changed one is put; the observation goes with the RayCluster.
- A dashboard that never answers shows as an `error` of its own cluster only.

Every dashboard and proxy is reached at 127.0.0.1 (a RayCluster's `status.head.podIP` as the
test writes it, access `pod`), so no route to the pod network is needed.
"""

from __future__ import annotations

import copy
import secrets
import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import test_ray_bus

from raybus_common.actions import ObjectRef, RayPutServeConfig, ray_serve_ref
from raybus_common.bus import subjects
from raybus_common.bus.envelopes import ActionEnvelope, ResultEnvelope, StateEnvelope
from raybus_common.bus.nats import NatsBus
from raybus_common.ray.dashboard import DashboardClient, new_http
from raybus_common.ray.serve import SUBJECT_KIND, ServeApps, apps_of, deployed_matches, serve_dashboard
from raybus_testbed.kube import Kube
from raybus_testbed.rayhead import RayHead
from raybus_testbed.services import Services
from raybus_testbed.waiting import eventually

pytestmark = pytest.mark.integration

# The head shares 2 cores with everything else here: its answers get 10 s, not KubeRay's 2 s.
RAY_ENV: dict[str, Any] = {"RAYBUS_RAY_DASHBOARD_ACCESS": "pod", "RAYBUS_RAY_TIMEOUT_SECONDS": "10"}
RAYSERVICES = "/apis/ray.io/v1/namespaces/{ns}/rayservices"
RAYCLUSTERS = "/apis/ray.io/v1/namespaces/{ns}/rayclusters"
HEAD: dict[str, Any] = {"rayStartParams": {}, "template": {"spec": {"containers": [{"name": "ray-head",
                                                                    "image": "rayproject/ray:2.52.0"}]}}}
DEPLOYED = 180.0  # seconds for Serve to start its controller, proxy and replica on a busy head


class Collected(test_ray_bus.Collected):
    """Every `rayserveapplications` state message and result of the namespace (the last stored,
    then live)."""

    def latest(self, cluster: str) -> StateEnvelope | None:
        return next((e for e, _, _ in reversed(self.states) if e.ref.name == cluster), None)

    def apps(self, cluster: str) -> ServeApps | None:
        env = self.latest(cluster)
        found = apps_of(env.object) if env is not None and not env.gone else None
        return found[1] if found is not None else None


@pytest.fixture
async def collected(bus: NatsBus, namespace: str) -> AsyncIterator[Collected]:
    c = Collected()
    results = await bus.last_per_subject(subjects.in_namespace("res", SUBJECT_KIND, namespace), ResultEnvelope,
                                         c.on_result)
    states = await bus.last_per_subject(subjects.in_namespace("state", SUBJECT_KIND, namespace), StateEnvelope,
                                        c.on_state)
    yield c  # pytest runs what follows whatever the test did
    results.stop()
    states.stop()


@pytest.fixture
async def head(ray_head: RayHead) -> AsyncIterator[DashboardClient]:
    """The test's own client of the head's dashboard; Serve is shut down after the test, so the
    head is left as the test found it."""
    async with new_http() as http:
        yield DashboardClient(http, ray_head.url, timeout=60)
        await http.delete(ray_head.url + "/api/serve/applications/", timeout=120)


def serve_config(ray_head: RayHead, greeting: str) -> dict[str, Any]:
    """A serve config as serve-ctl would put it (a `serveConfigV2` parsed): the test application,
    saying `greeting`; Serve's proxy on the head's serve port."""
    return {"http_options": {"host": "0.0.0.0", "port": ray_head.serve_port},
            "applications": [{"name": "hello", "import_path": "raybus_hello:app", "route_prefix": "/hello",
                              "deployments": [{"name": "Hello", "user_config": {"greeting": greeting}}]}]}


def rayservice_cluster(kube: Kube, namespace: str, name: str, *, dashboard_port: int, serve_port: int) -> dict[str, Any]:
    """A RayService `name` and its RayCluster `<name>-rc` (labelled and owned as KubeRay makes it)
    whose head is ready at 127.0.0.1: statuses written as cluster-ctl would."""
    service = kube.create(RAYSERVICES.format(ns=namespace), {
        "apiVersion": "ray.io/v1", "kind": "RayService", "metadata": {"name": name, "namespace": namespace},
        "spec": {"rayClusterConfig": {"headGroupSpec": HEAD}}})
    cluster = f"{name}-rc"
    head = copy.deepcopy(HEAD)
    head["template"]["spec"]["containers"][0]["ports"] = [
        {"name": "dashboard", "containerPort": dashboard_port}, {"name": "serve", "containerPort": serve_port}]
    rcs = RAYCLUSTERS.format(ns=namespace)
    kube.create(rcs, {"apiVersion": "ray.io/v1", "kind": "RayCluster", "metadata": {
        "name": cluster, "namespace": namespace,
        "labels": {"ray.io/originated-from-crd": "RayService", "ray.io/originated-from-cr-name": name},
        "ownerReferences": [{"apiVersion": "ray.io/v1", "kind": "RayService", "name": name,
                             "uid": service["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}]},
        "spec": {"headGroupSpec": head}})
    return kube.merge_patch(f"{rcs}/{cluster}/status", {"status": {
        "state": "ready",
        "conditions": [{"type": "HeadPodReady", "status": "True", "reason": "HeadPodRunningAndReady",
                        "message": "", "lastTransitionTime": "2026-01-01T00:00:00Z"}],
        "head": {"podIP": "127.0.0.1", "podName": f"{cluster}-head", "serviceName": f"{cluster}-head-svc"}}})


async def put(bus: NatsBus, c: Collected, cluster: dict[str, Any], config: dict[str, Any]) -> ResultEnvelope:
    """A `RayPutServeConfig` for `cluster` sent as serve-ctl would; its result."""
    owner = cluster["metadata"]["ownerReferences"][0]
    root = ObjectRef(api_version="ray.io/v1", kind="RayService", namespace=cluster["metadata"]["namespace"],
                     name=owner["name"], uid=owner["uid"])
    action = RayPutServeConfig(ref=ray_serve_ref(cluster), dashboard=serve_dashboard(cluster), config=config)
    env = ActionEnvelope.build("serve-ctl", root, action, salt=secrets.token_hex(4))
    t = action.ref
    await bus.publish(subjects.act(t.kind.lower(), t.namespace, t.name), env, msg_id=env.action_id)
    res: ResultEnvelope | None = await eventually(lambda: c.result(env.action_id), timeout=DEPLOYED,
                                                  what=f"the result of {env.action_id}")
    assert res is not None
    return res


async def said(ray_head: RayHead, greeting: str) -> bool:
    """The head's Serve proxy answers /hello with `greeting`."""
    async with httpx.AsyncClient() as http:
        answer = await http.get(ray_head.serve_url + "/hello", timeout=10)
        return answer.status_code == 200 and answer.text == greeting


async def test_a_put_config_is_served_and_observed_running_until_it_changes(
        services: Services, bus: NatsBus, collected: Collected, control_plane: Kube, namespace: str,
        ray_head: RayHead, head: DashboardClient) -> None:
    services.start("actuator", "raybus-actuator", **RAY_ENV)
    services.start("watcher", "raybus-watcher", RAYBUS_WATCH_NAMESPACES=namespace, RAYBUS_RAY_POLL_SECONDS="0.5",
                   **RAY_ENV)
    cluster = rayservice_cluster(control_plane, namespace, "svc", dashboard_port=ray_head.dashboard_port,
                                 serve_port=ray_head.serve_port)
    config = serve_config(ray_head, "hello")

    res = await put(bus, collected, cluster, config)
    assert (res.outcome, res.op, res.changed, res.http_status) == ("ok", "ray_put_serve_config", True, None)
    assert res.target is not None and (res.target.kind, res.target.name) == ("RayServeApplications", "svc-rc")

    def running() -> ServeApps | None:
        apps = collected.apps("svc-rc")
        return apps if apps is not None and apps.ready and apps.proxy.healthy else None

    apps = await eventually(running, timeout=DEPLOYED, what="the application RUNNING and the proxy healthy")
    assert apps is not None
    hello = apps.applications["hello"]
    assert hello.deployments["Hello"].status == "HEALTHY" and apps.error == ""
    assert apps.proxy.pod_name == "svc-rc-head"
    assert await eventually(lambda: said(ray_head, "hello"), timeout=60, what="the head serving /hello") is True
    assert deployed_matches(config, apps), f"Ray read it back as {hello.deployed_app_config}"
    env = collected.latest("svc-rc")
    assert env is not None and env.object is not None
    owner = env.object["metadata"]["ownerReferences"]
    assert [(o["kind"], o["name"], o["controller"]) for o in owner] == [("RayService", "svc", True)]
    assert env.uid == f"{cluster['metadata']['uid']}/serve"

    # serve-ctl's changed serveConfigV2: not the deployed one until it is put. (Its global
    # logging_config is what Ray copies into each application: deployed_matches knows.)
    changed = {**serve_config(ray_head, "hi"), "logging_config": {"log_level": "INFO"}}
    assert not deployed_matches(changed, env.object)
    assert (await put(bus, collected, cluster, changed)).outcome == "ok"

    def redeployed() -> ServeApps | None:
        now = collected.apps("svc-rc")
        return now if now is not None and deployed_matches(changed, now) and now.ready else None

    now = await eventually(redeployed, timeout=DEPLOYED, what="the changed config deployed and running")
    assert now is not None and not deployed_matches(config, now)
    assert await eventually(lambda: said(ray_head, "hi"), timeout=60, what="the head serving the new greeting") is True

    control_plane.delete(f"{RAYCLUSTERS.format(ns=namespace)}/svc-rc")
    gone = await eventually(lambda: next((e for e, _, _ in collected.states if e.gone), None), timeout=30,
                            what="the RayServeApplications deleted with its RayCluster")
    assert gone is not None and gone.type == "DELETED" and gone.uid == env.uid


@pytest.fixture
def silent_ports() -> Iterator[tuple[int, int]]:
    """Two ports that take connections and never answer (a dashboard and a proxy that hang,
    kuberay#4087)."""
    with socket.socket() as a, socket.socket() as b:
        for s in (a, b):
            s.bind(("127.0.0.1", 0))
            s.listen(64)
        yield a.getsockname()[1], b.getsockname()[1]


async def test_a_dashboard_that_never_answers_is_an_error_of_its_own_cluster_only(
        services: Services, collected: Collected, control_plane: Kube, namespace: str, ray_head: RayHead,
        head: DashboardClient, silent_ports: tuple[int, int]) -> None:
    timeout = 5.0
    await head.put_serve_config(serve_config(ray_head, "hello"))
    services.start("watcher", "raybus-watcher", RAYBUS_WATCH_NAMESPACES=namespace, RAYBUS_RAY_POLL_SECONDS="1",
                   RAYBUS_RAY_DASHBOARD_ACCESS="pod", RAYBUS_RAY_TIMEOUT_SECONDS=str(timeout))
    rayservice_cluster(control_plane, namespace, "dead", dashboard_port=silent_ports[0], serve_port=silent_ports[1])
    rayservice_cluster(control_plane, namespace, "live", dashboard_port=ray_head.dashboard_port,
                       serve_port=ray_head.serve_port)

    def live_running() -> ServeApps | None:
        apps = collected.apps("live-rc")
        return apps if apps is not None and apps.ready else None

    live = await eventually(live_running, timeout=DEPLOYED, what="the live cluster's application RUNNING")
    assert live is not None and live.error == "" and live.proxy.healthy

    dead = await eventually(lambda: collected.apps("dead-rc"), timeout=6 * timeout,
                            what="the dead dashboard's poll to time out")
    assert dead is not None
    assert f"no answer within {timeout:g}s" in dead.error and dead.applications == {}
    assert not dead.proxy.healthy and "no answer" in dead.proxy.error
    # Meanwhile the live cluster's observation carries no error of the dead one.
    latest = collected.apps("live-rc")
    assert latest is not None and latest.error == "" and latest.ready
