"""The serve poller's bus glue (`raybus_watcher.servepoll`) on the in-memory bus and an in-memory
HTTP transport: what one poll makes of the dashboard's and the proxy's answers, what is
published (only what changed), the deletion that follows a RayCluster's, the slots it shares
with the Ray job poller, and what a restarted poller learns from the bus. The plan is
test_serve_bus_plan.py; a real Ray head, tests/integration/test_serve_bus.py."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from test_raypoll import Recording, no_secret

from raybus_common.bus.envelopes import StateEnvelope
from raybus_common.kube.resources import Resource
from raybus_common.ray.serve import ServeApps, apps_of
from raybus_watcher.handlers import BusSink
from raybus_watcher.raypoll import NO_ADDRESS, RayJobPoller, Tap
from raybus_watcher.servepoll import ServePoller
from raybus_watcher.servepoll_plan import ServeTarget

SUBJECT = "raybus.state.rayserveapplications.ns.svc-rc"
RAYCLUSTERS = Resource("raycluster", "RayCluster", "ray.io", "v1", "rayclusters")
APPS: dict[str, Any] = {"target_capacity": None, "applications": {"hello": {
    "name": "hello", "status": "RUNNING", "message": "",
    "deployed_app_config": {"name": "hello", "import_path": "raybus_hello:app"},
    "deployments": {"Hello": {"name": "Hello", "status": "HEALTHY", "message": ""}}}}}


def raycluster(*, uid: str = "c1", ip: str = "10.244.0.9", ready: bool = True) -> dict[str, Any]:
    return {"apiVersion": "ray.io/v1", "kind": "RayCluster",
            "metadata": {"name": "svc-rc", "namespace": "ns", "uid": uid,
                         "labels": {"ray.io/originated-from-crd": "RayService"},
                         "ownerReferences": [{"kind": "RayService", "name": "svc", "uid": "s1", "controller": True}]},
            "spec": {},
            "status": {"conditions": [{"type": "HeadPodReady", "status": "True" if ready else "False"}],
                       "head": {"podIP": ip, "podName": "svc-rc-head", "serviceName": "svc-rc-head-svc"}}}


class Ray:
    """What the dashboard (`apps`: a JSON body with 200, or a status code) and the head's Serve
    proxy (`proxy`: a status code) answer, and what each was asked."""

    def __init__(self) -> None:
        self.apps: dict[str, Any] | int = APPS
        self.proxy = 200
        self.asked: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.asked.append(request)
        if request.url.path == "/-/healthz":
            return httpx.Response(self.proxy, text="success" if self.proxy == 200 else "unhealthy")
        if isinstance(self.apps, int):
            return httpx.Response(self.apps, text="Failed to get a response from the controller")
        return httpx.Response(200, json=self.apps)


@pytest.fixture
async def http() -> AsyncIterator[tuple[httpx.AsyncClient, Ray]]:
    ray = Ray()
    async with httpx.AsyncClient(transport=httpx.MockTransport(ray)) as client:
        yield client, ray


def poller_on(bus: Recording, client: httpx.AsyncClient, *, access: str = "service") -> ServePoller:
    return ServePoller(bus, client, no_secret, access="pod" if access == "pod" else "service", timeout=2.0,
                       interval=3.0, concurrency=4, tombstone_ttl=60.0)


def sees_cluster(poller: ServePoller, **cluster: Any) -> ServePoller:
    """`poller`, told of the RayCluster (`raycluster(**cluster)`)."""
    poller.observed("raycluster", raycluster(**cluster))
    return poller


def target_of(poller: ServePoller) -> ServeTarget:
    target = poller.plan.target(("ns", "svc-rc"))
    assert target is not None
    return target


def published(bus: Recording) -> list[tuple[StateEnvelope, str]]:
    return [(e, msg_id) for subject, e, msg_id, _ in bus.sent if subject == SUBJECT and isinstance(e, StateEnvelope)]


def found(env: StateEnvelope) -> ServeApps:
    got = apps_of(env.object)
    assert got is not None
    return got[1]


async def poll_once(poller: ServePoller) -> bool:
    target = target_of(poller)
    apps: ServeApps = await poller.poll(target)
    return await poller.publish(target, apps)


async def test_a_clusters_serve_is_published_once_per_change(http: tuple[httpx.AsyncClient, Ray]) -> None:
    client, ray = http
    bus = Recording()
    poller = sees_cluster(poller_on(bus, client))
    poller.observed("rayjob", {"kind": "RayJob"})  # not the serve poller's business
    assert await poll_once(poller)
    assert [(r.method, str(r.url)) for r in ray.asked] == [
        ("GET", "http://10.244.0.9:8000/-/healthz"),
        ("GET", "http://svc-rc-head-svc.ns.svc:8265/api/serve/applications/?api_type=declarative")]
    [(env, msg_id)] = published(bus)
    assert env.type == "ADDED" and msg_id == f"c1/serve:{env.resource_version}"
    apps = found(env)
    assert apps.ready and apps.applications["hello"].deployments["Hello"].status == "HEALTHY"
    assert (apps.proxy.pod_name, apps.proxy.healthy, apps.proxy.error) == ("svc-rc-head", True, "")

    assert not await poll_once(poller)  # the same answers: nothing new on the bus
    ray.proxy = 503
    assert await poll_once(poller)
    proxy = found(published(bus)[-1][0]).proxy
    assert not proxy.healthy and "503" in proxy.error and "unhealthy" in proxy.error
    assert [e.type for e, _ in published(bus)] == ["ADDED", "MODIFIED"]


async def test_an_error_keeps_the_applications_of_the_last_answer(http: tuple[httpx.AsyncClient, Ray]) -> None:
    client, ray = http
    bus = Recording()
    poller = sees_cluster(poller_on(bus, client))
    await poll_once(poller)
    ray.apps = 503
    assert await poll_once(poller)
    assert not await poll_once(poller)  # the same error again: nothing new
    apps = found(published(bus)[-1][0])
    assert "503" in apps.error and apps.applications["hello"].status == "RUNNING"
    ray.apps = APPS
    assert await poll_once(poller)
    assert found(published(bus)[-1][0]).error == ""


async def test_without_an_answer_before_an_error_there_are_no_applications(
        http: tuple[httpx.AsyncClient, Ray]) -> None:
    client, ray = http
    poller = poller_on(Recording(), client, access="pod")
    poller.observed("raycluster", raycluster())
    ray.apps = 500
    apps = await poller.poll(target_of(poller))
    assert apps.applications == {} and "500" in apps.error and apps.proxy.healthy


async def test_no_dashboard_address_yet_is_an_error_but_the_proxy_is_asked(
        http: tuple[httpx.AsyncClient, Ray]) -> None:
    client, ray = http
    poller = poller_on(Recording(), client)
    cluster = raycluster()
    cluster["status"]["head"]["serviceName"] = ""
    poller.observed("raycluster", cluster)
    apps = await poller.poll(target_of(poller))
    assert NO_ADDRESS in apps.error and apps.proxy.healthy
    assert [r.url.path for r in ray.asked] == ["/-/healthz"]


async def test_a_deleted_clusters_observation_is_deleted_before_the_cluster(
        http: tuple[httpx.AsyncClient, Ray]) -> None:
    client, _ = http
    bus = Recording()
    poller = poller_on(bus, client)
    tap = Tap(BusSink(bus), poller)
    await tap.observed(RAYCLUSTERS, "ADDED", raycluster())
    await poll_once(poller)
    await tap.vanished(RAYCLUSTERS, "ns", "svc-rc", "c2", raycluster())  # an older cluster of that name: stays
    assert [e.type for e, _ in published(bus)] == ["ADDED"]
    await tap.vanished(RAYCLUSTERS, "ns", "svc-rc", "c1", raycluster())
    await tap.flush()
    assert [(subject, e.type) for subject, e, _, _ in bus.sent if isinstance(e, StateEnvelope)] == [
        ("raybus.state.raycluster.ns.svc-rc", "ADDED"), (SUBJECT, "ADDED"), ("raybus.state.raycluster.ns.svc-rc",
                                                                             "DELETED"),
        (SUBJECT, "DELETED"), ("raybus.state.raycluster.ns.svc-rc", "DELETED")]
    env, msg_id = published(bus)[-1]
    assert env.type == "DELETED" and msg_id == "c1/serve:gone"
    assert poller.plan.target(("ns", "svc-rc")) is None and poller.shown == {}


async def test_an_answer_for_a_cluster_that_moved_on_is_dropped(http: tuple[httpx.AsyncClient, Ray]) -> None:
    client, _ = http
    bus = Recording()
    poller = sees_cluster(poller_on(bus, client))
    asked = target_of(poller)
    apps = await poller.poll(asked)
    poller.observed("raycluster", raycluster(ip="10.244.0.10"))  # a new head meanwhile
    assert not await poller.publish(asked, apps)
    poller.observed("raycluster", raycluster(ready=False))
    assert not await poller.publish(asked, apps)
    assert published(bus) == []


async def test_a_restarted_poller_learns_from_the_bus(http: tuple[httpx.AsyncClient, Ray]) -> None:
    client, _ = http
    bus = Recording()
    first = sees_cluster(poller_on(bus, client))
    await poll_once(first)

    second = poller_on(bus, client)
    await second.learn()
    sees_cluster(second)
    assert not await poll_once(second)  # what the bus shows already
    await second.vanished("raycluster", "ns", "svc-rc", "c1")  # deleted while it was down
    assert [e.type for e, _ in published(bus)] == ["ADDED", "DELETED"]


async def test_both_pollers_run_on_the_same_slots(http: tuple[httpx.AsyncClient, Ray]) -> None:
    client, _ = http
    bus = Recording()
    done = asyncio.Event()
    jobs = RayJobPoller(bus, client, no_secret, access="service", timeout=2.0, interval=3.0, concurrency=1)
    serve = ServePoller(bus, client, no_secret, access="service", timeout=2.0, interval=3.0, concurrency=1,
                        slots=jobs.slots, on_published=lambda kind: done.set())
    assert serve.slots is jobs.slots
    serve.observed("raycluster", raycluster())
    stop = asyncio.Event()
    async with jobs.slots:  # the job poller's one slot is taken: the serve poll waits for it
        runner = asyncio.create_task(serve.run(stop))
        for _ in range(20):
            await asyncio.sleep(0)
        assert published(bus) == []
    await asyncio.wait_for(done.wait(), timeout=10)
    stop.set()
    await runner
    assert [e.type for e, _ in published(bus)] == ["ADDED"]
