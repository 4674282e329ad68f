"""Fixtures for integration tests that must not disturb the session's nats-server.

`module_nats` is a nats-server of the test module's own (a work-queue stream allows one
consumer per subject, and other modules leave the actuator's durable on `raybus.act.>`; a test
may delete a stream), `module_bus` a Raybus bus on it with Raybus's streams, and `open_module_bus` opens more.
`scheduler_crds` is the control plane once the batch schedulers' CRDs are served
(test_scheduler_crds.py and test_kueue.py share it).
(`ray_head`, `pod_network` and `pod_runner` are in tests/conftest.py: the conformance tests use them too.)
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import pytest

from raybus_common.bus.nats import NatsBus, connect
from raybus_common.bus.streams import ensure_streams
from raybus_common.settings import ServiceSettings
from raybus_testbed import schedulers
from raybus_testbed.controlplane import crds_in, install_crds
from raybus_testbed.kube import Kube
from raybus_testbed.nats import NatsServer


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
def scheduler_crds(control_plane: Kube) -> Kube:
    """The control plane, with Volcano's, scheduler-plugins' and Kueue's CRDs served: the local
    one installed them at start; an existing cluster (RAYBUS_TEST_KUBECONFIG), or a local one
    that could not, gets them here, each Established before a test runs. Skips, saying why,
    when they cannot be had (not cached, no Go)."""
    crds = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
    if os.environ.get("RAYBUS_TEST_KUBECONFIG") or not all(
            control_plane.exists(f"{crds}/{name}") for name in schedulers.REQUIRED):
        try:
            files = schedulers.crd_files()
        except schedulers.NoSchedulerCRDs as e:
            pytest.skip(f"no scheduler CRDs: {e}")
        install_crds(control_plane, crds_in(files))
    return control_plane
