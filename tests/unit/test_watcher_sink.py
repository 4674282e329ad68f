"""The watcher's bus glue against the in-memory bus: subjects, message ids, tombstones, replay;
and which kinds it watches at which versions, from a discovery catalog."""

from __future__ import annotations

from typing import Any

import pytest

from raybus_common.bus import subjects
from raybus_common.bus.envelopes import StateEnvelope, decode
from raybus_common.bus.memory import MemoryBus
from raybus_common.kube.discovery import Catalog, Served
from raybus_common.kube.resources import OWNED, RAY, SCHEDULERS, Resource, parse_watch_spec
from raybus_watcher.handlers import BusSink, known_alive, resolve, watched_specs
from raybus_watcher.settings import WatcherSettings, split_specs

POD = Resource("pod", "Pod", "", "v1", "pods")
RC = Resource("raycluster", "RayCluster", "ray.io", "v1", "rayclusters")


def obj(name: str, *, ns: str = "team-a", uid: str = "u1", rv: str = "10", kind: str = "Pod",
        api_version: str = "v1") -> dict[str, Any]:
    return {"apiVersion": api_version, "kind": kind,
            "metadata": {"name": name, "namespace": ns, "uid": uid, "resourceVersion": rv,
                         "managedFields": [{"manager": "kubectl"}]},
            "spec": {}}


def stored(bus: MemoryBus, subject: str) -> tuple[StateEnvelope, str]:
    [m] = bus.messages(subject)
    return decode(StateEnvelope, m.data), m.headers["Nats-Msg-Id"]


@pytest.mark.parametrize(("event", "name", "subject"), [
    ("ADDED", "head-0", "raybus.state.pod.team-a.head-0"),
    ("MODIFIED", "head-0", "raybus.state.pod.team-a.head-0"),
    ("SNAPSHOT", "head-0", "raybus.state.pod.team-a.head-0"),
    ("ADDED", "ray.head.v2", "raybus.state.pod.team-a.ray_head_v2"),
], ids=["added", "modified", "snapshot", "dotted-name"])
async def test_observed_publishes_state_with_uid_rv_id(event: str, name: str, subject: str) -> None:
    bus = MemoryBus()
    await BusSink(bus).observed(POD, event, obj(name))
    env, msg_id = stored(bus, subject)
    assert msg_id == "u1:10"
    assert env.type == event and env.uid == "u1" and env.resource_version == "10"
    assert env.ref.name == name and env.ref.namespace == "team-a"
    assert env.object is not None and "managedFields" not in env.object["metadata"]
    assert subjects.parse(subject).name == name


async def test_same_resource_version_is_deduplicated_new_one_is_not() -> None:
    bus = MemoryBus()
    sink = BusSink(bus)
    await sink.observed(POD, "ADDED", obj("p"))
    await sink.observed(POD, "SNAPSHOT", obj("p"))  # a relist of the unchanged object
    assert len(bus.messages("raybus.state.pod.>")) == 1
    await sink.observed(POD, "MODIFIED", obj("p", rv="11"))
    env, msg_id = stored(bus, "raybus.state.pod.team-a.p")
    assert (env.type, env.resource_version, msg_id) == ("MODIFIED", "11", "u1:11")


async def test_delete_event_carries_the_last_state() -> None:
    bus = MemoryBus()
    await BusSink(bus).vanished(POD, "team-a", "p", "u1", obj("p", rv="12"))
    env, msg_id = stored(bus, "raybus.state.pod.team-a.p")
    assert msg_id == "u1:gone"
    assert env.type == "DELETED" and env.gone and env.object is not None
    assert env.resource_version == "12"


async def test_relist_tombstone_has_no_object_but_a_full_ref() -> None:
    bus = MemoryBus()
    await BusSink(bus).vanished(RC, "team-a", "rc.v1", "u9", None)
    env, msg_id = stored(bus, "raybus.state.raycluster.team-a.rc_v1")
    assert msg_id == "u9:gone"
    assert env.type == "TOMBSTONE" and env.gone and env.object is None
    assert (env.ref.api_version, env.ref.kind, env.ref.namespace, env.ref.name, env.ref.uid) == (
        "ray.io/v1", "RayCluster", "team-a", "rc.v1", "u9")


async def test_a_second_gone_report_is_a_duplicate() -> None:
    bus = MemoryBus()
    sink = BusSink(bus)
    await sink.vanished(POD, "team-a", "p", "u1", obj("p"))
    await sink.vanished(POD, "team-a", "p", "u1", None)
    env, _ = stored(bus, "raybus.state.pod.team-a.p")
    assert env.type == "DELETED"


async def test_observed_refuses_gone_types() -> None:
    with pytest.raises(ValueError, match="not a live watch event"):
        await BusSink(MemoryBus()).observed(POD, "DELETED", obj("p"))


async def test_known_alive_leaves_out_gone_objects_and_other_kinds() -> None:
    bus = MemoryBus()
    sink = BusSink(bus)
    await sink.observed(POD, "ADDED", obj("alive", uid="a"))
    await sink.observed(POD, "ADDED", obj("deleted", uid="d"))
    await sink.vanished(POD, "team-a", "deleted", "d", None)
    await sink.observed(POD, "ADDED", obj("x.y", ns="team-b", uid="b"))
    await sink.observed(RC, "ADDED", obj("rc", uid="r", kind="RayCluster", api_version="ray.io/v1"))
    known = await known_alive(bus, ["pod", "service"])
    assert known == {"pod": {("team-a", "alive"): "a", ("team-b", "x.y"): "b"}, "service": {}}
    # Publishing after the replay does not change the map handed out.
    await sink.observed(POD, "ADDED", obj("late", uid="l"))
    await bus.settle()
    assert ("team-a", "late") not in known["pod"]


def test_watched_specs_add_extras_and_let_them_override() -> None:
    extra = (parse_watch_spec("configmap=raybus.io/demo=true"), parse_watch_spec("pod=team=x"))
    kinds = {r.kind: r for r in watched_specs(extra)}
    assert set(kinds) == {r.kind for r in (*RAY, *OWNED)} | {"configmap"}
    assert kinds["configmap"].label_selector == "raybus.io/demo=true"
    assert kinds["pod"].label_selector == "team=x"


def served(*extra: Served) -> Catalog:
    """Every Ray and owned kind served at v1 (plurals made up: only versions matter here), and `extra`."""
    return Catalog([*(Served(s.group, "v1", s.api_kind, s.api_kind.lower() + "s", True) for s in (*RAY, *OWNED)),
                    *extra])


def test_resolve_watches_what_is_served_at_the_served_version_and_skips_absent_schedulers() -> None:
    kueue = Served("kueue.x-k8s.io", "v1beta2", "Workload", "workloads", True)
    required, optional = resolve(served(kueue), watched_specs(()), SCHEDULERS)
    assert {r.kind: r.api_version for r in required}["raycluster"] == "ray.io/v1"
    assert {r.kind for r in required} == {s.kind for s in (*RAY, *OWNED)}
    assert required[[r.kind for r in required].index("pod")].label_selector == OWNED[0].label_selector
    assert optional == [Resource("workload", "Workload", "kueue.x-k8s.io", "v1beta2", "workloads")]


def test_resolve_refuses_to_start_without_a_required_kind_naming_what_is_served() -> None:
    without = Catalog([Served(s.group, "v1", s.api_kind, s.api_kind.lower() + "s", True)
                       for s in (*RAY, *OWNED) if s.api_kind != "RayJob"]
                      + [Served("ray.io", "v1alpha1", "RayJob", "rayjobs", True)])
    with pytest.raises(LookupError, match=r"RayJob of ray.io at v1 \(served: v1alpha1\)"):
        resolve(without, watched_specs(()), SCHEDULERS)


def test_an_extra_that_is_also_a_scheduler_kind_is_required_and_watched_once() -> None:
    kueue = Served("kueue.x-k8s.io", "v1beta1", "Workload", "workloads", True)
    required, optional = resolve(served(kueue), watched_specs((parse_watch_spec("workload=team=a"),)), SCHEDULERS)
    assert [r.label_selector for r in required if r.kind == "workload"] == ["team=a"]
    assert optional == []


@pytest.mark.parametrize(("text", "specs"), [
    ("", []),
    ("configmap", ["configmap"]),
    ("configmap=raybus.io/demo=true, secret", ["configmap=raybus.io/demo=true", "secret"]),
    ("configmap=a=b,c=d;secret", ["configmap=a=b,c=d", "secret"]),
], ids=["empty", "one", "commas", "semicolons-keep-selector-commas"])
def test_watch_extra_setting(text: str, specs: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    assert split_specs(text) == specs
    monkeypatch.setenv("RAYBUS_WATCH_EXTRA", text)
    assert WatcherSettings().watch_extra == specs


def test_watch_extra_unknown_kind_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAYBUS_WATCH_EXTRA", "gizmo=a=b")
    with pytest.raises(ValueError, match="unknown resource kind"):
        WatcherSettings()
