"""The scheduler-bridge reconcile of one RayCluster: observed world in, a `Decision` out. Pure:
no I/O, no clock, no randomness.

It writes the batch scheduler's group object (KubeRay's `DoBatchSchedulingOnSubmission`);
cluster-ctl creates no pod of a gang-scheduled cluster until that object is in its view, and
stamps the pods itself (`crds.batch`). The two agree through the bus, never through a call.

| scheduler | what is written | when it changes |
|---|---|---|
| volcano | PodGroup `ray-<name>-pg`: minMember, minResources, queue, priority class, network topology (minMember 0 and no resources while the cluster is suspended). A RayJob's cluster: named after the RayJob and owned by it, its submitter's resources in minResources (not in minMember: the submitter waits for the cluster), labelled `ray.io/cluster=<cluster>` so the cluster's controllers see it | applied again whenever minMember, minResources or the cluster it serves differ (a scale, a suspended group, the autoscaler's minimum). When the RayJob's cluster goes (the job finished, was suspended or retries), minMember 0 and no resources, so the group holds no quota in between (KubeRay's leaks: #4643, #4940); a PodGroup of a RayCluster goes with it (owner reference) |
| scheduler-plugins (label `ray.io/gang-scheduling-enabled`) | PodGroup `<cluster>`: minMember, minResources of every pod wanted now | created once (KubeRay does not update it). RayJobs' clusters get one too (KubeRay refuses RayJobs) |
| yunikorn, kai-scheduler | nothing: the pods' metadata is all (cluster-ctl, job-ctl) | |

A group KubeRay could not build (Volcano's tier label not a number) gets a Warning Event on
the RayCluster, once per message; the cluster then has no pods, as under KubeRay.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from fractions import Fraction
from typing import Any

from pydantic import ValidationError

from raybus_common import objects
from raybus_common.actions import Action, Apply, ObjectRef, Patch, RecordEvent
from raybus_common.controller.view import Observed
from raybus_common.crds import batch
from raybus_common.crds.raycluster import RayCluster, external_manager
from raybus_common.crds.rayjob import CLUSTER_LABEL
from raybus_common.crds.resources import add
from raybus_common.decision import NOTHING, Decision
from raybus_common.quantity import Quantity

from .config import SchedulerConfig

Obj = dict[str, Any]
FAILED_REASON = "FailedToCreatePodGroup"


def reconcile(observed: Observed, *, now: datetime, settings: SchedulerConfig) -> Decision:
    """The group object of one RayCluster, from its observed snapshot."""
    raw = observed.root
    if raw is None or objects.terminating(raw):
        return _release(observed)
    spec = raw.get("spec")
    if not isinstance(spec, Mapping) or external_manager(spec.get("managedBy")):
        return NOTHING  # another manager (MultiKueue) owns it
    labels = objects.labels(raw)
    scheduler = batch.scheduler_of(labels, settings.batch_scheduler)
    if scheduler not in (batch.VOLCANO, batch.SCHEDULER_PLUGINS):
        return NOTHING
    try:
        cluster = RayCluster.model_validate(raw)
    except ValidationError:
        return NOTHING  # cluster-ctl says why; no pods, so no group either
    if scheduler == batch.VOLCANO:
        return _volcano(raw, cluster, observed)
    if batch.gang_enabled(labels):
        return _plugins(raw, cluster, observed)
    return NOTHING


def _job_owner(raw: Obj) -> Obj | None:
    """The controller ownerReference of a RayJob's cluster."""
    refs = objects.meta(raw).get("ownerReferences") or []
    return next((r for r in refs if r.get("kind") == "RayJob" and r.get("controller")), None)


def _volcano(raw: Obj, cluster: RayCluster, observed: Observed) -> Decision:
    name = batch.volcano_group_name(cluster.labels, cluster.name)
    # A suspended cluster (Kueue's, or the user's) has no pods: its group reserves nothing
    # (KubeRay's keeps reserving, #4940).
    members, resources = (0, {}) if cluster.spec.suspend else batch.gang_size(cluster.spec)
    job_ref = _job_owner(raw) if cluster.creator_crd == "RayJob" else None
    owner: Mapping[str, Any]
    if job_ref is not None:
        job = next((j for j in observed.of("rayjob") if objects.name(j) == job_ref.get("name")), None)
        if job is None:
            return NOTHING  # its RayJob joins the view once it names this cluster
        owner = {**job_ref, "controller": True, "blockOwnerDeletion": True}
        job_spec = job.get("spec") or {}
        add(resources, batch.submitter_resources(job_spec.get("submissionMode") or "K8sJobMode",
                                                       job_spec.get("submitterPodTemplate")))
        extra = {CLUSTER_LABEL: cluster.name}
    else:
        owner, extra = objects.owner_reference(raw), {}
    try:
        group = batch.volcano_pod_group(name=name, namespace=cluster.namespace, owner=owner, labels=cluster.labels,
                                        min_member=members, resources=resources, extra_labels=extra)
    except batch.GroupProblem as e:
        return Decision(actions=tuple(_warn_once(raw, str(e))))
    seen = next((g for g in observed.of("podgroup") if objects.name(g) == name), None)
    if seen is not None and _same(seen, group):
        return NOTHING
    return Decision(actions=(Apply(object=group, failure_reason=FAILED_REASON,
                                   failure_message=f"Failed to create PodGroup {cluster.namespace}/{name}"),))


def _same(seen: Obj, want: Obj) -> bool:
    """Whether the observed PodGroup already says what `want` does where the bridge updates it:
    minMember, minResources (as quantities) and the cluster it serves."""
    got, spec = seen.get("spec") or {}, want["spec"]
    if int(got.get("minMember") or 0) != spec["minMember"]:
        return False
    if objects.labels(seen).get(CLUSTER_LABEL) != (want["metadata"].get("labels") or {}).get(CLUSTER_LABEL):
        return False
    return _quantities(got.get("minResources")) == _quantities(spec.get("minResources"))


def _quantities(resources: Any) -> dict[str, Fraction]:
    """A ResourceList's amounts by name (zero amounts left out): "3" and "3000m" are one."""
    if not isinstance(resources, Mapping):
        return {}
    out: dict[str, Fraction] = {}
    for key, raw in resources.items():
        try:
            q = Quantity.parse(str(raw))
        except ValueError:
            return {}
        if q.value:
            out[str(key)] = q.value
    return out


def _plugins(raw: Obj, cluster: RayCluster, observed: Observed) -> Decision:
    if any(objects.name(g) == cluster.name for g in observed.of("schedulingpodgroup")):
        return NOTHING  # created once, never updated (KubeRay)
    group = batch.plugins_pod_group(name=cluster.name, namespace=cluster.namespace,
                                    owner=objects.owner_reference(raw), spec=cluster.spec)
    return Decision(actions=(Apply(object=group, create_only=True, failure_reason=FAILED_REASON,
                                   failure_message=f"Failed to create PodGroup {cluster.namespace}/{cluster.name}"),))


def _release(observed: Observed) -> Decision:
    """The cluster is going or gone: a RayJob's Volcano PodGroup that still serves it (the
    RayJob's, so it outlives the cluster) reserves nothing any more."""
    actions: list[Action] = []
    for group in observed.of("podgroup"):
        if objects.labels(group).get(CLUSTER_LABEL) != observed.key.name or objects.terminating(group):
            continue
        spec = group.get("spec") or {}
        if int(spec.get("minMember") or 0) == 0 and not _quantities(spec.get("minResources")):
            continue
        # A merge patch: an apply of less would drop the owner reference and the queue.
        actions.append(Patch(ref=ObjectRef.of(group), patch={"spec": {"minMember": 0, "minResources": None}}))
    return Decision(actions=tuple(actions))


def _warn_once(raw: Obj, message: str) -> list[Action]:
    """A Warning Event on the cluster; the actuator's aggregation keeps repeats to a count."""
    return [RecordEvent(regarding=ObjectRef.of(raw), type="Warning", reason=FAILED_REASON, action="Create",
                        message=message)]
