"""The decision vocabulary: the objects a controller names (`ObjectRef`) and the writes it asks
for (`Action`), as frozen pydantic models.

An `Action` is a discriminated union on `op`: `Apply` (server-side apply of a whole object),
`ApplyStatus`, `Patch` (a merge patch of fields Raybus does not apply), `Delete` (with the uid
precondition), `AddFinalizer`, `RemoveFinalizer` and `RecordEvent`. Controllers return them in a
`Decision` (`raybus_common.decision`); the runtime wraps each in an `ActionEnvelope` on the bus
(`raybus_common.bus.envelopes`) with the deterministic `action_id` below; the actuator carries
them out.

Pure: pydantic, json and hashlib only, so a controller's decision code can import this without
loading a bus, a Kubernetes client or a clock.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .objects import Obj, strip_managed_fields


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


class _Write(_Model):
    """An action that writes an object. `failure_reason`, if set, is the reason of the Warning
    Event the actuator records on the action's root when the write fails for good (e.g.
    KubeRay's `FailedToCreateWorkerPod`), with the API's message."""

    failure_reason: str = ""


class Apply(_Write):
    """Server-side apply of a full object (the actuator's one field manager, force=True)."""

    op: Literal["apply"] = "apply"
    object: Obj

    @field_validator("object")
    @classmethod
    def _complete(cls, value: Obj) -> Obj:
        missing = [k for k in ("apiVersion", "kind") if not value.get(k)]
        if not (value.get("metadata") or {}).get("name"):
            missing.append("metadata.name")
        if missing:
            raise ValueError(f"an applied object needs {', '.join(missing)}")
        return strip_managed_fields(value)

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
    """A Kubernetes Event (events.k8s.io/v1) about `regarding`."""

    op: Literal["record_event"] = "record_event"
    regarding: ObjectRef
    type: Literal["Normal", "Warning"] = "Normal"
    reason: str
    message: str
    action: str = ""

    @property
    def ref(self) -> ObjectRef:
        return self.regarding


Action = Annotated[Apply | ApplyStatus | Patch | Delete | AddFinalizer | RemoveFinalizer | RecordEvent,
                   Field(discriminator="op")]


def target_of(action: Action) -> ObjectRef:
    """The object an action writes (for RecordEvent: the object the event is about)."""
    return action.ref


def action_id(controller: str, root: ObjectRef, action: Action, *, salt: str = "") -> str:
    """A deterministic id: the same action for the same root gives the same id, so a replica
    that re-issues it after a restart is deduplicated by `Nats-Msg-Id` within the stream's
    duplicate window. Pass the root's observed resourceVersion (or generation) as `salt` so a
    repeat after a *new* observation is a new action rather than a duplicate."""
    body = json.dumps(action.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    text = f"{controller}\x1f{root.key}\x1f{salt}\x1f{body}"
    return hashlib.sha256(text.encode()).hexdigest()[:32]
