"""One reconcile pass of a RayCluster: the `Pass` that collects actions and Events, the label
and annotation keys, and the small readers every part of the pass shares. Pure."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from raybus_common.actions import Action, Apply, Delete, ObjectRef, RecordEvent
from raybus_common.controller.view import Observed
from raybus_common.objects import owner_reference

from .config import ClusterConfig

Obj = dict[str, Any]
KUBERAY_MANAGER = "ray.io/kuberay-operator"
FT_FINALIZER = "ray.io/gcs-ft-redis-cleanup-finalizer"
RECREATE_HASH = "ray.io/upgrade-strategy-recreate-hash"
KUBERAY_VERSION = "ray.io/kuberay-version"
REPLICA_NAME = "ray.io/worker-group-replica-name"
REPLICA_INDEX = "ray.io/worker-group-replica-index"
HOST_INDEX = "ray.io/replica-host-index"
REQUEUE_SOON = 2.0  # KubeRay's DefaultRequeueDuration
FT_DELETION_TIMEOUT = 300.0  # seconds, unless annotation ray.io/gcs-ft-deletion-timeout says otherwise
SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # what the API server's generateName uses


# -- small helpers ------------------------------------------------------------------------------

def _meta(obj: Obj) -> Obj:
    meta: Obj = obj.get("metadata") or {}
    return meta


def _labels(obj: Obj) -> dict[str, str]:
    labels: dict[str, str] = _meta(obj).get("labels") or {}
    return labels


def _name(obj: Obj) -> str:
    return str(_meta(obj).get("name", ""))


def _ref(obj: Obj) -> ObjectRef:
    return ObjectRef.of(obj)


def _truthy(value: Any) -> bool:
    return str(value).lower() == "true"


def _terminating(obj: Obj) -> bool:
    return bool(_meta(obj).get("deletionTimestamp"))


def spec_hash(cluster: Obj) -> str:
    """KubeRay's `GenerateHashWithoutReplicasAndWorkersToDelete` (§5.6): sha1 of the spec with
    every group's replica fields and workersToDelete, the templates' tolerations and
    schedulingGates, and upgradeStrategy left out; base32hex."""
    spec = copy.deepcopy(cluster.get("spec") or {})
    spec.pop("upgradeStrategy", None)
    (spec.get("scaleStrategy") or {}).pop("workersToDelete", None)
    groups = [spec.get("headGroupSpec") or {}, *(spec.get("workerGroupSpecs") or [])]
    for g in groups:
        for k in ("replicas", "minReplicas", "maxReplicas"):
            g.pop(k, None)
        (g.get("scaleStrategy") or {}).pop("workersToDelete", None)
        pod_spec = (g.get("template") or {}).get("spec") or {}
        pod_spec.pop("tolerations", None)
        pod_spec.pop("schedulingGates", None)
    digest = hashlib.sha1(json.dumps(spec, sort_keys=True, separators=(",", ":")).encode(),
                          usedforsecurity=False).digest()
    return base64.b32hexencode(digest).decode().rstrip("=").lower()


def failure_reason(reason: str) -> str:
    """KubeRay's Warning reason for a failed write, from the Normal reason of its success:
    CreatedWorkerPod → FailedToCreateWorkerPod, DeletedPod → FailedToDeletePodCollection."""
    if reason == "DeletedPod":
        return "FailedToDeletePodCollection"
    for done, verb in (("Created", "Create"), ("Deleted", "Delete"), ("Updated", "Update")):
        if reason.startswith(done):
            return f"FailedTo{verb}{reason[len(done):]}"
    return ""


# -- one pass ---------------------------------------------------------------------------------

@dataclass
class Pass:
    cluster: Obj
    observed: Observed
    now: datetime
    settings: ClusterConfig
    actions: list[Action] = field(default_factory=list)
    requeue: float | None = None

    @property
    def seed(self) -> str:
        """What pod names derive from: the cluster's uid and its spec hash, so pods re-created
        for a new spec (Recreate) get new names and the same spec always gives the same ones."""
        return f"{_meta(self.cluster).get('uid', '')}:{spec_hash(self.cluster)}"

    @property
    def ref(self) -> ObjectRef:
        return _ref(self.cluster)

    def event(self, reason: str, message: str, *, warning: bool = False, action: str = "") -> None:
        self.actions.append(RecordEvent(regarding=self.ref, type="Warning" if warning else "Normal", reason=reason,
                                        message=message, action=action))

    def soon(self, seconds: float = REQUEUE_SOON) -> None:
        self.requeue = seconds if self.requeue is None else min(self.requeue, seconds)

    def create(self, obj: Obj, reason: str, what: str, *, verb: str = "Create") -> None:
        owned = copy.deepcopy(obj)
        meta = owned.setdefault("metadata", {})
        meta.setdefault("namespace", _meta(self.cluster)["namespace"])
        meta["ownerReferences"] = [owner_reference(self.cluster)]
        self.actions.append(Apply(object=owned, failure_reason=failure_reason(reason)))
        self.event(reason, f"{verb}d {what} {meta['namespace']}/{meta['name']}", action=verb)
        self.soon()

    def delete(self, obj: Obj, reason: str, what: str) -> None:
        if _terminating(obj):
            return
        self.actions.append(Delete(ref=_ref(obj), failure_reason=failure_reason(reason)))
        self.event(reason, f"Deleted {what} {_meta(obj).get('namespace')}/{_name(obj)}", action="Delete")
        self.soon()

    def present(self, kind: str, name: str) -> bool:
        return any(_name(o) == name for o in self.observed.of(kind))

    def pods(self) -> list[Obj]:
        return sorted(self.observed.of("pod"), key=_name)

