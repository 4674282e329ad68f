"""The actuator's pure half: the requests each action becomes and how an API error is judged."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any, cast

import pytest

from raybus_actuator.actions import (
    Executor,
    UnknownResource,
    apply_request,
    create_request,
    delete_request,
    finalizers_after,
    generated,
    judge,
    patch_request,
    status_request,
)
from raybus_actuator.events import EVENTS, event_body, event_name, outcome_event, reporting_controller
from raybus_actuator.recorder import EventRecorder, Series
from raybus_common.actions import (
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
from raybus_common.kube.client import METADATA, ApiError, KubeClient
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
    action = Patch(ref=POD, patch={"metadata": {"annotations": {"a": "b"}}})
    req = patch_request(action, PODS)
    assert (req.method, req.path, req.content_type) == ("PATCH", "/api/v1/namespaces/team-a/pods/rc-head-x",
                                                        "application/merge-patch+json")
    assert req.body == {"metadata": {"annotations": {"a": "b"}, "uid": "u-2"}}
    assert action.patch == {"metadata": {"annotations": {"a": "b"}}}, "the action is left as it was"


def test_delete_carries_the_uid_precondition_and_propagation() -> None:
    req = delete_request(Delete(ref=POD, propagation="Foreground"), PODS)
    assert (req.method, req.path) == ("DELETE", "/api/v1/namespaces/team-a/pods/rc-head-x")
    assert req.body == {"apiVersion": "v1", "kind": "DeleteOptions", "preconditions": {"uid": "u-2"},
                        "propagationPolicy": "Foreground"}
    assert delete_request(Delete(ref=NS), NAMESPACES).path == "/api/v1/namespaces/team-a"  # cluster-scoped


NOW = datetime(2026, 11, 22, 21, 0, 1, 5, tzinfo=UTC)


def test_an_event_fills_every_required_field_as_kuberays_recorder_would() -> None:
    action = RecordEvent(regarding=RC, type="Warning", reason="InvalidSpec", message="m" * 5000)
    now = datetime(2026, 11, 22, 23, 0, 1, 5, tzinfo=timezone(timedelta(hours=2)))
    namespace, body = event_body(action, controller="cluster-ctl", instance="actuator-0", now=now)
    assert EVENTS.format(namespace=namespace) == "/apis/events.k8s.io/v1/namespaces/team-a/events"
    assert body["metadata"] == {"name": event_name(action, controller="cluster-ctl", now=now), "namespace": "team-a"}
    assert body["eventTime"] == "2026-11-22T21:00:01.000005Z"
    assert body["reportingController"] == "raycluster-controller"
    assert body["reportingInstance"] == "actuator-0"
    assert body["action"] == "InvalidSpec"  # required by events.k8s.io/v1; the reason when none is given
    assert len(body["note"]) == 1024
    assert body["regarding"] == {"apiVersion": "ray.io/v1", "kind": "RayCluster", "name": "rc",
                                 "namespace": "team-a", "uid": "u-1"}
    assert "series" not in body and "deprecatedSource" not in body  # events.k8s.io/v1 refuses a source on create
    long = RecordEvent(regarding=ObjectRef(api_version="v1", kind="Pod", namespace="n", name="p" * 253),
                       reason="R", message="m")
    assert len(event_name(long, controller="c", now=NOW)) == 253


@pytest.mark.parametrize(("controller", "reporting"), [
    ("cluster-ctl", "raycluster-controller"), ("job-ctl", "rayjob-controller"),
    ("serve-ctl", "rayservice-controller"), ("cron", "raycronjob-controller"),
    ("scheduler-bridge", "raybus.io/scheduler-bridge"), ("", "raybus.io/raybus")])
def test_events_report_as_kuberays_controller_of_the_same_job(controller: str, reporting: str) -> None:
    assert reporting_controller(controller) == reporting


def test_an_event_about_a_cluster_scoped_object_goes_to_default() -> None:
    namespace, body = event_body(RecordEvent(regarding=NS, reason="R", message="m", action="Act"), controller="",
                                 instance="", now=datetime(2026, 1, 1, tzinfo=UTC))
    assert namespace == "default"
    assert "namespace" not in body["regarding"] and body["action"] == "Act"
    assert body["reportingController"] == "raybus.io/raybus" and body["reportingInstance"] == "raybus"


CREATED = RecordEvent(regarding=RC, reason="CreatedWorkerPod", message="Created worker Pod team-a/w-1", action="Create")


@pytest.mark.parametrize(("other", "controller", "later", "same"), [
    (CREATED.model_copy(update={"message": "Created worker Pod team-a/w-2"}), "cluster-ctl", 0.0, True),
    (CREATED, "cluster-ctl", 359.0, True),
    (CREATED, "cluster-ctl", 360.0, False),
    (CREATED.model_copy(update={"reason": "DeletedWorkerPod"}), "cluster-ctl", 0.0, False),
    (CREATED.model_copy(update={"type": "Warning"}), "cluster-ctl", 0.0, False),
    (CREATED.model_copy(update={"action": "Update"}), "cluster-ctl", 0.0, False),
    (CREATED.model_copy(update={"regarding": RC.model_copy(update={"uid": "u-2"})}), "cluster-ctl", 0.0, False),
    (CREATED.model_copy(update={"regarding": RC.model_copy(update={"name": "rc2"})}), "cluster-ctl", 0.0, False),
    (CREATED, "job-ctl", 0.0, False),
], ids=["other-note", "same-window", "next-window", "reason", "type", "action", "uid", "object", "controller"])
def test_isomorphic_events_share_a_name_within_a_six_minute_window(other: RecordEvent, controller: str, later: float,
                                                                   same: bool) -> None:
    start = datetime(2026, 11, 22, 21, 0, 0, tzinfo=UTC)  # the start of a window (epoch seconds % 360 == 0)
    assert start.timestamp() % 360 == 0
    first = event_name(CREATED, controller="cluster-ctl", now=start)
    assert (event_name(other, controller=controller, now=start + timedelta(seconds=later)) == first) is same


def test_a_series_writes_its_count_and_last_occurrence() -> None:
    series = Series("/apis/events.k8s.io/v1/namespaces/a/events/rc.x", count=64, written=2, last=NOW,
                    window_end=NOW.timestamp() + 360)
    assert series.dirty
    assert series.patch() == {"series": {"count": 64, "lastObservedTime": "2026-11-22T21:00:01.000005Z"}}


def test_a_create_only_apply_posts_the_object_with_the_generated_data() -> None:
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "rc", "namespace": "team-a"}}
    action = Apply(object=secret, create_only=True, generate={"auth_token": 32})
    made = generated(action, random_bytes=lambda n: bytes(range(n)))
    assert made == {"auth_token": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="}
    assert len(generated(action)["auth_token"]) == 44 and generated(action) != generated(action)
    secrets = Resource("secret", "Secret", "", "v1", "secrets")
    req = create_request(action, secrets, "raybus", made)
    assert (req.method, req.path, req.params) == ("POST", "/api/v1/namespaces/team-a/secrets", {"fieldManager": "raybus"})
    assert req.body == {**secret, "stringData": made}
    assert "stringData" not in action.object, "the action itself holds no secret"


@pytest.mark.parametrize(("kwargs", "error"), [
    ({"generate": {"t": 32}}, "needs create_only"),
    ({"create_only": True, "generate": {"t": 0}}, "1 to 1024"),
    ({"create_only": True, "generate": {"given": 32}}, "also given"),
], ids=["without-create-only", "zero-bytes", "clash"])
def test_generated_data_is_only_for_a_create_that_never_overwrites(kwargs: dict[str, Any], error: str) -> None:
    with pytest.raises(ValueError, match=error):
        Apply(object={**CM, "kind": "Secret", "stringData": {"given": "x"}}, **kwargs)


POD_CREATE = Apply(object={"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "h", "namespace": "team-a"}},
                   success_event=WriteEvent(reason="CreatedHeadPod", message="Created head Pod team-a/h",
                                            action="Create"),
                   failure_reason="FailedToCreateHeadPod", failure_message="Failed to create head Pod team-a/h")
FORBIDDEN = ApiError(403, 'pods "h" is forbidden: error looking up service account team-a/sa: serviceaccount "sa" '
                          'not found', "Forbidden")


def test_a_write_that_succeeded_records_its_success_event_and_only_then() -> None:
    assert outcome_event(POD_CREATE, RC, failed=False, done=True) == RecordEvent(
        regarding=RC, reason="CreatedHeadPod", message="Created head Pod team-a/h", action="Create")
    assert outcome_event(POD_CREATE, RC, failed=False, done=False) is None, "found made: not made by this action"
    bare = POD_CREATE.model_copy(update={"success_event": None})
    assert outcome_event(bare, RC, failed=False, done=True) is None


def test_the_judgement_says_whether_this_action_made_the_change() -> None:
    secret = Apply(object={**CM, "kind": "Secret"}, create_only=True)
    assert not judge(secret, ApiError(409, "exists", "AlreadyExists")).done
    assert not judge(DELETE, ApiError(404, "not found", "NotFound")).done


def test_a_write_that_failed_records_kuberays_warning_with_the_apis_own_message() -> None:
    event = outcome_event(POD_CREATE, RC, failed=True, error=judge(POD_CREATE, FORBIDDEN).error)
    assert event is not None and (event.type, event.reason, event.action) == ("Warning", "FailedToCreateHeadPod",
                                                                              "Create")
    assert event.message == ('Failed to create head Pod team-a/h, pods "h" is forbidden: error looking up service '
                             'account team-a/sa: serviceaccount "sa" not found')
    assert "403" not in event.message
    delete = Delete(ref=POD, failure_reason="FailedToDeleteWorkerPod")  # no failure_message: the API's alone
    event = outcome_event(delete, RC, failed=True, error=judge(delete, ApiError(500, "etcd is down", "x")).error)
    assert event is not None and (event.message, event.action) == ("etcd is down", "Delete")
    assert outcome_event(POD_CREATE.model_copy(update={"failure_reason": ""}), RC, failed=True, error="x") is None
    assert outcome_event(POD_CREATE, ObjectRef(api_version="", kind="RayCluster", name=""), failed=True,
                         error="x") is None, "no root to record it on"


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
    (Apply(object={**CM, "kind": "Secret"}, create_only=True), ApiError(409, "exists", "AlreadyExists"), "ok", None),
    (APPLY, ApiError(409, "exists", "AlreadyExists"), "temporary", None),
    (EVENT, ApiError(422, "note too long", "Invalid"), "permanent", None),
    (REMOVE, ApiError(404, "not found", "NotFound"), "ok", None),
    (AddFinalizer(ref=RC, finalizer="f"), ApiError(404, "not found", "NotFound"), "permanent", None),
    (ApplyStatus(ref=RC, status={}), UID_CONFLICT, "permanent", None),
    (ApplyStatus(ref=RC, status={}), ApiError(404, "not found", "NotFound"), "ok", None),
], ids=["conflict", "throttled-retry-after", "throttled", "internal", "unavailable-retry-after", "gateway-timeout",
        "request-timeout", "odd-5xx", "transport", "bad-request", "forbidden", "apply-not-found", "gone", "invalid",
        "delete-not-found-is-done", "delete-uid-conflict", "delete-conflict", "create-only-exists",
        "apply-exists-is-a-conflict", "event-invalid",
        "remove-finalizer-not-found", "add-finalizer-not-found", "status-uid-conflict", "status-of-a-gone-object"])
def test_judge(action: object, err: ApiError, outcome: str, delay: float | None) -> None:
    got = judge(action, err)  # type: ignore[arg-type]
    assert (got.outcome, got.delay) == (outcome, delay)
    assert got.message


def test_judge_keeps_the_api_message_for_the_dead_letter() -> None:
    got = judge(APPLY, ApiError(422, 'ConfigMap "c" is invalid: data[a b]: Invalid value', "Invalid"))
    assert got.message == '422 Invalid: ConfigMap "c" is invalid: data[a b]: Invalid value'
    assert got.error == 'ConfigMap "c" is invalid: data[a b]: Invalid value'  # what KubeRay's `%v` prints


class MetadataServer:
    """What the executor and the Event recorder call of a `KubeClient`, recorded; each answer is
    what the API server sends for `accept=METADATA`: the object's metadata only."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str, str]] = []  # (call, method, path, accept)
        self.bodies: list[Any] = []

    async def request(self, method: str, path: str, *, body: Any = None, content_type: str | None = None,
                      params: dict[str, str] | None = None, timeout: float = 30.0,
                      accept: str = "application/json") -> dict[str, Any]:
        self.calls.append(("request", method, path, accept))
        self.bodies.append(body)
        return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                "metadata": {"name": "rc", "namespace": "team-a", "uid": "u-1", "resourceVersion": "42"}}

    async def raw(self, method: str, path: str, *, body: Any = None, content_type: str | None = None,
                  params: dict[str, str] | None = None, timeout: float = 30.0, accept: str = "*/*") -> bytes:
        self.calls.append(("raw", method, path, accept))
        self.bodies.append(body)
        return b'{"kind":"PartialObjectMetadata"}'


async def test_the_actuator_asks_only_for_the_metadata_it_reads_and_parses_no_answer_it_does_not_read() -> None:
    server = MetadataServer()
    kube = cast(KubeClient, server)
    executor = Executor(kube, Discovery(RayOnly(), min_interval=0), field_manager="raybus", instance="actuator-0")
    rc = {"apiVersion": "ray.io/v1", "kind": "RayCluster", "metadata": {"name": "rc", "namespace": "team-a"}}
    applied = await executor.execute(Apply(object=rc), controller="cluster-ctl", now=NOW)
    assert applied.message == "applied (resourceVersion 42)" and applied.done
    status = await executor.execute(ApplyStatus(ref=RC, status={"state": "ready"}), controller="cluster-ctl", now=NOW)
    assert status.resource_version == "42"
    await executor.execute(Patch(ref=RC, patch={"metadata": {"annotations": {"a": "b"}}}), controller="c", now=NOW)
    await executor.execute(Delete(ref=RC), controller="c", now=NOW)
    added = await executor.execute(AddFinalizer(ref=RC, finalizer="f"), controller="c", now=NOW)
    assert added.message == "finalizer added"
    event = RecordEvent(regarding=RC, reason="CreatedWorkerPod", message="m")
    await executor.record(event, controller="cluster-ctl", now=NOW)
    await executor.record(event, controller="cluster-ctl", now=NOW)  # the second occurrence: counted
    await executor.record(event, controller="cluster-ctl", now=NOW)  # the third: counted
    assert await executor.recorder.flush(NOW) == 1  # the series' count, written once
    assert [c[:2] for c in server.calls] == [
        ("request", "PATCH"), ("request", "PATCH"), ("request", "PATCH"), ("request", "DELETE"),
        ("request", "GET"), ("raw", "PATCH"), ("raw", "POST"), ("raw", "PATCH")]
    assert {c[3] for c in server.calls} == {METADATA}


async def test_repeats_of_an_event_cost_one_patch_at_the_flush_not_one_each() -> None:
    server = MetadataServer()
    recorder = EventRecorder(cast(KubeClient, server), "actuator-0")
    event = RecordEvent(regarding=RC, reason="CreatedWorkerPod", message="m")
    for i in range(3):  # a group's three workers, made in one pass
        await recorder.record(event, controller="cluster-ctl", now=NOW + timedelta(seconds=i))
    assert [c[1] for c in server.calls] == ["POST"], "the repeats are only counted"
    assert await recorder.flush(NOW + timedelta(seconds=3)) == 1
    assert [c[1] for c in server.calls] == ["POST", "PATCH"]
    assert server.bodies[-1] == {"series": {"count": 3, "lastObservedTime": "2026-11-22T21:00:03.000005Z"}}
    assert await recorder.flush(NOW + timedelta(seconds=4)) == 0, "nothing new: nothing written"
    await recorder.record(event, controller="cluster-ctl", now=NOW + timedelta(seconds=5))
    assert await recorder.flush(NOW + timedelta(seconds=6)) == 1
    assert server.bodies[-1]["series"]["count"] == 4


def test_a_serve_config_put_records_kuberays_serve_events_and_job_calls_none() -> None:
    from raybus_common.actions import RayPutServeConfig, RayStopJob, WriteEvent
    from raybus_common.ray.jobs import Dashboard

    dashboard = Dashboard(namespace="ns", cluster="rs-abcde")
    rs = ObjectRef(api_version="ray.io/v1", kind="RayService", namespace="ns", name="rs")
    target = ObjectRef(api_version="raybus.io/v1", kind="RayServeApplications", namespace="ns", name="rs-abcde")
    put = RayPutServeConfig(ref=target, dashboard=dashboard, config={"applications": []},
                            success_event=WriteEvent(reason="UpdatedServeApplications", message="m", action="Update"),
                            failure_reason="FailedToUpdateServeApplications", failure_message="Failed")
    ok = outcome_event(put, rs, failed=False, done=True)
    assert ok is not None and (ok.type, ok.reason) == ("Normal", "UpdatedServeApplications")
    bad = outcome_event(put, rs, failed=True, error="400 bad config")
    assert bad is not None and (bad.type, bad.reason, bad.message) == (
        "Warning", "FailedToUpdateServeApplications", "Failed, 400 bad config")
    assert outcome_event(put.model_copy(update={"success_event": None}), rs, failed=False, done=True) is None
    stop = RayStopJob(ref=target, dashboard=dashboard, submission_id="job-1")
    assert outcome_event(stop, rs, failed=True, error="x") is None
