"""The RayJob reconcile: observed world in, a `Decision` out. Pure: no I/O, no clock (the caller
passes `now`), no randomness, no environment (`settings` is passed in).

KubeRay's sequence (`RayJobReconciler.Reconcile`), one pass at a time:

1. `managedBy` names another manager (MultiKueue) → nothing at all.
2. Being deleted → stop the Ray job if it may still run, remove the finalizer (`deletion.finalize`).
3. Parse (`validation.parse`) and validate (`validation.validate`: metadata, spec, status); an
   invalid RayJob gets KubeRay's Warning Event once per distinct message and the status
   ValidationFailed, and is not requeued.
4. The state machine: Complete/Failed run the cleanup policies (`deletion.after_finish`);
   every other state its step (`machine.STEPS`). A step that settles has its attempt counted
   (`status.count_attempt`: a failure the backoff limit allows becomes Retrying), `endTime`
   stamped when it finished, the status written if it changed in what matters
   (`status.changed`), and is requeued after 3 s or when the first deadline falls due.
   ValidationFailed stays so (KubeRay's `default` branch): a corrected spec does not restart a
   RayJob that failed validation.

The RayJob's Ray job is read from the view (`rayjobinfo`, the watcher's poller) and changed by
Ray actions (`RaySubmitJob`, `RayStopJob`) the actuator carries out; see `machine`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from raybus_common import objects
from raybus_common.actions import ObjectRef, RecordEvent
from raybus_common.controller.view import Observed
from raybus_common.crds import rayjob_validation as validation
from raybus_common.crds.raycluster import external_manager
from raybus_common.crds.rayjob import TERMINAL_JOB_DEPLOYMENT_STATUSES, JobDeploymentStatus, JobFailedReason
from raybus_common.decision import NOTHING, Decision

from .config import JobConfig
from .deletion import after_finish, finalize
from .machine import STEPS
from .plan import Pass
from .status import changed, count_attempt, deployment, stamp_end_time, wire_status


def reconcile(observed: Observed, *, now: datetime, settings: JobConfig) -> Decision:
    """The whole desired state of one RayJob from its observed snapshot."""
    raw = observed.root
    if raw is None:
        return NOTHING
    spec = raw.get("spec")
    if external_manager(spec.get("managedBy") if isinstance(spec, Mapping) else None):
        return NOTHING  # another manager (MultiKueue) owns it
    if objects.terminating(raw):
        return finalize(raw, observed)
    job, invalid = validation.parse(raw)
    if job is not None and invalid is None:
        invalid = validation.validate(raw, job, gates=settings.gates)
    if invalid is not None or job is None:
        return _invalid(raw, invalid)
    p = Pass(raw, job, observed, now, settings)
    state = deployment(p.status)
    if state in TERMINAL_JOB_DEPLOYMENT_STATUSES:
        after_finish(p)
        return Decision(actions=tuple(p.actions), requeue_after=p.requeue)
    step = STEPS.get(state)
    if step is None:
        return NOTHING  # ValidationFailed, or a state this version does not know
    if not step(p):
        return Decision(actions=tuple(p.actions), requeue_after=p.requeue)
    count_attempt(p.status, job)
    stamp_end_time(p.old_status, p.status, now)
    new = wire_status(p.status)
    p.again()
    return Decision(actions=tuple(p.actions), status=new if changed(p.old_status, new) else None,
                    requeue_after=p.requeue)


def _invalid(raw: dict[str, Any], invalid: validation.Invalid | None) -> Decision:
    """ValidationFailed: KubeRay's Warning Event (not when the status already says the same) and
    status; no requeue — nothing changes until the RayJob does."""
    reason = invalid.reason if invalid is not None else "InvalidRayJobSpec"
    message = invalid.message if invalid is not None else "the RayJob cannot be read"
    found = raw.get("status")
    old: dict[str, Any] = found if isinstance(found, dict) else {}
    actions: tuple[RecordEvent, ...] = ()
    if not (deployment(old) == JobDeploymentStatus.VALIDATION_FAILED and old.get("message") == message):
        actions = (RecordEvent(regarding=ObjectRef.of(raw), type="Warning", reason=reason, action="Validate",
                               message=f"{objects.namespace(raw)}/{objects.name(raw)}: {message}"),)
    new = wire_status({**old, "jobDeploymentStatus": JobDeploymentStatus.VALIDATION_FAILED.value,
                       "reason": JobFailedReason.VALIDATION_FAILED.value, "message": message})
    return Decision(actions=actions, status=new if changed(old, new) else None)
