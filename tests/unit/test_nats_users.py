"""The NATS users per service (`bus.permissions`): the checked-in `deploy/nats/accounts.conf` is
what `render()` makes, and each user's allow-lists admit what the service does and nothing a
neighbour owns. Subjects are matched as nats-server does (`subjects.matches`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from raybus_common.bus import subjects
from raybus_common.bus.permissions import SERVICES, WRITES, password_variable, permissions, render

ACCOUNTS = Path(__file__).resolve().parents[2] / "deploy" / "nats" / "accounts.conf"


def allowed(patterns: tuple[str, ...], subject: str) -> bool:
    return any(subjects.matches(p, subject) for p in patterns)


def test_checked_in_file_is_current() -> None:
    assert ACCOUNTS.read_text() == render(), "run: python -c 'from raybus_common.bus.permissions import render; " \
                                             "print(render(), end=\"\")' > deploy/nats/accounts.conf"


def test_passwords_come_from_the_environment_or_the_caller() -> None:
    assert f"password: ${password_variable('cluster-ctl')}," in render()
    assert password_variable("scheduler-bridge") == "RAYBUS_NATS_PASSWORD_SCHEDULER_BRIDGE"
    assert 'password: "s3cret"' in render({s: "s3cret" for s in SERVICES})


@pytest.mark.parametrize(("service", "subject", "ok"), [
    ("watcher", "raybus.state.raycluster.ns.a", True),
    ("watcher", "raybus.state.rayjobinfo.ns.a", True),
    ("watcher", "raybus.act.pod.ns.a", False),
    ("watcher", "raybus.res.pod.ns.a", False),
    ("watcher", "$KV.raybus_leases.watcher-poll.members.w1", True),  # its Ray pollers share targets out
    ("actuator", "$KV.raybus_leases.p_3", False),
    ("actuator", "raybus.res.pod.ns.a", True),
    ("actuator", "raybus.act.pod.ns.a", False),
    ("actuator", "raybus.state.pod.ns.a", False),
    ("actuator", "$JS.API.CONSUMER.CREATE.RAYBUS_ACT.actuator.raybus.act.>", True),
    ("actuator", "$JS.API.CONSUMER.CREATE.RAYBUS_ACT.other.raybus.act.>", False),
    ("actuator", "$JS.API.CONSUMER.MSG.NEXT.RAYBUS_ACT.actuator", True),
    ("actuator", "$JS.API.STREAM.DELETE.RAYBUS_ACT", False),
    ("cluster-ctl", "raybus.act.pod.ns.a", True),
    ("cluster-ctl", "raybus.act.raycluster.ns.a", True),
    ("cluster-ctl", "raybus.shadow.pod.ns.a", True),
    ("cluster-ctl", "raybus.act.rayjob.ns.a", False),
    ("cluster-ctl", "raybus.act.rayjobinfo.ns.a", False),
    ("cluster-ctl", "raybus.state.pod.ns.a", False),
    ("cluster-ctl", "$KV.raybus_leases.p_3", True),
    ("cluster-ctl", "$JS.API.CONSUMER.CREATE.RAYBUS_DLQ.cluster-ctl-pod.raybus.dlq.pod.>", True),
    ("cluster-ctl", "$JS.API.CONSUMER.MSG.NEXT.RAYBUS_DLQ.cluster-ctl-pod", True),
    ("cluster-ctl", "$JS.API.CONSUMER.CREATE.RAYBUS_DLQ.cluster-ctl-pod.raybus.dlq.rayjob.>", False),
    ("job-ctl", "$JS.API.CONSUMER.MSG.NEXT.RAYBUS_DLQ.cluster-ctl-pod", False),
    ("cluster-ctl", "$JS.API.CONSUMER.CREATE.RAYBUS_DLQ", False),
    ("cluster-ctl", "$JS.API.CONSUMER.CREATE.RAYBUS_DLQ.x.raybus.dlq.>", False),
    ("job-ctl", "$JS.API.CONSUMER.CREATE.RAYBUS_DLQ.job-ctl-pod.raybus.dlq.pod.>", False),
    ("job-ctl", "$JS.API.CONSUMER.CREATE.RAYBUS_DLQ.job-ctl-rayjob.raybus.dlq.rayjob.>", True),
    ("job-ctl", "raybus.act.rayjobinfo.ns.a", True),
    ("job-ctl", "raybus.act.pod.ns.a", False),
    ("serve-ctl", "raybus.act.rayserveapplications.ns.a", True),
    ("serve-ctl", "raybus.act.rayjobinfo.ns.a", False),
    ("cron", "raybus.act.rayjob.ns.a", True),
    ("cron", "raybus.act.raycluster.ns.a", False),
    ("scheduler-bridge", "raybus.act.podgroup.ns.a", True),
    ("scheduler-bridge", "raybus.act.pod.ns.a", False),
], ids=lambda v: str(v))
def test_publish(service: str, subject: str, ok: bool) -> None:
    assert allowed(permissions(service).publish, subject) is ok


@pytest.mark.parametrize("service", SERVICES)
def test_nobody_subscribes_to_raybus_subjects_or_deletes_streams(service: str) -> None:
    p = permissions(service)
    assert not any(s.startswith("raybus.") for s in p.subscribe)
    assert not any(".DELETE.RAYBUS_" in s and "CONSUMER" not in s and "MSG" not in s for s in p.publish)
    assert not allowed(p.publish, "$JS.API.STREAM.PURGE.RAYBUS_STATE")


@pytest.mark.parametrize("service", list(WRITES))
def test_a_controller_acts_only_on_its_kinds(service: str) -> None:
    acts = {s for s in permissions(service).publish if s.startswith("raybus.act.")}
    assert acts == {subjects.of_kind("act", k) for k in WRITES[service]}


def test_unknown_service() -> None:
    with pytest.raises(KeyError, match="unknown service 'kuberay'"):
        permissions("kuberay")


def test_the_pod_groups_are_scheduler_bridges_to_write() -> None:
    from raybus_common.bus.permissions import permissions
    bridge, cluster = permissions("scheduler-bridge").publish, permissions("cluster-ctl").publish
    for kind in ("podgroup", "schedulingpodgroup"):
        assert f"raybus.act.{kind}.>" in bridge and f"raybus.act.{kind}.>" not in cluster
