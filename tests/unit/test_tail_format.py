"""`raybus tail` formatting and filtering (pure) and subject-pattern planning."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from raybus_cli.tail import concerns, format_line, parse_object, parse_since
from raybus_common.bus.follow import Received, intersect, plan

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
TP = {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}


def rec(subject: str, payload: dict[str, Any], headers: dict[str, str] | None = None) -> Received:
    return Received(subject, json.dumps(payload).encode(), headers or {}, NOW, "S", 1)


@pytest.mark.parametrize(("text", "expected"), [
    ("10m", NOW - timedelta(minutes=10)), ("2h", NOW - timedelta(hours=2)), ("30s", NOW - timedelta(seconds=30)),
    ("2026-11-22T11:00:00Z", datetime(2026, 11, 22, 11, tzinfo=UTC)),
], ids=["minutes", "hours", "seconds", "iso"])
def test_parse_since(text: str, expected: datetime) -> None:
    assert parse_since(text, NOW) == expected


def test_parse_object_rejects_bad_shapes() -> None:
    assert parse_object("RayCluster/default/x") == ("raycluster", "default", "x")
    with pytest.raises(ValueError, match="kind/namespace/name"):
        parse_object("raycluster/x")


@pytest.mark.parametrize(("a", "b", "expected"), [
    ("raybus.>", "raybus.state.>", "raybus.state.>"),
    ("raybus.*.raycluster.ns.x", "raybus.state.>", "raybus.state.raycluster.ns.x"),
    ("raybus.act.>", "raybus.state.>", None),
    ("raybus.state.pod.*.*", "raybus.state.>", "raybus.state.pod.*.*"),
], ids=["all", "object", "disjoint", "wildcards"])
def test_intersect(a: str, b: str, expected: str | None) -> None:
    assert intersect(a, b) == expected


def test_plan_picks_the_streams_that_can_hold_the_pattern() -> None:
    assert {s for s, _, _ in plan("raybus.>")} == {"RAYBUS_STATE", "RAYBUS_ACT", "RAYBUS_RES", "RAYBUS_DLQ",
                                                   "RAYBUS_SHADOW"}
    assert plan("raybus.dlq.>") == [("RAYBUS_DLQ", "raybus.dlq.>", False)]
    # the actuator's work queue is read live, never by a second consumer
    assert plan("raybus.act.pod.>") == [("RAYBUS_ACT", "raybus.act.pod.>", True)]


def test_state_line_is_readable_and_carries_the_trace_id() -> None:
    line = format_line(rec("raybus.state.raycluster.default.rc", {"type": "MODIFIED", "resource_version": "42"}, TP))
    assert "state" in line and "raycluster/default/rc" in line and "MODIFIED" in line and "rv=42" in line
    assert "trace=0af7651916cd43dd8448eb211c80319c" in line


def test_result_and_dead_letter_lines_say_why() -> None:
    res = format_line(rec("raybus.res.pod.ns.p", {"op": "apply", "outcome": "permanent", "http_status": 422,
                                                  "message": "spec.containers: Required value"}))
    assert "apply → permanent" in res and "422 spec.containers: Required value" in res
    dlq = format_line(rec("raybus.dlq.pod.ns.p", {"attempts": 3, "error": "boom"}))
    assert "dead-letter" in dlq and "after 3 attempts: boom" in dlq


def test_json_mode_keeps_the_envelope() -> None:
    out = json.loads(format_line(rec("raybus.act.pod.ns.p", {"action": {"op": "delete"}}), as_json=True))
    assert out["payload"]["action"]["op"] == "delete" and out["subject"] == "raybus.act.pod.ns.p"


def test_concerns_follows_roots_owners_and_cluster_labels() -> None:
    rc = ("raycluster", "ns", "rc")
    assert concerns(rc, rec("raybus.res.raycluster.ns.rc", {}), {})
    assert concerns(rc, rec("raybus.act.pod.ns.rc-head", {}), {"root": {"kind": "RayCluster", "namespace": "ns", "name": "rc"}})
    pod = {"object": {"metadata": {"namespace": "ns", "labels": {"ray.io/cluster": "rc"}}}}
    assert concerns(rc, rec("raybus.state.pod.ns.rc-head", pod), pod)
    other = {"object": {"metadata": {"namespace": "ns", "labels": {"ray.io/cluster": "other"}}}}
    assert not concerns(rc, rec("raybus.state.pod.ns.other-head", other), other)


def test_a_rayjobs_story_includes_its_ray_job() -> None:
    job = ("rayjob", "ns", "job")
    tombstone = {"type": "TOMBSTONE", "ref": {"kind": "RayJobInfo", "namespace": "ns", "name": "job"}}
    for stage in ("state", "act", "res", "dlq"):  # with no root or owner in the payload to go by
        assert concerns(job, rec(f"raybus.{stage}.rayjobinfo.ns.job", tombstone), tombstone)
    assert not concerns(job, rec("raybus.state.rayjobinfo.ns.other", tombstone), tombstone)
    assert not concerns(job, rec("raybus.state.rayjobinfo.ns2.job", tombstone), tombstone)
    assert not concerns(("raycluster", "ns", "job"), rec("raybus.state.rayjobinfo.ns.job", tombstone), tombstone)


def test_a_rayservices_story_includes_its_clusters_serve_applications() -> None:
    rs = ("rayservice", "ns", "svc")
    owned = {"object": {"kind": "RayServeApplications", "metadata": {
        "namespace": "ns", "name": "svc-abcde", "ownerReferences": [{"kind": "RayService", "name": "svc"}]}}}
    assert concerns(rs, rec("raybus.state.rayserveapplications.ns.svc-abcde", owned), owned)
    put = {"root": {"kind": "RayService", "namespace": "ns", "name": "svc"},
           "action": {"op": "ray_put_serve_config"}}
    assert concerns(rs, rec("raybus.act.rayserveapplications.ns.svc-abcde", put), put)
    result = {"root": {"kind": "RayService", "namespace": "ns", "name": "svc"}, "op": "ray_put_serve_config",
              "outcome": "ok"}
    assert concerns(rs, rec("raybus.res.rayserveapplications.ns.svc-abcde", result), result)
    stranger = {"object": {"kind": "RayServeApplications", "metadata": {
        "namespace": "ns", "name": "other-abcde", "ownerReferences": [{"kind": "RayService", "name": "other"}]}}}
    assert not concerns(rs, rec("raybus.state.rayserveapplications.ns.other-abcde", stranger), stranger)
