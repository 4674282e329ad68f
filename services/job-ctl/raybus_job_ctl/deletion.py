"""What happens to a RayJob's resources once its Ray job is over, and when the RayJob itself is
deleted (rayjob.md §6). Pure.

A finished RayJob (Complete or Failed; nothing for a selected cluster) follows, in KubeRay's
order: `deletionStrategy.deletionRules` (with the `RayJobDeletionPolicy` gate), else the legacy
`onSuccess` / `onFailure` policies, else `shutdownAfterJobFinishes`. Every TTL is counted from
`status.endTime` and a pass that finds one not yet due asks to be requeued then (plus KubeRay's
2 s), so the schedule survives restarts. Of the rules overdue and not yet done, only the most
destructive runs in a pass (DeleteSelf > DeleteCluster > DeleteWorkers > DeleteNone); "done" is
read from the view (the cluster gone or going; every worker group suspended). The legacy
policies run KubeRay's single policy once due, skipped here too when the view shows it done
(KubeRay repeats it on every pass, erroring on a cluster already gone). A terminal status
without an `endTime` (not one Raybus wrote) counts every TTL as passed.

A RayJob being deleted (its finalizer `ray.io/rayjob-finalizer`) has its Ray job stopped
(`RayStopJob`) when the job may still run (its status not terminal, a submission id, the
cluster in view), and the finalizer removed in the same pass, as KubeRay does: whether the stop
succeeded only shows in the actuator's result and log.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from raybus_common import objects
from raybus_common.actions import Action, Delete, ObjectRef, RayStopJob, RemoveFinalizer, ray_job_ref
from raybus_common.controller.view import Observed
from raybus_common.crds.rayjob import TERMINAL_JOB_STATUSES, DeletionPolicyType, DeletionRule, JobStatus
from raybus_common.decision import NOTHING, Decision
from raybus_common.ray.jobs import dashboard_of

from .machine import FINALIZER
from .plan import Obj, Pass
from .status import deployment, job_status
from .timers import REQUEUE, TTL_MARGIN, after, read_time

Policy = DeletionPolicyType
IMPACT = {Policy.DELETE_SELF: 4, Policy.DELETE_CLUSTER: 3, Policy.DELETE_WORKERS: 2, Policy.DELETE_NONE: 1}


# -- the RayJob being deleted ---------------------------------------------------------------------


def finalize(raw: Obj, observed: Observed) -> Decision:
    if FINALIZER not in objects.finalizers(raw):
        return NOTHING
    status: dict[str, Any] = raw.get("status") or {}
    actions: list[Action] = []
    submission = str(status.get("jobId") or "")
    if job_status(status) not in TERMINAL_JOB_STATUSES and submission:
        name = status.get("rayClusterName")
        cluster = next((c for c in observed.of("raycluster") if objects.name(c) == name), None) if name else None
        if cluster is not None:
            actions.append(RayStopJob(ref=ray_job_ref(raw), submission_id=submission,
                                      dashboard=dashboard_of(cluster, url=str(status.get("dashboardURL") or ""))))
    actions.append(RemoveFinalizer(ref=ObjectRef.of(raw), finalizer=FINALIZER))
    return Decision(actions=tuple(actions), requeue_after=REQUEUE)


# -- a finished RayJob ------------------------------------------------------------------------------


def after_finish(p: Pass) -> None:
    """KubeRay's Complete/Failed branch: actions and the next TTL into `p`."""
    if p.selector_cluster is not None:
        return  # never delete a cluster the RayJob did not make
    spec = p.job.spec
    strategy = spec.deletion_strategy
    if p.settings.feature_enabled("RayJobDeletionPolicy") and strategy is not None:
        if strategy.deletion_rules is not None:
            _rules(p, strategy.deletion_rules)
        else:
            outcome = job_status(p.status)  # STOPPED, or a failure of the deployment alone: no policy
            policy = (strategy.on_success if outcome == JobStatus.SUCCEEDED
                      else strategy.on_failure if outcome == JobStatus.FAILED else None)
            chosen = policy.policy if policy is not None else None
            if (chosen is not None and chosen != Policy.DELETE_NONE and _due(p, spec.ttl_seconds_after_finished)
                    and not done(p, chosen)):
                execute(p, chosen)
    elif spec.shutdown_after_job_finishes and _due(p, spec.ttl_seconds_after_finished):
        if p.settings.delete_rayjob_after_job_finishes:
            p.actions.append(Delete(ref=p.ref))
        else:
            _delete_cluster(p)


def _end(p: Pass) -> datetime | None:
    return read_time(p.status.get("endTime"))


def _due(p: Pass, ttl: int) -> bool:
    """Whether `ttl` seconds have passed since `endTime`; if not, look again then (+2 s)."""
    end = _end(p)
    if end is None:
        return True
    at = after(end, ttl)
    if p.now < at:
        p.due(at, TTL_MARGIN)
        return False
    return True


def _rules(p: Pass, rules: list[DeletionRule]) -> None:
    overdue: list[DeletionRule] = []
    for rule in rules:
        c = rule.condition
        matches = ((c.job_status is not None and c.job_status == job_status(p.status))
                   or (c.job_deployment_status is not None and c.job_deployment_status == deployment(p.status)))
        if matches and _due(p, rule.condition.ttl_seconds) and not done(p, rule.policy):
            overdue.append(rule)
    if overdue:
        execute(p, max(overdue, key=lambda r: IMPACT[r.policy]).policy)  # the first of the most destructive


def done(p: Pass, policy: Policy) -> bool:
    """Whether the view shows `policy` carried out already (KubeRay `isDeletionActionCompleted`)."""
    if policy == Policy.DELETE_NONE:
        return True
    if policy == Policy.DELETE_SELF:
        return False
    cluster = p.cluster()
    if cluster is None or objects.terminating(cluster):
        return True
    if policy == Policy.DELETE_CLUSTER:
        return False
    return all(group.get("suspend") is True for group in (cluster.get("spec") or {}).get("workerGroupSpecs") or [])


def execute(p: Pass, policy: Policy) -> None:
    """KubeRay `executeDeletionPolicy`."""
    if policy == Policy.DELETE_CLUSTER:
        _delete_cluster(p)
    elif policy == Policy.DELETE_WORKERS:
        cluster = p.cluster()
        if cluster is not None:
            where = f"{p.namespace}/{objects.name(cluster)}"
            groups = [{**g, "suspend": True} for g in (cluster.get("spec") or {}).get("workerGroupSpecs") or []]
            p.patch(cluster, {"spec": {"workerGroupSpecs": groups}}, "UpdatedRayCluster",
                    f"Set the `suspend` field to true for all worker groups in cluster {where}",
                    f"Failed to suspend worker groups in cluster {where}")
    elif policy == Policy.DELETE_SELF:
        p.actions.append(Delete(ref=p.ref))


def _delete_cluster(p: Pass) -> None:
    cluster = p.cluster()
    if cluster is not None:
        where = f"{p.namespace}/{objects.name(cluster)}"
        p.delete(cluster, "DeletedRayCluster", f"Deleted cluster {where}", f"Failed to delete cluster {where}")
