"""The Events the actuator records, as KubeRay's recorder (client-go's `events.k8s.io`
`EventBroadcaster`) makes them. Pure.

- Who reports: `reportingController` is KubeRay's recorder name for the controller of the same
  job (`REPORTING_CONTROLLERS`: cluster-ctl records as `raycluster-controller`, as KubeRay's
  RayCluster controller does); `reportingInstance` is the actuator replica. `deprecatedSource`
  stays unset, as events.k8s.io/v1 requires on create (`kubectl describe` shows the reporting
  controller under "From").
- Aggregation: Events alike in everything but the note (type, action, reason, reporting
  controller, regarding; there is no related object) within 6 minutes are one Event whose
  `series.count` says how many there were, so a 64-host TPU group's creation is one
  `CreatedWorkerPod` Event seen 64 times, as in KubeRay. client-go keeps the series in the
  recorder's memory, and so does `recorder.EventRecorder`; the actuator has replicas, so the
  Event's name is the key (`event_name`), and a replica that finds the name taken reads the
  count there and goes on from it. The reporting
  instance is deliberately not part of the key (client-go's is), so two actuator replicas add to
  one series rather than make two; the Event keeps the instance that recorded it first. A window
  is a fixed 6-minute bucket of the clock, so occurrences either side of a bucket's edge make two
  Events. A redelivered action may count once more.
- A write's Events (`outcome_event`): its success Event once it succeeded, its Warning once it
  failed for good, never both, never one that did not happen. Ray job calls have none; a serve
  config put has KubeRay's serve Events when it carries them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from raybus_common.actions import Action, ObjectRef, RayCall, RayPutServeConfig, RecordEvent

Obj = dict[str, Any]
EVENTS = "/apis/events.k8s.io/v1/namespaces/{namespace}/events"
MAX_NAME = 253  # DNS subdomain
MAX_NOTE = 1024  # events.k8s.io/v1 refuses a longer note
MAX_FIELD = 128  # action, reason, reportingController, reportingInstance
SERIES_WINDOW = 360.0  # seconds: client-go's `finishTime`, how long isomorphic Events make one series
# KubeRay's recorder name per controller (its `mgr.GetEventRecorderFor(...)`); any other
# controller reports as `raybus.io/<name>`.
REPORTING_CONTROLLERS: Mapping[str, str] = {
    "cluster-ctl": "raycluster-controller",
    "job-ctl": "rayjob-controller",
    "serve-ctl": "rayservice-controller",
    "cron": "raycronjob-controller",
}


def reporting_controller(controller: str) -> str:
    """The Event's `reportingController`: KubeRay's recorder name where the controller has one."""
    return REPORTING_CONTROLLERS.get(controller) or f"raybus.io/{controller or 'raybus'}"[:MAX_FIELD]


def _regarding(ref: ObjectRef) -> Obj:
    regarding: Obj = {"apiVersion": ref.api_version, "kind": ref.kind, "name": ref.name}
    if ref.namespace:
        regarding["namespace"] = ref.namespace
    if ref.uid:
        regarding["uid"] = ref.uid
    return regarding


def micro_time(t: datetime) -> str:
    """Kubernetes MicroTime: RFC 3339 in UTC with microseconds (a naive time is taken as UTC)."""
    utc = t if t.tzinfo is None else t.astimezone(UTC).replace(tzinfo=None)
    return utc.isoformat(timespec="microseconds") + "Z"


def event_name(action: RecordEvent, *, controller: str, now: datetime) -> str:
    """`<object name>.<16 hex>` of the Event's isomorphic key (client-go's `getKey` without the
    reporting instance: type, action, reason, reporting controller, regarding) and the 6-minute
    window `now` falls in: the same for every Event of one series, wherever it is recorded."""
    key = {"type": action.type, "action": (action.action or action.reason)[:MAX_FIELD],
           "reason": action.reason[:MAX_FIELD], "reportingController": reporting_controller(controller),
           "regarding": _regarding(action.regarding),
           "window": int((now if now.tzinfo else now.replace(tzinfo=UTC)).timestamp() // SERIES_WINDOW)}
    suffix = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    return f"{action.regarding.name[: MAX_NAME - len(suffix) - 1]}.{suffix}"


def event_body(action: RecordEvent, *, controller: str, instance: str, now: datetime,
               name: str = "") -> tuple[str, Obj]:
    """The namespace and body of the first Event of its series about `action.regarding`
    (namespace `default` for a cluster-scoped object, as client-go's recorder does); `name` is
    the Event's `event_name`, if the caller has it already."""
    ref = action.regarding
    namespace = ref.namespace or "default"
    return namespace, {
        "apiVersion": "events.k8s.io/v1", "kind": "Event",
        "metadata": {"name": name or event_name(action, controller=controller, now=now), "namespace": namespace},
        "eventTime": micro_time(now),
        "reportingController": reporting_controller(controller),
        "reportingInstance": instance[:MAX_FIELD] or "raybus",
        "action": (action.action or action.reason)[:MAX_FIELD],
        "reason": action.reason[:MAX_FIELD],
        "note": action.message[:MAX_NOTE],
        "type": action.type,
        "regarding": _regarding(ref),
    }


def outcome_event(action: Action, root: ObjectRef, *, failed: bool, done: bool = False,
                  error: str = "") -> RecordEvent | None:
    """The Event a write asks for on its root once its outcome is known: its `success_event`
    when this action made the change (`done`: not when it found it made), KubeRay's Warning when
    it failed for good (`failure_reason`; the note `<failure_message>, <error>`, `error` being
    the API's own message); otherwise none. Ray job calls record none (KubeRay records no Event
    for them); a serve config put records KubeRay's `UpdatedServeApplications` /
    `FailedToUpdateServeApplications` when the action carries them."""
    if isinstance(action, RecordEvent | RayCall) and not isinstance(action, RayPutServeConfig):
        return None
    if not root.name or not root.api_version:
        return None
    if failed and action.failure_reason:
        note = f"{action.failure_message}, {error}" if action.failure_message else error
        return RecordEvent(regarding=root, type="Warning", reason=action.failure_reason, message=note,
                           action=action.verb)
    if not failed and done and action.success_event is not None:
        ok = action.success_event
        return RecordEvent(regarding=root, reason=ok.reason, message=ok.message, action=ok.action)
    return None
