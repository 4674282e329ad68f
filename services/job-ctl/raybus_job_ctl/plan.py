"""The `Pass`: what one reconcile of a RayJob works on and decides — the RayJob (as observed and
typed), the children in view the state machine reads, the new status being worked out, the
actions in order (each write carrying KubeRay's Events), and when to look again. Pure.

A write carries both of KubeRay's Events about it and the actuator records the one that came
true (`CreatedRayCluster` "Created RayCluster ns/name" once the create succeeded;
`FailedToCreateRayCluster` "Failed to create RayCluster ns/name, <the API's message>" once it
failed for good), so the pass never records an Event of its own for a write.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any, Literal

from raybus_common import objects
from raybus_common.actions import Action, Apply, Delete, ObjectRef, Patch, RecordEvent, WriteEvent
from raybus_common.controller.view import Failure, Observed
from raybus_common.crds.rayjob import RayJob
from raybus_common.ray.jobs import JobInfo, info_of

from .config import JobConfig
from .constants import CLUSTER_LABEL, HEAD, NODE_TYPE_LABEL
from .names import cluster_head_service_name, rayjob_head_service_name
from .timers import REQUEUE, until

Obj = dict[str, Any]
SUBMIT_OP = "ray_submit_job"


@dataclass
class Pass:
    """One pass over the RayJob `raw` (typed once as `job`), with the `observed` view it came
    from. `status` starts as a copy of the observed status and is changed the way KubeRay's
    reconcile changes its in-memory object; the caller decides whether it is written."""

    raw: Obj
    job: RayJob
    observed: Observed
    now: datetime
    settings: JobConfig
    status: Obj = field(init=False)
    actions: list[Action] = field(default_factory=list)
    requeue: float | None = None

    def __post_init__(self) -> None:
        self.status = copy.deepcopy(self.old_status)

    # -- what is in view -----------------------------------------------------------------
    @property
    def old_status(self) -> Obj:
        found = self.raw.get("status")
        return found if isinstance(found, dict) else {}

    @cached_property
    def ref(self) -> ObjectRef:
        return ObjectRef.of(self.raw)

    @property
    def name(self) -> str:
        return objects.name(self.raw)

    @property
    def namespace(self) -> str:
        return objects.namespace(self.raw)

    @property
    def selector_cluster(self) -> str | None:
        """The cluster `clusterSelector` picks (KubeRay reads only `ray.io/cluster`); None when
        the RayJob makes its own."""
        selector = self.job.spec.cluster_selector
        return selector.get(CLUSTER_LABEL, "") if selector else None

    @property
    def cluster_name(self) -> str:
        return str(self.status.get("rayClusterName") or "")

    @property
    def job_id(self) -> str:
        return str(self.status.get("jobId") or "")

    def cluster(self) -> Obj | None:
        """The RayCluster named `status.rayClusterName`: owned, or picked by `clusterSelector`."""
        name = self.cluster_name
        return next((c for c in self.observed.of("raycluster") if objects.name(c) == name), None) if name else None

    def submitter(self) -> Obj | None:
        """The submitter Job, named like the RayJob."""
        return next((j for j in self.observed.of("job") if objects.name(j) == self.name), None)

    def head_pods(self, cluster: str) -> list[Obj]:
        """The head pods of `cluster` (labels `ray.io/cluster`, `ray.io/node-type=head`)."""
        return [p for p in self.observed.of("pod")
                if objects.labels(p).get(CLUSTER_LABEL) == cluster and objects.labels(p).get(NODE_TYPE_LABEL) == HEAD]

    def cluster_head_service(self, cluster: Obj) -> Obj | None:
        """The RayCluster's own head Service, when the view holds it."""
        name = cluster_head_service_name(objects.name(cluster), cluster.get("spec"))
        return next((s for s in self.observed.of("service") if objects.name(s) == name
                     and objects.labels(s).get(CLUSTER_LABEL) == objects.name(cluster)), None)

    def own_head_service(self) -> Obj | None:
        """The RayJob's `<rayjob>-head-svc`."""
        name = rayjob_head_service_name(self.name)
        return next((s for s in self.observed.of("service") if objects.name(s) == name), None)

    def info(self) -> JobInfo | None:
        """What the dashboard last said about the current submission id (None: nothing yet)."""
        for obj in self.observed.of("rayjobinfo"):
            found = info_of(obj)
            if found is not None and found[0] and found[0] == self.job_id:
                return found[2]
        return None

    def failed_submit(self) -> Failure | None:
        """A submission of this RayJob's Ray job that failed for good, still in view."""
        return next((f for f in self.observed.failures if f.op == SUBMIT_OP), None)

    # -- when to look again ------------------------------------------------------------------
    def again(self, seconds: float = REQUEUE) -> None:
        self.requeue = seconds if self.requeue is None else min(self.requeue, seconds)

    def due(self, at: datetime, margin: float = 0.0) -> None:
        """Look again when `at` comes (a deadline or TTL measured from a time in the status)."""
        self.again(until(at, self.now, margin))

    # -- writes ------------------------------------------------------------------------------------
    def create(self, obj: Obj, reason: str, message: str, failure: str, *, create_only: bool = True,
               verb: str = "Create") -> None:
        """Apply `obj` (a create that never overwrites, unless `create_only` is False: a
        server-side apply), with KubeRay's Events: `reason` once it succeeded, `FailedTo<verb>…`
        with `failure`, then the API's message, once it failed for good."""
        self.actions.append(Apply(object=obj, create_only=create_only, **_events(reason, message, failure, verb)))

    def delete(self, obj: Obj, reason: str, message: str, failure: str, *,
               propagation: Literal["Background", "Foreground", "Orphan"] = "Background") -> None:
        """Delete `obj` (its uid the precondition) unless it is going already."""
        if objects.terminating(obj):
            return
        self.actions.append(Delete(ref=ObjectRef.of(obj), propagation=propagation,
                                   **_events(reason, message, failure, "Delete")))

    def patch(self, obj: Obj, patch: Obj, reason: str, message: str, failure: str) -> None:
        """A merge patch of `obj`, pinned to its uid."""
        self.actions.append(Patch(ref=ObjectRef.of(obj), patch=patch, **_events(reason, message, failure, "Update")))

    def warn(self, reason: str, message: str, action: str) -> None:
        """A Warning Event about the RayJob that is not about a write."""
        self.actions.append(RecordEvent(regarding=self.ref, type="Warning", reason=reason, message=message,
                                        action=action))


def failure_reason(reason: str, verb: str) -> str:
    """KubeRay's Warning reason for a failed write: CreatedRayCluster → FailedToCreateRayCluster."""
    done = {"Create": "Created", "Delete": "Deleted", "Update": "Updated"}[verb]
    return f"FailedTo{verb}{reason.removeprefix(done)}"


def _events(reason: str, message: str, failure: str, verb: str) -> dict[str, Any]:
    return {"success_event": WriteEvent(reason=reason, message=message, action=verb),
            "failure_reason": failure_reason(reason, verb), "failure_message": failure}
