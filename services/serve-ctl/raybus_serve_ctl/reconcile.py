"""The RayService reconcile: observed world in, a `Decision` out. Pure: no I/O, no clock (the
caller passes `now`), no randomness.

KubeRay v1.7's pass (`rayservice_controller.go`, reference A.5), with Ray's side read from the
view (`RayServeApplications`, the watcher's serve poller) and changed by `RayPutServeConfig`
actions:

1. `managedBy` another manager: nothing. Being deleted: its clusters deleted at once, then the
   finalizer removed. Else the finalizer added.
2. Parse and validate (`validation`): invalid → `Ready=False/ValidationFailed` and a Warning
   Event once per message; nothing else changes, so the clusters and Services keep serving.
3. Suspend (`conditions.handle_suspend`): staged, then every owned cluster and Service deleted,
   then Suspended; resumed → Initializing. `Ready=False/InitializingTimeout` is terminal.
4. Clusters (`upgrade`, `cluster`): the pending name in status without its cluster → create it;
   the active or pending cluster updated in place when only worker groups were appended (or
   the version stamp differs).
5. Each cluster's head pod gets `ray.io/serve` from its Serve proxy's health (the observation's
   `proxy`), `false` with `excludeHeadPodFromServeSvc`.
6. Serve (`serve`): once a cluster's head is ready (`HeadPodReady`), the desired config
   (`serveConfigV2`) is put when Ray shows none or another one deployed
   (`ray.serve.deployed_matches`: nothing cached, a restart changes nothing). A cluster is
   ready to serve when every application is RUNNING with the desired config and its head's proxy
   is healthy (beyond KubeRay, which looks at the applications only).
7. Services (`services`): pointed at the pending cluster once it is ready, else the active one
   when it is; created or re-pointed (their selector), never pointed at a cluster not ready.
8. Status: promotion once the Services, as observed, select the pending cluster
   (`upgrade.promotion`); a new pending cluster named when the spec needs one
   (`upgrade.should_prepare_new_cluster`); `numServeEndpoints`; `conditions.calculate_conditions`.
9. A cluster neither active nor pending is annotated `raybus.io/delete-after` (now +
   `rayClusterDeletionDelaySeconds`, 60) and deleted once that time passed: the timer is in the
   object, so a restart or another replica keeps it (KubeRay keeps it in memory).

Requeued every 2 s (KubeRay's) while anything is in flight; else at the next timer.
NewClusterWithIncrementalUpgrade is not served yet: it upgrades as NewCluster (blue/green)
and says so with a Warning Event when it prepares a cluster.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError

from raybus_common import gotext, objects
from raybus_common.actions import (
    Action,
    AddFinalizer,
    Apply,
    Delete,
    ObjectRef,
    Patch,
    RayPutServeConfig,
    RecordEvent,
    RemoveFinalizer,
    WriteEvent,
    ray_serve_ref,
)
from raybus_common.controller.view import Observed
from raybus_common.crds.raycluster import RayCluster, external_manager
from raybus_common.crds.raycluster_status import condition_true
from raybus_common.crds.rayjob_validation import refused
from raybus_common.crds.rayservice import RayService
from raybus_common.crds.rayservice import RayServiceConditionReason as Reason
from raybus_common.crds.rayservice import RayServiceConditionType as Type
from raybus_common.decision import NOTHING, Decision
from raybus_common.ray.serve import ServeApps, apps_of, deployed_matches, of_cluster, serve_dashboard

from . import conditions, validation
from .cluster import cluster_config, ray_cluster_for, updated_cluster
from .config import ServeConfig
from .constants import (
    CLUSTER_LABEL,
    DEFAULT_DELETION_DELAY,
    FINALIZER,
    INCREMENTAL_GATE,
    REQUEUE,
    SERVE_LABEL,
)
from .hashing import spec_hash
from .names import cluster_name, head_service_name, serve_service_name
from .services import head_service_for, outdated, serve_service_for, switched
from .upgrade import (
    Promotion,
    promoted,
    promotion,
    should_prepare_new_cluster,
    should_update_cluster,
    zero_downtime_enabled,
)

Obj = dict[str, Any]
DELETE_AFTER_ANNOTATION = "raybus.io/delete-after"  # when a cluster no longer active nor pending goes
ACTIVE, PENDING = "activeServiceStatus", "pendingServiceStatus"
_UNCOMPARED = ("lastUpdateTime", "rayClusterStatus")  # KubeRay's status diff leaves these out


def reconcile(observed: Observed, *, now: datetime, settings: ServeConfig) -> Decision:
    """The whole desired state of one RayService from its observed snapshot."""
    raw = observed.root
    if raw is None:
        return NOTHING
    spec = raw.get("spec")
    if external_manager(spec.get("managedBy") if isinstance(spec, Mapping) else None):
        return NOTHING
    p = _Pass(raw, observed, now, settings)
    if objects.terminating(raw):
        return p.finalize()
    if FINALIZER not in (objects.meta(raw).get("finalizers") or []):
        p.actions.append(AddFinalizer(ref=p.ref, finalizer=FINALIZER))
    try:
        rs = RayService.model_validate(dict(raw))
    except ValidationError as e:
        return p.invalid("InvalidRayServiceSpec", refused(e))
    invalid = validation.validate(raw, rs, incremental_gate=settings.feature_enabled(INCREMENTAL_GATE))
    if invalid is None:
        invalid = _serve_config_problem(raw)
    if invalid is not None:
        return p.invalid(invalid.reason, invalid.message)
    return p.run(rs)


def _serve_config_problem(raw: Mapping[str, Any]) -> validation.Invalid | None:
    """`serveConfigV2` that is not a YAML mapping: KubeRay fails each submission with an Event;
    here it is invalid before anything is submitted, so the serving version is left alone."""
    try:
        serve_config(raw)
    except (ValueError, TypeError) as e:
        return validation.Invalid("InvalidRayServiceSpec", f"spec.serveConfigV2: {e}")
    return None


def serve_config(raw: Mapping[str, Any]) -> Obj | None:
    """`serveConfigV2` parsed as KubeRay parses it (YAML into a map, sent as JSON); None when empty."""
    text = str((raw.get("spec") or {}).get("serveConfigV2") or "")
    if not text.strip():
        return None
    value = gotext.yaml_value(text)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise TypeError("the serve config must be a YAML mapping")
    return value


def _controlled_by(child: Mapping[str, Any], owner: Mapping[str, Any]) -> bool:
    return any(ref.get("controller") and ref.get("uid") == objects.uid(owner)
               for ref in objects.meta(child).get("ownerReferences") or [])


class _Pass:
    def __init__(self, raw: Obj, observed: Observed, now: datetime, settings: ServeConfig) -> None:
        self.raw, self.observed, self.now, self.settings = raw, observed, now, settings
        self.ref = ObjectRef.of(raw)
        found = raw.get("status")
        self.old: Obj = found if isinstance(found, dict) else {}
        self.status: Obj = copy.deepcopy(self.old)
        self.actions: list[Action] = []
        self.requeue: float | None = None
        self.clusters = {objects.name(c): c for c in observed.of("raycluster") if _controlled_by(c, raw)}
        self.services = {objects.name(s): s for s in observed.of("service") if _controlled_by(s, raw)}
        self.apps = {objects.name(a): a for a in observed.of("rayserveapplications")}
        self.pods = [pod for pod in observed.of("pod") if not objects.terminating(pod)]

    # -- small pieces -----------------------------------------------------------------------------
    def event(self, type_: str, reason: str, message: str, action: str) -> None:
        self.actions.append(RecordEvent(regarding=self.ref, type="Warning" if type_ == "Warning" else "Normal",
                                        reason=reason, message=message, action=action))

    def again(self, seconds: float) -> None:
        seconds = max(0.0, seconds)
        self.requeue = seconds if self.requeue is None else min(self.requeue, seconds)

    def name_of(self, which: str) -> str:
        return str((self.status.get(which) or {}).get("rayClusterName") or "")

    def decision(self) -> Decision:
        changed = _compared(self.status) != _compared(self.old)
        status = None
        if changed:
            status = self.status
            status["lastUpdateTime"] = objects.wire_time(self.now)
        return Decision(actions=tuple(self.actions), status=status, requeue_after=self.requeue)

    # -- deletion, validation -----------------------------------------------------------------------
    def finalize(self) -> Decision:
        """Being deleted: every cluster it owns goes now (no delay); the finalizer goes once none
        is left in view."""
        if self.clusters:
            for cluster in self.clusters.values():
                if not objects.terminating(cluster):
                    self.delete(cluster)
            self.again(REQUEUE)
        elif FINALIZER in (objects.meta(self.raw).get("finalizers") or []):
            self.actions.append(RemoveFinalizer(ref=self.ref, finalizer=FINALIZER))
        return Decision(actions=tuple(self.actions), requeue_after=self.requeue)

    def invalid(self, reason: str, message: str) -> Decision:
        """KubeRay: a Warning Event and Ready False/ValidationFailed; no requeue."""
        ready = conditions.find(self.status, Type.READY)
        if ready is None or ready.get("reason") != Reason.VALIDATION_FAILED or ready.get("message") != message:
            self.event("Warning", reason, f"{objects.namespace(self.raw)}/{objects.name(self.raw)}: {message}",
                       "Validate")
        conditions.set_condition(self.status, Type.READY, "False", Reason.VALIDATION_FAILED, message, self.now)
        return self.decision()

    def delete(self, obj: Mapping[str, Any]) -> None:
        """Delete a RayCluster or Service it owns, with KubeRay's Events (`DeletedRayCluster`, ...)."""
        kind = str(obj.get("kind") or "RayCluster")
        where = f"{objects.namespace(obj)}/{objects.name(obj)}"
        self.actions.append(Delete(ref=ObjectRef.of(obj),
                                   success_event=WriteEvent(reason=f"Deleted{kind}", message=f"Deleted {kind} {where}",
                                                            action="Delete"),
                                   failure_reason=f"FailedToDelete{kind}",
                                   failure_message=f"Failed to delete the {kind} {where}"))

    # -- the pass -----------------------------------------------------------------------------------
    def run(self, rs: RayService) -> Decision:
        generation = int(objects.meta(self.raw).get("generation") or 0)
        step = conditions.handle_suspend(self.status, suspend=bool(rs.spec.suspend), generation=generation,
                                         remaining=bool(self.clusters or self.services), now=self.now)
        if step == conditions.SuspendStep.DELETING:
            for cluster in self.clusters.values():
                if not objects.terminating(cluster):
                    self.delete(cluster)
            for service in self.services.values():
                if not objects.terminating(service):
                    self.delete(service)
            self.again(REQUEUE)
        if step in (conditions.SuspendStep.STAGED, conditions.SuspendStep.DELETING, conditions.SuspendStep.COMPLETE,
                    conditions.SuspendStep.SUSPENDED):
            if step == conditions.SuspendStep.STAGED:
                self.again(0)
            return self.decision()
        if conditions.initializing_timed_out(self.status):
            self.clean_up()
            return self.decision()
        config = cluster_config(self.raw)
        active, pending = self.clusters.get(self.name_of(ACTIVE)), self.clusters.get(self.name_of(PENDING))
        if self.name_of(PENDING) and pending is None:
            self.create_cluster(self.name_of(PENDING))
            self.again(REQUEUE)
            return self.decision()
        for current, is_active in ((active, True), (pending, False)):
            if current is not None and should_update_cluster(config, self.status, current, active=is_active,
                                                             kuberay_version=self.settings.kuberay_version):
                self.update_cluster(current)
        for current in (active, pending):
            if current is not None:
                self.head_label(rs, current)
        zero_downtime = zero_downtime_enabled(rs, gate=self.settings.feature_enabled(INCREMENTAL_GATE),
                                              enable_zero_downtime=self.settings.enable_zero_downtime)
        pending_ready = active_ready = False
        if pending is not None:
            pending_ready = self.serve(rs, pending, PENDING)
        if active is not None and pending is None and not should_prepare_new_cluster(
                config, self.status, active, None, pending_serving=False, zero_downtime=zero_downtime):
            active_ready = self.serve(rs, active, ACTIVE)
        target = pending if pending_ready else active if active_ready else None
        if target is not None:
            self.point_services(rs, target)
        self.settle(rs, config, active, pending, zero_downtime)
        self.clean_up()
        if self.name_of(PENDING) or not conditions.is_true(self.status, Type.READY):
            self.again(REQUEUE)
        return self.decision()

    # -- clusters -----------------------------------------------------------------------------------
    def goal(self, name: str) -> Obj:
        return ray_cluster_for(self.raw, name=name, kuberay_version=self.settings.kuberay_version,
                               unset_replicas=False)

    def create_cluster(self, name: str) -> None:
        where = f"{objects.namespace(self.raw)}/{name}"
        self.actions.append(Apply(object=self.goal(name), create_only=True,
                                  success_event=WriteEvent(reason="CreatedRayCluster",
                                                           message=f"Created RayCluster {where}", action="Create"),
                                  failure_reason="FailedToCreateRayCluster",
                                  failure_message=f"Failed to create the RayCluster {where}"))

    def update_cluster(self, cluster: Mapping[str, Any]) -> None:
        name = objects.name(cluster)
        where = f"{objects.namespace(cluster)}/{name}"
        updated = updated_cluster(cluster, self.goal(name))
        updated.pop("status", None)
        self.actions.append(Apply(object=updated,
                                  success_event=WriteEvent(reason="UpdatedRayCluster",
                                                           message=f"Updated RayCluster {where}", action="Update"),
                                  failure_reason="FailedToUpdateRayCluster",
                                  failure_message=f"Failed to update the RayCluster {where}"))

    def head_pod(self, cluster: Mapping[str, Any]) -> Obj | None:
        name = objects.name(cluster)
        return next((p for p in self.pods if objects.labels(p).get(CLUSTER_LABEL) == name
                     and objects.labels(p).get("ray.io/node-type") == "head"), None)

    def observation(self, cluster: Mapping[str, Any]) -> ServeApps | None:
        obj = self.apps.get(objects.name(cluster))
        found = apps_of(obj) if obj is not None and of_cluster(obj, objects.uid(cluster)) else None
        return found[1] if found is not None else None

    def head_label(self, rs: RayService, cluster: Mapping[str, Any]) -> None:
        """KubeRay `updateHeadPodServeLabel`: `ray.io/serve` on the head pod says whether its Serve
        proxy answers `/-/healthz` (the observation's `proxy`)."""
        pod = self.head_pod(cluster)
        if pod is None:
            return
        apps = self.observation(cluster)
        healthy = apps is not None and apps.proxy.healthy and apps.proxy.pod_name == objects.name(pod)
        want = "true" if healthy and not rs.spec.exclude_head_pod_from_serve_svc else "false"
        if objects.labels(pod).get(SERVE_LABEL) == want:
            return
        where = f"{objects.namespace(pod)}/{objects.name(pod)}"
        self.actions.append(Patch(ref=ObjectRef.of({"apiVersion": "v1", "kind": "Pod", **pod}),
                                  patch={"metadata": {"labels": {SERVE_LABEL: want}}},
                                  success_event=WriteEvent(reason="UpdatedHeadPodServeLabel",
                                                           message=f"Updated the serve label of head Pod {where} to "
                                                                   f"{want}", action="Update"),
                                  failure_reason="FailedToUpdateHeadPodServeLabel",
                                  failure_message=f"Failed to update the serve label of head Pod {where}"))

    # -- serve ----------------------------------------------------------------------------------------
    def serve(self, rs: RayService, cluster: Mapping[str, Any], which: str) -> bool:
        """KubeRay `reconcileServe` for `cluster` (`which` of the status): its application statuses
        copied, the config put when Ray does not have it; whether it is ready to take traffic."""
        conds = (cluster.get("status") or {}).get("conditions")
        if not condition_true(conds, "HeadPodReady"):
            return False
        apps = self.observation(cluster)
        desired = serve_config(self.raw)
        if apps is not None:
            self.status.setdefault(which, {})["applicationStatuses"] = _app_statuses(apps)
        if desired is not None and (apps is None or not apps.applications or not deployed_matches(desired, apps)):
            if apps is not None and not apps.error:
                self.actions.append(RayPutServeConfig(ref=ray_serve_ref(cluster), dashboard=serve_dashboard(cluster),
                                                      config=desired))
            return False
        if apps is None:
            return False
        return apps.ready and (bool(rs.spec.exclude_head_pod_from_serve_svc) or apps.proxy.healthy)

    # -- services -------------------------------------------------------------------------------------
    def point_services(self, rs: RayService, target: Mapping[str, Any]) -> None:
        model = RayCluster.model_validate(dict(target))
        wanted = [head_service_for(self.raw, model, cluster_ip_service=self.settings.enable_ray_head_cluster_ip_service),
                  serve_service_for(self.raw, rs, model, incremental=False)]
        for desired in wanted:
            if desired is None:
                continue
            name = objects.name(desired)
            where = f"{objects.namespace(desired)}/{name}"
            current = self.services.get(name)
            if current is None:
                self.actions.append(Apply(object=desired, create_only=True,
                                          success_event=WriteEvent(reason="CreatedService",
                                                                   message=f"Created Service {where}", action="Create"),
                                          failure_reason="FailedToCreateService",
                                          failure_message=f"Failed to create the Service {where}"))
            elif outdated(current, desired):
                self.actions.append(Apply(object=switched(current, desired),
                                          success_event=WriteEvent(reason="UpdatedService",
                                                                   message=f"Updated Service {where}", action="Update"),
                                          failure_reason="FailedToUpdateService",
                                          failure_message=f"Failed to update the Service {where}"))

    # -- status ---------------------------------------------------------------------------------------
    def settle(self, rs: RayService, config: Mapping[str, Any], active: Obj | None, pending: Obj | None,
               zero_downtime: bool) -> None:
        """KubeRay `calculateStatus`."""
        self.status["observedGeneration"] = int(objects.meta(self.raw).get("generation") or 0)
        for cluster, which in ((active, ACTIVE), (pending, PENDING)):
            if cluster is not None:
                self.status.setdefault(which, {})["rayClusterStatus"] = copy.deepcopy(cluster.get("status") or {})
        head_svc = self.services.get(head_service_name(rs.name))
        serve_svc = self.services.get(serve_service_name(rs.name, serve_service=rs.spec.serve_service,
                                                         incremental=False, cluster=""))
        pending_serving = False
        if head_svc is not None and serve_svc is not None:
            decided = promotion(self.status, head_service=head_svc, serve_service=serve_svc, incremental=False,
                                pending_exists=pending is not None)
            if isinstance(decided, Promotion):
                pending_serving = decided.pending_serving
                if decided.promote:
                    self.status = promoted(self.status)
                    active, pending = pending, None
            else:
                self.event("Warning", "ServicesDisagree", decided.message, "Reconcile")
        if should_prepare_new_cluster(config, self.status, active, pending, pending_serving=pending_serving,
                                      zero_downtime=zero_downtime):
            name = cluster_name(rs.name, uid=objects.uid(self.raw),
                                generation=int(objects.meta(self.raw).get("generation") or 0),
                                goal_hash=spec_hash(config), active=self.name_of(ACTIVE), pending=self.name_of(PENDING))
            self.status[PENDING] = {"rayClusterName": name}
            if rs.spec.upgrade_strategy is not None and rs.spec.upgrade_strategy.type == "NewClusterWithIncrementalUpgrade":
                self.event("Warning", "UnsupportedUpgradeStrategy", "NewClusterWithIncrementalUpgrade is not served by "
                           "this Raybus version yet: the RayService is upgraded with NewCluster (blue/green)",
                           "Reconcile")
        self.status["numServeEndpoints"] = self.endpoints(serve_svc)
        timed_out = conditions.calculate_conditions(
            self.status, timeout=conditions.initializing_timeout(objects.annotations(self.raw)), now=self.now)
        if timed_out is not None:
            self.event("Warning", "RayServiceInitializingTimeout", timed_out.message, "Reconcile")
        due = conditions.initializing_timeout_due(
            self.status, timeout=conditions.initializing_timeout(objects.annotations(self.raw)))
        if due is not None:
            self.again((due - self.now).total_seconds())
        self.status["serviceStatus"] = conditions.service_status(self.status)

    def endpoints(self, serve_svc: Mapping[str, Any] | None) -> int:
        """Ready pods behind the serve Service: the ready workers of the cluster it selects (their
        readiness includes Serve's health) and its head when labelled `ray.io/serve=true` and
        ready. KubeRay counts the Service's EndpointSlices; the watcher does not watch those."""
        if serve_svc is None:
            return 0
        selected = str(((serve_svc.get("spec") or {}).get("selector") or {}).get(CLUSTER_LABEL) or "")
        cluster = self.clusters.get(selected)
        if cluster is None:
            return 0
        workers = int((cluster.get("status") or {}).get("readyWorkerReplicas") or 0)
        head = self.head_pod(cluster)
        head_ready = head is not None and objects.labels(head).get(SERVE_LABEL) == "true" and condition_true(
            (head.get("status") or {}).get("conditions"), "Ready")
        return workers + (1 if head_ready else 0)

    # -- old clusters -----------------------------------------------------------------------------------
    def clean_up(self) -> None:
        """KubeRay `cleanUpRayClusterInstance`, with the delay kept in the cluster's annotation."""
        keep = {self.name_of(ACTIVE), self.name_of(PENDING)} - {""}
        delay = self.raw.get("spec", {}).get("rayClusterDeletionDelaySeconds")
        delay = DEFAULT_DELETION_DELAY if delay is None else int(delay)
        for name, cluster in sorted(self.clusters.items()):
            if name in keep or objects.terminating(cluster):
                continue
            when = objects.read_time(objects.annotations(cluster).get(DELETE_AFTER_ANNOTATION))
            if when is None:
                when = self.now + timedelta(seconds=delay)
                self.actions.append(Patch(ref=ObjectRef.of(cluster), patch={"metadata": {"annotations": {
                    DELETE_AFTER_ANNOTATION: objects.wire_time(when)}}}))
            if when <= self.now:
                self.delete(cluster)
            else:
                self.again((when - self.now).total_seconds())


def _app_statuses(apps: ServeApps) -> Obj:
    """The status's `applicationStatuses` from an observation (KubeRay's `AppStatus`)."""
    out: Obj = {}
    for name, app in sorted(apps.applications.items()):
        entry: Obj = {"status": app.status}
        if app.message:
            entry["message"] = app.message
        deployments = {d: {k: v for k, v in (("status", s.status), ("message", s.message)) if v}
                       for d, s in sorted(app.deployments.items())}
        if deployments:
            entry["serveDeploymentStatuses"] = deployments
        out[name] = entry
    return out


def _compared(status: Mapping[str, Any]) -> Obj:
    """The status without what KubeRay's `InconsistentRayServiceStatuses` leaves out."""
    out = {k: v for k, v in status.items() if k not in _UNCOMPARED}
    for which in (ACTIVE, PENDING):
        if isinstance(out.get(which), dict):
            out[which] = {k: v for k, v in out[which].items() if k not in _UNCOMPARED}
    return out
