"""The `Pass`: what one reconcile of a RayCluster decides, collected in order — the actions (each
write owned by the cluster and paired with KubeRay's Event), and when to look again. Pure.

Every write carries the Warning reason KubeRay records when it fails (`failure_reason`), so the
actuator can raise the same Event KubeRay would.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any

from raybus_common import objects
from raybus_common.actions import Action, Apply, Delete, ObjectRef, RecordEvent
from raybus_common.controller.view import Observed
from raybus_common.crds.raycluster import RayCluster

from ..config import ClusterConfig
from ..constants import REQUEUE_SOON

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
    """One pass over `cluster` (typed, parsed once from `observed.root`, the dict it came from)."""

    cluster: RayCluster
    observed: Observed
    now: datetime
    settings: ClusterConfig
    actions: list[Action] = field(default_factory=list)
    requeue: float | None = None

    @cached_property
    def root(self) -> Obj:
        """The cluster as observed: what owner references and refs are made from."""
        assert self.observed.root is not None, "a pass needs a root"
        return self.observed.root

    @cached_property
    def ref(self) -> ObjectRef:
        return ObjectRef.of(self.root)

    @cached_property
    def spec_hash(self) -> str:
        return self.cluster.spec.spec_hash()

    @cached_property
    def seed(self) -> str:
        """What pod names derive from: the cluster's uid and its spec hash, so pods re-created
        for a new spec (Recreate) get new names and the same spec always gives the same ones."""
        return f"{self.cluster.uid}:{self.spec_hash}"

    @cached_property
    def pods(self) -> list[Obj]:
        """The observed pods, by name."""
        return sorted(self.observed.of("pod"), key=objects.name)

    def event(self, reason: str, message: str, *, warning: bool = False, action: str = "") -> None:
        self.actions.append(RecordEvent(regarding=self.ref, type="Warning" if warning else "Normal", reason=reason,
                                        message=message, action=action))

    def soon(self, seconds: float = REQUEUE_SOON) -> None:
        self.requeue = seconds if self.requeue is None else min(self.requeue, seconds)

    def create(self, obj: Obj, reason: str, what: str, *, verb: str = "Create") -> None:
        """Apply `obj` (a copy, owned by the cluster, in its namespace) and record `reason`."""
        owned = copy.deepcopy(obj)
        meta = owned.setdefault("metadata", {})
        meta.setdefault("namespace", self.cluster.namespace)
        meta["ownerReferences"] = [objects.owner_reference(self.root)]
        self.actions.append(Apply(object=owned, failure_reason=failure_reason(reason)))
        self.event(reason, f"{verb}d {what} {meta['namespace']}/{meta['name']}", action=verb)
        self.soon()

    def delete(self, obj: Obj, reason: str, what: str) -> None:
        """Delete `obj` (with its uid as precondition) unless it is already going."""
        if objects.terminating(obj):
            return
        self.actions.append(Delete(ref=ObjectRef.of(obj), failure_reason=failure_reason(reason)))
        self.event(reason, f"Deleted {what} {objects.namespace(obj)}/{objects.name(obj)}", action="Delete")
        self.soon()

    def present(self, kind: str, name: str) -> bool:
        return any(objects.name(o) == name for o in self.observed.of(kind))
