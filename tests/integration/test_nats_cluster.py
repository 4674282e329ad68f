"""The stack on a 3-node NATS cluster (streams and leases at three replicas) survives losing a
node: 30 RayClusters rolled out while one NATS node is SIGKILLed and restarted, then another
(bench/nats_failover.py's run, smaller). Nothing lost: every cluster ready with 1 head + 1
worker. Nothing applied twice: a watch on pods from before the first create saw exactly those
pods per cluster, no name twice.

And a service that starts while the cluster is still forming (a node not joined yet, so an R3
stream cannot be placed) waits for it, bounded, rather than exiting."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from nats_failover import rollout, stack_env, start_stack

from raybus_common.bus.nats import connect
from raybus_common.bus.streams import StreamSpec
from raybus_common.settings import ServiceSettings
from raybus_testbed.kube import Kube
from raybus_testbed.nats import NatsCluster
from raybus_testbed.services import Services

pytestmark = pytest.mark.integration
CLUSTERS = 30


@pytest.fixture
def nats_cluster(tmp_path: Path) -> Iterator[NatsCluster]:
    cluster = NatsCluster(tmp_path / "nats")
    cluster.start()
    yield cluster
    cluster.stop()


def test_rollout_survives_two_nats_nodes_killed_in_turn(nats_cluster: NatsCluster, control_plane: Kube,
                                                         kubeconfig: Path, namespace: str, tmp_path: Path) -> None:
    services = Services(tmp_path, nats_cluster.url, kubeconfig, **stack_env())
    try:
        start_stack(services, replicas=2)
        objects = [(namespace, f"rc-{i}") for i in range(CLUSTERS)]
        out = rollout(control_plane, kubeconfig, nats_cluster, objects, workers=1, timeout=300, progress=2)
        replicas = nats_cluster.nodes[2].stream_replicas()
    finally:
        services.stop()
    assert replicas == {s: 3 for s in ("RAYBUS_STATE", "RAYBUS_ACT", "RAYBUS_RES", "RAYBUS_DLQ", "RAYBUS_SHADOW",
                                       "KV_raybus_leases")}
    assert [e.split(" ", 1)[1].split(" (")[0] for e in out.events[:-1]] == [
        "SIGKILL raybus-n1", "raybus-n1 back and current", "SIGKILL raybus-n2", "raybus-n2 back and current"]
    assert out.not_ready == [] and out.wrong_pods == {}, "lost"
    assert out.created_twice == {} and out.names_twice == [], "applied twice"
    assert out.pods_ever == CLUSTERS * 2


async def test_a_stream_is_placed_once_the_last_node_joins(tmp_path: Path) -> None:
    cluster = NatsCluster(tmp_path / "nats")
    first, last = cluster.nodes[:2], cluster.nodes[2]
    try:
        for node in first:  # a quorum, so a meta leader, but only two peers for three replicas
            node.start()
        bus = await connect(ServiceSettings(nats_url=",".join(n.url for n in first), service_name="test-forming"))
        try:
            spec = StreamSpec(name="FORMING", subjects=("forming.>",), replicas=3)
            placing = asyncio.create_task(bus.ensure_stream(spec))
            await asyncio.sleep(3)
            assert not placing.done(), "an R3 stream was placed (or refused for good) with one node missing"
            await asyncio.to_thread(last.start)
            assert await asyncio.wait_for(placing, 60) == "created"
            assert (await bus.js.stream_info("FORMING")).config.num_replicas == 3
        finally:
            await bus.drain(grace=5)
    finally:
        cluster.stop()
