"""The RayCluster reconcile: observed world in, a `Decision` out. Pure: no I/O, no clock (the
caller passes `now`), no randomness, no environment (`settings` is passed in).

KubeRay's sequence (`rayClusterReconcile`), one pass at a time:

1. `managedBy` names another manager → hands off (nothing at all).
2. The observed dict is parsed once into the typed `RayCluster` and validated
   (`validation.check`); everything below reads the model. What follows from the spec alone
   (the typed spec, the problems that do not read the status, the spec hash, the desired
   resources, the children's names) is worked out once per spec and kept (`memo`), with the
   same results as afresh.
3. Deletion and the GCS fault-tolerance finalizer (`plan.deletion`).
4. An invalid cluster — or one that does not even parse — gets a Warning Event
   (`InvalidRayClusterSpec`) *and*, unlike KubeRay, a status condition naming the fields; it is
   not reconciled further.
5. Children in KubeRay's order (`plan.children`), then pods (`plan.pods`).
6. Status (`status.calculate`), written only when it changed, with KubeRay's `ReplicaFailure`
   condition while a pod write this pass makes again failed the last time
   (`status.replica_failure`, from the failed writes in view); requeue after 2 s when this pass
   wrote a child, else after `requeue_seconds` (300 s, KubeRay's default). KubeRay also requeues
   2 s after a status write; here the runtime wakes the root once that write lands or fails.

Events about writes ride on the writes (`plan.collector`): the actuator records KubeRay's Normal
Event once a write succeeded, its Warning once it failed for good.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from raybus_common import objects
from raybus_common.actions import ObjectRef, RecordEvent, RemoveFinalizer, WriteEvent
from raybus_common.controller.view import Observed
from raybus_common.crds.raycluster import external_manager
from raybus_common.decision import NOTHING, Decision

from .config import ClusterConfig
from .constants import FT_FINALIZER
from .memo import MEMO, Facts
from .plan.children import reconcile_children
from .plan.collector import Pass
from .plan.deletion import add_finalizer, deleting, needs_finalizer
from .plan.pods import reconcile_pods
from .status.calculate import calculate_status, invalid_status, status_changed
from .status.replica_failure import replica_failure
from .validation.check import check
from .validation.problems import Problem, summary


def reconcile(observed: Observed, *, now: datetime, settings: ClusterConfig) -> Decision:
    """The whole desired state of one RayCluster from its observed snapshot."""
    raw = observed.root
    if raw is None:
        MEMO.forget(observed.key.namespace, observed.key.name)
        return NOTHING
    spec = raw.get("spec")
    if external_manager(spec.get("managedBy") if isinstance(spec, Mapping) else None):
        return NOTHING  # another manager (e.g. MultiKueue) owns it
    facts = MEMO.facts(raw, settings)
    checked = facts.checked(raw) if facts is not None else check(raw, gates=settings.gates)
    if checked.cluster is None:
        return _unparsable(raw, observed, checked.problems, now=now, settings=settings)
    p = Pass(checked.cluster, observed, now, settings,
             facts if facts is not None else Facts.of_cluster(checked.cluster, settings))
    if objects.terminating(raw):
        deleting(p)
        return Decision(actions=tuple(p.actions), requeue_after=p.requeue)
    if checked.problems:
        return _invalid(p, checked.problems)
    if needs_finalizer(p):
        add_finalizer(p)
        return Decision(actions=tuple(p.actions), requeue_after=p.requeue)
    reconcile_children(p)
    reconcile_pods(p)
    return _finish(p, ())


def _finish(p: Pass, problems: tuple[Problem, ...]) -> Decision:
    new = calculate_status(p.cluster, list(p.observed.of("pod")), list(p.observed.of("service")), now=p.now,
                           problems=problems, feature_conditions=p.settings.feature_enabled("RayClusterStatusConditions"),
                           reconcile_error=replica_failure(p.observed.failures, p.actions),
                           resources=p.facts.desired_resources)
    # A changed status alone sets no timer (KubeRay requeues 2 s after writing one): the runtime
    # wakes the root when the write shows in view, fails, or is held back. A 2 s timer here made a
    # root whose write waited minutes in the actuator's queue at 3,000 clusters reconcile every
    # 2 s meanwhile, each pass's status held back behind the one in flight.
    status = new if status_changed(p.root.get("status"), new) else None
    requeue = p.requeue if p.requeue is not None else p.settings.requeue_seconds
    return Decision(actions=tuple(p.actions), status=status, requeue_after=requeue)


def _invalid(p: Pass, problems: tuple[Problem, ...]) -> Decision:
    event = _invalid_event(p.root, problems)
    if event is not None:
        p.actions.append(event)
    decision = _finish(p, problems)
    return decision.model_copy(update={"requeue_after": None})  # nothing to retry until the spec changes


def _unparsable(raw: dict[str, Any], observed: Observed, problems: tuple[Problem, ...], *, now: datetime,
                settings: ClusterConfig) -> Decision:
    """An object the typed model cannot hold (wrong types the API server would have rejected):
    an invalid cluster like any other — Event and condition — never an exception. Being deleted,
    its finalizer goes: the cleanup it guards needs a spec Raybus can read."""
    if objects.terminating(raw):
        if FT_FINALIZER not in objects.finalizers(raw):
            return NOTHING
        forced = WriteEvent(reason="ForceDeletedStuckCluster", action="Cleanup",
                            message=f"Forcibly removed the finalizer {FT_FINALIZER}: the spec is invalid: "
                                    f"{summary(problems)}")
        return Decision(actions=(RemoveFinalizer(ref=ObjectRef.of(raw), finalizer=FT_FINALIZER, success_event=forced),))
    status = raw.get("status")
    old = status if isinstance(status, Mapping) else None
    new = invalid_status(old, problems, generation=int(objects.meta(raw).get("generation") or 0), now=now,
                         feature_conditions=settings.feature_enabled("RayClusterStatusConditions"))
    event = _invalid_event(raw, problems)
    return Decision(actions=() if event is None else (event,), status=new if status_changed(old, new) else None)


def _invalid_event(raw: Mapping[str, Any], problems: tuple[Problem, ...]) -> RecordEvent | None:
    """KubeRay's Warning Event, once per distinct set of problems: not when the status already says so."""
    text = summary(problems)
    old = raw.get("status")
    if isinstance(old, Mapping) and any(c.get("message") == text for c in old.get("conditions") or []):
        return None
    return RecordEvent(regarding=ObjectRef.of(raw), type="Warning", reason="InvalidRayClusterSpec", action="Validate",
                       message=f"The RayCluster spec is invalid {objects.namespace(raw)}/{objects.name(raw)}: {text}")
