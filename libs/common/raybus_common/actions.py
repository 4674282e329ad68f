"""The decision vocabulary: the objects a controller names (`ObjectRef`) and the writes it asks
for (`Action`), as frozen pydantic models.

An `Action` is a discriminated union on `op`: `Apply` (server-side apply of a whole object, or
a create that never overwrites), `ApplyStatus`, `Patch` (a merge patch of fields Raybus does not
apply), `Delete` (with the uid precondition), `AddFinalizer`, `RemoveFinalizer` and
`RecordEvent`. Controllers return them in a `Decision` (`raybus_common.decision`); the runtime
wraps each in an `ActionEnvelope` on the bus (`raybus_common.bus.envelopes`) with the
deterministic `action_id` below; the actuator carries them out.

A write's Events travel with the write: `success_event` is recorded by the actuator only once the
write succeeded, the Warning named by `failure_reason` only once it failed for good, so an Event
never claims what did not happen (KubeRay records one or the other after its API call returns).

Pure: pydantic, json and hashlib only, so a controller's decision code can import this without
loading a bus, a Kubernetes client or a clock.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .objects import Obj, strip_managed_fields
from .ray.jobs import API_VERSION as RAY_API_VERSION
from .ray.jobs import KIND as RAY_JOB_INFO
from .ray.jobs import Dashboard, JobRequest
from .ray.serve import KIND as RAY_SERVE_APPS


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class ObjectRef(_Model):
    """Names one Kubernetes object. `namespace` is "" for cluster-scoped objects."""

    api_version: str
    kind: str  # Kubernetes kind, CamelCase ("RayCluster")
    namespace: str = ""
    name: str
    uid: str | None = None

    @classmethod
    def of(cls, obj: Mapping[str, Any]) -> ObjectRef:
        meta = obj.get("metadata") or {}
        return cls(api_version=obj["apiVersion"], kind=obj["kind"], namespace=meta.get("namespace", ""),
                   name=meta["name"], uid=meta.get("uid"))

    @property
    def key(self) -> str:
        """`kind/namespace/name` with the lowercase kind, as in subjects and logs."""
        return f"{self.kind.lower()}/{self.namespace}/{self.name}"


# -- actions ------------------------------------------------------------------------------------


class WriteEvent(_Model):
    """A Normal Event about the action's root that the actuator records once the write it rides
    on succeeded (KubeRay's `CreatedWorkerPod`, `Created worker Pod ns/name`, action `Create`)."""

    reason: str
    message: str
    action: str = ""  # the Event's action (events.k8s.io/v1 requires one); the reason when empty


class _Write(_Model):
    """An action that writes an object, with the Events KubeRay records about it on the root:
    `success_event` once the write succeeded; when it fails for good, a Warning with reason
    `failure_reason` (e.g. `FailedToCreateWorkerPod`) and the note `<failure_message>, <the API's
    message>` (KubeRay's `"Failed to create worker Pod for the cluster %s/%s, %v"`), or the API's
    message alone without a `failure_message`. Neither set: no Event."""

    success_event: WriteEvent | None = None
    failure_reason: str = ""
    failure_message: str = ""

    @property
    def verb(self) -> str:
        """The Events' action: the success Event's, else what the op does to the object."""
        if self.success_event is not None and self.success_event.action:
            return self.success_event.action
        return "Delete" if isinstance(self, Delete) else "Create" if isinstance(self, Apply) else "Update"


class Apply(_Write):
    """Server-side apply of a full object (the actuator's one field manager, force=True).

    With `create_only`, a create instead: the object is POSTed, and if one of that name exists
    (AlreadyExists) the action is done and nothing is overwritten — KubeRay's create-once
    children whose content must never change, like the auth token Secret. `generate` (only with
    `create_only`) names `stringData` keys the actuator fills at write time with the standard
    base64 of that many random bytes, so a secret is made where it is stored and never travels
    on the bus (the action holds only the key and the length)."""

    op: Literal["apply"] = "apply"
    object: Obj
    create_only: bool = False
    generate: dict[str, int] = Field(default_factory=dict)

    @field_validator("object")
    @classmethod
    def _complete(cls, value: Obj) -> Obj:
        missing = [k for k in ("apiVersion", "kind") if not value.get(k)]
        if not (value.get("metadata") or {}).get("name"):
            missing.append("metadata.name")
        if missing:
            raise ValueError(f"an applied object needs {', '.join(missing)}")
        return strip_managed_fields(value)

    @model_validator(mode="after")
    def _generate_once(self) -> Apply:
        if self.generate and not self.create_only:
            raise ValueError("generated data needs create_only: an apply would replace it on every write")
        if any(n < 1 or n > 1024 for n in self.generate.values()):
            raise ValueError("a generated value is 1 to 1024 random bytes")
        given = {**(self.object.get("data") or {}), **(self.object.get("stringData") or {})}
        if clash := sorted(set(self.generate) & set(given)):
            raise ValueError(f"generated keys are also given in the object: {', '.join(clash)}")
        return self

    @property
    def ref(self) -> ObjectRef:
        return ObjectRef.of(self.object)


class ApplyStatus(_Write):
    """Server-side apply to the status subresource; `ref.uid`, if set, must still match."""

    op: Literal["apply_status"] = "apply_status"
    ref: ObjectRef
    status: Obj


class Delete(_Write):
    """Delete with a UID precondition, so a re-created object of the same name survives."""

    op: Literal["delete"] = "delete"
    ref: ObjectRef
    propagation: Literal["Background", "Foreground", "Orphan"] = "Background"

    @field_validator("ref")
    @classmethod
    def _uid(cls, value: ObjectRef) -> ObjectRef:
        if not value.uid:
            raise ValueError("a delete needs the object's uid (the precondition)")
        return value


class Patch(_Write):
    """A JSON merge patch of fields Raybus does not own by server-side apply (re-stamping an
    adopted pod's annotations, say); with `ref.uid`, the patch also pins the uid, so a
    re-created object of the same name is refused."""

    op: Literal["patch"] = "patch"
    ref: ObjectRef
    patch: Obj


class AddFinalizer(_Write):
    op: Literal["add_finalizer"] = "add_finalizer"
    ref: ObjectRef
    finalizer: str


class RemoveFinalizer(_Write):
    op: Literal["remove_finalizer"] = "remove_finalizer"
    ref: ObjectRef
    finalizer: str


class RecordEvent(_Model):
    """A Kubernetes Event (events.k8s.io/v1) about `regarding`, on its own: for what is not a
    write (an invalid spec). Events about a write ride on the write (`success_event`,
    `failure_reason`)."""

    op: Literal["record_event"] = "record_event"
    regarding: ObjectRef
    type: Literal["Normal", "Warning"] = "Normal"
    reason: str
    message: str
    action: str = ""

    @property
    def ref(self) -> ObjectRef:
        return self.regarding


# -- calls to Ray's dashboards ------------------------------------------------------------------


def ray_job_ref(rayjob: Mapping[str, Any]) -> ObjectRef:
    """The target of a Ray job call: the RayJob's `RayJobInfo` (named and uid'd like the RayJob),
    so its result lands on `raybus.res.rayjobinfo.<ns>.<rayjob>` beside the observations."""
    meta = rayjob.get("metadata") or {}
    return ObjectRef(api_version=RAY_API_VERSION, kind=RAY_JOB_INFO, namespace=meta.get("namespace", ""),
                     name=meta["name"], uid=meta.get("uid"))


class _RayCall(_Model):
    """A call that changes Ray, carried out by the actuator against `dashboard` (reached as the
    actuator's settings say). No Kubernetes Events: KubeRay records none for these calls."""

    ref: ObjectRef  # `ray_job_ref(rayjob)`, `ray_serve_ref(raycluster)`
    dashboard: Dashboard

    @property
    def verb(self) -> str:
        return "Update"


class RaySubmitJob(_RayCall):
    """`POST /api/jobs/` with `request` (its `submission_id` set). A submission id the dashboard
    already knows ("Please use a different submission_id") is done, not failed: submitting is
    idempotent by id, so a redelivered or repeated submit never makes a second job."""

    op: Literal["ray_submit_job"] = "ray_submit_job"
    request: JobRequest

    @field_validator("request")
    @classmethod
    def _with_id(cls, value: JobRequest) -> JobRequest:
        if not value.submission_id:
            raise ValueError("a submitted job needs its submission_id (the exactly-once key)")
        return value


class RayStopJob(_RayCall):
    """`POST /api/jobs/<id>/stop`; a job that is unknown or already ended is done."""

    op: Literal["ray_stop_job"] = "ray_stop_job"
    submission_id: str = Field(min_length=1)


class RayDeleteJob(_RayCall):
    """`DELETE /api/jobs/<id>` (a finished job's record and logs on the head); unknown is done."""

    op: Literal["ray_delete_job"] = "ray_delete_job"
    submission_id: str = Field(min_length=1)


def ray_serve_ref(raycluster: Mapping[str, Any]) -> ObjectRef:
    """The target of a serve call on a RayCluster: its `RayServeApplications` (named after the
    RayCluster, uid `<raycluster uid>/serve`), so the result lands on
    `raybus.res.rayserveapplications.<ns>.<raycluster>` beside the observations."""
    meta = raycluster.get("metadata") or {}
    uid = meta.get("uid")
    return ObjectRef(api_version=RAY_API_VERSION, kind=RAY_SERVE_APPS, namespace=meta.get("namespace", ""),
                     name=meta["name"], uid=f"{uid}/serve" if uid else None)


class RayPutServeConfig(_RayCall):
    """`PUT /api/serve/applications/` with `config` (a serve config as parsed, KubeRay's
    `serveConfigV2` sent as JSON), on the RayCluster `ref` names (`ray_serve_ref`). Ray applies a
    config declaratively, so putting the same config again changes nothing: a redelivered action
    is safe. Whether it is needed is the controller's to read (`ray.serve.deployed_matches`).
    Unlike the job calls it may carry KubeRay's Events, recorded on its root as a write's are."""

    op: Literal["ray_put_serve_config"] = "ray_put_serve_config"
    config: dict[str, Any]
    # KubeRay records these for its serve submissions (`UpdatedServeApplications`,
    # `FailedToUpdateServeApplications`), unlike its job calls: as a write's (`_Write`).
    success_event: WriteEvent | None = None
    failure_reason: str = ""
    failure_message: str = ""

    @field_validator("config")
    @classmethod
    def _json(cls, value: dict[str, Any]) -> dict[str, Any]:
        try:
            json.dumps(value)
        except (TypeError, ValueError) as e:
            raise ValueError(f"a serve config must be JSON: {e}") from None
        return value


RayCall = RaySubmitJob | RayStopJob | RayDeleteJob | RayPutServeConfig
RAY_OPS = frozenset({"ray_submit_job", "ray_stop_job", "ray_delete_job", "ray_put_serve_config"})

Action = Annotated[Apply | ApplyStatus | Patch | Delete | AddFinalizer | RemoveFinalizer | RecordEvent
                   | RaySubmitJob | RayStopJob | RayDeleteJob | RayPutServeConfig, Field(discriminator="op")]


def target_of(action: Action) -> ObjectRef:
    """The object an action writes (for RecordEvent: the object the event is about)."""
    return action.ref


def action_id(controller: str, root: ObjectRef, action: Action, *, salt: str = "") -> str:
    """A deterministic id: the same action for the same root gives the same id, so a replica
    that re-issues it after a restart is deduplicated by `Nats-Msg-Id` within the stream's
    duplicate window. Pass the root's observed resourceVersion (or generation) as `salt` so a
    repeat after a *new* observation is a new action rather than a duplicate. The action is
    hashed as pydantic serialises it (fields in the model's order, dicts in the order a reconcile
    built them, which is the same every time it decides the same): sorting the keys through
    `json.dumps` cost a second serialisation per action."""
    return action_digest(controller, root, action_json(action), salt=salt)


def action_json(action: Action) -> bytes:
    """The action as pydantic serialises it: what its id hashes and its envelope carries."""
    return action.model_dump_json().encode()


def action_digest(controller: str, root: ObjectRef, body: bytes, *, salt: str = "") -> str:
    """`action_id` of an action already serialised (`action_json`)."""
    digest = hashlib.sha256(f"{controller}\x1f{root.key}\x1f{salt}\x1f".encode())
    digest.update(body)
    return digest.hexdigest()[:32]
