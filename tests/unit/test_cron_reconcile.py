"""raybus_cron.reconcile on a fake clock: the child RayJob exactly as KubeRay v1.7 makes it, the
tick's dedupe through the child's name, missed ticks and the starting deadline, each concurrency
policy, history pruning order, suspend, validation, and the requeue at the next tick."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from raybus_common.actions import Apply, Delete, RecordEvent
from raybus_common.controller.view import Observed, RootKey
from raybus_common.decision import Decision
from raybus_cron.config import CronConfig
from raybus_cron.handlers import keep_child
from raybus_cron.reconcile import child_name, child_of, reconcile

Obj = dict[str, Any]
NS, NAME, UID = "team", "nightly", "cron-uid-1"
TEMPLATE: Obj = {"entrypoint": "python job.py", "shutdownAfterJobFinishes": True,
                 "rayClusterSpec": {"headGroupSpec": {"rayStartParams": {},
                                                      "template": {"spec": {"containers": [
                                                          {"name": "ray-head", "image": "rayproject/ray:2.46.0"}]}}}}}
CONFIG = CronConfig()


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def cron(schedule: str = "*/5 * * * *", *, created: str = "2026-12-01T09:58:00Z", status: Obj | None = None,
         **spec: Any) -> Obj:
    obj: Obj = {"apiVersion": "ray.io/v1", "kind": "RayCronJob",
                "metadata": {"name": NAME, "namespace": NS, "uid": UID, "creationTimestamp": created,
                             "labels": {"team": "a"}, "annotations": {"note": "x"}},
                "spec": {"schedule": schedule, "jobTemplate": copy.deepcopy(TEMPLATE), **spec}}
    if status is not None:
        obj["status"] = status
    return obj


def child(tick: str, state: str = "Running", *, start: str | None = None, end: str | None = None,
          uid: str = "", owner: str = UID, deleting: bool = False) -> Obj:
    made = child_of(cron(), at(tick))
    made["metadata"]["uid"] = uid or f"job-{tick}"
    made["metadata"]["ownerReferences"][0]["uid"] = owner
    made["metadata"]["creationTimestamp"] = tick
    if deleting:
        made["metadata"]["deletionTimestamp"] = tick
    made["status"] = {k: v for k, v in (("jobDeploymentStatus", state), ("startTime", start or tick),
                                        ("endTime", end)) if v}
    return keep_child(made)


def run(obj: Obj, now: str, children: list[Obj] = ()) -> Decision:  # type: ignore[assignment]
    observed = Observed(RootKey("raycronjob", NS, NAME), obj, {"rayjob": tuple(children)})
    return reconcile(observed, now=at(now), settings=CONFIG)


def creates(d: Decision) -> list[str]:
    return [a.object["metadata"]["name"] for a in d.actions if isinstance(a, Apply)]


def deletes(d: Decision) -> list[str]:
    return [a.ref.name for a in d.actions if isinstance(a, Delete)]


def events(d: Decision) -> list[tuple[str, str]]:
    return [(a.type, a.reason) for a in d.actions if isinstance(a, RecordEvent)]


def condition(d: Decision) -> tuple[str, str, str]:
    assert d.status is not None
    c = next(c for c in d.status["conditions"] if c["type"] == "Scheduling")
    return c["status"], c["reason"], c["message"]


def minutes(tick: str) -> int:
    return int(at(tick).timestamp()) // 60


# -- the child ------------------------------------------------------------------------------------

def test_the_child_is_made_as_kuberay_makes_it() -> None:
    tick = at("2026-12-01T10:00:00Z")
    made = child_of(cron(), tick)
    assert made == {
        "apiVersion": "ray.io/v1", "kind": "RayJob",
        "metadata": {"name": f"nightly-{minutes('2026-12-01T10:00:00Z')}", "namespace": NS,
                     "labels": {"ray.io/cronjob-name": NAME},
                     "annotations": {"ray.io/cronjob-scheduled-timestamp": "2026-12-01T10:00:00Z"},
                     "ownerReferences": [{"apiVersion": "ray.io/v1", "kind": "RayCronJob", "name": NAME, "uid": UID,
                                          "controller": True, "blockOwnerDeletion": True}]},
        "spec": TEMPLATE}
    assert made["spec"] is not cron()["spec"]["jobTemplate"]
    assert child_name(NAME, tick) == "nightly-29935320"


def test_a_zoned_tick_is_named_and_annotated_in_utc() -> None:
    tick = at("2026-12-01T02:30:00+01:00")
    made = child_of(cron(), tick)
    assert made["metadata"]["annotations"]["ray.io/cronjob-scheduled-timestamp"] == "2026-12-01T01:30:00Z"
    assert made["metadata"]["name"] == f"nightly-{minutes('2026-12-01T01:30:00Z')}"


# -- ticks ----------------------------------------------------------------------------------------

def test_before_the_first_tick_it_waits_for_it() -> None:
    d = run(cron(), "2026-12-01T09:58:30Z")
    assert creates(d) == [] and d.requeue_after == 90.0
    assert condition(d) == ("True", "Scheduled", "next RayJob at 2026-12-01T10:00:00Z")


def test_a_due_tick_creates_its_rayjob_once_and_requeues_at_the_next() -> None:
    d = run(cron(), "2026-12-01T10:00:01Z")
    assert creates(d) == [f"nightly-{minutes('2026-12-01T10:00:00Z')}"]
    create = next(a for a in d.actions if isinstance(a, Apply))
    assert create.create_only and create.success_event is not None
    assert (create.success_event.reason, create.failure_reason) == ("SuccessfulCreate", "FailedCreate")
    assert d.requeue_after == 299.0
    # The status does not claim the tick before its RayJob is seen: a failed create is retried.
    assert "lastScheduleTime" not in (d.status or {})


def test_the_same_pass_again_creates_the_same_name() -> None:
    first, again = run(cron(), "2026-12-01T10:00:01Z"), run(cron(), "2026-12-01T10:00:09Z")
    assert creates(first) == creates(again)


def test_the_observed_child_records_the_tick_and_nothing_is_created_again() -> None:
    c = child("2026-12-01T10:00:00Z")
    d = run(cron(), "2026-12-01T10:00:02Z", [c])
    assert creates(d) == []
    assert d.status is not None and d.status["lastScheduleTime"] == "2026-12-01T10:00:00Z"
    assert d.status["active"] == [{"apiVersion": "ray.io/v1", "kind": "RayJob", "namespace": NS,
                                   "name": c["metadata"]["name"], "uid": c["metadata"]["uid"]}]
    assert d.requeue_after == 298.0


def test_a_restart_between_the_create_and_the_status_write_does_not_run_the_tick_twice() -> None:
    # The child exists; the status never got the tick: the child's name is the dedupe key.
    c = child("2026-12-01T10:00:00Z")
    d = run(cron(status={}), "2026-12-01T10:03:00Z", [c])
    assert creates(d) == [] and d.status is not None and d.status["lastScheduleTime"] == "2026-12-01T10:00:00Z"


def test_a_child_of_another_owner_is_not_counted() -> None:
    c = child("2026-12-01T10:00:00Z", owner="someone-else")
    d = run(cron(), "2026-12-01T10:00:02Z", [c])
    assert creates(d) == [c["metadata"]["name"]]


def test_missed_ticks_run_only_the_most_recent() -> None:
    d = run(cron(status={"lastScheduleTime": "2026-12-01T10:00:00Z"}), "2026-12-01T10:27:00Z")
    assert creates(d) == [f"nightly-{minutes('2026-12-01T10:25:00Z')}"]
    assert events(d) == []  # 5 missed: not "too many"


def test_more_than_100_missed_ticks_warn() -> None:
    d = run(cron(status={"lastScheduleTime": "2026-11-01T00:00:00Z"}), "2026-12-01T10:27:00Z")
    assert creates(d) == [f"nightly-{minutes('2026-12-01T10:25:00Z')}"]
    assert ("Warning", "TooManyMissedTimes") in events(d)


@pytest.mark.parametrize(("deadline", "now", "created"), [
    (120, "2026-12-01T10:06:00Z", True),  # the 10:05 tick is 60 s late: inside 120 s
    (30, "2026-12-01T10:06:00Z", False),  # 60 s late: past 30 s
    (30, "2026-12-01T10:05:20Z", True),
])
def test_starting_deadline(deadline: int, now: str, created: bool) -> None:
    d = run(cron(startingDeadlineSeconds=deadline, status={"lastScheduleTime": "2026-12-01T09:00:00Z"}), now)
    assert creates(d) == ([f"nightly-{minutes('2026-12-01T10:05:00Z')}"] if created else [])
    assert d.requeue_after == (at("2026-12-01T10:10:00Z") - at(now)).total_seconds()


def test_time_zone_of_the_spec_and_of_the_operator() -> None:
    obj = cron("0 9 * * *", created="2026-12-01T00:00:00Z", timeZone="America/New_York")
    assert run(obj, "2026-12-01T13:00:00Z").requeue_after == 3600.0  # 09:00 EST = 14:00Z
    berlin = CronConfig(time_zone="Europe/Berlin")
    observed = Observed(RootKey("raycronjob", NS, NAME), cron("0 9 * * *", created="2026-12-01T00:00:00Z"), {})
    assert reconcile(observed, now=at("2026-12-01T07:00:00Z"), settings=berlin).requeue_after == 3600.0  # 08:00Z
    assert run(cron("0 9 * * *", created="2026-12-01T00:00:00Z"), "2026-12-01T07:00:00Z").requeue_after == 7200.0


# -- concurrency policies ---------------------------------------------------------------------------

def test_allow_runs_beside_an_active_rayjob() -> None:
    prev = child("2026-12-01T10:00:00Z")
    d = run(cron(status={"lastScheduleTime": "2026-12-01T10:00:00Z"}), "2026-12-01T10:05:01Z", [prev])
    assert creates(d) == [f"nightly-{minutes('2026-12-01T10:05:00Z')}"] and deletes(d) == []


def test_forbid_skips_while_a_rayjob_is_active_and_says_so_once() -> None:
    prev = child("2026-12-01T10:00:00Z")
    obj = cron(concurrencyPolicy="Forbid", status={"lastScheduleTime": "2026-12-01T10:00:00Z"})
    d = run(obj, "2026-12-01T10:05:01Z", [prev])
    assert creates(d) == [] and events(d) == [("Normal", "JobAlreadyActive")]
    status, reason, message = condition(d)
    assert (status, reason) == ("False", "JobAlreadyActive") and prev["metadata"]["name"] in message
    assert d.requeue_after == 299.0
    # The same pass with that status written: no second Event.
    assert events(run({**obj, "status": d.status}, "2026-12-01T10:05:30Z", [prev])) == []


def test_forbid_runs_the_skipped_tick_when_the_active_one_finishes_within_the_deadline() -> None:
    done = child("2026-12-01T10:00:00Z", "Complete", end="2026-12-01T10:06:00Z")
    obj = cron(concurrencyPolicy="Forbid", startingDeadlineSeconds=120,
               status={"lastScheduleTime": "2026-12-01T10:00:00Z"})
    assert creates(run(obj, "2026-12-01T10:06:01Z", [done])) == [f"nightly-{minutes('2026-12-01T10:05:00Z')}"]
    assert creates(run(obj, "2026-12-01T10:07:30Z", [done])) == []  # 150 s late: missed


@pytest.mark.parametrize("state", ["Complete", "Failed", "ValidationFailed"])
def test_forbid_does_not_wait_for_a_finished_rayjob(state: str) -> None:
    prev = child("2026-12-01T10:00:00Z", state, end="2026-12-01T10:01:00Z")
    obj = cron(concurrencyPolicy="Forbid", status={"lastScheduleTime": "2026-12-01T10:00:00Z"})
    assert creates(run(obj, "2026-12-01T10:05:01Z", [prev])) == [f"nightly-{minutes('2026-12-01T10:05:00Z')}"]


def test_replace_deletes_the_active_rayjobs_first_then_creates() -> None:
    old = [child("2026-12-01T09:55:00Z"), child("2026-12-01T10:00:00Z", "Suspended"),
           child("2026-12-01T09:50:00Z", "Complete", end="2026-12-01T09:52:00Z"),
           child("2026-12-01T09:45:00Z", deleting=True)]
    obj = cron(concurrencyPolicy="Replace", status={"lastScheduleTime": "2026-12-01T10:00:00Z"})
    d = run(obj, "2026-12-01T10:05:01Z", old)
    # The deletes now; the create only once the view shows them gone (actions carry no order).
    assert deletes(d) == [old[0]["metadata"]["name"], old[1]["metadata"]["name"]] and creates(d) == []
    status, reason, message = condition(d)
    assert (status, reason) == ("False", "Replacing") and old[3]["metadata"]["name"] in message
    # Being deleted (a finalizer stopping the Ray job): not deleted again, still waited for.
    going = [child("2026-12-01T09:55:00Z", deleting=True), old[2]]
    d = run(obj, "2026-12-01T10:05:03Z", going)
    assert deletes(d) == [] and creates(d) == []
    # Gone: the tick's RayJob.
    d = run(obj, "2026-12-01T10:05:05Z", [old[2]])
    assert deletes(d) == [] and creates(d) == [f"nightly-{minutes('2026-12-01T10:05:00Z')}"]


# -- history -------------------------------------------------------------------------------------------

def test_history_limits_delete_the_oldest_finished_by_start_time_then_name() -> None:
    ok = [child("2026-12-01T09:00:00Z", "Complete", start="2026-12-01T09:01:00Z", end="2026-12-01T09:02:00Z"),
          child("2026-12-01T09:05:00Z", "Complete", start="2026-12-01T09:00:30Z", end="2026-12-01T09:07:00Z"),
          child("2026-12-01T09:10:00Z", "Complete", start="2026-12-01T09:11:00Z", end="2026-12-01T09:12:00Z")]
    bad = [child("2026-12-01T09:15:00Z", "Failed", start="2026-12-01T09:16:00Z"),
           child("2026-12-01T09:20:00Z", "ValidationFailed", start="2026-12-01T09:21:00Z"),
           child("2026-12-01T09:25:00Z", "Failed", start="2026-12-01T09:26:00Z", deleting=True)]
    running = child("2026-12-01T09:30:00Z")
    obj = cron(successfulJobsHistoryLimit=1, failedJobsHistoryLimit=1,
               status={"lastScheduleTime": "2026-12-01T09:30:00Z"})
    d = run(obj, "2026-12-01T09:31:00Z", [*ok, *bad, running])
    # Complete by start: 09:05's (started 09:00:30), 09:00's, then 09:10's (kept).
    # Failed: 09:15's goes, 09:20's stays; 09:25's is already being deleted.
    assert deletes(d) == [ok[1]["metadata"]["name"], ok[0]["metadata"]["name"], bad[0]["metadata"]["name"]]
    assert all(a.success_event is not None and a.success_event.reason == "SuccessfulDelete"
               for a in d.actions if isinstance(a, Delete))
    assert d.status is not None and d.status["lastSuccessfulTime"] == "2026-12-01T09:12:00Z"


def test_without_limits_every_rayjob_is_kept_as_kuberay_keeps_them() -> None:
    done = [child(f"2026-12-01T09:{m:02d}:00Z", "Complete", end=f"2026-12-01T09:{m + 1:02d}:00Z") for m in range(0, 30, 5)]
    assert deletes(run(cron(status={"lastScheduleTime": "2026-12-01T09:25:00Z"}), "2026-12-01T09:26:00Z", done)) == []


def test_history_limit_zero_deletes_every_finished_rayjob() -> None:
    done = [child("2026-12-01T09:00:00Z", "Complete"), child("2026-12-01T09:05:00Z", "Failed")]
    obj = cron(successfulJobsHistoryLimit=0, failedJobsHistoryLimit=0, status={"lastScheduleTime": "2026-12-01T09:05:00Z"})
    assert sorted(deletes(run(obj, "2026-12-01T09:06:00Z", done))) == sorted(c["metadata"]["name"] for c in done)


def test_last_successful_time_never_moves_back() -> None:
    obj = cron(status={"lastScheduleTime": "2026-12-01T09:05:00Z", "lastSuccessfulTime": "2026-12-01T09:30:00Z"})
    d = run(obj, "2026-12-01T09:06:00Z", [child("2026-12-01T09:00:00Z", "Complete", end="2026-12-01T09:02:00Z")])
    assert (d.status or obj["status"])["lastSuccessfulTime"] == "2026-12-01T09:30:00Z"


# -- suspend, validation, deletion -------------------------------------------------------------------

def test_suspend_creates_nothing_says_so_once_and_still_prunes() -> None:
    done = [child("2026-12-01T09:00:00Z", "Complete"), child("2026-12-01T09:05:00Z", "Complete")]
    obj = cron(suspend=True, successfulJobsHistoryLimit=1, status={"lastScheduleTime": "2026-12-01T09:05:00Z"})
    d = run(obj, "2026-12-01T10:00:01Z", done)
    assert creates(d) == [] and d.requeue_after is None
    assert events(d) == [("Normal", "SuspendedRayCronJob")]
    assert condition(d) == ("False", "Suspended", "RayCronJob suspended, no new RayJobs will be created")
    assert deletes(d) == [done[0]["metadata"]["name"]]
    assert events(run({**obj, "status": d.status}, "2026-12-01T10:00:05Z", done[1:])) == []


def test_resume_after_a_long_suspension_runs_only_the_latest_tick() -> None:
    obj = cron(status={"lastScheduleTime": "2026-12-01T09:00:00Z"})
    assert creates(run(obj, "2026-12-01T12:02:00Z")) == [f"nightly-{minutes('2026-12-01T12:00:00Z')}"]


@pytest.mark.parametrize(("spec", "name", "message"), [
    ({"schedule": "TZ=Europe/Berlin 0 9 * * *"}, NAME,
     "spec.schedule: cannot use TZ or CRON_TZ in schedule, use timeZone field instead"),
    ({"schedule": "CRON_TZ=UTC 0 9 * * *"}, NAME,
     "spec.schedule: cannot use TZ or CRON_TZ in schedule, use timeZone field instead"),
    ({"schedule": "0 9 * *"}, NAME,
     ("spec.schedule: invalid cron schedule: expected exactly 5 fields, found 4: [0 9 * *]")),
    ({"timeZone": "Mars/Olympus"}, NAME, "spec.timeZone: invalid time zone: unknown time zone Mars/Olympus"),
    ({}, "n" * 37, "metadata.name: RayCronJob name should be no more than 36 characters"),
    ({"jobTemplate": {**TEMPLATE, "shutdownAfterJobFinishes": False, "suspend": True}}, NAME,
     ("spec.jobTemplate.suspend: invalid RayJob template: The RayJob spec is invalid: a RayJob with "
      "shutdownAfterJobFinishes set to false is not allowed to be suspended")),
    ({"concurrencyPolicy": "Sometimes"}, NAME,
     ("spec.concurrencyPolicy: Invalid value: 'Sometimes': Input should be 'Allow', 'Forbid' or 'Replace'")),
])
def test_an_invalid_raycronjob_gets_an_event_and_a_condition_and_schedules_nothing(spec: Obj, name: str,
                                                                                  message: str) -> None:
    obj = cron(**{k: v for k, v in spec.items() if k != "schedule"}, schedule=spec.get("schedule", "* * * * *"))
    obj["metadata"]["name"] = name
    d = run(obj, "2026-12-01T10:00:01Z")
    assert creates(d) == [] and d.requeue_after is None
    assert condition(d) == ("False", "InvalidRayCronJobSpec", message)
    event = next(a for a in d.actions if isinstance(a, RecordEvent))
    assert (event.type, event.reason, event.action) == ("Warning", "InvalidRayCronJobSpec", "Validate")
    assert event.message == f"{NS}/{name}: {message}"
    assert run({**obj, "status": d.status}, "2026-12-01T10:01:01Z").actions == ()


def test_a_corrected_spec_schedules_again() -> None:
    bad = run(cron("0 9 * *"), "2026-12-01T10:00:01Z")
    good = run(cron(status=bad.status), "2026-12-01T10:00:01Z")
    assert creates(good) == [f"nightly-{minutes('2026-12-01T10:00:00Z')}"]


def test_a_raycronjob_being_deleted_or_gone_does_nothing() -> None:
    obj = cron()
    obj["metadata"]["deletionTimestamp"] = "2026-12-01T10:00:00Z"
    assert run(obj, "2026-12-01T10:00:01Z").is_noop
    assert reconcile(Observed(RootKey("raycronjob", NS, NAME), None, {}), now=at("2026-12-01T10:00:01Z"),
                     settings=CONFIG).is_noop


def test_a_quiet_pass_writes_nothing() -> None:
    d = run(cron(), "2026-12-01T09:58:30Z")
    again = run(cron(status=d.status), "2026-12-01T09:59:00Z")
    assert again.status is None and again.actions == () and again.requeue_after == 60.0


def test_keep_child_keeps_what_reconcile_reads() -> None:
    full = child_of(cron(), at("2026-12-01T10:00:00Z"))
    full["status"] = {"jobDeploymentStatus": "Running", "startTime": "t", "rayClusterStatus": {"big": 1}}
    kept = keep_child(full)
    assert "spec" not in kept and kept["status"] == {"jobDeploymentStatus": "Running", "startTime": "t"}
    assert kept["metadata"]["annotations"] == full["metadata"]["annotations"]
    assert kept["metadata"]["ownerReferences"] == full["metadata"]["ownerReferences"]


def test_now_is_the_only_clock() -> None:
    now = datetime(2026, 12, 1, 10, 0, 1, tzinfo=UTC)
    a, b = run(cron(), now.isoformat()), run(cron(), (now + timedelta(0)).isoformat())
    assert a == b


def test_a_schedule_more_often_than_a_minute_runs_at_most_once_a_minute() -> None:
    # @every 20s: the 10:00:20 and 10:00:40 ticks share the name of 10:00:00's (unix minutes).
    first = child("2026-12-01T10:00:00Z")
    obj = cron("@every 20s", created="2026-12-01T09:59:40Z", status={"lastScheduleTime": "2026-12-01T10:00:00Z"})
    d = run(obj, "2026-12-01T10:00:21Z", [first])
    assert creates(d) == [] and d.status is not None and d.status["lastScheduleTime"] == "2026-12-01T10:00:20Z"
    d = run({**obj, "status": {"lastScheduleTime": "2026-12-01T10:00:40Z"}}, "2026-12-01T10:01:00Z", [first])
    assert creates(d) == [f"nightly-{minutes('2026-12-01T10:01:00Z')}"]


def test_the_operator_zone_is_a_setting_checked_at_start(monkeypatch: pytest.MonkeyPatch) -> None:
    from pydantic import ValidationError

    from raybus_cron.settings import CronSettings

    monkeypatch.setenv("RAYBUS_TIME_ZONE", "Asia/Tokyo")
    assert CronSettings().zone == ZoneInfo("Asia/Tokyo")
    monkeypatch.setenv("RAYBUS_TIME_ZONE", "Mars/Olympus")
    with pytest.raises(ValidationError, match="unknown time zone 'Mars/Olympus'"):
        CronSettings()
