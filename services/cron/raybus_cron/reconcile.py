"""The RayCronJob reconcile: observed world in, a `Decision` out. Pure: no I/O, no clock (the
caller passes `now`), no randomness.

One pass, in order:

1. Gone or being deleted: nothing (its RayJobs go by owner reference).
2. Invalid (`validation`): the Warning Event `InvalidRayCronJobSpec` (once per distinct
   message) and `Scheduling=False`; nothing scheduled, no requeue.
3. The RayJobs it owns (its view's children, controller reference with its uid) make the
   status: `active` (not yet Complete / Failed / ValidationFailed, by scheduled time),
   `lastSuccessfulTime` (the newest `endTime` of a Complete one), and `lastScheduleTime` raised
   to the newest child's tick. A tick's child is named `<cronjob>-<unix minutes>`: the name is
   the dedupe key, and a tick counts as run once its child is observed, so a crash between the
   create and the status write, a restart, or a second replica never runs a tick twice.
4. History: with `successfulJobsHistoryLimit` / `failedJobsHistoryLimit` set, the oldest
   finished RayJobs beyond the limit are deleted (by start time, then name: CronJob's order).
5. Suspended: the Event `SuspendedRayCronJob` once and `Scheduling=False`; no new RayJobs.
6. The schedule (`schedule.due`): ticks after `lastScheduleTime` (or the creation) up to `now`,
   only within `startingDeadlineSeconds` when set; the most recent is run and the others are
   missed (more than 100: the Warning `TooManyMissedTimes`). Then by `concurrencyPolicy`:
   Allow creates the tick's RayJob; Forbid skips it while a RayJob is active (the Event
   `JobAlreadyActive`, `Scheduling=False`; it runs when they finish if still due); Replace
   deletes the active RayJobs and creates it in the pass whose view shows them gone (actions
   carry no order: `docs/architecture.md`, "Order of actions"), `Scheduling=False`
   `Replacing` meanwhile.
7. The requeue is the next tick's time: nothing polls.

KubeRay creates one RayJob per missed tick, oldest first, after any downtime; Raybus runs only
the most recent, as CronJob does (`docs/compatibility.md`).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

from raybus_common import objects
from raybus_common.actions import Action, Apply, Delete, ObjectRef, RecordEvent, WriteEvent
from raybus_common.controller.view import Observed
from raybus_common.crds.raycronjob import (
    CRONJOB_NAME_LABEL,
    SCHEDULED_TIMESTAMP_ANNOTATION,
    ConcurrencyPolicy,
    RayCronJob,
)
from raybus_common.crds.rayjob import JobDeploymentStatus
from raybus_common.decision import NOTHING, Decision
from raybus_common.objects import read_time, set_condition, wire_time

from . import validation
from .config import CronConfig
from .schedule import Due, due, schedule

Obj = dict[str, Any]
EventType = Literal["Normal", "Warning"]
CONDITION = "Scheduling"
SUCCEEDED = frozenset({JobDeploymentStatus.COMPLETE.value})
FAILED = frozenset({JobDeploymentStatus.FAILED.value, JobDeploymentStatus.VALIDATION_FAILED.value})
SUSPENDED_MESSAGE = "RayCronJob suspended, no new RayJobs will be created"


def reconcile(observed: Observed, *, now: datetime, settings: CronConfig) -> Decision:
    """The whole desired state of one RayCronJob from its observed snapshot."""
    raw = observed.root
    if raw is None or objects.terminating(raw):
        return NOTHING
    found = raw.get("status")
    old: Obj = found if isinstance(found, dict) else {}
    cron, invalid = validation.check(raw, gates=settings.gates)
    if cron is None or invalid is not None:
        message = invalid.message if invalid is not None else "the RayCronJob cannot be read"
        p = _Pass(raw, old, now)
        p.condition(False, validation.REASON, message, event="Warning",
                    note=f"{objects.namespace(raw)}/{objects.name(raw)}: {message}", action="Validate")
        return p.decision(None)
    p = _Pass(raw, old, now)
    children = [c for c in observed.of("rayjob") if _controlled_by(c, raw)]
    p.observe(children)
    p.prune(cron, children)
    if cron.spec.suspend:
        p.condition(False, "Suspended", SUSPENDED_MESSAGE, event="Normal", event_reason="SuspendedRayCronJob",
                    action="Suspend")
        return p.decision(None)
    sched = schedule(cron.spec.schedule, settings.zone if cron.spec.time_zone is None else ZoneInfo(cron.spec.time_zone))
    earliest = read_time(p.status.get("lastScheduleTime")) or read_time(objects.meta(raw).get("creationTimestamp"))
    if earliest is None:
        return p.decision(None)  # no creation time yet: a RayCronJob as the API server stores it always has one
    d = due(sched, earliest, now, cron.spec.starting_deadline_seconds)
    if d.tick is not None:
        p.run(cron, d, children)
    else:
        p.condition(True, "Scheduled", f"next RayJob at {wire_time(d.next)}")
    return p.decision(d.next)


def _controlled_by(child: Mapping[str, Any], owner: Mapping[str, Any]) -> bool:
    return any(ref.get("controller") and ref.get("uid") == objects.uid(owner)
               for ref in objects.meta(child).get("ownerReferences") or [])


def child_name(cronjob: str, tick: datetime) -> str:
    """KubeRay's deterministic name of a tick's RayJob: `<cronjob>-<tick in unix minutes>`."""
    return f"{cronjob}-{int(tick.timestamp()) // 60}"


def child_of(raw: Mapping[str, Any], tick: datetime) -> Obj:
    """The RayJob a RayCronJob makes for `tick`, as KubeRay v1.7 makes it: the template's spec
    (nothing of the RayCronJob's own metadata), the `ray.io/cronjob-name` label, the tick as
    `ray.io/cronjob-scheduled-timestamp` (UTC, RFC 3339) and a controller owner reference."""
    name = objects.name(raw)
    return {"apiVersion": "ray.io/v1", "kind": "RayJob",
            "metadata": {"name": child_name(name, tick), "namespace": objects.namespace(raw),
                         "labels": {CRONJOB_NAME_LABEL: name},
                         "annotations": {SCHEDULED_TIMESTAMP_ANNOTATION: wire_time(tick)},
                         "ownerReferences": [objects.owner_reference(raw)]},
            "spec": copy.deepcopy((raw.get("spec") or {}).get("jobTemplate") or {})}


def tick_of(child: Mapping[str, Any]) -> datetime | None:
    """The tick a child RayJob was made for: its annotation."""
    return read_time(objects.annotations(child).get(SCHEDULED_TIMESTAMP_ANNOTATION))


def _state(child: Mapping[str, Any]) -> str:
    return str((child.get("status") or {}).get("jobDeploymentStatus") or "")


def active(children: list[Obj]) -> list[Obj]:
    """The children not yet finished, by tick then name."""
    return sorted((c for c in children if _state(c) not in SUCCEEDED | FAILED), key=_by_tick)


def _by_tick(child: Mapping[str, Any]) -> tuple[str, str]:
    tick = tick_of(child)
    return (wire_time(tick) if tick else "", objects.name(child))


def _by_start(child: Mapping[str, Any]) -> tuple[int, str, str]:
    """CronJob's `byJobStartTime`: by start time (the RayJob's, else its creation), name breaks ties."""
    status = child.get("status") or {}
    start = read_time(status.get("startTime")) or read_time(objects.meta(child).get("creationTimestamp"))
    return (0 if start else 1, wire_time(start) if start else "", objects.name(child))


class _Pass:
    """One pass's working state: the status being built and the actions taken."""

    def __init__(self, raw: Obj, old: Mapping[str, Any], now: datetime) -> None:
        self.raw, self.old, self.now = raw, old, now
        self.status: Obj = copy.deepcopy(dict(old))
        self.actions: list[Action] = []

    def ref(self) -> ObjectRef:
        return ObjectRef.of(self.raw)

    def event(self, type_: EventType, reason: str, message: str, action: str) -> None:
        self.actions.append(RecordEvent(regarding=self.ref(), type=type_, reason=reason, message=message,
                                        action=action))

    def condition(self, ok: bool, reason: str, message: str, *, event: EventType | None = None, note: str = "",
                  action: str = "", event_reason: str = "") -> None:
        """Set `Scheduling`; with `event`, record it (reason `event_reason` or the condition's,
        note `note` or the message) when the condition's reason or message changes."""
        conditions = list(self.status.get("conditions") or [])
        before = next((c for c in conditions if c.get("type") == CONDITION), None)
        set_condition(conditions, {"type": CONDITION, "status": "True" if ok else "False", "reason": reason,
                                   "message": message}, wire_time(self.now))
        self.status["conditions"] = conditions
        if event and (before is None or (before.get("reason"), before.get("message")) != (reason, message)):
            self.event(event, event_reason or reason, note or message, action)

    def observe(self, children: list[Obj]) -> None:
        """`lastScheduleTime` raised to the newest child's tick; `active`; `lastSuccessfulTime`."""
        ticks = [t for t in (tick_of(c) for c in children) if t is not None]
        last = read_time(self.status.get("lastScheduleTime"))
        if ticks and (last is None or max(ticks) > last):
            self.status["lastScheduleTime"] = wire_time(max(ticks))
        running = active(children)
        if running:
            self.status["active"] = [_reference(c) for c in running]
        else:
            self.status.pop("active", None)
        ends = [t for t in (read_time((c.get("status") or {}).get("endTime")) for c in children
                            if _state(c) in SUCCEEDED) if t is not None]
        success = read_time(self.status.get("lastSuccessfulTime"))
        if ends and (success is None or max(ends) > success):
            self.status["lastSuccessfulTime"] = wire_time(max(ends))

    def prune(self, cron: RayCronJob, children: list[Obj]) -> None:
        """Delete the oldest finished RayJobs beyond the history limits."""
        for states, limit in ((SUCCEEDED, cron.spec.successful_jobs_history_limit),
                              (FAILED, cron.spec.failed_jobs_history_limit)):
            if limit is None:
                continue
            finished = sorted((c for c in children if _state(c) in states and not objects.terminating(c)),
                              key=_by_start)
            for child in finished[:max(0, len(finished) - limit)]:
                self.delete(child)

    def delete(self, child: Obj) -> None:
        name = objects.name(child)
        self.actions.append(Delete(ref=ObjectRef.of(child),
                                   success_event=WriteEvent(reason="SuccessfulDelete", message=f"Deleted RayJob {name}",
                                                            action="Delete"),
                                   failure_reason="FailedDelete", failure_message=f"Error deleting RayJob {name}"))

    def run(self, cron: RayCronJob, d: Due, children: list[Obj]) -> None:
        """The tick `d.tick` is due: create its RayJob as the concurrency policy allows."""
        assert d.tick is not None
        name = child_name(objects.name(self.raw), d.tick)
        if any(objects.name(c) == name for c in children):
            # Observed: `observe` counted its own tick. A schedule more often than once a
            # minute shares that name (KubeRay's unix minutes): its later ticks count as run too.
            last = read_time(self.status.get("lastScheduleTime"))
            if last is None or d.tick > last:
                self.status["lastScheduleTime"] = wire_time(d.tick)
            return
        running = [c for c in active(children) if objects.name(c) != name]
        policy = cron.spec.concurrency_policy
        if policy == ConcurrencyPolicy.FORBID and running:
            names = ", ".join(objects.name(c) for c in running)
            self.condition(False, "JobAlreadyActive",
                           f"the RayJob of {wire_time(d.tick)} waits: {names} still running (concurrencyPolicy "
                           "Forbid)", event="Normal", note="Not starting RayJob because a prior execution is still "
                           "running and concurrency policy is Forbid", action="Schedule")
            return
        if policy == ConcurrencyPolicy.REPLACE and running:
            # The create waits for the pass whose view shows them gone: actions carry no order.
            for child in running:
                if not objects.terminating(child):
                    self.delete(child)
            self.condition(False, "Replacing", f"the RayJob of {wire_time(d.tick)} waits for "
                           f"{', '.join(objects.name(c) for c in running)} to be deleted (concurrencyPolicy Replace)")
            return
        if d.too_many_missed:
            self.event("Warning", "TooManyMissedTimes", "too many missed start times. Set or decrease "
                       ".spec.startingDeadlineSeconds or check clock skew", "Schedule")
        self.actions.append(Apply(object=child_of(self.raw, d.tick), create_only=True,
                                  success_event=WriteEvent(reason="SuccessfulCreate", message=f"Created RayJob {name}",
                                                           action="Create"),
                                  failure_reason="FailedCreate", failure_message=f"Error creating RayJob {name}"))
        self.condition(True, "Scheduled", f"next RayJob at {wire_time(d.next)}")

    def decision(self, next_tick: datetime | None) -> Decision:
        requeue = None if next_tick is None else max(0.0, (next_tick - self.now).total_seconds())
        changed = self.status != self.old
        return Decision(actions=tuple(self.actions), status=self.status if changed else None, requeue_after=requeue)


def _reference(child: Mapping[str, Any]) -> Obj:
    """A `corev1.ObjectReference` to a child RayJob, as CronJob lists its active Jobs (without
    the resourceVersion, which would rewrite the status at every change of the RayJob)."""
    meta = objects.meta(child)
    return {"apiVersion": child.get("apiVersion", "ray.io/v1"), "kind": child.get("kind", "RayJob"),
            "namespace": meta.get("namespace", ""), "name": meta.get("name", ""), "uid": meta.get("uid", "")}
