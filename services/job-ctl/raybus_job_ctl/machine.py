"""KubeRay's RayJob state machine, one function per `jobDeploymentStatus` (rayjob.md §2.2,
`rayjob_controller.go`'s switch). Pure.

Each step works on a `Pass`: it changes `p.status` as KubeRay's reconcile changes its
in-memory RayJob, adds actions, and returns whether the pass *settles* — KubeRay's `break` out
of the switch, after which the counters are kept, the status written if it changed and the
RayJob requeued after 3 s (`reconcile.py`). A step that returns False is KubeRay's early
`return`: nothing it would have changed in the status is written, and it asks for its own
requeue (or none).

What Raybus does differently, and why:
- The Ray job's status, message and times come from the `rayjobinfo` observation of the current
  submission id (the watcher's Ray job poller); no observation yet means wait. HTTPMode submits
  (`RaySubmitJob`) when that observation says the dashboard does not know the id; a failed
  submission (its result in `observed.failures`) or an observation that could not reach the
  dashboard starts `jobStatusCheckFailureStartTime`.
- Creating a child and seeing it are two passes: a created RayCluster is read in the pass after
  the view holds it. K8sJobMode's submitter Job is created in the Initializing → Running pass
  and, should the view lack it in Running (its create failed, or it was deleted), created again
  — KubeRay would stay Running reporting the missing Job until a deadline; the submitter's own
  `ray job status` guard makes a second submitter harmless.
- The RayJob's own head Service is built from the RayCluster's head Service as observed
  (`children.head_service_for`); until the view holds that Service, it waits.
- No batch-scheduler hooks: scheduler-bridge owns them.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import datetime

from raybus_common import objects
from raybus_common.actions import AddFinalizer, RaySubmitJob, ray_job_ref
from raybus_common.crds import batch
from raybus_common.crds.rayjob import (
    TERMINAL_JOB_STATUSES,
    JobDeploymentStatus,
    JobFailedReason,
    JobStatus,
    JobSubmissionMode,
)
from raybus_common.ray.jobs import dashboard_of, dashboard_port

from . import children, submitter
from .names import dashboard_url, generated_name, rayjob_head_service_name
from .plan import Obj, Pass
from .status import deployment, job_status, reset_attempt
from .submission import Submitter, of_head_pod, of_job
from .timers import SUBMITTER_FINISHED_TIMEOUT, after, from_millis, go_datetime, go_time, read_time, wire_time

FINALIZER = "ray.io/rayjob-finalizer"
Dep = JobDeploymentStatus
Mode = JobSubmissionMode
GRACE_MESSAGE = ("JobDeploymentStatus does not transition to Complete or Failed within the grace period after "
                 "JobStatus reaches a terminal state.")
NOT_FOUND_MESSAGE = "Submitter completed but Ray job not found in RayCluster."
NO_HEAD_MESSAGE = "Ray head pod not found."


def _set(p: Pass, deployment_status: Dep, reason: str | None = None, message: str | None = None) -> bool:
    p.status["jobDeploymentStatus"] = deployment_status.value
    if reason is not None:
        p.status["reason"] = reason
    if message is not None:
        p.status["message"] = message
    return True


# -- New --------------------------------------------------------------------------------------


def new(p: Pass) -> bool:
    """New → Initializing: the finalizer, then the attempt's names and start time
    (`initRayJobStatusIfNeed`), all in one status write, so the submission id and the cluster's
    name are in the status before anything is created or submitted."""
    if FINALIZER not in objects.finalizers(p.raw):
        p.actions.append(AddFinalizer(ref=p.ref, finalizer=FINALIZER))
    start = wire_time(p.now)
    uid = objects.uid(p.raw)
    if p.job.spec.submission_mode != Mode.INTERACTIVE_MODE and not p.job_id:
        p.status["jobId"] = p.job.spec.job_id or generated_name(p.name, uid, "jobid", start)
    if not p.cluster_name:
        p.status["rayClusterName"] = p.selector_cluster or generated_name(p.name, uid, "raycluster", start)
    p.status["jobStatus"] = job_status(p.status)
    p.status["startTime"] = start
    return _set(p, Dep.INITIALIZING)


# -- deadlines and timers -----------------------------------------------------------------------


def _deadlines(p: Pass, *, active: bool, pre_running: bool) -> bool:
    """activeDeadlineSeconds / preRunningDeadlineSeconds, from `status.startTime`: Failed once
    passed (True), else the pass looks again when the first falls due."""
    start = read_time(p.status.get("startTime"))
    if start is None:
        return False
    spec = p.job.spec
    checks = ((active, spec.active_deadline_seconds, JobFailedReason.DEADLINE_EXCEEDED, "activeDeadlineSeconds",
               "ActiveDeadlineSeconds"),
              (pre_running, spec.pre_running_deadline_seconds, JobFailedReason.PRE_RUNNING_DEADLINE_EXCEEDED,
               "preRunningDeadlineSeconds", "PreRunningDeadlineSeconds"))
    for wanted, seconds, reason, field, label in checks:
        if not wanted or seconds is None:
            continue
        due = after(start, seconds)
        if p.now >= due:
            return _set(p, Dep.FAILED, reason, f"The RayJob has passed the {field}. StartTime: {go_time(start)}. "
                                               f"{label}: {seconds}")
        p.due(due)
    return False


def _grace_period(p: Pass) -> bool:
    """A terminal Ray job whose RayJob is still Running `transition_grace_period_seconds` after
    the job's end time is made Complete (Failed if the job FAILED)."""
    if job_status(p.status) not in TERMINAL_JOB_STATUSES:
        return False
    end = read_time((p.status.get("rayJobInfo") or {}).get("endTime"))
    if end is None:
        return False
    due = after(end, p.settings.transition_grace_period_seconds)
    if p.now < due:
        p.due(due)
        return False
    done = Dep.FAILED if job_status(p.status) == JobStatus.FAILED else Dep.COMPLETE
    return _set(p, done, JobFailedReason.JOB_DEPLOYMENT_STATUS_TRANSITION_GRACE_PERIOD_EXCEEDED, GRACE_MESSAGE)


def _status_check_timeout(p: Pass) -> bool:
    since = read_time(p.status.get("jobStatusCheckFailureStartTime"))
    if since is None:
        return False
    timeout = p.settings.status_check_timeout_seconds
    due = after(since, timeout)
    if p.now < due:
        p.due(due)
        return False
    return _set(p, Dep.FAILED, JobFailedReason.JOB_STATUS_CHECK_TIMEOUT_EXCEEDED,
                f"Job status checks have been failing since {go_time(since)}; exceeded timeout of {timeout:g}s")


def _check_failed(p: Pass) -> None:
    """A dashboard that could not be read, or a submission that failed: the first of a run."""
    p.status.setdefault("jobStatusCheckFailureStartTime", wire_time(p.now))


# -- the RayCluster and the submitter -----------------------------------------------------------


def _cluster(p: Pass) -> Obj | None:
    """KubeRay `getOrCreateRayClusterInstance`: the attempt's RayCluster from the view; when it
    is missing, created again with the same name (clusterSelector: a `RayClusterNotFound`
    Warning, and wait for someone to make it). None until the view holds it."""
    found = p.cluster()
    if found is not None or not p.cluster_name:
        return found
    where = f"{p.namespace}/{p.cluster_name}"
    if p.selector_cluster is not None:
        p.warn("RayClusterNotFound", f"RayCluster {where} set in the clusterSelector is not found. "
                                     "It must be created manually", "Validate")
        return None
    try:
        obj = children.ray_cluster_for(p.raw, p.job, name=p.cluster_name, job_id=p.job_id,
                                       login_shell=p.settings.enable_login_shell,
                                       restart_gate=p.settings.feature_enabled("SidecarSubmitterRestart"))
    except submitter.CannotBuild as e:  # KubeRay's error (SidecarMode's command cannot be built): retried
        _cannot_build(p, "RayCluster", e)
        return None
    if p.job.spec.submission_mode == JobSubmissionMode.K8S_JOB_MODE:  # KubeRay stamps it in K8sJobMode only
        _batch_meta(p, "", submitter_template=_submitter_template(p), pod=False).stamp(obj)
    p.create(obj, "CreatedRayCluster", f"Created RayCluster {where}", f"Failed to create RayCluster {where}")
    return None


def _cannot_build(p: Pass, what: str, error: Exception) -> None:
    """Beyond KubeRay, which only logs it and retries: a Warning Event naming what cannot be built
    and why (the actuator folds the repeats of each retry into one series)."""
    p.warn("FailedToBuild", f"Cannot build the {what} of RayJob {p.namespace}/{p.name}: {error}", "Create")


def _submitter_job(p: Pass, cluster: Obj) -> bool:
    """K8sJobMode: create the submitter Job (named like the RayJob) if the view lacks it. False
    when it cannot be built (KubeRay's error, retried: metadata with a Ray version below 2.6.0)."""
    if p.submitter() is not None:
        return True
    try:
        obj = submitter.submitter_job(p.raw, p.job, cluster, job_id=p.job_id,
                                      dashboard_url=str(p.status.get("dashboardURL") or ""),
                                      login_shell=p.settings.enable_login_shell)
    except submitter.CannotBuild as e:
        _cannot_build(p, "submitter Job", e)
        return False
    template = obj["spec"]["template"]
    _batch_meta(p, batch.SUBMITTER_GROUP, submitter_template=template).stamp(template)
    where = f"{p.namespace}/{p.name}"
    p.create(obj, "CreatedRayJobSubmitter", f"Created Kubernetes Job {where}",
             f"Failed to create new Kubernetes Job {where}")
    return True


def _batch_meta(p: Pass, group: str, *, submitter_template: Obj | None, pod: bool = True) -> batch.ChildMeta:
    """KubeRay `AddMetadataToChildResource(rayJob, child, group)` of the RayJob's batch scheduler
    (its `raybus.io/batch-scheduler`, else the operator's): the submitter's pod template
    (`submittergroup`) and, in K8sJobMode, the RayCluster. Unlike KubeRay, which refuses RayJobs
    under scheduler-plugins, the submitter gets the scheduler's name and stays out of the
    cluster's PodGroup (it starts once the gang runs)."""
    labels = objects.labels(p.raw)
    scheduler = batch.scheduler_of(labels, p.settings.batch_scheduler)
    spec = p.job.spec.ray_cluster_spec
    tasks = (batch.job_task_groups(spec, submitter_template or {})
             if scheduler == batch.YUNIKORN and batch.gang_enabled(labels) and spec is not None else None)
    meta = batch.child_meta(scheduler, labels=labels, annotations=objects.annotations(p.raw), name=p.name,
                            group=group, task_groups=tasks, pod=pod)
    return batch.ChildMeta(meta.scheduler_name) if scheduler == batch.SCHEDULER_PLUGINS else meta


def _submitter_template(p: Pass) -> Obj:
    """The submitter pod template KubeRay's task groups count (`GetSubmitterTemplate`)."""
    template = p.job.spec.submitter_pod_template
    if template is not None:
        return dict(template)
    return {"spec": {"containers": [{"resources": batch.SUBMITTER_RESOURCES}]}}


def _head_service(p: Pass, cluster: Obj) -> None:
    """KubeRay `reconcileServices`: the RayJob's `<rayjob>-head-svc`, a copy of the cluster's
    head Service, created when missing and updated only when it selects another cluster."""
    source = p.cluster_head_service(cluster)
    if source is None:
        return
    current = p.own_head_service()
    where = f"{p.namespace}/{rayjob_head_service_name(p.name)}"
    if current is None:
        p.create(children.head_service_for(p.raw, source), "CreatedService", f"Created the service {where}",
                 f"Failed to create the service {where}", create_only=False)
    elif children.head_service_outdated(current, objects.name(cluster)):
        p.create(children.head_service_for(p.raw, source), "UpdatedService", f"Updated the service {where}",
                 f"Failed to update the service {where}", create_only=False, verb="Update")


# -- Initializing, Waiting ----------------------------------------------------------------------


def initializing(p: Pass) -> bool:
    if p.job.spec.suspend:
        return _set(p, Dep.SUSPENDING)
    if _deadlines(p, active=True, pre_running=True):
        return True
    cluster = _cluster(p)
    if cluster is None:
        p.again()
        return False
    p.status["rayClusterStatus"] = copy.deepcopy(cluster.get("status") or {})
    if not p.status.get("dashboardURL"):
        if (cluster.get("status") or {}).get("state") != "ready":
            return True  # wait for the cluster; its status is copied meanwhile
        url = dashboard_url(cluster, head_service=p.cluster_head_service(cluster), fallback_port=dashboard_port(cluster),
                            domain=p.settings.cluster_domain)
        if url is None:
            return True  # the head Service has no `dashboard` port: KubeRay's error, retried
        p.status["dashboardURL"] = url
    mode = p.job.spec.submission_mode
    if mode == Mode.INTERACTIVE_MODE:
        return _set(p, Dep.WAITING)
    if mode == Mode.K8S_JOB_MODE and not _submitter_job(p, cluster):
        p.again()
        return False
    return _set(p, Dep.RUNNING)


def waiting(p: Pass) -> bool:
    """InteractiveMode: wait for the user to set `spec.jobId`."""
    if _deadlines(p, active=False, pre_running=True):
        return True
    if not p.job.spec.job_id:
        p.again()
        return False
    p.status["jobId"] = p.job.spec.job_id
    return _set(p, Dep.RUNNING)


# -- Running ----------------------------------------------------------------------------------


def _submitter_state(p: Pass, cluster: Obj) -> Submitter | None:
    """K8sJobMode / SidecarMode: what the submitter says; None to wait (a K8sJobMode Job being
    created again, several head pods)."""
    if p.job.spec.submission_mode == Mode.K8S_JOB_MODE:
        job = p.submitter()
        if job is None:
            _submitter_job(p, cluster)
            return None
        return of_job(job)
    heads = p.head_pods(objects.name(cluster))
    if not heads:
        return Submitter(failure=NO_HEAD_MESSAGE)
    if len(heads) > 1:
        return None  # KubeRay: "found multiple heads", retried
    config = p.job.spec.submitter_config
    return of_head_pod(heads[0], restart_gate=p.settings.feature_enabled("SidecarSubmitterRestart"),
                       restart_limit=config.backoff_limit if config is not None else None)


def _submit(p: Pass, cluster: Obj) -> bool:
    """HTTPMode, the dashboard does not know the submission id: submit it (idempotent by id).
    False when the submission failed: the last one's result is in view, or the request cannot
    be built (KubeRay's `SubmitJob` error either way)."""
    try:
        request = submitter.job_request(p.job, job_id=p.job_id)
    except submitter.CannotBuild as e:
        _cannot_build(p, "Ray job submission", e)
        return False
    p.actions.append(RaySubmitJob(ref=ray_job_ref(p.raw), request=request,
                                  dashboard=dashboard_of(cluster, url=str(p.status.get("dashboardURL") or ""))))
    return p.failed_submit() is None


def running(p: Pass) -> bool:
    if p.job.spec.suspend:
        return _set(p, Dep.SUSPENDING)
    if _deadlines(p, active=True, pre_running=False) or _grace_period(p) or _status_check_timeout(p):
        return True
    cluster = _cluster(p)
    if cluster is None:
        p.again()
        return False
    if p.selector_cluster is None:
        _head_service(p, cluster)
    mode = p.job.spec.submission_mode
    finished_at: datetime | None = None
    if mode in (Mode.K8S_JOB_MODE, Mode.SIDECAR_MODE):
        state = _submitter_state(p, cluster)
        if state is None:
            p.again()
            return False
        finished_at = state.finished_at
        if finished_at is not None:
            due = after(finished_at, SUBMITTER_FINISHED_TIMEOUT)
            if p.now >= due:
                p.status["jobStatus"] = JobStatus.FAILED.value
                return _set(p, Dep.FAILED, JobFailedReason.JOB_DEPLOYMENT_STATUS_TRANSITION_GRACE_PERIOD_EXCEEDED,
                            f"The RayJob submitter finished at {go_datetime(finished_at)} but the ray job did not "
                            f"reach terminal state within {SUBMITTER_FINISHED_TIMEOUT}s")
            p.due(due)
        if state.failure is not None:
            if state.failure == NO_HEAD_MESSAGE:
                return _set(p, Dep.FAILED, JobFailedReason.APP_FAILED, NO_HEAD_MESSAGE)
            if job_status(p.status) == JobStatus.FAILED:
                return _set(p, Dep.FAILED, JobFailedReason.APP_FAILED)
            return _set(p, Dep.FAILED, JobFailedReason.SUBMISSION_FAILED, state.failure)
    return _job_info(p, cluster, finished_at)


def _job_info(p: Pass, cluster: Obj, finished_at: datetime | None) -> bool:
    """What the dashboard says about the current submission id (KubeRay's `GetJobInfo` and what
    follows it)."""
    info = p.info()
    if info is None:
        p.again()  # the poller has not read this id yet
        return False
    if info.error:
        _check_failed(p)
        return True
    mode = p.job.spec.submission_mode
    if not info.found:
        if mode == Mode.HTTP_MODE:
            if _submit(p, cluster):
                p.status.pop("jobStatusCheckFailureStartTime", None)
            else:
                _check_failed(p)
            return True
        if finished_at is not None:
            return _set(p, Dep.FAILED, JobFailedReason.APP_FAILED, NOT_FOUND_MESSAGE)
        p.again()
        return False
    p.status.pop("jobStatusCheckFailureStartTime", None)
    terminal = info.job_status in TERMINAL_JOB_STATUSES
    if mode in (Mode.K8S_JOB_MODE, Mode.SIDECAR_MODE):
        terminal = terminal and finished_at is not None
    done, reason = Dep.RUNNING, ""
    if terminal:
        done = Dep.FAILED if info.job_status == JobStatus.FAILED else Dep.COMPLETE
        reason = JobFailedReason.APP_FAILED if done == Dep.FAILED else ""
    p.status["rayClusterStatus"] = copy.deepcopy(cluster.get("status") or {})
    p.status["jobStatus"] = info.job_status
    times = dict(p.status.get("rayJobInfo") or {})
    if info.start_time:
        times["startTime"] = from_millis(info.start_time)
    if info.end_time:
        times["endTime"] = from_millis(info.end_time)
    p.status["rayJobInfo"] = times
    return _set(p, done, reason, info.message)


# -- Suspending, Retrying, Suspended ----------------------------------------------------------


def releasing(p: Pass) -> bool:
    """Suspending and Retrying: delete the attempt's RayCluster (not a selected one) and
    submitter Job, wait until both are gone, then clear the attempt from the status →
    Suspended, or New for the next attempt. The Ray job is not stopped first (KubeRay neither)."""
    waiting_for = False
    if p.selector_cluster is None:
        cluster = p.cluster()
        if cluster is not None:
            waiting_for = True
            where = f"{p.namespace}/{objects.name(cluster)}"
            p.delete(cluster, "DeletedRayCluster", f"Deleted cluster {where}", f"Failed to delete cluster {where}")
    if p.job.spec.submission_mode not in (Mode.HTTP_MODE, Mode.SIDECAR_MODE):
        job = p.submitter()
        if job is not None:
            waiting_for = True
            where = f"{p.namespace}/{p.name}"
            p.delete(job, "DeletedRayJobSubmitter", f"Deleted submitter K8s Job {where}",
                     f"Failed to delete submitter K8s Job {where}", propagation="Background")
    if waiting_for:
        p.again()
        return False
    reset_attempt(p.status)
    return _set(p, Dep.SUSPENDED if deployment(p.status) == Dep.SUSPENDING else Dep.NEW)


def suspended(p: Pass) -> bool:
    """Suspended until `spec.suspend` is cleared, then New (a fresh attempt); no requeue meanwhile."""
    if p.job.spec.suspend:
        return False
    p.status["jobStatus"] = JobStatus.NEW.value
    return _set(p, Dep.NEW)


STEPS: dict[str, Callable[[Pass], bool]] = {
    Dep.NEW.value: new,
    Dep.INITIALIZING.value: initializing,
    Dep.WAITING.value: waiting,
    Dep.RUNNING.value: running,
    Dep.SUSPENDING.value: releasing,
    Dep.RETRYING.value: releasing,
    Dep.SUSPENDED.value: suspended,
}
