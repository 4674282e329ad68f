"""The `Pass`: what one reconcile of a RayCluster decides, collected in order — the actions (each
write owned by the cluster and carrying KubeRay's Events), and when to look again. Pure.

A write carries both of KubeRay's Events about it, and the actuator records the one that came
true: the Normal one (`CreatedWorkerPod`, "Created worker Pod ns/name") once the write
succeeded, the Warning one (`FailedToCreateWorkerPod`, "Failed to create worker Pod for the
cluster ns/name, <the API's message>") once it failed for good. So the pass never records an
Event of its own for a write; the texts are KubeRay's, per call site (`plan.texts` for the
values KubeRay formats into them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any

from raybus_common import objects
from raybus_common.actions import Action, Apply, Delete, ObjectRef, WriteEvent
from raybus_common.controller.view import Observed
from raybus_common.crds import batch
from raybus_common.crds.raycluster import RayCluster

from ..config import ClusterConfig
from ..constants import REQUEUE_SOON

if TYPE_CHECKING:
    from ..memo import Facts

Obj = dict[str, Any]


def failure_reason(reason: str) -> str:
    """KubeRay's Warning reason for a failed write, from the Normal reason of its success:
    CreatedWorkerPod → FailedToCreateWorkerPod, DeletedPod → FailedToDeletePodCollection."""
    if reason == "DeletedPod":
        return "FailedToDeletePodCollection"
    for done, verb in (("Created", "Create"), ("Deleted", "Delete"), ("Updated", "Update")):
        if reason.startswith(done):
            return f"FailedTo{verb}{reason[len(done):]}"
    return ""


@dataclass
class Pass:
    """One pass over `cluster` (typed, parsed once from `observed.root`, the dict it came from),
    with the `facts` of its spec (`memo`)."""

    cluster: RayCluster
    observed: Observed
    now: datetime
    settings: ClusterConfig
    facts: Facts
    actions: list[Action] = field(default_factory=list)
    requeue: float | None = None
    # Each worker group's pod (by the group model's id), built once per pass (`plan.pods`).
    worker_pods: dict[int, Obj] = field(default_factory=dict)

    @cached_property
    def root(self) -> Obj:
        """The cluster as observed: what owner references and refs are made from."""
        assert self.observed.root is not None, "a pass needs a root"
        return self.observed.root

    @cached_property
    def ref(self) -> ObjectRef:
        return ObjectRef.of(self.root)

    @property
    def spec_hash(self) -> str:
        return self.facts.spec_hash

    @cached_property
    def seed(self) -> str:
        """What pod names derive from: the cluster's uid and its spec hash, so pods re-created
        for a new spec (Recreate) get new names and the same spec always gives the same ones."""
        return f"{self.cluster.uid}:{self.spec_hash}"

    @cached_property
    def pods(self) -> list[Obj]:
        """The observed pods, by name."""
        return sorted(self.observed.of("pod"), key=objects.name)

    @cached_property
    def scheduler(self) -> str:
        """The batch scheduler serving this cluster ("" for none): its label, else the operator's."""
        return batch.scheduler_of(self.cluster.labels, self.settings.batch_scheduler)

    @cached_property
    def group_missing(self) -> batch.GroupRef | None:
        """The scheduler's group object (Volcano's PodGroup, scheduler-plugins' with the gang
        label) while it is not in view: scheduler-bridge writes it, and no pod is created before
        it is observed (its arrival wakes the cluster)."""
        need = batch.required_group(self.scheduler, self.cluster.labels, self.cluster.name)
        return need if need is not None and not self.present(need.kind, need.name) else None

    def batch_meta(self, group: str) -> batch.ChildMeta:
        """KubeRay `AddMetadataToChildResource(cluster, pod, group)` of this cluster's scheduler."""
        if not self.scheduler:
            return batch.NO_META
        c = self.cluster
        tasks = (batch.cluster_task_groups(c.spec)
                 if self.scheduler == batch.YUNIKORN and batch.gang_enabled(c.labels) else None)
        return batch.child_meta(self.scheduler, labels=c.labels, annotations=c.annotations, name=c.name, group=group,
                                task_groups=tasks)

    def soon(self, seconds: float = REQUEUE_SOON) -> None:
        self.requeue = seconds if self.requeue is None else min(self.requeue, seconds)

    def create(self, obj: Obj, reason: str = "", message: str = "", failure: str = "", *, verb: str = "Create",
               failed: str | None = None, create_only: bool = False, generate: dict[str, int] | None = None) -> None:
        """Apply `obj` (owned by the cluster, in its namespace). Its Events: `reason` with
        `message` once it succeeded; `failed` (by default KubeRay's Warning for `reason`) with
        `failure`, then the API's message, once it failed for good. No `reason`: no Event (as
        KubeRay creates the serve Service and the auth Secret). `obj` is left as it was: the
        action's object is a new top and `metadata` over `obj`'s other fields, which nothing
        changes after (a deep copy of every pod cost more than building it)."""
        meta = dict(obj.get("metadata") or {})
        meta.setdefault("namespace", self.cluster.namespace)
        meta["ownerReferences"] = [objects.owner_reference(self.root)]
        owned = {**obj, "metadata": meta}
        self.actions.append(Apply(object=owned, create_only=create_only, generate=generate or {},
                                  **_events(reason, message, failure, verb, failed)))
        self.soon()

    def delete(self, obj: Obj, reason: str = "", message: str = "", failure: str = "", *,
               failed: str | None = None) -> None:
        """Delete `obj` (with its uid as precondition) unless it is already going; its Events as
        for `create`."""
        if objects.terminating(obj):
            return
        self.actions.append(Delete(ref=ObjectRef.of(obj), **_events(reason, message, failure, "Delete", failed)))
        self.soon()

    def creating(self, kind: str, name: str) -> bool:
        """Whether this pass applies a `kind` object named `name` that is not in view yet."""
        return not self.present(kind.lower(), name) and any(
            isinstance(a, Apply) and a.object.get("kind") == kind and objects.name(a.object) == name
            for a in self.actions)

    def present(self, kind: str, name: str) -> bool:
        return any(objects.name(o) == name for o in self.observed.of(kind))


def _events(reason: str, message: str, failure: str, verb: str, failed: str | None) -> dict[str, Any]:
    if not reason:
        return {}
    return {"success_event": WriteEvent(reason=reason, message=message, action=verb),
            "failure_reason": failure_reason(reason) if failed is None else failed, "failure_message": failure}
