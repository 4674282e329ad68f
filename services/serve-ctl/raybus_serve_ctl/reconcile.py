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

NewClusterWithIncrementalUpgrade (A.7; `traffic`, `gateway`): each cluster gets its own serve
Service, the RayService a Gateway and an HTTPRoute whose backend weights step by
`stepSizePercent` every `intervalSeconds` toward the pending cluster's target capacity, itself
stepped by `maxSurgePercent` once the Gateway and HTTPRoute are ready (Accepted, Programmed /
Accepted, ResolvedRefs); each cluster's target capacity rides in the config put to it
(`target_capacity`); the head Service stays on the active cluster until the upgrade completes
(active capacity 0, pending traffic 100) and the pending cluster is promoted; a spec reverted
mid-upgrade rolls back (`traffic.reconcile_rollback`).

Requeued every 2 s (KubeRay's) while anything is in flight; else at the next timer.
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
from .cluster import cluster_config, ray_cluster_for, replicas_unset, updated_cluster
from .config import ServeConfig
from .constants import (
    CLUSTER_LABEL,
    DEFAULT_DELETION_DELAY,
    FINALIZER,
    INCREMENTAL_GATE,
    REQUEUE,
    SERVE_LABEL,
)
from .gateway import cluster_serve_service, gateway_equal, gateway_for, httproute_equal, httproute_for
from .hashing import spec_hash
from .names import (
    cluster_name,
    cluster_serve_service_name,
    gateway_name,
    head_service_name,
    httproute_name,
    serve_service_name,
)
from .services import head_service_for, outdated, serve_service_for, switched
from .traffic import (
    Which,
    capacity_goal,
    complete_rollback,
    fill_capacity_defaults,
    need_target_capacity_update,
    new_pending_status,
    next_weights,
    reconcile_rollback,
    record_traffic,
    rollback_complete,
    rolling_back,
    set_capacity,
)
from .upgrade import (
    Promotion,
    incremental_enabled,
    promoted,
    promotion,
    selected_cluster,
    should_prepare_new_cluster,
    should_update_cluster,
    zero_downtime_enabled,
)

Obj = dict[str, Any]
DELETE_AFTER_ANNOTATION = "raybus.io/delete-after"  # when a cluster no longer active nor pending goes
ACTIVE, PENDING = "activeServiceStatus", "pendingServiceStatus"
_UNCOMPARED = ("lastUpdateTime", "rayClusterStatus")  # KubeRay's status diff leaves these out
# A RayClusterStatus as Go marshals its zero value (KubeRay's `rayClusterStatus` without a cluster).
EMPTY_STATUS: Obj = {"desiredCPU": "0", "desiredGPU": "0", "desiredMemory": "0", "desiredTPU": "0", "head": {}}


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
        self.services = {objects.name(s): s for s in observed.of("service")
                         if _controlled_by(s, raw) or any(_controlled_by(s, c) for c in self.clusters.values())}
        self.apps = {objects.name(a): a for a in observed.of("rayserveapplications")}
        self.pods = [pod for pod in observed.of("pod") if not objects.terminating(pod)]
        name = objects.name(raw)
        self.gateway = next((g for g in observed.of("gateway") if objects.name(g) == gateway_name(name)), None)
        self.route = next((r for r in observed.of("httproute") if objects.name(r) == httproute_name(name)), None)
        self.incremental = False
        self.options_max_surge = 100
        self.repointed = False  # a Service is re-pointed this pass: what the view shows of it is going

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
        """Delete a RayCluster, Service, Gateway or HTTPRoute it owns, with KubeRay's Events
        (`DeletedRayCluster`, `DeletedService`, `DeletedGateway`, `DeletedHTTPRoute`)."""
        kind = str(obj.get("kind") or "RayCluster")
        where = f"{objects.namespace(obj)}/{objects.name(obj)}"
        self.actions.append(Delete(ref=ObjectRef.of(obj),
                                   success_event=WriteEvent(reason=f"Deleted{kind}",
                                                            message=f"Deleted the {_noun(kind)} {where}",
                                                            action="Delete"),
                                   failure_reason=f"FailedToDelete{kind}",
                                   failure_message=f"Failed to delete the {_noun(kind)} {where}"))

    # -- the pass -----------------------------------------------------------------------------------
    def run(self, rs: RayService) -> Decision:
        generation = int(objects.meta(self.raw).get("generation") or 0)
        owned = [*self.clusters.values(), *self.services.values(),
                 *(o for o in (self.gateway, self.route) if o is not None)]
        step = conditions.handle_suspend(self.status, suspend=bool(rs.spec.suspend), generation=generation,
                                         remaining=bool(owned), now=self.now)
        if step == conditions.SuspendStep.DELETING:
            for obj in owned:
                if not objects.terminating(obj):
                    self.delete(obj)
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
        self.incremental = incremental_enabled(rs, gate=self.settings.feature_enabled(INCREMENTAL_GATE))
        active, pending = self.clusters.get(self.name_of(ACTIVE)), self.clusters.get(self.name_of(PENDING))
        if self.name_of(PENDING) and pending is None:
            self.create_cluster(self.name_of(PENDING))
            self.again(REQUEUE)
            return self.decision()
        for current, is_active in ((active, True), (pending, False)):
            if current is not None and should_update_cluster(config, self.status, current, active=is_active,
                                                             kuberay_version=self.settings.kuberay_version):
                self.update_cluster(current, active=is_active)
        upgrading = conditions.is_true(self.status, Type.UPGRADE_IN_PROGRESS)
        if self.incremental:
            # The weights in effect are the HTTPRoute's as observed (KubeRay reads back the one it
            # just wrote); the capacities and the next weights are worked out from them.
            options = rs.spec.upgrade_strategy.cluster_upgrade_options if rs.spec.upgrade_strategy else None
            self.options_max_surge = options.max_surge_percent if options is not None else 100
            record_traffic(self.status, self.route, pending_exists=pending is not None, now=self.now)
        if self.incremental and upgrading and active is not None and pending is not None:
            reconcile_rollback(self.status, goal_hash=spec_hash(config), active=active, pending=pending, now=self.now)
        for current in (active, pending):
            if current is not None:
                self.head_label(rs, current)
        zero_downtime = zero_downtime_enabled(rs, gate=self.settings.feature_enabled(INCREMENTAL_GATE),
                                              enable_zero_downtime=self.settings.enable_zero_downtime)
        pending_ready = active_ready = False
        if pending is not None:
            pending_ready = self.serve(rs, pending, PENDING)
        if active is not None and ((pending is None and not should_prepare_new_cluster(
                config, self.status, active, None, pending_serving=False, zero_downtime=zero_downtime))
                or (self.incremental and pending is not None)):
            active_ready = self.serve(rs, active, ACTIVE)
        if self.incremental:
            self.traffic(rs, active, pending, pending_ready)
        if pending_ready or active_ready:
            target = pending if pending_ready and not (self.incremental and upgrading) else active
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
                               unset_replicas=replicas_unset(incremental=self.incremental,
                                                             active_name=self.name_of(ACTIVE)))

    def create_cluster(self, name: str) -> None:
        where = f"{objects.namespace(self.raw)}/{name}"
        self.actions.append(Apply(object=self.goal(name), create_only=True,
                                  success_event=WriteEvent(reason="CreatedRayCluster",
                                                           message=f"Created the RayCluster {where}", action="Create"),
                                  failure_reason="FailedToCreateRayCluster",
                                  failure_message=f"Failed to create the RayCluster {where}"))

    def update_cluster(self, cluster: Mapping[str, Any], *, active: bool) -> None:
        name = objects.name(cluster)
        where = f"{'active' if active else 'pending'} RayCluster {objects.namespace(cluster)}/{name}"
        updated = updated_cluster(cluster, self.goal(name))
        updated.pop("status", None)
        self.actions.append(Apply(object=updated,
                                  success_event=WriteEvent(reason="UpdatedRayCluster", message=f"Updated the {where}",
                                                           action="Update"),
                                  failure_reason="FailedToUpdateRayCluster",
                                  failure_message=f"Failed to update the {where}"))

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
                                                           message=f'Updated the serve label to "{want}" for the Head '
                                                                   f"Pod {where}", action="Update"),
                                  failure_reason="FailedToUpdateHeadPodServeLabel",
                                  failure_message=f'Failed to update the serve label to "{want}" for the Head Pod '
                                                  f"{where}"))

    # -- serve ----------------------------------------------------------------------------------------
    def serve(self, rs: RayService, cluster: Mapping[str, Any], which: str) -> bool:
        """KubeRay `reconcileServe` for `cluster` (`which` of the status): its application statuses
        copied, the config put when Ray does not have it; whether it is ready to take traffic."""
        conds = (cluster.get("status") or {}).get("conditions")
        if not condition_true(conds, "HeadPodReady"):
            return False
        apps = self.observation(cluster)
        desired = serve_config(self.raw)
        if self.incremental and desired is not None:
            self.step_capacity(which)
            capacity = (self.status.get(which) or {}).get("targetCapacity")
            if capacity is not None:
                desired = {**desired, "target_capacity": capacity}
        if apps is not None:
            self.status.setdefault(which, {})["applicationStatuses"] = _app_statuses(apps)
        if desired is not None and (apps is None or not apps.applications or not deployed_matches(desired, apps)):
            if apps is not None and not apps.error:
                where = f"{objects.namespace(cluster)}/{objects.name(cluster)}"
                self.actions.append(RayPutServeConfig(
                    ref=ray_serve_ref(cluster), dashboard=serve_dashboard(cluster), config=desired,
                    success_event=WriteEvent(reason="UpdatedServeApplications",
                                             message=f"Updated serve applications to the RayCluster {where}",
                                             action="Update"),
                    failure_reason="FailedToUpdateServeApplications",
                    failure_message=f"Failed to update serve applications to the RayCluster {where}"))
            return False
        if apps is None:
            return False
        return apps.ready and (bool(rs.spec.exclude_head_pod_from_serve_svc) or apps.proxy.healthy)

    # -- services -------------------------------------------------------------------------------------
    def point_services(self, rs: RayService, target: Mapping[str, Any]) -> None:
        model = RayCluster.model_validate(dict(target))
        wanted: list[Obj | None] = [
            head_service_for(self.raw, model, cluster_ip_service=self.settings.enable_ray_head_cluster_ip_service)]
        if not self.incremental:  # under the incremental strategy each cluster has its own (`traffic`)
            wanted.append(serve_service_for(self.raw, rs, model, incremental=False))
        for desired in wanted:
            if desired is None:
                continue
            current = self.services.get(objects.name(desired))
            if current is None:
                self.write(desired, "Created", create=True)
            elif outdated(current, desired):
                self.write(switched(current, desired), "Updated")
                self.repointed = True

    def write(self, obj: Obj, verb: str, *, create: bool = False, event: bool = True) -> None:
        """Create (`create`) or apply `obj`, with KubeRay's `<verb><Kind>` Events (`CreatedService`,
        `UpdatedHTTPRoute`, ...) unless `event` is False."""
        kind = str(obj["kind"])
        where = f"{objects.namespace(obj)}/{objects.name(obj)}"
        verb_word = "create" if verb == "Created" else "update"
        self.actions.append(Apply(object=obj, create_only=create,
                                  success_event=WriteEvent(reason=f"{verb}{kind}",
                                                           message=f"{verb} the {_noun(kind)} {where}",
                                                           action=verb.removesuffix("d")) if event else None,
                                  failure_reason=f"FailedTo{verb_word.title()}{kind}",
                                  failure_message=f"Failed to {verb_word} the {_noun(kind)} {where}"))

    # -- the incremental upgrade --------------------------------------------------------------------
    def step_capacity(self, which: str) -> None:
        """KubeRay `reconcileServeTargetCapacity` for the `which` cluster, while an upgrade runs and
        the Gateway and HTTPRoute are ready: its target capacity's next step, in the status (the
        config put to the cluster carries it)."""
        if not conditions.is_true(self.status, Type.UPGRADE_IN_PROGRESS):
            return
        need, _ = need_target_capacity_update(self.status, gateway=self.gateway, route=self.route)
        if not need:
            return
        fill_capacity_defaults(self.status)
        side: Which = "active" if which == ACTIVE else "pending"
        goal = capacity_goal(self.status, side, max_surge=self.options_max_surge)
        if goal is not None:
            set_capacity(self.status, side, goal)

    def traffic(self, rs: RayService, active: Obj | None, pending: Obj | None, pending_ready: bool) -> None:
        """KubeRay's incremental objects: each cluster's own serve Service (created, never updated),
        the Gateway, and the HTTPRoute with this pass's weights (`traffic.next_weights`)."""
        options = rs.spec.upgrade_strategy.cluster_upgrade_options if rs.spec.upgrade_strategy else None
        if options is None:
            return
        for raw_cluster in (active, pending):
            if raw_cluster is None:
                continue
            svc = cluster_serve_service(self.raw, rs, raw_cluster, RayCluster.model_validate(dict(raw_cluster)))
            if svc is not None and objects.name(svc) not in self.services:
                self.write(svc, "Created", create=True, event=False)
        gateway = gateway_for(self.raw, gateway_class=options.gateway_class_name)
        if self.gateway is None:
            self.write(gateway, "Created", create=True)
        elif not gateway_equal(self.gateway, gateway):
            self.write({**gateway, "metadata": {**gateway["metadata"]}}, "Updated")
        weights = next_weights(self.status, step=options.step_size_percent, interval_seconds=options.interval_seconds,
                               pending_ready=pending_ready, now=self.now)
        route = httproute_for(self.raw, active=RayCluster.model_validate(dict(active)) if active else None,
                              pending=RayCluster.model_validate(dict(pending)) if pending else None, weights=weights)
        if route is not None:
            if self.route is None:
                self.write(route, "Created", create=True)
            elif not httproute_equal(self.route, route):
                self.write(route, "Updated")

    # -- status ---------------------------------------------------------------------------------------
    def settle(self, rs: RayService, config: Mapping[str, Any], active: Obj | None, pending: Obj | None,
               zero_downtime: bool) -> None:
        """KubeRay `calculateStatus`."""
        self.status["observedGeneration"] = int(objects.meta(self.raw).get("generation") or 0)
        head_svc = self.services.get(head_service_name(rs.name))
        selected = selected_cluster(head_svc) if head_svc is not None else ""
        serve_svc = self.services.get(serve_service_name(rs.name, serve_service=rs.spec.serve_service,
                                                         incremental=self.incremental, cluster=selected))
        pending_serving = False
        if head_svc is not None and serve_svc is not None:
            decided = promotion(self.status, head_service=head_svc, serve_service=serve_svc,
                                incremental=self.incremental, pending_exists=pending is not None)
            if isinstance(decided, Promotion):
                pending_serving = decided.pending_serving
                if decided.promote:
                    self.status = promoted(self.status)
                    active, pending = pending, None
            elif not self.repointed:
                self.event("Warning", "ServicesDisagree", decided.message, "Reconcile")
        if self.incremental and rolling_back(self.status) and rollback_complete(
                self.status, pending_head_ready=pending is not None and condition_true(
                    (pending.get("status") or {}).get("conditions"), "HeadPodReady")):
            complete_rollback(self.status, self.now)
        if should_prepare_new_cluster(config, self.status, active, pending, pending_serving=pending_serving,
                                      zero_downtime=zero_downtime):
            name = cluster_name(rs.name, uid=objects.uid(self.raw),
                                generation=int(objects.meta(self.raw).get("generation") or 0),
                                goal_hash=spec_hash(config), active=self.name_of(ACTIVE), pending=self.name_of(PENDING))
            self.status[PENDING] = new_pending_status(self.status, name, incremental=self.incremental)
        if self.incremental:
            self.status["numServeEndpoints"] = sum(self.endpoints(self.services.get(cluster_serve_service_name(n)))
                                                   for n in {self.name_of(ACTIVE), self.name_of(PENDING)} - {""})
        else:
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
        for which in (ACTIVE, PENDING):  # KubeRay copies both, an empty Go status where there is no cluster
            cluster = self.clusters.get(self.name_of(which))
            found = cluster.get("status") if cluster is not None else None
            self.status.setdefault(which, {})["rayClusterStatus"] = copy.deepcopy(found or EMPTY_STATUS)

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


def _noun(kind: str) -> str:
    """How KubeRay's notes name a kind: "service" in lower case, the others as their kind."""
    return "service" if kind == "Service" else kind


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
