"""Discovery against the real API server: what it serves, a CRD installed after the cache was
filled (the actuator writes it without a restart), and a scheduler's kind watched at a version
Raybus never pinned.

The CRDs here are small stand-ins: `widgets.example.io` (served at v1beta1 and v1beta2) and a
Kueue-like `workloads.kueue.x-k8s.io` served only at v1beta2 (the old hand-kept catalog pinned
Kueue to v1beta1). Each test removes its CRD, and waits until it is gone.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import nats
import pytest
from nats.js.errors import NotFoundError

from raybus_common.actions import Apply, ObjectRef
from raybus_common.bus import subjects
from raybus_common.bus.envelopes import ActionEnvelope, ResultEnvelope, StateEnvelope, decode
from raybus_common.bus.nats import NatsBus
from raybus_common.bus.streams import RES, STATE
from raybus_common.kube.client import KubeClient
from raybus_common.kube.discovery import Discovery, fetch
from raybus_common.kube.resources import KindSpec, Resource
from raybus_testbed.controlplane import install_crds
from raybus_testbed.kube import Kube
from raybus_testbed.services import Services
from raybus_testbed.waiting import eventually, wait_until

pytestmark = pytest.mark.integration
CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"


def crd(group: str, kind: str, plural: str, versions: list[str]) -> dict[str, Any]:
    """A namespaced CRD with an open schema; the last version is the storage version."""
    schema = {"openAPIV3Schema": {"type": "object", "properties": {
        "spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}}}
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": f"{plural}.{group}"},
            "spec": {"group": group, "scope": "Namespaced",
                     "names": {"kind": kind, "plural": plural, "singular": kind.lower(), "listKind": f"{kind}List"},
                     "versions": [{"name": v, "served": True, "storage": v == versions[-1], "schema": schema}
                                  for v in versions]}}


@pytest.fixture
def crds(control_plane: Kube) -> Iterator[Callable[[dict[str, Any]], None]]:
    """Install CRDs when the test says so; remove them (and wait until gone) afterwards."""
    installed: list[str] = []

    def install(doc: dict[str, Any]) -> None:
        installed.append(doc["metadata"]["name"])
        install_crds(control_plane, [doc])

    yield install
    for name in installed:
        control_plane.delete(f"{CRDS}/{name}")
    for name in installed:
        wait_until(lambda n=name: not control_plane.exists(f"{CRDS}/{n}"), timeout=60, what=f"CRD {name} removed")


@pytest.fixture
async def kube(kubeconfig: Path) -> AsyncIterator[KubeClient]:
    client = await KubeClient.connect(kubeconfig=kubeconfig)
    try:
        yield client
    finally:
        await client.close()


async def test_the_catalog_is_what_the_api_server_serves(kube: KubeClient) -> None:
    catalog = await fetch(kube)
    assert catalog.lookup("v1", "Pod") == Resource("pod", "Pod", "", "v1", "pods")
    assert catalog.lookup("v1", "Namespace") == Resource("namespace", "Namespace", "", "v1", "namespaces",
                                                         namespaced=False)
    assert catalog.lookup("ray.io/v1", "RayCluster") == Resource("raycluster", "RayCluster", "ray.io", "v1",
                                                                 "rayclusters")
    assert catalog.lookup("events.k8s.io/v1", "Event") is not None
    assert catalog.lookup("ray.io/v1alpha1", "RayCluster") is None  # Raybus's CRDs serve v1 only


async def test_a_crd_installed_after_the_cache_was_filled_is_found_and_written(
        kube: KubeClient, crds: Callable[[dict[str, Any]], None], services: Services, bus: NatsBus,
        control_plane: Kube, namespace: str) -> None:
    discovery = Discovery(kube, min_interval=0)
    await discovery.refresh()
    assert await discovery.lookup("example.io/v1beta2", "Widget") is None
    services.start("actuator", "raybus-actuator")  # its own cache is filled now, without widgets too

    crds(crd("example.io", "Widget", "widgets", ["v1beta1", "v1beta2"]))
    found = await discovery.lookup("example.io/v1beta2", "Widget")
    assert found == Resource("widget", "Widget", "example.io", "v1beta2", "widgets")
    assert (await discovery.resolve(KindSpec("widget", "example.io", "Widget", versions=("v1beta1",)))
            == Resource("widget", "Widget", "example.io", "v1beta1", "widgets"))

    widget = {"apiVersion": "example.io/v1beta2", "kind": "Widget",
              "metadata": {"name": "w", "namespace": namespace}, "spec": {"size": 3}}
    result = await apply_and_wait(bus, widget)
    assert result.outcome == "ok", result.message
    assert control_plane.get(f"/apis/example.io/v1beta2/namespaces/{namespace}/widgets/w")["spec"] == {"size": 3}
    unserved = await apply_and_wait(bus, {**widget, "apiVersion": "example.io/v1"})
    assert unserved.outcome == "permanent" and "no API path for example.io/v1 Widget" in unserved.message


async def apply_and_wait(bus: NatsBus, obj: dict[str, Any]) -> ResultEnvelope:
    root = ObjectRef(api_version="ray.io/v1", kind="RayCluster", namespace=obj["metadata"]["namespace"], name="r")
    env = ActionEnvelope.build("test-discovery", root, Apply(object=obj))
    meta = obj["metadata"]
    await bus.publish(subjects.act("widget", meta["namespace"], meta["name"]), env, msg_id=env.action_id)

    async def result() -> ResultEnvelope | None:
        try:
            msg = await bus.js.get_last_msg(RES, subjects.res("widget", meta["namespace"], meta["name"]))
        except NotFoundError:
            return None
        got = decode(ResultEnvelope, msg.data or b"")
        return got if got.action_id == env.action_id else None

    return await eventually(result, timeout=30, what=f"the result of applying {obj['apiVersion']} Widget")


async def test_the_watcher_watches_a_scheduler_kind_at_the_version_the_server_serves(
        crds: Callable[[dict[str, Any]], None], services: Services, control_plane: Kube, nats_url: str,
        namespace: str) -> None:
    crds(crd("kueue.x-k8s.io", "Workload", "workloads", ["v1beta2"]))
    services.start("watcher", "raybus-watcher")
    control_plane.create(f"/apis/kueue.x-k8s.io/v1beta2/namespaces/{namespace}/workloads",
                         {"apiVersion": "kueue.x-k8s.io/v1beta2", "kind": "Workload",
                          "metadata": {"name": "job-w.1"}, "spec": {"queueName": "q"}})
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()

        async def state() -> StateEnvelope | None:
            try:
                msg = await js.get_last_msg(STATE, subjects.state("workload", namespace, "job-w.1"))
            except NotFoundError:
                return None
            return decode(StateEnvelope, msg.data or b"")

        env = await eventually(state, timeout=30, what="the Workload on raybus.state.workload")
    finally:
        await nc.close()
    assert env.object is not None and env.object["apiVersion"] == "kueue.x-k8s.io/v1beta2"
    assert (env.ref.api_version, env.ref.kind) == ("kueue.x-k8s.io/v1beta2", "Workload")
    assert env.object["spec"] == {"queueName": "q"}
