"""cron end to end on a per-minute schedule: a real control plane, real NATS, the watcher, the
actuator and two cron replicas as processes. Every RayJob the RayCronJobs make is followed
with a watch replayed from the start, so a RayJob created twice (a second uid under one name) or for a
time that is not a tick would show.

One test runs three RayCronJobs side by side over three ticks, so the minutes are spent once:
Allow across SIGKILLs of both replicas right after a tick's RayJob appears and of one replica
just before the next tick; Forbid skipping a tick while its RayJob runs; Replace deleting the
running RayJob before creating the next. No job-ctl runs: a child RayJob stays as created
(active) until the test writes its status, as job-ctl would.
"""

from __future__ import annotations

import time
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

import pytest

from raybus_common.kube.client import ApiError
from raybus_testbed.kube import Kube
from raybus_testbed.services import Services
from raybus_testbed.waiting import wait_until

pytestmark = pytest.mark.integration
TEMPLATE = {"entrypoint": "python -c 'print(1)'", "submissionMode": "HTTPMode",
            "rayClusterSpec": {"headGroupSpec": {"rayStartParams": {}, "template": {"spec": {"containers": [
                {"name": "ray-head", "image": "rayproject/ray:2.46.0"}]}}}}}


def raycronjob(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "ray.io/v1", "kind": "RayCronJob", "metadata": {"name": name},
            "spec": {"schedule": "* * * * *", "jobTemplate": TEMPLATE, **spec}}


class History:
    """Every watch event about the namespace's RayJobs since a resourceVersion, in the API
    server's order, replayed from its watch cache at the end of the test."""

    def __init__(self, api: Kube, ns: str) -> None:
        self.api, self.path = api, f"/apis/ray.io/v1/namespaces/{ns}/rayjobs"
        self.since = ""

        def listed() -> bool:  # a fresh control plane answers 429 while its storage initializes
            try:
                self.since = str(api.get(self.path)["metadata"]["resourceVersion"])
            except ApiError as e:
                if e.status != 429:
                    raise
            return bool(self.since)
        wait_until(listed, timeout=60, what="the RayJobs listed")
        self.events: list[tuple[str, str, str]] = []  # (type, name, uid)

    def replay(self) -> None:
        self.events = [(e["type"], e["object"]["metadata"]["name"], e["object"]["metadata"]["uid"])
                       for e in self.api.watch(self.path, {"watch": "true", "resourceVersion": self.since,
                                                           "timeoutSeconds": "2"}, read_timeout=10)]

    def uids(self) -> dict[str, set[str]]:
        found: dict[str, set[str]] = defaultdict(set)
        for kind, name, uid in self.events:
            if kind == "ADDED":
                found[name].add(uid)
        return found

    def index(self, kind: str, name: str) -> int:
        return next(i for i, (k, n, _) in enumerate(self.events) if (k, n) == (kind, name))


def minute(at: float) -> int:
    return int(at // 60)


def child(cron: str, tick_minute: int) -> str:
    return f"{cron}-{tick_minute}"


def test_three_policies_over_three_ticks_with_restarts_and_two_replicas(
        services: Services, control_plane: Kube, namespace: str) -> None:
    base = f"/apis/ray.io/v1/namespaces/{namespace}"
    history = History(control_plane, namespace)
    services.start("watcher", "raybus-watcher")
    services.start("actuator", "raybus-actuator")
    for name in ("cron", "cron-b"):
        services.start(name, "raybus-cron", RAYBUS_LEASE_TTL="3")
    # Far enough from a minute's end that the first tick is the next minute's for all three.
    while time.time() % 60 > 45:
        time.sleep(1)
    for obj in (raycronjob("allow"), raycronjob("forbid", concurrencyPolicy="Forbid", startingDeadlineSeconds=30,
                                                  successfulJobsHistoryLimit=5),
                raycronjob("replace", concurrencyPolicy="Replace")):
        control_plane.create(f"{base}/raycronjobs", obj)
    m1 = minute(time.time()) + 1
    jobs = f"{base}/rayjobs"

    def names() -> set[str]:
        return {j["metadata"]["name"] for j in control_plane.get(jobs)["items"]}

    # Tick 1: the moment allow's RayJob exists, SIGKILL both replicas (its status may not be
    # written yet), start them again.
    wait_until(lambda: child("allow", m1) in names(), timeout=90, what="allow's first RayJob")
    for name in ("cron", "cron-b"):
        services.procs[name].kill()
    for name in ("cron", "cron-b"):
        services.start(name, "raybus-cron", RAYBUS_LEASE_TTL="3")
    wait_until(lambda: {child(c, m1) for c in ("allow", "forbid", "replace")} <= names(), timeout=60,
               what="every first RayJob")
    first = control_plane.get(f"{jobs}/{child('allow', m1)}")
    assert first["metadata"]["labels"] == {"ray.io/cronjob-name": "allow"}
    assert first["metadata"]["annotations"]["ray.io/cronjob-scheduled-timestamp"] == \
        datetime.fromtimestamp(m1 * 60, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    owner = first["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["name"], owner["controller"], owner["blockOwnerDeletion"]) == \
        ("RayCronJob", "allow", True, True)
    assert first["spec"]["entrypoint"] == TEMPLATE["entrypoint"]

    # Tick 2: one replica SIGKILLed just before it; the other takes its RayCronJobs over.
    while time.time() < (m1 + 1) * 60 - 2:
        time.sleep(0.2)
    services.procs["cron-b"].kill()
    wait_until(lambda: child("allow", m1 + 1) in names() and child("replace", m1 + 1) in names(), timeout=60,
               what="the second tick's RayJobs")
    services.start("cron-b", "raybus-cron", RAYBUS_LEASE_TTL="3")
    # Forbid skipped tick 2 (its first RayJob still runs); it finishes 40 s after the tick,
    # past the 30 s starting deadline, so tick 2 stays skipped.
    while time.time() < (m1 + 1) * 60 + 40:
        time.sleep(0.2)
    assert child("forbid", m1 + 1) not in names()
    control_plane.merge_patch(f"{jobs}/{child('forbid', m1)}/status", {"status": {
        "jobDeploymentStatus": "Complete", "endTime": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}})

    # Tick 3.
    wait_until(lambda: {child("allow", m1 + 2), child("forbid", m1 + 2), child("replace", m1 + 2)} <= names(),
               timeout=90, what="the third tick's RayJobs")
    wait_until(lambda: child("replace", m1 + 1) not in names(), timeout=30, what="replace's second RayJob deleted")
    time.sleep(3)  # anything extra would show now
    history.replay()

    made = set(history.uids())
    assert made == {child(c, m) for c in ("allow", "replace") for m in (m1, m1 + 1, m1 + 2)} | \
        {child("forbid", m1), child("forbid", m1 + 2)}, sorted(made)
    assert all(len(uids) == 1 for uids in history.uids().values()), history.uids()  # never created twice
    assert names() == {child("allow", m) for m in (m1, m1 + 1, m1 + 2)} | \
        {child("forbid", m1), child("forbid", m1 + 2), child("replace", m1 + 2)}
    # Replace deleted the running RayJob before it created the next one.
    for m in (m1, m1 + 1):
        assert history.index("DELETED", child("replace", m)) < history.index("ADDED", child("replace", m + 1))

    def status(name: str) -> dict[str, Any]:
        got: dict[str, Any] = control_plane.get(f"{base}/raycronjobs/{name}").get("status") or {}
        return got

    last = datetime.fromtimestamp((m1 + 2) * 60, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    wait_until(lambda: all(status(c).get("lastScheduleTime") == last for c in ("allow", "forbid", "replace")),
               timeout=30, what="lastScheduleTime of the third tick")
    assert [r["name"] for r in status("allow")["active"]] == [child("allow", m) for m in (m1, m1 + 1, m1 + 2)]
    assert [r["name"] for r in status("replace")["active"]] == [child("replace", m1 + 2)]
    assert status("forbid")["lastSuccessfulTime"]
    reasons: dict[str, set[str]] = defaultdict(set)
    for e in control_plane.get(f"/apis/events.k8s.io/v1/namespaces/{namespace}/events")["items"]:
        reasons[e["regarding"].get("name", "")].add(e["reason"])
    assert "JobAlreadyActive" in reasons["forbid"] and "SuccessfulCreate" in reasons["forbid"]
    assert {"SuccessfulCreate", "SuccessfulDelete"} <= reasons["replace"]


def test_an_invalid_raycronjob_gets_a_condition_and_an_event_and_creates_nothing(
        services: Services, control_plane: Kube, namespace: str) -> None:
    base = f"/apis/ray.io/v1/namespaces/{namespace}"
    services.start("watcher", "raybus-watcher")
    services.start("actuator", "raybus-actuator")
    services.start("cron", "raybus-cron")
    control_plane.create(f"{base}/raycronjobs", raycronjob("zoned", schedule="TZ=Europe/Berlin * * * * *"))
    control_plane.create(f"{base}/raycronjobs", raycronjob("every", schedule="@every 5s", suspend=True))

    def condition(name: str) -> dict[str, Any]:
        status = control_plane.get(f"{base}/raycronjobs/{name}").get("status") or {}
        return next((c for c in status.get("conditions") or [] if c["type"] == "Scheduling"), {})

    wait_until(lambda: condition("zoned").get("reason") == "InvalidRayCronJobSpec", timeout=60,
               what="zoned: InvalidRayCronJobSpec")
    assert condition("zoned")["message"] == \
        "spec.schedule: cannot use TZ or CRON_TZ in schedule, use timeZone field instead"
    wait_until(lambda: condition("every").get("reason") == "Suspended", timeout=60, what="every: Suspended")

    def events(name: str) -> list[dict[str, Any]]:
        items = control_plane.get(f"/apis/events.k8s.io/v1/namespaces/{namespace}/events")["items"]
        return [e for e in items if e["regarding"].get("name") == name]

    wait_until(lambda: any(e["reason"] == "InvalidRayCronJobSpec" for e in events("zoned")), timeout=30,
               what="the InvalidRayCronJobSpec Event")
    warning = next(e for e in events("zoned") if e["reason"] == "InvalidRayCronJobSpec")
    assert warning["type"] == "Warning" and warning["note"].startswith(f"{namespace}/zoned: spec.schedule: ")
    # Resumed, the 5 s schedule runs; the corrected one too.
    control_plane.merge_patch(f"{base}/raycronjobs/every", {"spec": {"suspend": False}})
    control_plane.merge_patch(f"{base}/raycronjobs/zoned", {"spec": {"schedule": "@every 3s"}})
    wait_until(lambda: {j["metadata"]["labels"]["ray.io/cronjob-name"]
                        for j in control_plane.get(f"{base}/rayjobs")["items"]} == {"every", "zoned"}, timeout=60,
               what="both schedule RayJobs")
    assert condition("zoned")["reason"] == "Scheduled"
