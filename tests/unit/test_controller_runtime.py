"""The controller runtime on the in-memory bus: replay, ownership, actions, expectations, dry-run."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from raybus_common.actions import Apply, Delete, ObjectRef
from raybus_common.bus import subjects
from raybus_common.bus.envelopes import ActionEnvelope, ResultEnvelope, StateEnvelope
from raybus_common.bus.memory import MemoryBus
from raybus_common.controller.config import ControllerConfig, RuntimeConfig
from raybus_common.controller.runtime import (
    WRITTEN_STATUS_PENDING_TTL,
    WRITTEN_STATUS_TTL,
    Controller,
    ControllerSpec,
    Watch,
    WrittenStatus,
)
from raybus_common.controller.view import Observed, owned_by
from raybus_common.decision import Decision
from raybus_common.kv import MemoryKV
from raybus_common.objects import owner_reference


def raycluster(name: str, rv: str = "1", workers: int = 1) -> dict[str, Any]:
    return {"apiVersion": "ray.io/v1", "kind": "RayCluster",
            "metadata": {"name": name, "namespace": "ns", "uid": f"uid-{name}", "resourceVersion": rv},
            "spec": {"workerGroupSpecs": [{"groupName": "g", "replicas": workers}]}}


def reconcile(observed: Observed, *, now: datetime, settings: ControllerConfig) -> Decision:
    """Keep one ConfigMap per RayCluster holding its worker count; report it in status."""
    root = observed.root
    if root is None:
        return Decision()
    workers = sum(g.get("replicas", 0) for g in root["spec"].get("workerGroupSpecs", []))
    cm = {"apiVersion": "v1", "kind": "ConfigMap",
          "metadata": {"name": root["metadata"]["name"] + "-info", "namespace": root["metadata"]["namespace"],
                       "ownerReferences": [owner_reference(root)]},
          "data": {"workers": str(workers)}}
    current = observed.of("configmap")
    actions = () if current and current[0].get("data") == cm["data"] else (Apply(object=cm),)
    return Decision(actions=actions, status={"workers": workers})


SPEC = ControllerSpec[ControllerConfig]("demo-ctl", "raycluster", reconcile,
                                         (Watch("configmap", owned_by("raycluster", "RayCluster")),), partitions=8)


async def publish_state(bus: MemoryBus, kind: str, obj: dict[str, Any], event: str = "ADDED") -> None:
    m = obj["metadata"]
    await bus.publish(subjects.state(kind, m["namespace"], m["name"]), StateEnvelope.observed(event, obj),  # type: ignore[arg-type]
                      msg_id=f"{m['uid']}:{m['resourceVersion']}")


async def run_until_quiet(bus: MemoryBus) -> None:
    for _ in range(20):
        await bus.settle()
        for _ in range(20):
            await asyncio.sleep(0)


def actions(bus: MemoryBus, stage: str = "act") -> list[ActionEnvelope]:
    return [ActionEnvelope.model_validate_json(m.data) for m in bus.messages(f"raybus.{stage}.>")]


async def child_shows_up(bus: MemoryBus) -> None:
    """Let the first pass run, then show the ConfigMap it applied (its expectation is met)."""
    await run_until_quiet(bus)
    (apply,) = [a for a in actions(bus) if a.action.op == "apply"]
    info = dict(apply.action.object)  # type: ignore[union-attr]
    info["metadata"] = {**info["metadata"], "uid": "info-uid", "resourceVersion": "9"}
    await publish_state(bus, "configmap", info)
    await run_until_quiet(bus)


async def started(bus: MemoryBus, spec: ControllerSpec[ControllerConfig] = SPEC, **settings: Any) -> Controller:
    ctl = Controller(spec, bus, RuntimeConfig(**settings), ControllerConfig(), MemoryKV(), replica="r1")
    task = asyncio.create_task(ctl.start())
    while not task.done():
        await bus.settle()
        await asyncio.sleep(0)
    await task
    return ctl


async def test_replayed_roots_are_reconciled_and_children_wake_their_root() -> None:
    bus = MemoryBus()
    await publish_state(bus, "raycluster", raycluster("a", workers=2))
    ctl = await started(bus)
    try:
        assert ctl.ready.is_set()
        await run_until_quiet(bus)
        acts = actions(bus)
        applies = [a for a in acts if a.action.op == "apply"]
        statuses = [a for a in acts if a.action.op == "apply_status"]
        assert [a.action.object["metadata"]["name"] for a in applies] == ["a-info"]  # type: ignore[union-attr]
        assert statuses and statuses[0].action.status == {"workers": 2}  # type: ignore[union-attr]
        assert ctl.expectations.pending(next(iter(ctl.view.roots())))
        # The ConfigMap shows up: expectation met; reconciling again publishes no new apply.
        cm = dict(applies[0].action.object)  # type: ignore[union-attr]
        cm["metadata"] = {**cm["metadata"], "uid": "cm-uid", "resourceVersion": "7"}
        await publish_state(bus, "configmap", cm)
        await run_until_quiet(bus)
        assert not ctl.expectations.pending(next(iter(ctl.view.roots())))
        assert len([a for a in actions(bus) if a.action.op == "apply"]) == 1
        # A spec change is a new view: a new apply with a new action id.
        await publish_state(bus, "raycluster", raycluster("a", rv="2", workers=5), "MODIFIED")
        await run_until_quiet(bus)
        applies = [a for a in actions(bus) if a.action.op == "apply"]
        assert [a.action.object["data"]["workers"] for a in applies] == ["2", "5"]  # type: ignore[union-attr]
        assert len({a.action_id for a in applies}) == 2
    finally:
        await ctl.stop()


async def test_dry_run_publishes_to_shadow_only() -> None:
    bus = MemoryBus()
    await publish_state(bus, "raycluster", raycluster("b"))
    ctl = await started(bus, dry_run=True)
    try:
        await run_until_quiet(bus)
        assert actions(bus, "act") == []
        shadow = actions(bus, "shadow")
        assert shadow and all(a.dry_run for a in shadow)
        assert not ctl.expectations.pending(next(iter(ctl.view.roots())))
    finally:
        await ctl.stop()


async def test_a_replica_without_the_lease_does_not_reconcile() -> None:
    bus = MemoryBus()
    kv = MemoryKV()
    await publish_state(bus, "raycluster", raycluster("c"))
    first = Controller(SPEC, bus, RuntimeConfig(), ControllerConfig(), kv, replica="r1")
    await first.leases.tick()  # r1 holds all 8 partitions
    second = Controller(SPEC, bus, RuntimeConfig(), ControllerConfig(), kv, replica="r2")
    task = asyncio.create_task(second.start())
    while not task.done():
        await bus.settle()
        await asyncio.sleep(0)
    await task
    try:
        await run_until_quiet(bus)
        # r1's leases are live, so r2 may claim none of them, and reconciles nothing.
        assert second.leases.held == {}
        assert not second.owns(next(iter(second.view.roots())))
        assert actions(bus) == [] and second.reconciles == 0
    finally:
        await second.stop()


async def test_a_written_status_is_not_sent_again_while_the_view_lags() -> None:
    # Child events keep waking the root while its status write has not come back yet; each
    # reconcile yields the same status with a new timestamp-free body, and with a different
    # child set a different action id: without the written-status overlay, every one would
    # be another ApplyStatus for the actuator to work through.
    bus = MemoryBus()
    await publish_state(bus, "raycluster", raycluster("s", workers=1))
    ctl = await started(bus, status_interval=0)
    try:
        await child_shows_up(bus)
        for i in range(5):
            cm = {"apiVersion": "v1", "kind": "ConfigMap",
                  "metadata": {"name": f"other-{i}", "namespace": "ns", "uid": f"o{i}", "resourceVersion": str(10 + i),
                               "ownerReferences": [owner_reference(raycluster("s"))]}, "data": {}}
            await publish_state(bus, "configmap", cm)
            await run_until_quiet(bus)
        statuses = [a for a in actions(bus) if a.action.op == "apply_status"]
        assert len(statuses) == 1, [a.action_id for a in statuses]
        # The write lands (the root's resourceVersion moves with the status in it): still one.
        landed = {**raycluster("s", rv="2"), "status": {"workers": 1}}
        await publish_state(bus, "raycluster", landed, "MODIFIED")
        await run_until_quiet(bus)
        assert len([a for a in actions(bus) if a.action.op == "apply_status"]) == 1
        # A real change of status is written.
        await publish_state(bus, "raycluster", {**raycluster("s", rv="3", workers=4), "status": {"workers": 1}},
                            "MODIFIED")
        await run_until_quiet(bus)
        statuses = [a for a in actions(bus) if a.action.op == "apply_status"]
        assert [s.action.status for s in statuses] == [{"workers": 1}, {"workers": 4}]  # type: ignore[union-attr]
    finally:
        await ctl.stop()


async def test_status_changes_within_the_interval_are_coalesced_into_one_later_write() -> None:
    # A root whose status moves three times in quick succession (pods becoming ready one by
    # one): the first change is written at once, the next two wait for the interval's end and
    # go out as one write of the latest status.
    bus = MemoryBus()
    await publish_state(bus, "raycluster", raycluster("c", workers=1))
    ctl = await started(bus, status_interval=0.3)
    try:
        await child_shows_up(bus)
        for rv, workers in (("2", 2), ("3", 3)):
            await publish_state(bus, "raycluster", {**raycluster("c", rv=rv, workers=workers),
                                                    "status": {"workers": 1}}, "MODIFIED")
            await run_until_quiet(bus)
        statuses = [a.action.status for a in actions(bus) if a.action.op == "apply_status"]  # type: ignore[union-attr]
        assert statuses == [{"workers": 1}], "a change within the interval was written at once"
        for _ in range(100):  # the interval ends (the queue's timer wakes the root)
            await asyncio.sleep(0.05)
            await run_until_quiet(bus)
            statuses = [a.action.status for a in actions(bus) if a.action.op == "apply_status"]  # type: ignore[union-attr]
            if len(statuses) > 1:
                break
        assert statuses == [{"workers": 1}, {"workers": 3}]
    finally:
        await ctl.stop()


async def test_one_status_write_in_flight_per_root_the_next_waits_for_it_to_land() -> None:
    # The actuator's queue is deep: the first status write has no result and is not in view
    # yet. The root's status moves on twice meanwhile; nothing more is written until the first
    # write shows in the view, and then the latest status goes out once.
    bus = MemoryBus()
    await publish_state(bus, "raycluster", raycluster("q", workers=1))
    ctl = await started(bus, status_interval=0)
    try:
        await child_shows_up(bus)
        for rv, workers in (("2", 2), ("3", 3)):
            await publish_state(bus, "raycluster", raycluster("q", rv=rv, workers=workers), "MODIFIED")
            await run_until_quiet(bus)
        statuses = [a.action.status for a in actions(bus) if a.action.op == "apply_status"]  # type: ignore[union-attr]
        assert statuses == [{"workers": 1}], "a second status write went out while the first was in flight"
        # The first write lands: the view shows it, and the latest status follows at once.
        await publish_state(bus, "raycluster", {**raycluster("q", rv="4", workers=3), "status": {"workers": 1}},
                            "MODIFIED")
        await run_until_quiet(bus)
        statuses = [a.action.status for a in actions(bus) if a.action.op == "apply_status"]  # type: ignore[union-attr]
        assert statuses == [{"workers": 1}, {"workers": 3}]
    finally:
        await ctl.stop()


async def test_a_status_write_without_a_result_is_waited_for_no_longer_than_its_ttl() -> None:
    now = [1000.0]
    written = WrittenStatus({"workers": 1}, "a1", sent=now[0])
    stale = {**raycluster("t"), "status": {"workers": 0}}
    assert not written.caught_up(stale, now[0] + WRITTEN_STATUS_TTL + 1)  # no result: still in the queue
    assert written.caught_up(stale, now[0] + WRITTEN_STATUS_PENDING_TTL + 1)
    written.result_at = now[0] + 100  # its result came (no resourceVersion in it)
    assert written.expires() == now[0] + 100 + WRITTEN_STATUS_TTL
    assert written.caught_up(stale, now[0] + 100 + WRITTEN_STATUS_TTL + 1)


async def test_a_gone_root_drops_its_expectations_and_is_reconciled_at_once() -> None:
    # The child it asked for never showed up (the view raced a deletion): the expectation would
    # hold reconciles back for minutes; the root's tombstone must release it.
    bus = MemoryBus()
    await publish_state(bus, "raycluster", raycluster("g"))
    ctl = await started(bus)
    try:
        await run_until_quiet(bus)
        key = next(iter(ctl.view.roots()))
        assert ctl.expectations.pending(key)
        before = ctl.reconciles
        await bus.publish(subjects.state("raycluster", "ns", "g"),
                          StateEnvelope(type="TOMBSTONE", ref=ObjectRef.of(raycluster("g")), uid="uid-g"),
                          msg_id="uid-g:gone")
        await run_until_quiet(bus)
        assert not ctl.expectations.pending(key)
        assert ctl.reconciles == before + 1
    finally:
        await ctl.stop()


async def test_a_root_that_deletes_itself_is_still_reconciled_while_it_goes() -> None:
    """A RayJob's DeleteSelf: the root is deleted, but its finalizer keeps it until a later pass
    removes it; waiting for the root to be gone would hold that pass back until the expectation
    expired (minutes)."""
    def delete_self(observed: Observed, *, now: datetime, settings: ControllerConfig) -> Decision:
        root = observed.root
        if root is None or root["metadata"].get("deletionTimestamp"):
            return Decision()
        return Decision(actions=(Delete(ref=ObjectRef.of(root)),))

    spec = ControllerSpec[ControllerConfig]("self-ctl", "raycluster", delete_self, (), partitions=8)
    bus = MemoryBus()
    await publish_state(bus, "raycluster", raycluster("s"))
    ctl = await started(bus, spec)
    try:
        await run_until_quiet(bus)
        assert [a.action.op for a in actions(bus)] == ["delete"]
        key = next(iter(ctl.view.roots()))
        assert not ctl.expectations.pending(key)
        before = ctl.reconciles
        going = raycluster("s", rv="2")
        going["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
        await publish_state(bus, "raycluster", going, "MODIFIED")
        await run_until_quiet(bus)
        assert ctl.reconciles == before + 1
    finally:
        await ctl.stop()


async def test_a_status_result_that_comes_after_the_view_caught_up_wakes_the_root() -> None:
    # Under a NATS failover the actuator's result is published late: the root's new state (with
    # the status as the API server stored it, not byte for byte what was sent) comes first. The
    # next status waits for the first write; its result must end the wait, not the requeue.
    bus = MemoryBus()
    await publish_state(bus, "raycluster", raycluster("w", workers=1))
    ctl = await started(bus, status_interval=0)
    try:
        await child_shows_up(bus)
        (first,) = [a for a in actions(bus) if a.action.op == "apply_status"]
        await publish_state(bus, "raycluster", raycluster("w", rv="2", workers=2), "MODIFIED")
        await run_until_quiet(bus)
        stored = {"workers": 1, "observedGeneration": 1}  # the write, as the API server keeps it
        await publish_state(bus, "raycluster", {**raycluster("w", rv="3", workers=2), "status": stored}, "MODIFIED")
        await run_until_quiet(bus)
        assert [a.action.status for a in actions(bus) if a.action.op == "apply_status"] == [  # type: ignore[union-attr]
            {"workers": 1}], "the next status went out before the first write's result"
        done = ResultEnvelope(action_id=first.action_id, controller="demo-ctl", root=first.root, op="apply_status",
                              outcome="ok", resource_version="3")
        await bus.publish(subjects.res("raycluster", "ns", "w"), done, msg_id=f"res:{first.action_id}")
        await run_until_quiet(bus)
        statuses = [a.action.status for a in actions(bus) if a.action.op == "apply_status"]  # type: ignore[union-attr]
        assert statuses == [{"workers": 1}, {"workers": 2}]
    finally:
        await ctl.stop()
