"""Envelopes: round trips, the Action union, deterministic ids, owner references, decode failures."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from raybus_common.actions import (
    AddFinalizer,
    Apply,
    ApplyStatus,
    Delete,
    ObjectRef,
    RecordEvent,
    RemoveFinalizer,
    action_id,
)
from raybus_common.bus.envelopes import (
    SCHEMA_VERSION,
    ActionEnvelope,
    DeadLetter,
    ResultEnvelope,
    StateEnvelope,
    decode,
    encode,
)
from raybus_common.decision import NOTHING, Decision
from raybus_common.errors import PermanentError
from raybus_common.objects import owner_reference

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
CLUSTER: dict[str, Any] = {
    "apiVersion": "ray.io/v1", "kind": "RayCluster",
    "metadata": {"name": "rc.v1", "namespace": "ns", "uid": "uid-1", "resourceVersion": "42",
                 "managedFields": [{"manager": "kubectl"}]},
    "spec": {"rayVersion": "2.60.0"},
}
ROOT = ObjectRef.of(CLUSTER)
POD_REF = ObjectRef(api_version="v1", kind="Pod", namespace="ns", name="rc-head", uid="pod-uid")

ACTIONS: list[Any] = [
    Apply(object={"apiVersion": "v1", "kind": "Service", "metadata": {"name": "rc-head-svc", "namespace": "ns"}}),
    ApplyStatus(ref=ROOT, status={"state": "ready"}),
    Delete(ref=POD_REF),
    AddFinalizer(ref=ROOT, finalizer="ray.io/gcs-ft-redis-cleanup-finalizer"),
    RemoveFinalizer(ref=ROOT, finalizer="ray.io/gcs-ft-redis-cleanup-finalizer"),
    RecordEvent(regarding=ROOT, type="Warning", reason="InvalidSpec", message="bad", action="Validate"),
]


@pytest.mark.parametrize("action", ACTIONS, ids=[a.op for a in ACTIONS])
def test_action_envelope_round_trip(action: Any) -> None:
    env = ActionEnvelope.build("cluster-ctl", ROOT, action, salt="42", issued_at=NOW)
    back = decode(ActionEnvelope, encode(env))
    assert back == env
    assert type(back.action) is type(action)
    assert json.loads(encode(env))["action"]["op"] == action.op


POD = {"apiVersion": "v1", "kind": "Pod",
       "metadata": {"name": "rc-head", "namespace": "ns", "labels": {"ray.io/cluster": "rc.v1"}},
       "spec": {"containers": [{"name": "ray-head", "image": "rayproject/ray:2.60.0",
                                "resources": {"limits": {"cpu": 1.5, "memory": "2Gi"}},
                                "args": ["Ünïcode \u2603 \"quoted\"\n"]}]}}
WIRE_ACTIONS: list[Any] = [*ACTIONS, Apply(object=POD, create_only=True, generate={"token": 32}),
                           Delete(ref=POD_REF, propagation="Foreground")]


@pytest.mark.parametrize("action", WIRE_ACTIONS, ids=[f"{i}-{a.op}" for i, a in enumerate(WIRE_ACTIONS)])
def test_action_wire_is_pydantics_json_and_the_id_is_unchanged(action: Any) -> None:
    """An action envelope is written around the action's JSON its id hashed; byte for byte what
    pydantic writes, and the id is `action_id`'s."""
    env = ActionEnvelope.build("cluster-ctl", ROOT, action, salt="42", issued_at=datetime(2026, 12, 4, 1, 2, 3, 450,
                                                                                          tzinfo=UTC))
    assert env.action_id == action_id("cluster-ctl", ROOT, action, salt="42")
    assert encode(env) == env.model_dump_json().encode()
    made = ActionEnvelope(action_id=env.action_id, controller="cluster-ctl", root=ROOT, issued_at=env.issued_at,
                          action=action, dry_run=True)  # not built: serialised at once
    assert encode(made) == made.model_dump_json().encode()
    assert decode(ActionEnvelope, encode(env)) == env


def test_a_copy_with_another_action_writes_that_action() -> None:
    env = ActionEnvelope.build("cluster-ctl", ROOT, Delete(ref=POD_REF), issued_at=NOW)
    other = env.model_copy(update={"action": Delete(ref=POD_REF, propagation="Foreground")})
    assert json.loads(encode(other))["action"]["propagation"] == "Foreground"
    assert encode(other) == other.model_dump_json().encode()


def test_action_id_is_deterministic_and_salted() -> None:
    a = Delete(ref=POD_REF)
    assert action_id("c", ROOT, a) == action_id("c", ROOT, Delete(ref=POD_REF))
    assert action_id("c", ROOT, a) != action_id("c", ROOT, a, salt="43")
    assert action_id("c", ROOT, a) != action_id("other", ROOT, a)
    assert action_id("c", ROOT, a) != action_id("c", ROOT, Delete(ref=POD_REF, propagation="Foreground"))
    env1 = ActionEnvelope.build("c", ROOT, a, issued_at=NOW)
    env2 = ActionEnvelope.build("c", ROOT, a, issued_at=datetime(2030, 1, 1, tzinfo=UTC))
    assert env1.action_id == env2.action_id, "the timestamp must not change the id"


def test_state_envelope_strips_managed_fields() -> None:
    env = StateEnvelope.observed("ADDED", CLUSTER, observed_at=NOW)
    assert env.object is not None and "managedFields" not in env.object["metadata"]
    assert "managedFields" in CLUSTER["metadata"], "the input is not mutated"
    assert (env.uid, env.resource_version, env.ref.key) == ("uid-1", "42", "raycluster/ns/rc.v1")
    assert decode(StateEnvelope, encode(env)) == env


@pytest.mark.parametrize("env", [
    StateEnvelope.observed("ADDED", CLUSTER, observed_at=NOW),
    StateEnvelope.observed("MODIFIED", {**CLUSTER, "status": {"ratio": 0.1, "big": 2 ** 62, "none": None,
                                                             "text": "Ünïcode \u2603 \"quoted\"\n"}},
                           observed_at=datetime(2026, 12, 4, 16, 30, 1, 250, tzinfo=UTC)),
    StateEnvelope(type="TOMBSTONE", ref=ROOT, uid="uid-1", observed_at=NOW),
    StateEnvelope(type="DELETED", ref=ROOT.model_copy(update={"uid": None}), uid="", observed_at=NOW, object=CLUSTER),
], ids=["added", "floats-ints-unicode-microseconds", "tombstone", "deleted-ref-without-uid"])
def test_state_wire_is_pydantics_json(env: StateEnvelope) -> None:
    """The watcher's state messages are written by orjson; byte for byte what pydantic writes."""
    assert encode(env) == env.model_dump_json().encode()
    assert decode(StateEnvelope, encode(env)) == env


@pytest.mark.parametrize(("type_", "obj", "gone"), [
    ("DELETED", CLUSTER, True), ("TOMBSTONE", None, True), ("MODIFIED", CLUSTER, False), ("SNAPSHOT", CLUSTER, False),
], ids=["deleted", "tombstone", "modified", "snapshot"])
def test_state_types(type_: Any, obj: Any, gone: bool) -> None:
    env = StateEnvelope(type=type_, ref=ROOT, uid="uid-1", object=obj, observed_at=NOW)
    assert env.gone is gone


def test_live_state_needs_the_object() -> None:
    with pytest.raises(ValueError, match="needs the object"):
        StateEnvelope(type="MODIFIED", ref=ROOT, uid="uid-1")


@pytest.mark.parametrize(("build", "problem"), [
    (lambda: Delete(ref=ObjectRef(api_version="v1", kind="Pod", namespace="ns", name="p")), "uid"),
    (lambda: Apply(object={"kind": "Pod", "metadata": {"name": "p"}}), "apiVersion"),
    (lambda: Apply(object={"apiVersion": "v1", "kind": "Pod", "metadata": {}}), "metadata.name"),
    (lambda: RecordEvent(regarding=ROOT, type="Error", reason="r", message="m"), "type"),
], ids=["delete-without-uid", "apply-without-apiversion", "apply-without-name", "event-bad-type"])
def test_invalid_actions(build: Any, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        build()


def test_other_envelopes_round_trip() -> None:
    res = ResultEnvelope(action_id="x", root=ROOT, op="delete", outcome="permanent", http_status=403,
                         message="forbidden", attempts=2, finished_at=NOW)
    assert decode(ResultEnvelope, encode(res)) == res
    dl = DeadLetter(subject="raybus.act.pod.ns.p", data="{not json", error="malformed", failed_at=NOW)
    assert decode(DeadLetter, encode(dl)) == dl


@pytest.mark.parametrize(("data", "message"), [
    (b"{not json", "malformed JSON"),
    (b"\xff\xfe", "malformed JSON"),
    (b"[1, 2]", "must be a JSON object"),
    (b'{"type": "ADDED"}', "schema_version"),
    (b'{"schema_version": "1"}', "schema_version"),
    (b'{"schema_version": true}', "schema_version"),
    (json.dumps({"schema_version": SCHEMA_VERSION + 1}).encode(), "newer"),
    (json.dumps({"schema_version": 1, "type": "ADDED"}).encode(), "invalid StateEnvelope"),
    (json.dumps({"schema_version": 1, "type": "EXPLODED", "ref": ROOT.model_dump(), "uid": "u",
                 "object": {}}).encode(), "type"),
], ids=["bad-json", "bad-utf8", "not-an-object", "no-version", "string-version", "bool-version", "newer-version",
        "missing-fields", "unknown-type"])
def test_decode_failures_are_permanent(data: bytes, message: str) -> None:
    with pytest.raises(PermanentError, match=message):
        decode(StateEnvelope, data)


def test_unknown_action_op_is_permanent() -> None:
    env = json.loads(encode(ActionEnvelope.build("c", ROOT, ACTIONS[2], issued_at=NOW)))
    env["action"]["op"] = "explode"
    with pytest.raises(PermanentError, match="invalid ActionEnvelope"):
        decode(ActionEnvelope, json.dumps(env))


def test_unknown_fields_are_tolerated() -> None:
    env = json.loads(encode(StateEnvelope.observed("ADDED", CLUSTER, observed_at=NOW)))
    env["added_in_a_later_minor"] = True
    assert decode(StateEnvelope, json.dumps(env)).uid == "uid-1"


@pytest.mark.parametrize(("controller", "block"), [(True, True), (False, False)], ids=["controller", "plain"])
def test_owner_reference(controller: bool, block: bool) -> None:
    ref = owner_reference(CLUSTER, controller=controller, block_owner_deletion=block)
    assert ref == {"apiVersion": "ray.io/v1", "kind": "RayCluster", "name": "rc.v1", "uid": "uid-1",
                   "controller": controller, "blockOwnerDeletion": block}


def test_owner_reference_needs_a_uid() -> None:
    with pytest.raises(ValueError, match="metadata.uid"):
        owner_reference({"apiVersion": "v1", "kind": "X", "metadata": {"name": "n"}})


def test_decision() -> None:
    assert NOTHING.is_noop
    d = Decision(actions=(ACTIONS[2],), requeue_after=300)
    assert not d.is_noop and d.actions[0].op == "delete"
    with pytest.raises(ValueError):
        Decision(requeue_after=-1)
