"""The pure parts of the side-by-side benchmarks (bench/benchlib.py, bench/jobs.py): requests
by user from audit events, the proxied ones apart; the order of alternating runs; the rows of
the table; what a RayJob run ended with and the Ray jobs per RayJob on the head; summing a
metric from a Prometheus page."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from benchlib import alternating, count_audit, side_by_side
from jobs import once_text, outcome, ray_jobs_per_rayjob, sum_metric

T0 = "2026-01-01T00:00:00.000000Z"  # 1767225600
LATE = "2026-01-01T00:00:10.000000Z"
UNTIL = 1767225605.0


def event(user: str, verb: str, resource: str, code: int, *, subresource: str = "", at: str = T0) -> str:
    ref: dict[str, Any] = {"resource": resource, **({"subresource": subresource} if subresource else {})}
    return json.dumps({"user": {"username": user}, "verb": verb, "objectRef": ref,
                       "responseStatus": {"code": code}, "requestReceivedTimestamp": at})


def test_count_audit_counts_the_users_requests_received_in_time_and_proxied_ones_apart() -> None:
    lines = [
        event("operator", "update", "rayjobs", 200, subresource="status"),
        event("operator", "update", "rayjobs", 409, subresource="status"),
        event("operator", "create", "events", 201),
        event("operator", "get", "services", 200, subresource="proxy"),  # a dashboard call
        event("operator", "get", "services", 404, subresource="proxy"),
        event("operator", "create", "services", 200, subresource="proxy"),
        event("kwok", "patch", "pods", 200, subresource="status"),  # someone else
        event("operator", "create", "events", 201, at=LATE),  # after the end
    ]
    got = count_audit(lines, "operator", UNTIL)
    assert got == {"requests": 3, "by_verb": {"update rayjobs/status": 2, "create events": 1},
                   "codes": {200: 1, 409: 1, 201: 1}, "proxied": 3, "proxied_codes": {200: 2, 404: 1}}


def test_count_audit_of_nothing() -> None:
    assert count_audit([], "operator", UNTIL) == {"requests": 0, "by_verb": {}, "codes": {}, "proxied": 0,
                                                   "proxied_codes": {}}


@pytest.mark.parametrize(("kinds", "runs", "expected"), [
    (["kuberay", "raybus"], 1, [(0, "kuberay"), (0, "raybus")]),
    (["kuberay", "raybus"], 3, [(0, "kuberay"), (0, "raybus"), (1, "raybus"), (1, "kuberay"),
                                (2, "kuberay"), (2, "raybus")]),
    (["raybus"], 2, [(0, "raybus"), (1, "raybus")]),
    (["kuberay", "raybus"], 0, []),
], ids=["one-run", "three-runs-alternate", "one-operator", "no-runs"])
def test_alternating(kinds: list[str], runs: int, expected: list[tuple[int, str]]) -> None:
    assert alternating(kinds, runs) == expected


def test_side_by_side_rows_with_ratio_and_dashes() -> None:
    by = {"kuberay": [{"x": 10.0}, {"x": 30.0}], "raybus": [{"x": 5.0}]}
    rows = side_by_side(by, [("median x", "{:.0f}", lambda rs: sorted(r["x"] for r in rs)[len(rs) // 2]),
                             ("zero", "{:.1f}", lambda rs: 0.0)])
    assert rows == ["| median x | 30 | 5 | 0.17× |", "| zero | 0.0 | 0.0 | — |"]
    assert side_by_side({"raybus": [{"x": 5.0}]}, [("x", "{:.0f}", lambda rs: rs[0]["x"])]) == ["| x | — | 5 | — |"]


@pytest.mark.parametrize(("names", "ids", "expected"), [
    (["rj-1", "rj-2"], ["rj-1-abcde", "rj-2-x7k2p"], {"rj-1": 1, "rj-2": 1}),
    (["rj-1", "rj-10"], ["rj-1-abcde", "rj-10-abcde", "rj-10-zzzzz"], {"rj-1": 1, "rj-10": 2}),
    (["rj-1", "rj-2"], ["rj-1-abcde"], {"rj-1": 1, "rj-2": 0}),
    (["rj-1"], ["rj-1-abcde", "other-abcde", "rj-1-toolong", "rj-1"], {"rj-1": 1}),
], ids=["one-each", "a-prefix-is-not-the-owner", "one-missing", "strangers-and-odd-ids-ignored"])
def test_ray_jobs_per_rayjob(names: list[str], ids: list[str], expected: dict[str, int]) -> None:
    assert ray_jobs_per_rayjob(names, ids) == expected


@pytest.mark.parametrize(("per", "expected"), [
    ({f"rj-{i}": 1 for i in range(1000)}, "exactly 1 for all 1,000"),
    ({"a": 1, "b": 2, "c": 0}, "0 Ray jobs: 1 RayJobs, 1 Ray job: 1 RayJobs, 2 Ray jobs: 1 RayJobs"),
], ids=["all-once", "some-not"])
def test_once_text(per: dict[str, int], expected: str) -> None:
    assert once_text(per) == expected


PAGE = """# HELP raybus_actuator_actions_total Actions finished.
# TYPE raybus_actuator_actions_total counter
raybus_actuator_actions_total{op="apply",outcome="ok"} 40.0
raybus_actuator_actions_total{op="ray_submit_job",outcome="ok"} 20.0
raybus_actuator_actions_total{op="ray_stop_job",outcome="ok"} 1.0
raybus_actuator_actions_created{op="ray_submit_job",outcome="ok"} 1.7e9
raybus_actuator_actions_total_other 5.0
"""


@pytest.mark.parametrize(("having", "expected"), [
    (("",), 61.0), (('op="ray_submit_job"', 'op="ray_stop_job"'), 21.0), (('op="nothing"',), 0.0),
], ids=["all-samples", "only-ray-ops", "none"])
def test_sum_metric(having: tuple[str, ...], expected: float) -> None:
    assert sum_metric(PAGE, "raybus_actuator_actions_total", having) == expected


def rayjob(ns: str, name: str, state: str, job_id: str = "") -> dict[str, Any]:
    return {"metadata": {"namespace": ns, "name": name},
            "status": {"jobDeploymentStatus": state, **({"jobId": job_id} if job_id else {})}}


def test_outcome_of_a_run_where_all_went_well() -> None:
    items = [rayjob("jobs-0", "rj-0", "Complete", "rj-0-abcde"), rayjob("jobs-1", "rj-1", "Complete", "rj-1-fghij")]
    on_head = [{"submission_id": "rj-0-abcde", "start_time": 1_000, "end_time": 2_500},
               {"submission_id": "rj-1-fghij", "start_time": 1_000, "end_time": 4_000}, {"submission_id": None}]
    got = outcome(items, on_head, {"jobs-0/rj-0": 5.0, "jobs-1/rj-1": 9.0}, {"jobs-0/rj-0": 1.0, "jobs-1/rj-1": 2.0})
    assert got == {"p50": 4.0, "p99": 7.0, "max": 7.0, "ray_p50": 1.5, "complete": 2, "failed": 0,
                   "ray_jobs_per_rayjob": {1: 2}, "once": "exactly 1 for all 2"}


def test_outcome_counts_failures_and_submissions_twice_or_not_at_all() -> None:
    items = [rayjob("a", "rj-0", "Complete", "rj-0-abcde"), rayjob("a", "rj-1", "Failed", "rj-1-fghij"),
             rayjob("a", "rj-2", "Complete", "rj-2-zzzzz")]
    on_head = [{"submission_id": "rj-0-abcde"}, {"submission_id": "rj-0-bbbbb"}, {"submission_id": "rj-1-fghij"}]
    got = outcome(items, on_head, {"a/rj-0": 3.0, "a/rj-1": 4.0, "a/rj-2": 6.0},
                  {"a/rj-0": 0.0, "a/rj-1": 0.0, "a/rj-2": 0.0})
    assert (got["complete"], got["failed"], got["max"]) == (2, 1, 6.0)  # the Failed one's time is not counted
    assert got["ray_jobs_per_rayjob"] == {2: 1, 1: 1, 0: 1}
    assert got["once"] == ("0 Ray jobs: 1 RayJobs, 1 Ray job: 1 RayJobs, 2 Ray jobs: 1 RayJobs; "
                           "1 whose status.jobId is not on the head")


def test_outcome_when_none_completed() -> None:
    got = outcome([rayjob("a", "rj-0", "Failed")], [], {"a/rj-0": 3.0}, {"a/rj-0": 0.0})
    assert math.isnan(got["p50"]) and math.isnan(got["ray_p50"]) and got["complete"] == 0 and got["failed"] == 1
