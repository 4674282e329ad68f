"""The controller runtime's timing and failure paths, on a fake clock and the in-memory bus:
requeue-after, worker backoff, results from the actuator, a lease lost while publishing,
watched namespaces, and status writes applied out of order.

The controller is driven by hand (`subscribe`, `tick_leases`, `step`), never by its worker
tasks, so nothing here sleeps: the clock moves only when a test says so.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pytest

from raybus_common.actions import Apply, ObjectRef
from raybus_common.bus import subjects
from raybus_common.bus.envelopes import ActionEnvelope, Envelope, ResultEnvelope, StateEnvelope
from raybus_common.bus.memory import MemoryBus
from raybus_common.controller import runtime
from raybus_common.controller.config import ControllerConfig, RuntimeConfig
from raybus_common.controller.partitions import desired
from raybus_common.controller.runtime import WRITTEN_STATUS_TTL, Controller, ControllerSpec, Watch
from raybus_common.controller.view import Observed, RootKey, owned_by
from raybus_common.decision import Decision
from raybus_common.errors import TemporaryError
from raybus_common.kv import MemoryKV
from raybus_common.objects import owner_reference

T0 = 1_800_000_000.0


@dataclass
class FakeClock:
    now: float = T0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Script:
    """What the test's reconcile does: `decide` per call; every call is recorded."""

    decide: Callable[[Observed], Decision]
    calls: list[Observed] = field(default_factory=list)

    def __call__(self, observed: Observed, *, now: datetime, settings: ControllerConfig) -> Decision:
        self.calls.append(observed)
        return self.decide(observed)


def cluster(name: str, rv: str = "1", ns: str = "ns", **extra: Any) -> dict[str, Any]:
    return {"apiVersion": "ray.io/v1", "kind": "RayCluster",
            "metadata": {"name": name, "namespace": ns, "uid": f"uid-{name}", "resourceVersion": rv},
            "spec": {}, **extra}


def configmap(owner: dict[str, Any], name: str, **meta: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": owner["metadata"]["namespace"],
                         "ownerReferences": [owner_reference(owner)], **meta}}


async def observe(bus: MemoryBus, obj: dict[str, Any], kind: str = "raycluster", event: str = "MODIFIED") -> None:
    m = obj["metadata"]
    await bus.publish(subjects.state(kind, m["namespace"], m["name"]), StateEnvelope.observed(event, obj),  # type: ignore[arg-type]
                      msg_id=f"{m.get('uid')}:{m.get('resourceVersion')}")
    await bus.settle()


def published(bus: MemoryBus, op: str | None = None) -> list[ActionEnvelope]:
    found = [ActionEnvelope.model_validate_json(m.data) for m in bus.messages("raybus.act.>")]
    return [a for a in found if op is None or a.action.op == op]


async def controller(script: Script, bus: MemoryBus, clock: FakeClock, *, watch: list[str] | None = None,
                     kv: MemoryKV | None = None, replica: str = "r1", runtime: RuntimeConfig | None = None,
                     transition: Callable[[dict[str, Any], dict[str, Any]], bool] | None = None,
                     ) -> Controller[ControllerConfig]:
    spec = ControllerSpec[ControllerConfig]("test-ctl", "raycluster", script,
                                            (Watch("configmap", owned_by("raycluster", "RayCluster")),), partitions=4,
                                            status_transition=transition)
    runtime = runtime or RuntimeConfig(watch_namespaces=watch or [], status_interval=0, coalesce=0)
    ctl = Controller(spec, bus, runtime, ControllerConfig(), kv or MemoryKV(), replica=replica, clock=clock)
    await ctl.subscribe()
    await ctl.tick_leases()
    return ctl


async def drain_queue(ctl: Controller[ControllerConfig]) -> list[RootKey]:
    done = []
    while (key := await ctl.step()) is not None:
        done.append(key)
    return done


KEY = RootKey("raycluster", "ns", "a")


async def test_requeue_after_brings_the_root_back_at_its_time_and_not_before() -> None:
    bus, clock = MemoryBus(), FakeClock()
    script = Script(lambda o: Decision(requeue_after=30.0))
    await observe(bus, cluster("a"))
    ctl = await controller(script, bus, clock)
    assert await drain_queue(ctl) == [KEY]
    clock.advance(29.9)
    assert await ctl.step() is None
    clock.advance(0.1)
    assert await ctl.step() == KEY
    assert len(script.calls) == 2


async def test_an_earlier_wake_wins_over_a_later_requeue() -> None:
    bus, clock = MemoryBus(), FakeClock()
    script = Script(lambda o: Decision(requeue_after=300.0))
    await observe(bus, cluster("a"))
    ctl = await controller(script, bus, clock)
    await drain_queue(ctl)
    await observe(bus, cluster("a", rv="2"))  # an event is a hint: reconcile now
    assert await ctl.step() == KEY
    assert len(script.calls) == 2


async def test_a_failing_reconcile_backs_off_per_key_and_the_backoff_resets_on_success() -> None:
    bus, clock = MemoryBus(), FakeClock()
    outcomes = iter([RuntimeError("boom")] * 3 + [None, RuntimeError("again")])

    def decide(o: Observed) -> Decision:
        error = next(outcomes)
        if error is not None:
            raise error
        return Decision()

    await observe(bus, cluster("a"))
    ctl = await controller(Script(decide), bus, clock)
    assert await ctl.step() == KEY  # fails: back after 5 ms
    for delay in (0.005, 0.010, 0.020):  # then 10 ms, then 20 ms (controller-runtime's 5 ms doubling)
        failed_at = clock.now
        clock.now = failed_at + delay * 0.9
        assert await ctl.step() is None, f"came back before {delay}s"
        clock.now = failed_at + delay
        assert await ctl.step() == KEY
    assert ctl.queue.retries(KEY) == 0, "the fourth reconcile succeeded: the backoff is forgotten"
    await observe(bus, cluster("a", rv="2"))
    assert await ctl.step() == KEY  # fails again: back after 5 ms, not 40 ms
    failed_at = clock.now
    clock.now = failed_at + 0.005
    assert await ctl.step() == KEY


async def test_a_failed_create_releases_its_expectation_through_the_result() -> None:
    bus, clock = MemoryBus(), FakeClock()

    def decide(o: Observed) -> Decision:
        assert o.root is not None
        return Decision(actions=(Apply(object=configmap(o.root, "a-info")),))

    script = Script(decide)
    await observe(bus, cluster("a"))
    ctl = await controller(script, bus, clock)
    await drain_queue(ctl)
    (create,) = published(bus, "apply")
    assert ctl.expectations.pending(KEY)
    await observe(bus, cluster("a", rv="2"))  # woken while the create is not yet seen: held back
    assert await ctl.step() == KEY
    assert len(script.calls) == 1
    result = ResultEnvelope(action_id=create.action_id, controller="test-ctl", root=create.root, op="apply",
                            outcome="permanent", http_status=422, message="invalid")
    await bus.publish(subjects.res("configmap", "ns", "a-info"), result, msg_id=f"res:{create.action_id}")
    await bus.settle()
    assert not ctl.expectations.pending(KEY)
    assert await ctl.step() == KEY  # queued again by the result, at once
    assert len(script.calls) == 2


async def test_a_root_waiting_for_its_creates_is_not_polled() -> None:
    # The creates wait in the actuator's queue: the root is not looked at again until something
    # that meets the expectation arrives (here the object itself), or its deadline.
    bus, clock = MemoryBus(), FakeClock()
    script = Script(lambda o: Decision(actions=(Apply(object=configmap(o.root or {}, "a-info")),)))
    await observe(bus, cluster("a"))
    ctl = await controller(script, bus, clock)
    assert await drain_queue(ctl) == [KEY]
    for _ in range(10):
        clock.advance(1.0)
        assert await drain_queue(ctl) == [], "a root waiting for its create was looked at again"
    info = {**configmap(cluster("a"), "a-info"), "metadata": {**configmap(cluster("a"), "a-info")["metadata"],
                                                              "uid": "cm", "resourceVersion": "5"}}
    await observe(bus, info, kind="configmap")
    assert await drain_queue(ctl) == [KEY]
    assert len(script.calls) == 2 and not ctl.expectations.pending(KEY)


async def test_expectations_expire_after_their_ttl_on_the_clock() -> None:
    bus, clock = MemoryBus(), FakeClock()
    script = Script(lambda o: Decision(actions=(Apply(object=configmap(o.root or {}, "a-info")),)))
    await observe(bus, cluster("a"))
    ctl = await controller(script, bus, clock)
    await drain_queue(ctl)
    await observe(bus, cluster("a", rv="2"))
    await drain_queue(ctl)
    assert len(script.calls) == 1
    clock.advance(ctl.expectations.ttl)
    await drain_queue(ctl)
    assert len(script.calls) == 1, "no result yet: the create may still wait in the actuator's queue"
    create = published(bus, "apply")[0]
    done = ResultEnvelope(action_id=create.action_id, controller="test-ctl", root=create.root, op="apply",
                          outcome="ok", message="created")
    await bus.publish(subjects.res("configmap", "ns", "a-info"), done, msg_id="res-done")
    await bus.settle()
    clock.advance(ctl.expectations.ttl - 1)
    await drain_queue(ctl)
    assert len(script.calls) == 1
    clock.advance(1)
    assert await drain_queue(ctl) == [KEY]  # the hold-back requeue comes due and the expectation expired
    assert len(script.calls) == 2


async def test_a_failed_status_write_is_compared_again() -> None:
    bus, clock = MemoryBus(), FakeClock()
    script = Script(lambda o: Decision(status={"state": "ready"}))
    await observe(bus, cluster("a"))
    ctl = await controller(script, bus, clock)
    await drain_queue(ctl)
    (status,) = published(bus, "apply_status")
    await observe(bus, configmap(cluster("a"), "noise", uid="n", resourceVersion="5"), kind="configmap")
    await drain_queue(ctl)
    assert len(published(bus, "apply_status")) == 1, "a written status is not sent again while the view lags"
    result = ResultEnvelope(action_id=status.action_id, controller="test-ctl", root=status.root, op="apply_status",
                            outcome="temporary", message="gave up")
    await bus.publish(subjects.res("raycluster", "ns", "a"), result, msg_id=f"res:{status.action_id}")
    await bus.settle()
    assert await drain_queue(ctl) == [KEY]
    assert len(published(bus, "apply_status")) == 2, "the status did not land: it is written again"


async def test_a_roots_own_status_landing_wakes_no_reconcile_once_one_has_seen_it() -> None:
    bus, clock = MemoryBus(), FakeClock()
    script = Script(lambda o: Decision(status={"workers": (o.root or {})["spec"].get("workers", 0)}))
    a = cluster("a", spec={"workers": 1})
    await observe(bus, a)
    ctl = await controller(script, bus, clock, runtime=RuntimeConfig(status_interval=0.0, coalesce=0))
    await drain_queue(ctl)
    assert len(script.calls) == 1 and len(published(bus, "apply_status")) == 1
    # The reconcile that wrote a status did not see it: its landing wakes the root (a reconcile
    # may act on its own status, as suspending a cluster does).
    await observe(bus, cluster("a", rv="2", spec={"workers": 1}, status={"workers": 1}))
    await drain_queue(ctl)
    assert len(script.calls) == 2 and len(published(bus, "apply_status")) == 1
    await observe(bus, cluster("a", rv="3", spec={"workers": 2}, status={"workers": 1}))
    await drain_queue(ctl)
    second = published(bus, "apply_status")[-1]
    assert second.action.status == {"workers": 2} and len(script.calls) == 3  # type: ignore[union-attr]
    await observe(bus, configmap(a, "cm"), kind="configmap")  # a child's event: a reconcile sees the write
    await drain_queue(ctl)
    assert script.calls[-1].root["status"] == {"workers": 2} and len(script.calls) == 4  # type: ignore[index]
    await observe(bus, cluster("a", rv="4", spec={"workers": 2}, status={"workers": 2}))  # it lands
    assert await drain_queue(ctl) == [], "the reconcile after the write saw that status already"
    assert ctl.view.get("raycluster", "ns", "a")["metadata"]["resourceVersion"] == "4"  # type: ignore[index]
    result = ResultEnvelope(action_id=second.action_id, controller="test-ctl", root=second.root, op="apply_status",
                            outcome="ok", resource_version="4")
    clock.advance(10.0)
    await bus.publish(subjects.res("raycluster", "ns", "a"), result, msg_id=f"res:{second.action_id}")
    await bus.settle()
    assert await drain_queue(ctl) == [] and len(script.calls) == 4, "its result, after the view, wakes nothing"
    assert ctl.status_write_lag == pytest.approx(2.0), "and still times the write (10 s, weighed in at 0.2)"
    # A status landing with anything else of the root changed is a change like any other...
    await observe(bus, cluster("a", rv="5", spec={"workers": 3}, status={"workers": 2}))
    await drain_queue(ctl)
    assert len(script.calls) == 5
    assert published(bus, "apply_status")[-1].action.status == {"workers": 3}  # type: ignore[union-attr]
    await observe(bus, configmap(a, "cm", resourceVersion="2"), kind="configmap")
    await drain_queue(ctl)
    assert len(script.calls) == 6, "(the write is shown)"
    # ... and so is one a reconcile has since wanted another status than.
    await observe(bus, cluster("a", rv="6", spec={"workers": 4}, status={"workers": 2}))
    await drain_queue(ctl)
    assert len(script.calls) == 7 and len(published(bus, "apply_status")) == 3, "waits for the write in flight"
    await observe(bus, cluster("a", rv="7", spec={"workers": 4}, status={"workers": 3}))
    await drain_queue(ctl)
    assert len(script.calls) == 8
    assert published(bus, "apply_status")[-1].action.status == {"workers": 4}  # type: ignore[union-attr]


async def test_status_writes_go_one_at_a_time_and_a_stale_one_landing_late_is_corrected() -> None:
    # One status write in flight per root: view 2's status waits until view 1's shows in the
    # view. The actuator still promises no order across replicas and redeliveries, so a stale
    # status landing last is corrected: the controller is level-triggered.
    bus, clock = MemoryBus(), FakeClock()
    script = Script(lambda o: Decision(status={"workers": (o.root or {})["spec"].get("workers", 0)}))
    await observe(bus, cluster("a", spec={"workers": 1}))
    ctl = await controller(script, bus, clock)
    await drain_queue(ctl)
    await observe(bus, cluster("a", rv="2", spec={"workers": 2}))
    await drain_queue(ctl)
    assert [a.action.status for a in published(bus, "apply_status")] == [{"workers": 1}]  # type: ignore[union-attr]
    await observe(bus, cluster("a", rv="3", spec={"workers": 2}, status={"workers": 1}))  # view 1's lands
    await drain_queue(ctl)
    assert [a.action.status for a in published(bus, "apply_status")] == [{"workers": 1}, {"workers": 2}]  # type: ignore[union-attr]
    await observe(bus, cluster("a", rv="4", spec={"workers": 2}, status={"workers": 2}))  # view 2's lands
    await drain_queue(ctl)
    await observe(bus, cluster("a", rv="5", spec={"workers": 2}, status={"workers": 1}))  # a stale one, late
    await drain_queue(ctl)
    statuses = [a.action.status for a in published(bus, "apply_status")]  # type: ignore[union-attr]
    assert statuses == [{"workers": 1}, {"workers": 2}, {"workers": 2}]


class HookedBus(MemoryBus):
    """A memory bus that runs a hook after each publish (to lose a lease mid-publish)."""

    def __init__(self) -> None:
        super().__init__()
        self.after_publish: Callable[[], Any] | None = None

    async def publish(self, subject: str, envelope: Envelope, *, msg_id: str,
                      headers: Mapping[str, str] | None = None, ttl: float | None = None) -> bool:
        fresh = await super().publish(subject, envelope, msg_id=msg_id, headers=headers, ttl=ttl)
        if self.after_publish is not None and subject.startswith("raybus.act."):
            await self.after_publish()
        return fresh


async def test_a_lease_lost_while_publishing_stops_the_publishing() -> None:
    bus, clock, kv = HookedBus(), FakeClock(), MemoryKV()

    def decide(o: Observed) -> Decision:
        assert o.root is not None
        return Decision(actions=tuple(Apply(object=configmap(o.root, f"a-{i}")) for i in range(3)))

    await observe(bus, cluster("a"))
    ctl = await controller(Script(decide), bus, clock, kv=kv)
    other = await controller(Script(lambda o: Decision()), bus, clock, kv=kv, replica="r2")
    assert ctl.owns(KEY) and not other.owns(KEY)

    async def lose_the_lease() -> None:
        # r1 stalls past its lease TTL; r2 takes over its partitions; r1 learns at its next tick.
        bus.after_publish = None
        clock.advance(ctl.leases.ttl + 1)
        await other.tick_leases()
        await ctl.tick_leases()

    bus.after_publish = lose_the_lease
    assert await ctl.step() == KEY
    assert not ctl.owns(KEY) and other.owns(KEY)
    assert [a.action.object["metadata"]["name"] for a in published(bus, "apply")] == ["a-0"]  # type: ignore[union-attr]


@pytest.mark.parametrize(("watch", "reconciled"), [
    ([], {"a", "b"}), (["team-a"], {"a"}),
], ids=["all-namespaces", "one-namespace"])
async def test_only_roots_in_the_watched_namespaces_are_reconciled(watch: list[str], reconciled: set[str]) -> None:
    bus, clock = MemoryBus(), FakeClock()
    script = Script(lambda o: Decision(actions=(Apply(object=configmap(o.root or {}, "x")),)))
    await observe(bus, cluster("a", ns="team-a"))
    await observe(bus, cluster("b", ns="team-b"))
    ctl = await controller(script, bus, clock, watch=watch)
    await drain_queue(ctl)
    await observe(bus, cluster("b", rv="2", ns="team-b"))  # a live event from outside: still nothing
    await drain_queue(ctl)
    assert {o.key.name for o in script.calls} == reconciled
    assert {a.root.name for a in published(bus)} == reconciled
    assert ctl.view.count("raycluster") == len(reconciled)


async def test_a_gone_root_is_reconciled_once_more_with_no_root() -> None:
    bus, clock = MemoryBus(), FakeClock()
    script = Script(lambda o: Decision())
    await observe(bus, cluster("a"))
    ctl = await controller(script, bus, clock)
    await drain_queue(ctl)
    await bus.publish(subjects.state("raycluster", "ns", "a"),
                      StateEnvelope(type="TOMBSTONE", ref=ObjectRef.of(cluster("a")), uid="uid-a"), msg_id="uid-a:gone")
    await bus.settle()
    assert await drain_queue(ctl) == [KEY]
    assert script.calls[-1].root is None


# --- failed writes in view --------------------------------------------------------------------------


def failed_result(create: ActionEnvelope, *, message: str = "forbidden", reason: str = "FailedToCreateConfigMap",
                  at: datetime | None = None) -> ResultEnvelope:
    target = ObjectRef(api_version="v1", kind="ConfigMap", namespace="ns", name="a-info")
    return ResultEnvelope(action_id=create.action_id, controller="test-ctl", root=create.root, target=target,
                          op="apply", outcome="permanent", http_status=403, message=f"403 Forbidden: {message}",
                          error=message, failure_reason=reason, **({"finished_at": at} if at else {}))


async def report(bus: MemoryBus, result: ResultEnvelope) -> None:
    await bus.publish(subjects.res("configmap", "ns", "a-info"), result, msg_id=f"res:{result.action_id}")
    await bus.settle()


def creates_info(o: Observed) -> Decision:
    assert o.root is not None
    return Decision(actions=(Apply(object=configmap(o.root, "a-info")),), requeue_after=2.0)


async def failed_once() -> tuple[MemoryBus, FakeClock, Script, Controller[ControllerConfig]]:
    """A controller whose one create the actuator reported failed for good."""
    bus, clock = MemoryBus(), FakeClock()
    script = Script(creates_info)
    await observe(bus, cluster("a"))
    ctl = await controller(script, bus, clock)
    await drain_queue(ctl)
    (first,) = published(bus, "apply")
    await report(bus, failed_result(first))
    return bus, clock, script, ctl


async def test_a_failed_write_is_in_the_next_view_and_its_retry_is_a_new_action() -> None:
    bus, _, script, ctl = await failed_once()
    assert await ctl.step() == KEY, "the first failure wakes the root at once"
    (failure,) = script.calls[-1].failures
    assert (failure.kind, failure.name, failure.op) == ("configmap", "a-info", "apply")
    assert (failure.reason, failure.message, failure.root_uid) == ("FailedToCreateConfigMap", "forbidden", "uid-a")
    # The same write, decided on the same objects, is a new action: JetStream's duplicate window
    # would swallow a repeated id, and the create would never be tried again.
    creates = published(bus, "apply")
    assert len(creates) == 2 and creates[0].action_id != creates[1].action_id
    assert creates[0].action == creates[1].action


async def test_a_write_failing_again_and_again_backs_off_and_success_clears_it() -> None:
    bus, clock, script, ctl = await failed_once()
    assert await ctl.step() == KEY  # the first failure: at once
    clock.advance(1.0)
    await report(bus, failed_result(published(bus, "apply")[-1]))
    assert await ctl.step() is None, "a second failure in a row waits its backoff"
    clock.advance(0.010)
    assert await ctl.step() == KEY
    assert len(script.calls[-1].failures) == 1, "one failure per object: the latest"
    # The retried create succeeds: the object is observed, the failure is moot, the backoff forgotten.
    await observe(bus, configmap(cluster("a"), "a-info", uid="c", resourceVersion="7"), kind="configmap")
    assert await drain_queue(ctl) == [KEY]
    assert script.calls[-1].failures == ()
    assert ctl.queue.retries(KEY) == 0


async def test_an_ok_result_for_the_same_object_clears_its_failure() -> None:
    bus, _, _, ctl = await failed_once()
    await drain_queue(ctl)
    retry = published(bus, "apply")[-1]
    ok = ResultEnvelope(action_id=retry.action_id, controller="test-ctl", root=retry.root,
                        target=failed_result(retry).target, op="apply", outcome="ok", message="applied")
    await report(bus, ok)
    assert ctl.view.failures(KEY) == ()


async def test_failures_are_replayed_at_start_but_not_for_a_root_that_is_gone() -> None:
    bus, clock, _, _ = await failed_once()
    gone = ActionEnvelope.build("test-ctl", ObjectRef(api_version="ray.io/v1", kind="RayCluster", namespace="ns",
                                                      name="b", uid="uid-b"), Apply(object=configmap(cluster("b"), "b")))
    await bus.publish(subjects.res("configmap", "ns", "b"), failed_result(gone), msg_id="res:gone")
    await bus.settle()
    script = Script(creates_info)
    restarted = await controller(script, bus, clock, replica="r1")  # a restart: the view and failures from the bus
    await drain_queue(restarted)
    assert [f.name for f in script.calls[0].failures] == ["a-info"]
    assert restarted.view.failures(RootKey("raycluster", "ns", "b")) == ()


async def test_a_create_of_a_kind_not_watched_waits_for_no_expectation() -> None:
    bus, clock = MemoryBus(), FakeClock()

    def decide(o: Observed) -> Decision:
        assert o.root is not None
        secret = {**configmap(o.root, "a-secret"), "kind": "Secret"}
        return Decision(actions=(Apply(object=secret, create_only=True, generate={"t": 8}),))

    await observe(bus, cluster("a"))
    ctl = await controller(Script(decide), bus, clock)
    await drain_queue(ctl)
    assert published(bus, "apply") and not ctl.expectations.pending(KEY), \
        "the controller never sees Secrets: nothing to hold the root back for"


async def test_a_create_only_that_finds_the_object_there_is_waited_for_no_more() -> None:
    bus, clock = MemoryBus(), FakeClock()
    script = Script(lambda o: Decision(actions=(Apply(object=configmap(o.root or {}, "a-cm"), create_only=True),)))
    await observe(bus, cluster("a"))
    ctl = await controller(script, bus, clock)
    await drain_queue(ctl)
    assert ctl.expectations.pending(KEY), "a create of a watched kind is waited for until it is seen"
    create = published(bus, "apply")[0]
    found = ResultEnvelope(action_id=create.action_id, controller="test-ctl", root=create.root, op="apply",
                           outcome="ok", message="exists; left as it is", changed=False)
    await bus.publish(subjects.res("configmap", "ns", "a-cm"), found, msg_id="res-found")
    await bus.settle()
    assert not ctl.expectations.pending(KEY), "it will not be observed: the root is not held back for it"


def workers_status(o: Observed) -> Decision:
    return Decision(status={"workers": (o.root or {})["spec"].get("workers", 0)})


async def test_a_later_status_waits_for_the_earlier_write_and_goes_out_once() -> None:
    # Status 1 is sent, the spec changes: status 2 waits while status 1 is in flight. The
    # watch brings status 1's landing: status 2 goes out, once, even when the root wakes
    # after a minute with status 2 still in the actuator's queue.
    bus, clock = MemoryBus(), FakeClock()
    await observe(bus, cluster("a", spec={"workers": 1}))
    ctl = await controller(Script(workers_status), bus, clock)
    await drain_queue(ctl)
    await observe(bus, cluster("a", rv="2", spec={"workers": 2}))
    await drain_queue(ctl)
    assert len(published(bus, "apply_status")) == 1, "status 2 went out while status 1 was in flight"
    await observe(bus, cluster("a", rv="3", spec={"workers": 2}, status={"workers": 1}))  # status 1 lands
    await drain_queue(ctl)
    _, second = published(bus, "apply_status")
    clock.advance(WRITTEN_STATUS_TTL + 1)  # status 2 has no result yet: it is still on its way
    ctl.queue.add(KEY)
    await drain_queue(ctl)
    assert len(published(bus, "apply_status")) == 2, "status 2 was sent again while it was on its way"
    result = ResultEnvelope(action_id=second.action_id, controller="test-ctl", root=second.root, op="apply_status",
                            outcome="ok", resource_version="4")
    await bus.publish(subjects.res("raycluster", "ns", "a"), result, msg_id=f"res:{second.action_id}")
    await observe(bus, cluster("a", rv="4", spec={"workers": 2}, status={"workers": 2}))  # status 2 lands
    await drain_queue(ctl)
    assert [a.action.status for a in published(bus, "apply_status")] == [{"workers": 1}, {"workers": 2}]  # type: ignore[union-attr]
    # Once the view has caught up, a status changed by someone else is corrected again.
    await observe(bus, cluster("a", rv="5", spec={"workers": 2}, status={"workers": 7}))
    await drain_queue(ctl)
    assert len(published(bus, "apply_status")) == 3


def state_and_ips(o: Observed) -> Decision:
    spec = (o.root or {})["spec"]
    return Decision(status={"state": spec.get("state", ""), "ips": spec.get("ips", 0)})


def state_moved(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """A transition: the state moved (the ips are progress)."""
    return old.get("state") != new.get("state")


async def test_progress_waits_for_the_longer_interval_and_rides_with_the_next_transition() -> None:
    bus, clock = MemoryBus(), FakeClock()
    runtime = RuntimeConfig(status_interval=1.0, status_progress_interval=5.0, coalesce=0)

    await observe(bus, cluster("a", spec={"state": "", "ips": 0}))
    ctl = await controller(Script(state_and_ips), bus, clock, runtime=runtime, transition=state_moved)
    await drain_queue(ctl)
    assert len(published(bus, "apply_status")) == 1  # the first status goes out at once
    clock.advance(2.0)
    first = {"status": {"state": "", "ips": 0}}  # the view shows each write before the next change
    await observe(bus, cluster("a", rv="2", spec={"state": "", "ips": 1}, **first))  # progress: waits 5 s
    await drain_queue(ctl)
    assert len(published(bus, "apply_status")) == 1
    await observe(bus, cluster("a", rv="3", spec={"state": "ready", "ips": 1}, **first))  # a transition: 1 s is over
    await drain_queue(ctl)
    statuses = [a.action.status for a in published(bus, "apply_status")]  # type: ignore[union-attr]
    assert statuses == [{"state": "", "ips": 0}, {"state": "ready", "ips": 1}]
    clock.advance(0.5)
    second = {"status": {"state": "ready", "ips": 1}}
    await observe(bus, cluster("a", rv="4", spec={"state": "ready", "ips": 2}, **second))  # progress again
    await drain_queue(ctl)
    assert len(published(bus, "apply_status")) == 2
    clock.advance(5.0)  # the progress interval is over: the deferred status goes out
    await drain_queue(ctl)
    assert [a.action.status for a in published(bus, "apply_status")][-1] == {"state": "ready", "ips": 2}  # type: ignore[union-attr]
    # Long after the last write, progress is still held back from when it shows up, and rides
    # along with the transition that follows.
    clock.advance(100.0)
    landed = {"status": {"state": "ready", "ips": 2}}  # the view shows the last write
    await observe(bus, cluster("a", rv="5", spec={"state": "ready", "ips": 3}, **landed))
    await drain_queue(ctl)
    assert len(published(bus, "apply_status")) == 3
    clock.advance(2.0)
    await observe(bus, cluster("a", rv="6", spec={"state": "done", "ips": 3}, **landed))
    await drain_queue(ctl)
    statuses = [a.action.status for a in published(bus, "apply_status")]  # type: ignore[union-attr]
    assert statuses[3:] == [{"state": "done", "ips": 3}]


async def test_progress_waits_as_long_as_status_writes_wait_in_the_actuators_queue() -> None:
    bus, clock = MemoryBus(), FakeClock()
    runtime = RuntimeConfig(status_interval=1.0, status_progress_interval=5.0, coalesce=0)

    def statuses() -> list[dict[str, Any]]:
        return [a.action.status for a in published(bus, "apply_status")]  # type: ignore[union-attr]

    await observe(bus, cluster("a", spec={"state": "", "ips": 0}))
    ctl = await controller(Script(state_and_ips), bus, clock, runtime=runtime, transition=state_moved)
    await drain_queue(ctl)
    (first,) = published(bus, "apply_status")
    clock.advance(40.0)  # the actuator's queue is deep: the write is carried out 40 s after it was sent
    result = ResultEnvelope(action_id=first.action_id, controller="test-ctl", root=first.root, op="apply_status",
                            outcome="ok", resource_version="2")
    await bus.publish(subjects.res("raycluster", "ns", "a"), result, msg_id=f"res:{first.action_id}")
    landed = {"status": {"state": "", "ips": 0}}
    await observe(bus, cluster("a", rv="2", spec={"state": "", "ips": 0}, **landed))
    await drain_queue(ctl)
    assert ctl.status_write_lag == pytest.approx(8.0), "40 s, weighed in at 0.2"
    await observe(bus, cluster("a", rv="3", spec={"state": "", "ips": 1}, **landed))  # progress
    await drain_queue(ctl)
    clock.advance(5.0)
    await drain_queue(ctl)
    assert statuses() == [{"state": "", "ips": 0}], "progress waits as long as writes wait, not 5 s"
    clock.advance(3.0)
    await drain_queue(ctl)
    assert statuses() == [{"state": "", "ips": 0}, {"state": "", "ips": 1}], "and goes out alone then"
    second = published(bus, "apply_status")[1]  # carried out at once: the lag comes down
    result = ResultEnvelope(action_id=second.action_id, controller="test-ctl", root=second.root, op="apply_status",
                            outcome="ok", resource_version="4")
    await bus.publish(subjects.res("raycluster", "ns", "a"), result, msg_id=f"res:{second.action_id}")
    await observe(bus, cluster("a", rv="4", spec={"state": "", "ips": 1}, status={"state": "", "ips": 1}))
    await drain_queue(ctl)
    assert ctl.status_write_lag == pytest.approx(6.4)
    await observe(bus, cluster("a", rv="5", spec={"state": "ready", "ips": 1}, status={"state": "", "ips": 1}))
    clock.advance(1.0)
    await drain_queue(ctl)
    assert statuses()[-1] == {"state": "ready", "ips": 1}, "a transition never waits for the lag"


async def two_replicas(bus: MemoryBus, clock: FakeClock, script1: Script, script2: Script
                       ) -> tuple[Controller[ControllerConfig], Controller[ControllerConfig]]:
    """r1 starts alone and takes every partition; r2 joins; after one more tick each, they split."""
    kv = MemoryKV()
    r1 = await controller(script1, bus, clock, kv=kv, replica="r1")
    r2 = await controller(script2, bus, clock, kv=kv, replica="r2")
    await r1.tick_leases()  # r1 sees r2: releases r2's share and drops it from its view
    await r2.tick_leases()  # r2 claims its share (already in its view: no replay)
    await r2.caught_up()
    return r1, r2


def view_names(ctl: Controller[ControllerConfig], kind: str) -> set[str]:
    return {name for (_, name) in ctl.view._objs[kind]}


async def roots_with_children(bus: MemoryBus, count: int) -> set[str]:
    for i in range(count):
        root = cluster(f"c{i}")
        await observe(bus, root)
        await observe(bus, {**configmap(root, f"c{i}-cm"), "metadata": {
            **configmap(root, f"c{i}-cm")["metadata"], "uid": f"cm{i}", "resourceVersion": "1"}}, kind="configmap")
    return {f"c{i}" for i in range(count)}


async def test_each_replica_keeps_only_its_partitions_roots_and_their_children() -> None:
    bus, clock = MemoryBus(), FakeClock()
    names = await roots_with_children(bus, 24)
    s1, s2 = Script(lambda o: Decision()), Script(lambda o: Decision())
    r1, r2 = await two_replicas(bus, clock, s1, s2)
    one, two = view_names(r1, "raycluster"), view_names(r2, "raycluster")
    assert one and two and not one & two and one | two == names
    assert view_names(r1, "configmap") == {f"{n}-cm" for n in one}
    assert view_names(r2, "configmap") == {f"{n}-cm" for n in two}
    # Live messages are filtered the same way: a new root lands in one view only.
    await observe(bus, cluster("late"))
    assert ("late" in view_names(r1, "raycluster")) != ("late" in view_names(r2, "raycluster"))
    await drain_queue(r1)
    await drain_queue(r2)
    assert {o.key.name for o in s1.calls} <= one | {"late"} and {o.key.name for o in s2.calls} <= two | {"late"}


async def test_partitions_gained_are_replayed_and_their_roots_wait_for_their_children() -> None:
    bus, clock = MemoryBus(), FakeClock()
    names = await roots_with_children(bus, 24)
    s2 = Script(lambda o: Decision())
    r1, r2 = await two_replicas(bus, clock, Script(lambda o: Decision()), s2)
    await drain_queue(r2)
    mine = view_names(r2, "raycluster")
    s2.calls.clear()
    await r1.stop()  # hands its partitions back and leaves
    # The workers keep going during a replay: reconcile whatever is queued just before the
    # children's replay starts, when the gained roots are in view and their children not yet.
    follow = bus.last_per_subject

    async def workers_run_first(filter_subject: str, *args: Any) -> Any:
        if filter_subject == subjects.of_kind("state", "configmap"):
            await drain_queue(r2)
        return await follow(filter_subject, *args)

    bus.last_per_subject = workers_run_first  # type: ignore[method-assign, assignment]
    await r2.tick_leases()  # now wants (and claims) every partition: r1's share is replayed
    await r2.caught_up()
    assert view_names(r2, "raycluster") == names
    assert view_names(r2, "configmap") == {f"{n}-cm" for n in names}
    await drain_queue(r2)
    gained = {o.key.name: o for o in s2.calls if o.key.name not in mine}
    assert set(gained) == names - mine
    assert all(len(o.of("configmap")) == 1 for o in gained.values())  # each saw its child


async def test_a_decision_whose_publishing_fails_waits_for_none_of_its_actions_and_is_retried() -> None:
    bus, clock = HookedBus(), FakeClock()
    calls = 0

    def decide(o: Observed) -> Decision:
        assert o.root is not None
        return Decision(actions=tuple(Apply(object=configmap(o.root, f"a-{i}")) for i in range(3)))

    async def refuse_the_second() -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise TemporaryError("the bus is reconnecting")

    await observe(bus, cluster("a"))
    ctl = await controller(Script(decide), bus, clock)
    bus.after_publish = refuse_the_second
    assert await ctl.step() == KEY  # a-0 went out, then the publishing failed
    assert ctl.expectations.satisfied(KEY, clock())  # no create is waited for: they may not exist
    clock.advance(0.005)  # the per-key backoff
    assert await ctl.step() == KEY  # retried, and this time every action goes out
    assert {a.action.object["metadata"]["name"] for a in published(bus, "apply")} == {  # type: ignore[union-attr]
        "a-0", "a-1", "a-2"}


async def test_a_burst_of_child_events_makes_one_reconcile_and_the_roots_own_events_none_late() -> None:
    bus, clock = MemoryBus(), FakeClock()
    script = Script(lambda o: Decision())
    root = cluster("a")
    await observe(bus, root)
    ctl = await controller(script, bus, clock, runtime=RuntimeConfig(status_interval=0, coalesce=0.05))
    await drain_queue(ctl)
    for rv in ("1", "2", "3"):  # one child, three events within the delay
        child = configmap(root, "a-cm")
        child["metadata"].update(uid="cm", resourceVersion=rv)
        await observe(bus, child, kind="configmap")
    assert await ctl.step() is None  # not yet: the burst may go on
    clock.advance(0.05)
    assert await drain_queue(ctl) == [KEY]
    assert len(script.calls) == 2 and len(script.calls[-1].of("configmap")) == 1
    await observe(bus, cluster("a", rv="2"))  # the root's own change: at once
    assert await ctl.step() == KEY


async def test_a_failed_replay_of_gained_partitions_is_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    """NATS may refuse a subscription while it elects a stream leader: the replica tries again
    (with backoff) instead of following nothing."""
    monkeypatch.setattr(runtime, "backoff", lambda attempt, cap: 0.0)
    bus, clock = MemoryBus(), FakeClock()
    names = await roots_with_children(bus, 24)
    r1, r2 = await two_replicas(bus, clock, Script(lambda o: Decision()), Script(lambda o: Decision()))
    await r1.stop()
    follow, refused = bus.last_per_subject, []

    async def flaky(filter_subject: str, *args: Any) -> Any:
        if len(refused) < 2 and filter_subject == subjects.of_kind("state", "configmap"):
            refused.append(filter_subject)
            raise TimeoutError("no stream leader")
        return await follow(filter_subject, *args)

    bus.last_per_subject = flaky  # type: ignore[method-assign, assignment]
    await r2.tick_leases()
    await r2.caught_up()
    assert len(refused) == 2
    assert view_names(r2, "raycluster") == names
    assert view_names(r2, "configmap") == {f"{n}-cm" for n in names}
    # Live messages still arrive (the replica follows the state, once).
    await observe(bus, cluster("late"))
    assert "late" in view_names(r2, "raycluster")


async def test_a_replica_that_cannot_follow_the_state_again_stops_with_the_error(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime, "backoff", lambda attempt, cap: 0.0)
    bus, clock = MemoryBus(), FakeClock()
    await roots_with_children(bus, 8)
    r1, r2 = await two_replicas(bus, clock, Script(lambda o: Decision()), Script(lambda o: Decision()))
    await r1.stop()
    calls = []

    async def refused(filter_subject: str, *args: Any) -> Any:
        calls.append(filter_subject)
        raise TimeoutError("no stream leader")

    follow = bus.last_per_subject
    bus.last_per_subject = refused  # type: ignore[method-assign, assignment]
    await r2.tick_leases()
    with pytest.raises(TimeoutError):
        await r2.caught_up()
    assert len(calls) == runtime.REPLAY_ATTEMPTS  # bounded: then it gives up, and says so
    # `run` (what the service awaits) ends with the error, so the process exits and is restarted.
    bus.last_per_subject = follow  # type: ignore[method-assign]
    with pytest.raises(RuntimeError, match="stopped following the bus"):
        await asyncio.wait_for(r2.run(asyncio.Event()), timeout=5)


async def test_a_replica_taking_a_partition_over_awaits_the_creates_its_last_holder_made() -> None:
    bus, clock, kv = MemoryBus(), FakeClock(), MemoryKV()
    theirs = desired("r2", ["r1", "r2"], 4)
    name = next(n for n in "abcdefghijklmnop" if runtime.partition_of(f"raycluster/ns/{n}", 4) in theirs)
    key = RootKey("raycluster", "ns", name)

    def creates(o: Observed) -> Decision:
        return Decision(actions=() if o.of("configmap") else (Apply(object=configmap(o.root or {}, f"{name}-info")),))

    await observe(bus, cluster(name))
    r1 = await controller(Script(creates), bus, clock, kv=kv)
    assert await drain_queue(r1) == [key] and r1.expectations.pending(key)
    second = Script(creates)
    r2 = await controller(second, bus, clock, kv=kv, replica="r2")  # joins: r1 holds every partition yet
    clock.advance(2)
    await r1.tick_leases()
    await r2.tick_leases()
    assert r2.owns(key) and not r1.owns(key)
    assert [x.name for x in r2.expectations.pending(key)] == [f"{name}-info"]
    assert await drain_queue(r2) == [key] and second.calls == [], "waits for r1's create, not deciding it again"
    info = configmap(cluster(name), f"{name}-info")
    info["metadata"].update(uid="cm", resourceVersion="5")
    await observe(bus, info, kind="configmap")
    assert await drain_queue(r2) == [key]
    assert len(second.calls) == 1 and len(published(bus, "apply")) == 1, "created once"
