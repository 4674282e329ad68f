"""The actuator's pure half: the requests each action becomes and how an API error is judged."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any, cast

import pytest

from raybus_actuator.actions import (
    Executor,
    UnknownResource,
    apply_request,
    delete_request,
    event_for,
    event_name,
    finalizers_after,
    judge,
    patch_request,
    status_request,
)
from raybus_common.actions import (
    AddFinalizer,
    Apply,
    ApplyStatus,
    Delete,
    ObjectRef,
    Patch,
    RecordEvent,
    RemoveFinalizer,
)
from raybus_common.kube.client import ApiError, KubeClient
from raybus_common.kube.discovery import Discovery
from raybus_common.kube.resources import Resource

RC = ObjectRef(api_version="ray.io/v1", kind="RayCluster", namespace="team-a", name="rc", uid="u-1")
POD = ObjectRef(api_version="v1", kind="Pod", namespace="team-a", name="rc-head-x", uid="u-2")
NS = ObjectRef(api_version="v1", kind="Namespace", name="team-a", uid="u-3")
CM = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "team-a"}, "data": {"a": "1"}}
# What discovery finds for them (the actuator's lookup: tests/unit/test_kube_discovery.py).
RAYCLUSTERS = Resource("raycluster", "RayCluster", "ray.io", "v1", "rayclusters")
PODS = Resource("pod", "Pod", "", "v1", "pods")
NAMESPACES = Resource("namespace", "Namespace", "", "v1", "namespaces", namespaced=False)
CONFIGMAPS = Resource("configmap", "ConfigMap", "", "v1", "configmaps")


class RayOnly:
    """An API server whose aggregated discovery shows one kind: ray.io/v1 RayCluster."""

    async def request(self, method: str, path: str, *, accept: str = "", timeout: float = 30.0) -> dict[str, Any]:
        ray = {"metadata": {"name": "ray.io"}, "versions": [{"version": "v1", "resources": [
            {"resource": "rayclusters", "scope": "Namespaced", "responseKind": {"kind": "RayCluster"}}]}]}
        return {"kind": "APIGroupDiscoveryList", "items": [] if path == "/api" else [ray]}


async def test_the_path_of_an_actions_object_comes_from_discovery_and_an_unserved_kind_has_none() -> None:
    executor = Executor(cast(KubeClient, None), Discovery(RayOnly(), min_interval=0), field_manager="raybus",
                        instance="actuator-0")
    assert await executor.resource_of(RC) == RAYCLUSTERS
    with pytest.raises(UnknownResource, match="no API path for example.com/v1 Widget"):
        await executor.resource_of(ObjectRef(api_version="example.com/v1", kind="Widget", namespace="n", name="w"))
    with pytest.raises(UnknownResource, match="no API path for ray.io/v1alpha1 RayCluster"):
        await executor.resource_of(RC.model_copy(update={"api_version": "ray.io/v1alpha1"}))


def test_apply_is_a_forced_server_side_apply_by_the_one_field_manager() -> None:
    req = apply_request(Apply(object=CM), CONFIGMAPS, "raybus")
    assert (req.method, req.path) == ("PATCH", "/api/v1/namespaces/team-a/configmaps/c")
    assert req.content_type == "application/apply-patch+yaml"
    assert req.params == {"fieldManager": "raybus", "force": "true"}
    assert req.body == CM


def test_apply_drops_managed_fields_and_refuses_missing_namespaces() -> None:
    with_mf = {**CM, "metadata": {**CM["metadata"], "managedFields": [{"manager": "x"}]}}
    assert "managedFields" not in (apply_request(Apply(object=with_mf), CONFIGMAPS, "raybus").body or {})["metadata"]
    with pytest.raises(UnknownResource, match="namespaced but the action names no namespace"):
        apply_request(Apply(object={"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}), CONFIGMAPS,
                      "m")


def test_status_replaces_the_subresource_after_testing_the_uid() -> None:
    req = status_request(ApplyStatus(ref=RC, status={"state": "ready"}), RAYCLUSTERS, "raybus")
    assert (req.method, req.path) == ("PATCH", "/apis/ray.io/v1/namespaces/team-a/rayclusters/rc/status")
    assert req.content_type == "application/json-patch+json"
    assert req.body == [{"op": "test", "path": "/metadata/uid", "value": "u-1"},
                        {"op": "add", "path": "/status", "value": {"state": "ready"}}]


def test_status_without_a_uid_is_a_server_side_apply() -> None:
    req = status_request(ApplyStatus(ref=RC.model_copy(update={"uid": None}), status={"state": "ready"}), RAYCLUSTERS,
                         "raybus")
    assert req.content_type == "application/apply-patch+yaml"
    assert req.body == {"apiVersion": "ray.io/v1", "kind": "RayCluster",
                        "metadata": {"name": "rc", "namespace": "team-a"}, "status": {"state": "ready"}}


def test_patch_is_a_merge_patch_that_pins_the_uid() -> None:
    req = patch_request(Patch(ref=POD, patch={"metadata": {"annotations": {"a": "b"}}}), PODS)
    assert (req.method, req.path, req.content_type) == ("PATCH", "/api/v1/namespaces/team-a/pods/rc-head-x",
                                                        "application/merge-patch+json")
    assert req.body == {"metadata": {"annotations": {"a": "b"}, "uid": "u-2"}}


def test_delete_carries_the_uid_precondition_and_propagation() -> None:
    req = delete_request(Delete(ref=POD, propagation="Foreground"), PODS)
    assert (req.method, req.path) == ("DELETE", "/api/v1/namespaces/team-a/pods/rc-head-x")
    assert req.body == {"apiVersion": "v1", "kind": "DeleteOptions", "preconditions": {"uid": "u-2"},
                        "propagationPolicy": "Foreground"}
    assert delete_request(Delete(ref=NS), NAMESPACES).path == "/api/v1/namespaces/team-a"  # cluster-scoped


def test_an_event_is_named_after_the_action_and_fills_every_required_field() -> None:
    action = RecordEvent(regarding=RC, type="Warning", reason="InvalidSpec", message="m" * 5000)
    now = datetime(2026, 11, 22, 23, 0, 1, 5, tzinfo=timezone(timedelta(hours=2)))
    req = event_for(action, action_id="abc", controller="cluster-ctl", instance="actuator-0", now=now)
    body = req.body or {}
    assert (req.method, req.path) == ("POST", "/apis/events.k8s.io/v1/namespaces/team-a/events")
    assert body["metadata"] == {"name": event_name(RC, "abc"), "namespace": "team-a"}
    assert body["eventTime"] == "2026-11-22T21:00:01.000005Z"
    assert body["reportingController"] == "raybus.io/cluster-ctl"
    assert body["reportingInstance"] == "actuator-0"
    assert body["action"] == "InvalidSpec"  # required by events.k8s.io/v1; the reason when none is given
    assert len(body["note"]) == 1024
    assert body["regarding"] == {"apiVersion": "ray.io/v1", "kind": "RayCluster", "name": "rc",
                                 "namespace": "team-a", "uid": "u-1"}
    assert event_name(RC, "abc") == event_name(RC, "abc") != event_name(RC, "abd")
    long = ObjectRef(api_version="v1", kind="Pod", namespace="n", name="p" * 253)
    assert len(event_name(long, "abc")) == 253


def test_an_event_about_a_cluster_scoped_object_goes_to_default() -> None:
    req = event_for(RecordEvent(regarding=NS, reason="R", message="m", action="Act"), action_id="a",
                    controller="", instance="", now=datetime(2026, 1, 1, tzinfo=UTC))
    assert req.path == "/apis/events.k8s.io/v1/namespaces/default/events"
    body = req.body or {}
    assert "namespace" not in body["regarding"] and body["action"] == "Act"
    assert body["reportingController"] == "raybus.io/raybus" and body["reportingInstance"] == "raybus"


@pytest.mark.parametrize(("have", "op", "want"), [
    ([], "add", ["f"]),
    (["a"], "add", ["a", "f"]),
    (["a", "f"], "add", None),
    (["a", "f"], "remove", ["a"]),
    (["f"], "remove", []),
    (["a"], "remove", None),
    (None, "remove", None),
])
def test_finalizers_after(have: list[str] | None, op: str, want: list[str] | None) -> None:
    obj = {"metadata": {"finalizers": have} if have is not None else {}}
    action = AddFinalizer(ref=RC, finalizer="f") if op == "add" else RemoveFinalizer(ref=RC, finalizer="f")
    assert finalizers_after(obj, action) == want


UID_CONFLICT = ApiError(409, "Operation cannot be fulfilled on pods \"p\": Precondition failed: UID in "
                             "precondition: u-2, UID in object meta: u-9", "Conflict")
APPLY, DELETE = Apply(object=CM), Delete(ref=POD)
EVENT, REMOVE = RecordEvent(regarding=RC, reason="R", message="m"), RemoveFinalizer(ref=RC, finalizer="f")


@pytest.mark.parametrize(("action", "err", "outcome", "delay"), [
    (APPLY, ApiError(409, "conflict", "Conflict"), "temporary", None),
    (APPLY, ApiError(429, "slow down", "TooManyRequests", retry_after=7.0), "temporary", 7.0),
    (APPLY, ApiError(429, "slow down", "TooManyRequests"), "temporary", None),
    (APPLY, ApiError(500, "boom", "InternalError"), "temporary", None),
    (APPLY, ApiError(503, "unavailable", "ServiceUnavailable", retry_after=2.0), "temporary", 2.0),
    (APPLY, ApiError(504, "timeout", "Timeout"), "temporary", None),
    (APPLY, ApiError(408, "request timeout", "Timeout"), "temporary", None),
    (APPLY, ApiError(599, "odd", ""), "temporary", None),
    (APPLY, ApiError(0, "ClientConnectorError: refused", "Transport"), "temporary", None),
    (APPLY, ApiError(400, "bad", "BadRequest"), "permanent", None),
    (APPLY, ApiError(403, "forbidden", "Forbidden"), "permanent", None),
    (APPLY, ApiError(404, "namespace gone", "NotFound"), "permanent", None),
    (APPLY, ApiError(410, "gone", "Gone"), "permanent", None),
    (APPLY, ApiError(422, "spec.x: Invalid value", "Invalid"), "permanent", None),
    (DELETE, ApiError(404, "not found", "NotFound"), "ok", None),
    (DELETE, UID_CONFLICT, "permanent", None),
    (DELETE, ApiError(409, "the object has been modified", "Conflict"), "temporary", None),
    (EVENT, ApiError(409, "events \"x\" already exists", "AlreadyExists"), "ok", None),
    (EVENT, ApiError(422, "note too long", "Invalid"), "permanent", None),
    (REMOVE, ApiError(404, "not found", "NotFound"), "ok", None),
    (AddFinalizer(ref=RC, finalizer="f"), ApiError(404, "not found", "NotFound"), "permanent", None),
    (ApplyStatus(ref=RC, status={}), UID_CONFLICT, "permanent", None),
], ids=["conflict", "throttled-retry-after", "throttled", "internal", "unavailable-retry-after", "gateway-timeout",
        "request-timeout", "odd-5xx", "transport", "bad-request", "forbidden", "apply-not-found", "gone", "invalid",
        "delete-not-found-is-done", "delete-uid-conflict", "delete-conflict", "event-exists", "event-invalid",
        "remove-finalizer-not-found", "add-finalizer-not-found", "status-uid-conflict"])
def test_judge(action: object, err: ApiError, outcome: str, delay: float | None) -> None:
    got = judge(action, err)  # type: ignore[arg-type]
    assert (got.outcome, got.delay) == (outcome, delay)
    assert got.message


def test_judge_keeps_the_api_message_for_the_dead_letter() -> None:
    got = judge(APPLY, ApiError(422, 'ConfigMap "c" is invalid: data[a b]: Invalid value', "Invalid"))
    assert got.message == '422 Invalid: ConfigMap "c" is invalid: data[a b]: Invalid value'
