"""raybus-watcher against a real kube-apiserver and a real nats-server.

The service runs as a subprocess (as deployed); the bus is read with plain JetStream "last
message for subject" requests on RAYBUS_STATE. The 410 Gone case drives `ResourceWatch`
in-process (on the RayCluster resource as discovery finds it), so the test can hand it a
resourceVersion the API server has forgotten.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import nats
import pytest
import yaml
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from raybus_common.bus import subjects
from raybus_common.bus.envelopes import StateEnvelope, decode
from raybus_common.bus.memory import MemoryBus
from raybus_common.bus.streams import STATE
from raybus_common.kube.client import KubeClient
from raybus_common.kube.discovery import fetch
from raybus_common.kube.resources import spec_of
from raybus_testbed.controlplane import compact_etcd
from raybus_testbed.kube import Kube
from raybus_testbed.procs import Proc
from raybus_testbed.services import Services
from raybus_testbed.waiting import eventually
from raybus_watcher.handlers import BusSink
from raybus_watcher.watching import ResourceWatch

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).parent.parent / "fixtures"
LABEL = {"raybus.io/test": "true"}


def start_watcher(services: Services) -> Proc:
    """raybus-watcher, also watching the test's ConfigMaps; returns once it is ready."""
    return services.start("watcher", "raybus-watcher", RAYBUS_WATCH_EXTRA="configmap=raybus.io/test=true")


@pytest.fixture
async def js(nats_url: str) -> AsyncIterator[JetStreamContext]:
    nc = await nats.connect(nats_url)
    try:
        yield nc.jetstream()
    finally:
        await nc.close()


async def last_state(js: JetStreamContext, subject: str) -> StateEnvelope | None:
    try:
        msg = await js.get_last_msg(STATE, subject)
    except NotFoundError:
        return None
    return decode(StateEnvelope, msg.data or b"")


async def wait_state(js: JetStreamContext, subject: str, check: Callable[[StateEnvelope], bool],
                     *, timeout: float = 30.0, what: str = "") -> StateEnvelope:
    """Poll the subject's last message until `check` holds for it; fail after `timeout`."""
    async def holds() -> StateEnvelope | None:
        env = await last_state(js, subject)
        return env if env is not None and check(env) else None

    return await eventually(holds, timeout=timeout, what=f"{what or 'state'} on {subject}")


def configmap(name: str, labels: dict[str, str] | None = None, **data: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "labels": LABEL if labels is None else labels}, "data": data}


def pod(name: str, labels: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels},
            "spec": {"containers": [{"name": "c", "image": "busybox"}]}}


async def test_configmap_lifecycle_and_dotted_name(services: Services, js: JetStreamContext,
                                                   control_plane: Kube, namespace: str) -> None:
    start_watcher(services)
    cms = f"/api/v1/namespaces/{namespace}/configmaps"
    made = control_plane.create(cms, configmap("app.config.v1", a="1"))
    uid = made["metadata"]["uid"]
    subject = subjects.state("configmap", namespace, "app.config.v1")
    assert subject == f"raybus.state.configmap.{namespace}.app_config_v1"

    env = await wait_state(js, subject, lambda e: e.uid == uid, what="the new ConfigMap")
    assert env.type in ("ADDED", "SNAPSHOT") and env.object is not None
    assert "managedFields" not in env.object["metadata"]
    assert env.object["data"] == {"a": "1"}
    assert (env.ref.kind, env.ref.api_version, env.ref.name) == ("ConfigMap", "v1", "app.config.v1")

    patched = control_plane.merge_patch(f"{cms}/app.config.v1", {"data": {"a": "2"}})
    rv = patched["metadata"]["resourceVersion"]
    env = await wait_state(js, subject, lambda e: e.resource_version == rv, what="the update")
    assert env.type == "MODIFIED" and env.object is not None and env.object["data"] == {"a": "2"}

    control_plane.delete(f"{cms}/app.config.v1")
    env = await wait_state(js, subject, lambda e: e.gone, what="the deletion")
    assert env.type == "DELETED" and env.uid == uid
    assert env.object is not None and "managedFields" not in env.object["metadata"]

    async with httpx.AsyncClient() as http:
        metrics = (await http.get(services.url("watcher", "/metrics"), timeout=2)).text
    for line in ('raybus_watcher_events_total{kind="configmap",type="DELETED"}',
                 'raybus_watcher_events_total{kind="configmap",type="MODIFIED"}',
                 'raybus_watcher_lists_total{kind="raycluster"}'):
        assert line in metrics, metrics


async def test_raycluster_appears_and_is_deleted(services: Services, js: JetStreamContext,
                                                 control_plane: Kube, namespace: str) -> None:
    start_watcher(services)
    rc = yaml.safe_load((FIXTURES / "valid" / "raycluster-head-only.yaml").read_text())
    path = f"/apis/ray.io/v1/namespaces/{namespace}/rayclusters"
    made = control_plane.create(path, rc)
    name = made["metadata"]["name"]
    subject = subjects.state("raycluster", namespace, name)
    env = await wait_state(js, subject, lambda e: e.uid == made["metadata"]["uid"], what="the RayCluster")
    assert env.object is not None and env.object["kind"] == "RayCluster"
    assert env.object["spec"]["rayVersion"] == rc["spec"]["rayVersion"]
    assert "managedFields" not in env.object["metadata"]

    control_plane.delete(f"{path}/{name}")
    env = await wait_state(js, subject, lambda e: e.gone, what="the RayCluster's deletion")
    assert env.type == "DELETED"


async def test_only_ray_pods_are_watched(services: Services, js: JetStreamContext,
                                         control_plane: Kube, namespace: str) -> None:
    start_watcher(services)
    pods = f"/api/v1/namespaces/{namespace}/pods"
    control_plane.create(pods, pod("plain", {"app": "web"}))
    # Created after the unlabelled one: once it is on the bus, the other would be too.
    control_plane.create(pods, pod("ray.worker-0", {"ray.io/node-type": "worker"}))
    await wait_state(js, subjects.state("pod", namespace, "ray.worker-0"), lambda e: not e.gone,
                     what="the worker pod")
    assert await last_state(js, subjects.state("pod", namespace, "plain")) is None


async def test_restart_tombstones_what_was_deleted_meanwhile(services: Services, js: JetStreamContext,
                                                             control_plane: Kube, namespace: str) -> None:
    proc = start_watcher(services)
    cms = f"/api/v1/namespaces/{namespace}/configmaps"
    gone = control_plane.create(cms, configmap("gone-while-down"))["metadata"]["uid"]
    kept = control_plane.create(cms, configmap("kept"))["metadata"]["uid"]
    for name, uid in (("gone-while-down", gone), ("kept", kept)):
        env = await wait_state(js, subjects.state("configmap", namespace, name), lambda e: not e.gone, what=name)
        assert env.uid == uid
    proc.stop()
    assert proc.popen is not None and proc.popen.returncode == 0, proc.tail()

    control_plane.delete(f"{cms}/gone-while-down")
    start_watcher(services)
    env = await wait_state(js, subjects.state("configmap", namespace, "gone-while-down"), lambda e: e.gone,
                           what="the tombstone")
    assert env.type == "TOMBSTONE" and env.uid == gone and env.object is None
    still = await last_state(js, subjects.state("configmap", namespace, "kept"))
    assert still is not None and not still.gone


async def test_expired_watch_relists_and_tombstones(cluster: Any, kubeconfig: Path, control_plane: Kube,
                                                    namespace: str) -> None:
    # RayClusters, not ConfigMaps: the API server's watch cache of a kind holds every event
    # since the cache started. Core kinds' caches start with an empty etcd (revision 1), so on
    # a young cluster no resourceVersion is too old for them; ray.io's caches start when the
    # CRDs are installed, so "1" is older than anything they hold.
    path = f"/apis/ray.io/v1/namespaces/{namespace}/rayclusters"
    rc = yaml.safe_load((FIXTURES / "valid" / "raycluster-head-only.yaml").read_text())
    for name in ("stays", "doomed"):
        control_plane.create(path, {**rc, "metadata": {"name": name}})
    doomed = control_plane.get(f"{path}/doomed")["metadata"]["uid"]

    bus = MemoryBus()
    expired: list[int] = []
    kube = await KubeClient.connect(kubeconfig=str(kubeconfig))
    try:
        res = (await fetch(kube)).resolve(spec_of("raycluster"))
        assert res is not None and res.api_version == "ray.io/v1" and res.plural == "rayclusters"
        w = ResourceWatch(kube, res, namespace, BusSink(bus), on_gone=lambda: expired.append(1))
        await w.relist()
        assert set(w.known) == {(namespace, "stays"), (namespace, "doomed")}

        # While "disconnected": the object goes, and the history it went in is compacted away.
        control_plane.delete(f"{path}/doomed")
        if cluster.etcd_url is not None:
            compact_etcd(cluster.etcd_url)
        w.rv = "1"  # older than anything the API server (cache or etcd) still has: 410 Gone

        stop = asyncio.Event()
        task = asyncio.create_task(w.run(stop), name="test-resource-watch")
        subject = subjects.state("raycluster", namespace, "doomed")

        def tombstone() -> StateEnvelope | None:
            found = bus.messages(subject)
            last = decode(StateEnvelope, found[-1].data) if found else None
            return last if last is not None and last.type == "TOMBSTONE" else None

        try:
            env = await eventually(tombstone, timeout=30, what="the tombstone of the RayCluster deleted meanwhile")
        finally:
            stop.set()
            await asyncio.wait_for(task, timeout=10)
        assert env.uid == doomed and env.object is None
        assert expired, "the 410 was not reported"
        assert w.lists == 2 and set(w.known) == {(namespace, "stays")}
    finally:
        await kube.close()
