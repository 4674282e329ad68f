"""Fixtures shared by every test.

Every test fails if it leaves asyncio tasks behind. The real servers (used by tests/integration
and tests/conformance), started once per session:

`nats_server` is a real nats-server with JetStream, `bus` a Raybus bus client on it.
`control_plane` (see kube fixtures below) is a real etcd + kube-apiserver + controller-manager
+ scheduler + kwok, or the cluster named by RAYBUS_TEST_KUBECONFIG, behind the testbed's
synchronous client (`raybus_testbed.kube.Kube`). Each test that asks for `namespace` gets a
fresh one. `ray_head` is a real Ray head, `pod_network` routes the kwok pod CIDR to it and
`pod_runner` runs RayJob submitter pods against it (the job-ctl integration tests and the
RayJob conformance comparisons share them: one head, one runner per session).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from raybus_common.bus.nats import NatsBus, connect
from raybus_common.bus.streams import ensure_streams
from raybus_common.settings import ServiceSettings
from raybus_testbed.controlplane import CRD_DIR, ControlPlane, Unavailable, crds_in, install_crds
from raybus_testbed.kube import Kube
from raybus_testbed.nats import NatsServer
from raybus_testbed.podrunner import PodRunner
from raybus_testbed.rayhead import NoRay, RayHead
from raybus_testbed.rayhead import pod_network as route_pod_network
from raybus_testbed.rayheads import RayHeads
from raybus_testbed.services import Services


@pytest.fixture(autouse=True)
async def _no_leftover_tasks() -> AsyncIterator[None]:
    before = set(asyncio.all_tasks())
    yield
    # Let cancelled tasks finish their cancellation before judging.
    for _ in range(5):
        await asyncio.sleep(0)
    left = {t for t in asyncio.all_tasks() - before if not t.done() and t is not asyncio.current_task()}
    left = {t for t in left if not getattr(t, "_raybus_session_scoped", False)}
    if left:
        names = ", ".join(sorted(t.get_name() + ":" + repr(t.get_coro()) for t in left))
        for t in left:
            t.cancel()
        pytest.fail(f"test left asyncio tasks running: {names}")


@pytest.fixture(scope="session")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    server = NatsServer(tmp_path_factory.mktemp("nats"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def nats_url(nats_server: NatsServer) -> str:
    return nats_server.url


@pytest.fixture
async def bus(nats_url: str, request: pytest.FixtureRequest) -> AsyncIterator[NatsBus]:
    """A bus client on the session's NATS, with Raybus's streams, for publishing and reading."""
    b = await connect(ServiceSettings(nats_url=nats_url, service_name=f"test-{request.module.__name__}"))
    await ensure_streams(b)
    try:
        yield b
    finally:
        await b.drain(1)


@dataclass
class Cluster:
    api: Kube
    kubeconfig: Path
    etcd_url: str | None  # None for an existing cluster (RAYBUS_TEST_KUBECONFIG)


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A real cluster with Raybus's CRDs installed.

    RAYBUS_TEST_KUBECONFIG names an existing cluster (kind, say) to use instead; otherwise the
    local control plane is built (cached) and started. With neither, the test skips, saying why.
    """
    existing = os.environ.get("RAYBUS_TEST_KUBECONFIG")
    if existing:
        api = Kube.connect(existing)
        install_crds(api, crds_in(sorted(CRD_DIR.glob("*.yaml"))))
        yield Cluster(api, Path(existing), None)
        api.close()
        return
    try:
        cp = ControlPlane(tmp_path_factory.mktemp("kube"))
        cp.start()
    except Unavailable as e:
        pytest.skip(f"no Kubernetes control plane: {e}; set RAYBUS_TEST_KUBECONFIG or install Go")
    try:
        yield Cluster(cp.api, cp.kubeconfig, cp.etcd_url)
    finally:
        cp.stop()


@pytest.fixture(scope="session")
def control_plane(cluster: Cluster) -> Kube:
    """A synchronous client on the test cluster (admin)."""
    return cluster.api


@pytest.fixture(scope="session")
def kubeconfig(cluster: Cluster) -> Path:
    """The test cluster's kubeconfig path, for services started as subprocesses."""
    return cluster.kubeconfig


@pytest.fixture(scope="session")
def etcd_url(cluster: Cluster) -> str:
    """etcd's client URL (local control plane only), e.g. to compact it and force 410 Gone."""
    if cluster.etcd_url is None:
        pytest.skip("etcd is not reachable on an existing cluster (RAYBUS_TEST_KUBECONFIG)")
    return cluster.etcd_url


_ns_counter = itertools.count()


@pytest.fixture
def namespace(control_plane: Kube, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace per test, deleted afterwards."""
    base = re.sub(r"[^a-z0-9-]", "-", request.node.name.lower())[:40].strip("-")
    name = f"{base}-{next(_ns_counter)}"
    control_plane.create("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    yield name
    control_plane.delete(f"/api/v1/namespaces/{name}")


@pytest.fixture
def services(tmp_path: Path, nats_url: str, kubeconfig: Path) -> Iterator[Services]:
    """Raybus services as processes on the session's NATS and cluster; all stopped afterwards."""
    svcs = Services(tmp_path, nats_url, kubeconfig)
    try:
        yield svcs
    finally:
        svcs.stop()


@pytest.fixture(scope="session")
def ray_head(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RayHead]:
    """One real Ray head for the session (`ray[default]` from PyPI, `make ray`); its dashboard is
    `ray_head.url`, on port `ray_head.dashboard_port` (8265 unless taken). Skips, saying why, when
    Ray cannot be installed or started. Tests share it: submit jobs under ids of their own."""
    try:
        head = RayHead(tmp_path_factory.mktemp("ray-head"))
        head.start()
    except NoRay as e:
        pytest.skip(f"no Ray head: {e}")
    try:
        yield head
    finally:
        head.stop()


@pytest.fixture(scope="session")
def pod_network() -> None:
    """The kwok pod CIDR (10.244.0.0/16) routed to this machine, so a head pod's IP reaches
    `ray_head`; skips, saying why, when the route cannot be added."""
    reason = route_pod_network()
    if reason is not None:
        pytest.skip(f"no pod network: {reason}")


@pytest.fixture(scope="session")
def pod_runner(kubeconfig: Path, ray_head: RayHead, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PodRunner]:
    """Runs RayJob submitter pods (labelled `ray.io/originated-from-crd=RayJob`, owned by a Job;
    kwok leaves them Running) on this machine with `ray_head`'s Ray, against `ray_head`'s
    dashboard whatever address the pod names, and writes their outcome as a kubelet would (see
    `raybus_testbed.podrunner`). Its `runs` and their log files tell what ran. Skips on an
    existing cluster (RAYBUS_TEST_KUBECONFIG), whose own kubelets run pods."""
    if os.environ.get("RAYBUS_TEST_KUBECONFIG"):
        pytest.skip("an existing cluster (RAYBUS_TEST_KUBECONFIG) runs its own pods: no pod runner")
    runner = PodRunner(kubeconfig, ray_head.venv, ray_head.url, log_dir=tmp_path_factory.mktemp("pod-runner"))
    runner.start()
    try:
        yield runner
    finally:
        runner.stop()


@pytest.fixture
def ray_heads(control_plane: Kube, namespace: str, pod_network: None, tmp_path: Path) -> Iterator[RayHeads]:
    """A real Ray head of its own for each head pod (`ray.io/node-type=head`) of the test's
    namespace, bound to the pod's IP (`http://<podIP>:8265` is that cluster's dashboard), stopped
    when the pod goes and after the test (see `raybus_testbed.rayheads`). Skips, saying why, when
    Ray cannot be installed, or on an existing cluster (RAYBUS_TEST_KUBECONFIG), whose pods are
    not this machine's."""
    if os.environ.get("RAYBUS_TEST_KUBECONFIG"):
        pytest.skip("an existing cluster (RAYBUS_TEST_KUBECONFIG) runs its own pods: no Ray heads for them")
    try:
        heads = RayHeads(control_plane, namespace, tmp_path / "ray-heads")
    except NoRay as e:
        pytest.skip(f"no Ray: {e}")
    heads.start()
    try:
        yield heads
    finally:
        heads.close()
