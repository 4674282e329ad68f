"""The NATS users per service (`bus.permissions`) on a real nats-server: each service's real bus
set-up works with its own user, the stack converges a RayCluster with watcher, actuator and
cluster-ctl each on theirs (the server logs no violation), and what a user must not do is
refused: the violations the client reports are counted, one per attempt."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from test_cluster_ctl import create, sample

from raybus_common.actions import ObjectRef, RecordEvent
from raybus_common.bus import subjects
from raybus_common.bus.envelopes import ActionEnvelope, DeadLetter, ResultEnvelope, StateEnvelope
from raybus_common.bus.nats import NatsBus, connect
from raybus_common.bus.permissions import SERVICES, dead_letter_durable, render
from raybus_common.bus.publisher import Outgoing
from raybus_common.bus.streams import DLQ, actuator_consumer
from raybus_common.controller.leases import LEASE_BUCKET
from raybus_common.errors import TemporaryError
from raybus_common.settings import ServiceSettings
from raybus_testbed.kube import Kube
from raybus_testbed.nats import NatsServer
from raybus_testbed.services import Services
from raybus_testbed.waiting import wait_until

pytestmark = pytest.mark.integration
PASSWORDS = {s: f"pw-{s}" for s in SERVICES}
VIOLATION = "permissions violation"


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    """A nats-server of this module's own, with exactly the users of deploy/nats/accounts.conf."""
    server = NatsServer(tmp_path_factory.mktemp("nats-users"), config=render(PASSWORDS))
    server.start()
    yield server
    server.stop()


def server_violations(server: NatsServer) -> list[str]:
    return [line for line in server.proc.log_path.read_text().splitlines() if "violation" in line.lower()]


class Counted:
    """Permission violations the client reports, as the bus's error callback logs them."""

    def __init__(self, caplog: pytest.LogCaptureFixture) -> None:
        self.caplog = caplog

    def __len__(self) -> int:
        return len([r for r in self.caplog.records if r.name == "raybus.bus" and VIOLATION in r.getMessage().lower()])


@pytest.fixture
def violations(caplog: pytest.LogCaptureFixture) -> Counted:
    caplog.set_level(logging.WARNING, logger="raybus.bus")
    return Counted(caplog)


@pytest.fixture
async def as_user(guarded: NatsServer) -> AsyncIterator[dict[str, NatsBus]]:
    """`await open(service)`: the real `connect` and stream set-up, as that service's user."""
    buses: dict[str, NatsBus] = {}
    yield buses
    for bus in buses.values():
        await bus.drain(grace=1)


async def open_as(buses: dict[str, NatsBus], server: NatsServer, service: str) -> NatsBus:
    from raybus_common.bus.streams import default_streams, ensure_streams

    settings = ServiceSettings(nats_url=server.url, service_name=service, nats_user=service,
                               nats_password=PASSWORDS[service])
    bus = buses[service] = await connect(settings)
    bus.ack_timeout = 2.0
    await ensure_streams(bus, default_streams(settings))
    return bus


async def ok(_: object) -> None:
    return None


def event(ns: str, kind: str, name: str) -> RecordEvent:
    return RecordEvent(regarding=ObjectRef(api_version="v1", kind=kind, namespace=ns, name=name), type="Normal",
                       reason="Test", action="Test", message="test")


async def uses_leases(bus: NatsBus, service: str) -> None:
    kv = await bus.key_value(LEASE_BUCKET)
    rev = await kv.create(f"perm.{service}", b"1")
    await kv.update(f"perm.{service}", b"2", last=rev)
    assert await kv.get(f"perm.{service}") == (b"2", rev + 1)
    assert f"perm.{service}" in await kv.keys("perm.")


async def test_every_service_sets_up_its_bus_with_its_own_user(guarded: NatsServer, as_user: dict[str, NatsBus],
                                                               violations: Counted) -> None:
    before = len(server_violations(guarded))
    for service in SERVICES:
        bus = await open_as(as_user, guarded, service)
        if service == "watcher":
            sub = await bus.last_per_subject(subjects.of_kind("state", "raycluster"), StateEnvelope, ok)
            await bus.publish(subjects.state("raycluster", "perm", "a"), StateEnvelope(
                type="ADDED", ref=ObjectRef(api_version="ray.io/v1", kind="RayCluster", namespace="perm", name="a"),
                uid="u1", resource_version="1", object={"metadata": {"name": "a", "namespace": "perm"}}),
                msg_id="u1:1")
            await uses_leases(bus, service)  # its Ray pollers' partitions
        elif service == "actuator":
            sub = await bus.consume(actuator_consumer(), ActionEnvelope, ok)
            await bus.publish(subjects.res("pod", "perm", "a"), ResultEnvelope(
                action_id="a1", controller="cluster-ctl", outcome="ok", message="applied"), msg_id="a1")
        else:
            sub = await bus.last_per_subject(subjects.all_of("res"), ResultEnvelope, ok)
            await bus.last_per_subject(subjects.of_kind("state", "raycluster"), StateEnvelope, ok)
            await uses_leases(bus, service)
        await asyncio.wait_for(sub.replayed.wait(), 10)
        await bus.nc.flush()
    assert len(violations) == 0
    assert server_violations(guarded)[before:] == []


async def test_what_a_user_must_not_do_is_refused(guarded: NatsServer, as_user: dict[str, NatsBus],
                                                  violations: Counted) -> None:
    cluster_ctl = await open_as(as_user, guarded, "cluster-ctl")
    job_ctl = await open_as(as_user, guarded, "job-ctl")
    watcher = await open_as(as_user, guarded, "watcher")
    root = ObjectRef(api_version="ray.io/v1", kind="RayCluster", namespace="perm", name="c")

    def action(kind: str) -> Outgoing:
        subject = subjects.act(kind, "perm", "c")
        return Outgoing(subject, ActionEnvelope(action_id=kind, controller="cluster-ctl", root=root,
                                                action=event("perm", kind, "c")), msg_id=f"refused-{kind}")

    # Its own kind goes through; two other kinds' action subjects are refused (2 violations).
    assert await cluster_ctl.publish_many([action("raycluster")]) == [True]
    results = await asyncio.gather(cluster_ctl.publish_many([action("rayjobinfo")]),
                                   cluster_ctl.publish_many([action("rayjob")]), return_exceptions=True)
    assert all(isinstance(r, TemporaryError) for r in results), results
    await cluster_ctl.nc.flush()

    # The watcher may not act at all (1 violation).
    with pytest.raises(TemporaryError):
        await watcher.publish_many([action("pod")])
    await watcher.nc.flush()

    # A dead letter of a pod action is cluster-ctl's: it reads it, job-ctl can neither subscribe
    # to the subject (1 violation) nor open a consumer filtered to it (1 violation, a timeout).
    letter = DeadLetter(subject=subjects.act("pod", "perm", "p"), data="{}", headers={}, stream="RAYBUS_ACT",
                        stream_seq=1, attempts=3, error="test")
    await cluster_ctl.publish(subjects.dead_letter_for(letter.subject), letter, msg_id="dl-pod")
    mine = await cluster_ctl.js.pull_subscribe(subjects.of_kind("dlq", "pod"), durable=dead_letter_durable("cluster-ctl", "pod"), stream=DLQ)
    got = await mine.fetch(1, timeout=5)
    assert [m.subject for m in got] == ["raybus.dlq.pod.perm.p"]
    await job_ctl.nc.subscribe(subjects.of_kind("dlq", "pod"))
    await job_ctl.nc.flush()
    with pytest.raises(asyncio.TimeoutError):
        await job_ctl.js.pull_subscribe(subjects.of_kind("dlq", "pod"), durable=dead_letter_durable("job-ctl", "pod"), stream=DLQ)
    await job_ctl.nc.flush()
    # ... while job-ctl's own kinds' dead letters are its to read.
    await job_ctl.js.pull_subscribe(subjects.of_kind("dlq", "rayjob"), durable=dead_letter_durable("job-ctl", "rayjob"), stream=DLQ)

    wait_until(lambda: len(violations) >= 5, timeout=10, what="5 violations reported")
    assert len(violations) == 5, [r.getMessage() for r in violations.caplog.records]


def test_stack_converges_a_cluster_on_its_users(guarded: NatsServer, control_plane: Kube, kubeconfig: Path,
                                                 namespace: str, tmp_path: Path) -> None:
    before = len(server_violations(guarded))
    services = Services(tmp_path, guarded.url, kubeconfig)
    try:
        for name, command in (("watcher", "raybus-watcher"), ("actuator", "raybus-actuator"),
                              ("cluster-ctl", "raybus-cluster-ctl")):
            services.start(name, command, RAYBUS_NATS_USER=name, RAYBUS_NATS_PASSWORD=PASSWORDS[name])
        rc = create(control_plane, namespace, sample("sample"))
        rc.wait(lambda: rc.ready(2), "Ready with 2 workers")
        control_plane.delete(rc.path)
        wait_until(lambda: not rc.pods(), timeout=90, what="every pod gone")
    finally:
        services.stop()
    assert server_violations(guarded)[before:] == []
