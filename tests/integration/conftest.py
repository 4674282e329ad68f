"""Fixtures for integration tests that must not disturb the session's nats-server.

`module_nats` is a nats-server of the test module's own (a work-queue stream allows one
consumer per subject, and other modules leave the actuator's durable on `raybus.act.>`; a test
may delete a stream), `module_bus` a Raybus bus on it with Raybus's streams, and `open_module_bus` opens more.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from raybus_common.bus.nats import NatsBus, connect
from raybus_common.bus.streams import ensure_streams
from raybus_common.settings import ServiceSettings
from raybus_testbed.nats import NatsServer
from raybus_testbed.podrunner import PodRunner
from raybus_testbed.rayhead import NoRay, RayHead
from raybus_testbed.rayhead import pod_network as route_pod_network


@pytest.fixture(scope="module")
def module_nats(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[NatsServer]:
    server = NatsServer(tmp_path_factory.mktemp(f"nats-{request.module.__name__.rsplit('.', 1)[-1]}"))
    server.start()
    yield server
    server.stop()


BusOpener = Callable[[], Awaitable[NatsBus]]


@pytest.fixture
async def open_module_bus(module_nats: NatsServer) -> AsyncIterator[BusOpener]:
    """Opens more buses on `module_nats` (with Raybus's streams); each is drained at the end
    (again, if the test drained it already)."""
    opened: list[NatsBus] = []

    async def open_bus() -> NatsBus:
        bus = await connect(ServiceSettings(nats_url=module_nats.url, service_name="test-integration"))
        opened.append(bus)
        await ensure_streams(bus)
        return bus

    yield open_bus
    for bus in opened:
        await bus.drain(grace=5)


@pytest.fixture
async def module_bus(open_module_bus: BusOpener) -> NatsBus:
    return await open_module_bus()


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
