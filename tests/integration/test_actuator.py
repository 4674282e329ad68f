"""raybus-actuator against a real kube-apiserver and a real nats-server.

Actions are published the way controllers publish them (`NatsBus.publish` with the action id
as `Nats-Msg-Id`); outcomes are read back from RAYBUS_RES and RAYBUS_DLQ, effects from the
API server.
"""

from __future__ import annotations

import base64
import copy
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import nats
import pytest
import yaml

from raybus_common.actions import (
    Action,
    AddFinalizer,
    Apply,
    ApplyStatus,
    Delete,
    ObjectRef,
    Patch,
    RecordEvent,
    RemoveFinalizer,
    WriteEvent,
)
from raybus_common.bus import subjects
from raybus_common.bus.envelopes import ActionEnvelope, DeadLetter, ResultEnvelope, decode
from raybus_common.bus.nats import NatsBus
from raybus_common.bus.streams import ACT, DLQ, RES
from raybus_common.kube.client import ApiError
from raybus_testbed.kube import Kube
from raybus_testbed.services import Services
from raybus_testbed.waiting import eventually

pytestmark = pytest.mark.integration
FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "valid" / "raycluster-head-only.yaml"


class Outcomes:
    """Every result and dead letter about objects in one namespace, collected as they arrive."""

    def __init__(self, namespace: str) -> None:
        self.namespace = namespace
        self.results: list[ResultEnvelope] = []
        self.dead: list[DeadLetter] = []

    async def run(self, nats_url: str) -> None:
        nc = await nats.connect(nats_url)
        js = nc.jetstream()

        async def on_res(msg: Any) -> None:
            self.results.append(decode(ResultEnvelope, msg.data))

        async def on_dlq(msg: Any) -> None:
            self.dead.append(decode(DeadLetter, msg.data))

        self.subs = [
            await js.subscribe(f"raybus.res.*.{self.namespace}.*", cb=on_res, ordered_consumer=True, stream=RES),
            await js.subscribe(f"raybus.dlq.*.{self.namespace}.*", cb=on_dlq, ordered_consumer=True, stream=DLQ)]
        self.nc = nc

    async def close(self) -> None:
        for sub in self.subs:
            await sub.unsubscribe()
        await self.nc.close()

    def result(self, action_id: str) -> ResultEnvelope | None:
        return next((r for r in self.results if r.action_id == action_id), None)

    async def wait(self, action_id: str, timeout: float = 30.0) -> ResultEnvelope:
        return await eventually(lambda: self.result(action_id), timeout=timeout,
                                what=f"the result of action {action_id} (have {len(self.results)} others)")


@pytest.fixture
async def outcomes(bus: NatsBus, nats_url: str, namespace: str) -> AsyncIterator[Outcomes]:
    o = Outcomes(namespace)
    await o.run(nats_url)
    try:
        yield o
    finally:
        await o.close()


ROOT = ObjectRef(api_version="ray.io/v1", kind="RayCluster", namespace="x", name="root")


async def send(bus: NatsBus, action: Action, *, salt: str = "", controller: str = "test-ctl",
               root: ObjectRef = ROOT) -> str:
    env = ActionEnvelope.build(controller, root, action, salt=salt)
    t = env.action.ref if not isinstance(env.action, RecordEvent) else env.action.regarding
    await bus.publish(subjects.act(t.kind.lower(), t.namespace, t.name), env, msg_id=env.action_id)
    return env.action_id


def configmap(ns: str, name: str, **data: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": ns}, "data": data}


def ref_of(obj: dict[str, Any]) -> ObjectRef:
    return ObjectRef.of(obj)


async def test_every_kind_of_action_is_applied_and_reported(
        services: Services, bus: NatsBus, outcomes: Outcomes, control_plane: Kube, namespace: str) -> None:
    services.start("actuator", "raybus-actuator")
    cms = f"/api/v1/namespaces/{namespace}/configmaps"

    # Apply: created by server-side apply under the one field manager, then changed.
    res = await outcomes.wait(await send(bus, Apply(object=configmap(namespace, "a", k="1"))))
    assert (res.outcome, res.op, res.controller) == ("ok", "apply", "test-ctl")
    got = control_plane.get(f"{cms}/a")
    assert got["data"] == {"k": "1"}
    assert [f["manager"] for f in got["metadata"]["managedFields"]] == ["raybus"]
    await outcomes.wait(await send(bus, Apply(object=configmap(namespace, "a", k="2"))))
    assert control_plane.get(f"{cms}/a")["data"] == {"k": "2"}

    # Finalizers: added once (twice is a no-op), then removed.
    ref = ref_of(control_plane.get(f"{cms}/a"))
    await outcomes.wait(await send(bus, AddFinalizer(ref=ref, finalizer="raybus.io/test")))
    res = await outcomes.wait(await send(bus, AddFinalizer(ref=ref, finalizer="raybus.io/test"), salt="again"))
    assert res.outcome == "ok" and "already present" in res.message
    assert control_plane.get(f"{cms}/a")["metadata"]["finalizers"] == ["raybus.io/test"]
    await outcomes.wait(await send(bus, RemoveFinalizer(ref=ref, finalizer="raybus.io/test")))
    assert not control_plane.get(f"{cms}/a")["metadata"].get("finalizers")

    # A merge patch of fields Raybus does not apply; with a stale uid it is refused.
    res = await outcomes.wait(await send(bus, Patch(ref=ref, patch={"metadata": {"annotations": {"x": "y"}}})))
    assert res.outcome == "ok", res.message
    assert control_plane.get(f"{cms}/a")["metadata"]["annotations"] == {"x": "y"}
    assert control_plane.get(f"{cms}/a")["data"] == {"k": "2"}
    gone = ref.model_copy(update={"uid": "00000000-0000-0000-0000-000000000001"})
    res = await outcomes.wait(await send(bus, Patch(ref=gone, patch={"metadata": {"annotations": {"x": "z"}}})))
    assert res.outcome == "permanent", res
    assert control_plane.get(f"{cms}/a")["metadata"]["annotations"] == {"x": "y"}

    # An Event about the object, on the object.
    res = await outcomes.wait(await send(bus, RecordEvent(regarding=ref, type="Warning", reason="TestReason",
                                                          message="something happened")))
    assert res.outcome == "ok"
    events = control_plane.get(f"/apis/events.k8s.io/v1/namespaces/{namespace}/events")["items"]
    (event,) = [e for e in events if e["reason"] == "TestReason"]
    assert event["regarding"]["uid"] == ref.uid and event["note"] == "something happened"
    assert event["reportingController"] == "raybus.io/test-ctl" and event["type"] == "Warning"

    # Delete with a stale uid: refused, dead-lettered, the object survives.
    stale = ref.model_copy(update={"uid": "00000000-0000-0000-0000-000000000000"})
    aid = await send(bus, Delete(ref=stale))
    res = await outcomes.wait(aid)
    assert res.outcome == "permanent" and "another object" in res.message and res.http_status == 409
    assert control_plane.exists(f"{cms}/a")
    # Delete with the right uid: gone.
    res = await outcomes.wait(await send(bus, Delete(ref=ref)))
    assert res.outcome == "ok"
    await eventually(lambda: not control_plane.exists(f"{cms}/a"), timeout=10, what="the ConfigMap deleted")
    await eventually(lambda: sum(d.subject == subjects.act("configmap", namespace, "a") for d in outcomes.dead) == 2,
                     timeout=30, what="both dead letters about ConfigMap a")
    letter = next(d for d in outcomes.dead if d.subject == subjects.act("configmap", namespace, "a")
                  and "precondition" in d.error.lower() and "delete" in d.error)
    assert "precondition" in letter.error.lower() and decode(ActionEnvelope, letter.data).action_id == aid


async def test_status_goes_through_the_status_subresource(
        services: Services, bus: NatsBus, outcomes: Outcomes, control_plane: Kube, namespace: str) -> None:
    services.start("actuator", "raybus-actuator")
    rc = copy.deepcopy(yaml.safe_load(FIXTURE.read_text()))
    rc["metadata"] = {"name": "rc", "namespace": namespace}
    created = control_plane.create(f"/apis/ray.io/v1/namespaces/{namespace}/rayclusters", rc)
    ref = ref_of(created)
    res = await outcomes.wait(await send(bus, ApplyStatus(ref=ref, status={"state": "ready", "readyWorkerReplicas": 0})))
    assert res.outcome == "ok", res.message
    got = control_plane.get(f"/apis/ray.io/v1/namespaces/{namespace}/rayclusters/rc")
    assert got["status"]["state"] == "ready"
    # The resourceVersion the write made, from the (metadata-only) answer: the controller's lag check.
    assert res.resource_version == got["metadata"]["resourceVersion"]
    assert got["metadata"]["generation"] == created["metadata"]["generation"]  # status does not bump generation

    # A status for an object that was re-created under the same name is refused.
    stale = ref.model_copy(update={"uid": "00000000-0000-0000-0000-000000000000"})
    res = await outcomes.wait(await send(bus, ApplyStatus(ref=stale, status={"state": "failed"})))
    assert res.outcome == "permanent" and "another object" in res.message, res
    assert control_plane.get(f"/apis/ray.io/v1/namespaces/{namespace}/rayclusters/rc")["status"]["state"] == "ready"


async def test_a_delete_that_finds_nothing_is_done_not_a_failure(
        services: Services, bus: NatsBus, outcomes: Outcomes, control_plane: Kube, namespace: str) -> None:
    # KubeRay treats NotFound on delete as success; so does Raybus: no dead letter, no Warning.
    services.start("actuator", "raybus-actuator")
    root = ObjectRef(api_version="ray.io/v1", kind="RayCluster", namespace=namespace, name="owner", uid="u-owner")
    gone = ObjectRef(api_version="v1", kind="ConfigMap", namespace=namespace, name="never-was",
                     uid="00000000-0000-0000-0000-00000000000a")
    res = await outcomes.wait(await send(bus, Delete(ref=gone, failure_reason="FailedToDeleteConfigMap"), root=root))
    assert (res.outcome, res.message) == ("ok", "already gone"), res
    await eventually(lambda: _queue_empty(bus, namespace), timeout=30, what="the delete acknowledged")
    dead = (await bus.js.stream_info(DLQ, subjects_filter=f"raybus.dlq.*.{namespace}.*")).state.subjects
    assert not dead, dead
    warnings = [e for e in control_plane.get(f"/apis/events.k8s.io/v1/namespaces/{namespace}/events")["items"]
                if e["reason"] == "FailedToDeleteConfigMap"]
    assert warnings == []


async def test_rejected_and_malformed_actions_end_in_the_dead_letter_stage_and_the_actuator_keeps_serving(
        services: Services, bus: NatsBus, outcomes: Outcomes, control_plane: Kube, namespace: str) -> None:
    proc = services.start("actuator", "raybus-actuator")
    # 422: a ConfigMap key with a space. The controller asked for a Warning Event on its root.
    root = ObjectRef(api_version="ray.io/v1", kind="RayCluster", namespace=namespace, name="owner", uid="u-owner")
    bad = await send(bus, Apply(object=configmap(namespace, "bad", **{"not a key": "x"}),
                                failure_reason="FailedToCreateConfigMap"), root=root)
    res = await outcomes.wait(bad)
    assert (res.outcome, res.http_status) == ("permanent", 422)
    assert "Invalid" in res.message and "not a key" in res.message
    warnings = [e for e in control_plane.get(f"/apis/events.k8s.io/v1/namespaces/{namespace}/events")["items"]
                if e["reason"] == "FailedToCreateConfigMap"]
    assert len(warnings) == 1 and warnings[0]["type"] == "Warning" and "not a key" in warnings[0]["note"]
    assert warnings[0]["regarding"]["name"] == "owner" and warnings[0]["regarding"]["kind"] == "RayCluster"
    # Not JSON at all, on an action subject.
    nc = await nats.connect(bus.settings.nats_url)
    await nc.jetstream().publish(subjects.act("configmap", namespace, "garbage"), b"{not json",
                                 headers={"Nats-Msg-Id": f"garbage-{namespace}"})
    await nc.close()
    # A kind Raybus has no path for.
    unknown = await send(bus, Apply(object={"apiVersion": "example.com/v1", "kind": "Widget",
                                            "metadata": {"name": "w", "namespace": namespace}}))
    res = await outcomes.wait(unknown)
    assert res.outcome == "permanent" and "no API path" in res.message
    # ...and the next good action is applied.
    res = await outcomes.wait(await send(bus, Apply(object=configmap(namespace, "good", k="v"))))
    assert res.outcome == "ok" and control_plane.exists(f"/api/v1/namespaces/{namespace}/configmaps/good")

    await eventually(lambda: len(outcomes.dead) == 3, timeout=30, what="three dead letters")
    by_subject = {d.subject: d for d in outcomes.dead}
    assert "422" in by_subject[subjects.act("configmap", namespace, "bad")].error
    garbage = by_subject[subjects.act("configmap", namespace, "garbage")]
    assert "malformed JSON" in garbage.error and garbage.data == "{not json"
    assert "no API path" in by_subject[subjects.act("widget", namespace, "w")].error
    assert proc.running()
    assert services.metric("actuator", "raybus_dead_letters_total") >= 3
    with pytest.raises(ApiError, match="not found"):
        control_plane.get(f"/api/v1/namespaces/{namespace}/configmaps/bad")


async def test_sigkill_mid_batch_loses_no_action_and_applies_none_twice(
        services: Services, bus: NatsBus, outcomes: Outcomes, control_plane: Kube, namespace: str) -> None:
    # Slow the actuator down (10 requests/s) so the kill lands mid-batch, and let JetStream
    # redeliver what the dead process held after 2 s.
    env = {"RAYBUS_QPS": "10", "RAYBUS_BURST": "1", "RAYBUS_ACK_WAIT": "2", "RAYBUS_CONCURRENCY": "4"}
    first = services.start("actuator", "raybus-actuator", **env)
    ns_ref = ObjectRef(api_version="v1", kind="Namespace", name=namespace)
    ids: list[str] = []
    for i in range(25):  # 50 actions: a ConfigMap and an Event each
        ids.append(await send(bus, Apply(object=configmap(namespace, f"cm-{i}", i=str(i)))))
        ids.append(await send(bus, RecordEvent(regarding=ns_ref.model_copy(update={"namespace": namespace,
                                                                                    "name": f"cm-{i}",
                                                                                    "kind": "ConfigMap"}),
                                               reason="Batch", message=f"event {i}")))
    await eventually(lambda: len(outcomes.results) >= 10, timeout=30, what="10 outcomes before the kill")
    first.kill()
    done_at_kill = len(outcomes.results)
    assert done_at_kill < len(ids), "the batch finished before the kill: nothing was tested"

    services.start("actuator", "raybus-actuator", **env)
    await eventually(lambda: {r.action_id for r in outcomes.results} >= set(ids), timeout=60,
                     what="an outcome for every action")
    # Nothing can come late once nothing of the batch is left in the work queue: an action
    # leaves it only when acknowledged, and only an unacknowledged one is redelivered.
    await eventually(lambda: _queue_empty(bus, namespace), timeout=30,
                     what="every action of the batch acknowledged (none left to redeliver)")

    assert sorted(r.action_id for r in outcomes.results) == sorted(ids), "an action was reported twice"
    assert all(r.outcome == "ok" for r in outcomes.results), [r for r in outcomes.results if r.outcome != "ok"]
    assert outcomes.dead == []
    names = {c["metadata"]["name"] for c in control_plane.get(f"/api/v1/namespaces/{namespace}/configmaps")["items"]}
    assert {f"cm-{i}" for i in range(25)} <= names
    events = [e for e in control_plane.get(f"/apis/events.k8s.io/v1/namespaces/{namespace}/events")["items"]
              if e["reason"] == "Batch"]
    assert sorted(e["note"] for e in events) == sorted(f"event {i}" for i in range(25)), "an event was recorded twice"
    print(f"\nSIGKILL after {done_at_kill}/{len(ids)} outcomes; all {len(ids)} applied once after restart")


async def _queue_empty(bus: NatsBus, namespace: str) -> bool:
    info = await bus.js.stream_info(ACT, subjects_filter=f"raybus.act.*.{namespace}.*")
    return not info.state.subjects


def events_of(api: Kube, namespace: str, reason: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = api.get(f"/apis/events.k8s.io/v1/namespaces/{namespace}/events")["items"]
    return [e for e in items if e["reason"] == reason]


def occurrences(events: list[dict[str, Any]]) -> int:
    """How many times the Events say it happened: one each, or its series' count."""
    return sum((e.get("series") or {}).get("count", 1) for e in events)


async def test_a_writes_event_follows_its_outcome_in_kuberays_words(
        services: Services, bus: NatsBus, outcomes: Outcomes, control_plane: Kube, namespace: str) -> None:
    services.start("actuator", "raybus-actuator")
    root = ObjectRef(api_version="ray.io/v1", kind="RayCluster", namespace=namespace, name="owner", uid="u-owner")

    def write(name: str, **data: str) -> Apply:
        return Apply(object=configmap(namespace, name, **data),
                     success_event=WriteEvent(reason="CreatedConfigMap", message=f"Created configmap {namespace}/{name}",
                                              action="Create"),
                     failure_reason="FailedToCreateConfigMap", failure_message=f"Failed creating configmap {namespace}/{name}")

    res = await outcomes.wait(await send(bus, write("good", k="v"), controller="cluster-ctl", root=root))
    assert res.outcome == "ok"
    res = await outcomes.wait(await send(bus, write("bad", **{"not a key": "x"}), controller="cluster-ctl", root=root))
    assert res.outcome == "permanent" and res.failure_reason == "FailedToCreateConfigMap"
    assert res.error.startswith('ConfigMap "bad" is invalid') and res.target is not None and res.target.name == "bad"
    await eventually(lambda: events_of(control_plane, namespace, "FailedToCreateConfigMap"), timeout=10,
                     what="the Warning")
    (created,) = events_of(control_plane, namespace, "CreatedConfigMap")
    assert created["note"] == f"Created configmap {namespace}/good" and created["type"] == "Normal"
    assert (created["reportingController"], created["action"]) == ("raycluster-controller", "Create")
    assert created["regarding"]["name"] == "owner"
    (warning,) = events_of(control_plane, namespace, "FailedToCreateConfigMap")
    assert warning["note"] == f"Failed creating configmap {namespace}/bad, {res.error}"
    assert warning["type"] == "Warning" and warning["reportingController"] == "raycluster-controller"
    assert occurrences(events_of(control_plane, namespace, "CreatedConfigMap")) == 1, \
        "the failed write recorded no success"


async def test_isomorphic_events_are_one_event_with_a_count(
        services: Services, bus: NatsBus, outcomes: Outcomes, control_plane: Kube, namespace: str) -> None:
    services.start("actuator", "raybus-actuator")
    root = ObjectRef(api_version="ray.io/v1", kind="RayCluster", namespace=namespace, name="owner", uid="u-owner")
    ids = []
    for i in range(12):  # a group's pods: each write succeeds, each asks for its CreatedWorkerPod
        ids.append(await send(bus, Apply(object=configmap(namespace, f"w-{i}"), success_event=WriteEvent(
            reason="CreatedWorkerPod", message=f"Created worker Pod {namespace}/w-{i}", action="Create")),
                              controller="cluster-ctl", root=root))
    for aid in ids:
        assert (await outcomes.wait(aid)).outcome == "ok"
    # The repeats are counted in memory; the recorder's flush (every 10 s) writes the count.
    await eventually(lambda: occurrences(events_of(control_plane, namespace, "CreatedWorkerPod")) == 12,
                     timeout=30, what="the series' count to reach 12")
    events = events_of(control_plane, namespace, "CreatedWorkerPod")
    # One Event with a series (two, should the 12 writes straddle the edge of a 6-minute window).
    assert 1 <= len(events) <= 2 and occurrences(events) == 12, [(e["metadata"]["name"], e.get("series")) for e in events]
    first = min(events, key=lambda e: e["eventTime"])
    assert first["note"].startswith(f"Created worker Pod {namespace}/w-")
    assert first["series"]["count"] >= 2 and first["series"]["lastObservedTime"] >= first["eventTime"]
    # As client-go's recorder: the series is counted in memory, not written once per occurrence.
    sent = services.metric("actuator", "raybus_actuator_event_requests_total")
    assert services.metric("actuator", "raybus_actuator_event_occurrences_total") == 12
    assert sent <= 5, f"{sent} requests for 12 occurrences of one Event"


async def test_a_create_only_secret_gets_a_generated_token_that_is_never_rotated(
        services: Services, bus: NatsBus, outcomes: Outcomes, control_plane: Kube, namespace: str) -> None:
    services.start("actuator", "raybus-actuator")
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "tok", "namespace": namespace}}
    action = Apply(object=secret, create_only=True, generate={"auth_token": 32})
    env = ActionEnvelope.build("cluster-ctl", ROOT, action)
    assert "stringData" not in env.model_dump_json(), "no token on the bus, only its length"
    res = await outcomes.wait(await send(bus, action))
    assert res.outcome == "ok" and res.changed, res
    path = f"/api/v1/namespaces/{namespace}/secrets/tok"
    token = base64.b64decode(control_plane.get(path)["data"]["auth_token"]).decode()
    assert len(token) == 44 and len(base64.b64decode(token)) == 32
    res = await outcomes.wait(await send(bus, action, salt="a later pass"))
    assert (res.outcome, res.message, res.changed) == ("ok", "already exists; left as it is", False)
    assert base64.b64decode(control_plane.get(path)["data"]["auth_token"]).decode() == token
