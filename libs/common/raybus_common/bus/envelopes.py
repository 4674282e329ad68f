"""The messages on the bus, as pydantic models with a schema version.

- `StateEnvelope` on `raybus.state.…`: an object as last observed (managedFields stripped),
  or a tombstone once it is gone.
- `ActionEnvelope` on `raybus.act.…` / `raybus.shadow.…`: one `Action` (a discriminated union
  on `op`: `Apply`, `ApplyStatus`, `Patch`, `Delete`, `AddFinalizer`, `RemoveFinalizer`, `RecordEvent`)
  with a deterministic `action_id` that is also its `Nats-Msg-Id`.
- `ResultEnvelope` on `raybus.res.…`: what became of an action.
- `DeadLetter` on `raybus.dlq.…`: a message that failed for good, with the error.

Envelope fields are snake_case on the wire (they are Raybus's own format); the Kubernetes
objects inside keep Kubernetes' camelCase. Unknown envelope fields are ignored (a tolerant
reader within one schema version); a `schema_version` newer than this code understands, bad
JSON or a failed validation raise `PermanentError` from `decode`, naming the problem.

Pure: no I/O, no clock except where a caller omits a timestamp (the default is "now", in
UTC; reconcile code passes its own `now`).
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ..errors import PermanentError

SCHEMA_VERSION = 1
Obj = dict[str, Any]


def _now() -> datetime:
    return datetime.now(UTC)


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
    def of(cls, obj: Obj) -> ObjectRef:
        meta = obj.get("metadata") or {}
        return cls(api_version=obj["apiVersion"], kind=obj["kind"], namespace=meta.get("namespace", ""),
                   name=meta["name"], uid=meta.get("uid"))

    @property
    def key(self) -> str:
        """`kind/namespace/name` with the lowercase kind, as in subjects and logs."""
        return f"{self.kind.lower()}/{self.namespace}/{self.name}"


class Envelope(_Model):
    schema_version: int = SCHEMA_VERSION


# -- state --------------------------------------------------------------------------------------

StateType = Literal["ADDED", "MODIFIED", "DELETED", "SNAPSHOT", "TOMBSTONE"]
GONE: frozenset[str] = frozenset({"DELETED", "TOMBSTONE"})


def strip_object(obj: Obj) -> Obj:
    """The object without `metadata.managedFields` (large, and no controller reads it)."""
    meta = obj.get("metadata")
    if not isinstance(meta, dict) or "managedFields" not in meta:
        return obj
    return {**obj, "metadata": {k: v for k, v in meta.items() if k != "managedFields"}}


class StateEnvelope(Envelope):
    """`ADDED`/`MODIFIED`/`DELETED` mirror watch events; `SNAPSHOT` is an object seen by a
    (re)list; `TOMBSTONE` marks an object the bus still showed but a relist no longer found.
    DELETED and TOMBSTONE both mean gone (`gone`); `object` is then the last state, if known."""

    type: StateType
    ref: ObjectRef
    uid: str
    resource_version: str = ""
    observed_at: datetime = Field(default_factory=_now)
    object: Obj | None = None

    @field_validator("object")
    @classmethod
    def _strip(cls, value: Obj | None) -> Obj | None:
        return None if value is None else strip_object(value)

    @model_validator(mode="after")
    def _object_unless_gone(self) -> StateEnvelope:
        if self.object is None and self.type not in GONE:
            raise ValueError(f"a {self.type} state message needs the object")
        return self

    @property
    def gone(self) -> bool:
        return self.type in GONE

    @classmethod
    def observed(cls, type: StateType, obj: Obj, *, observed_at: datetime | None = None) -> StateEnvelope:
        meta = obj.get("metadata") or {}
        return cls(type=type, ref=ObjectRef.of(obj), uid=meta.get("uid", ""),
                   resource_version=meta.get("resourceVersion", ""), observed_at=observed_at or _now(),
                   object=obj)


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
        return strip_object(value)

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


class ActionEnvelope(Envelope):
    action_id: str
    controller: str
    root: ObjectRef
    dry_run: bool = False
    issued_at: datetime = Field(default_factory=_now)
    action: Action

    @classmethod
    def build(cls, controller: str, root: ObjectRef, action: Action, *, salt: str = "",
              dry_run: bool = False, issued_at: datetime | None = None) -> ActionEnvelope:
        return cls(action_id=action_id(controller, root, action, salt=salt), controller=controller,
                   root=root, dry_run=dry_run, issued_at=issued_at or _now(), action=action)


# -- results and dead letters -------------------------------------------------------------------

Outcome = Literal["ok", "temporary", "permanent"]


class ResultEnvelope(Envelope):
    action_id: str
    controller: str = ""
    root: ObjectRef | None = None
    op: str = ""
    outcome: Outcome
    http_status: int | None = None
    message: str = ""
    attempts: int = Field(1, ge=1)
    finished_at: datetime = Field(default_factory=_now)


class DeadLetter(Envelope):
    subject: str  # where the failed message was published
    data: str  # its payload as text (undecodable bytes replaced), so malformed input is kept
    headers: dict[str, str] = Field(default_factory=dict)
    error: str
    attempts: int = Field(1, ge=1)
    stream: str = ""
    stream_seq: int | None = None
    failed_at: datetime = Field(default_factory=_now)


# -- owner references ---------------------------------------------------------------------------


def owner_reference(owner: Obj, controller: bool = True, block_owner_deletion: bool = True) -> Obj:
    """The ownerReference that makes `owner` (an object dict) own another object; the one
    way Raybus builds owner references, so garbage collection behaves the same everywhere."""
    meta = owner.get("metadata") or {}
    missing = [k for k, v in (("apiVersion", owner.get("apiVersion")), ("kind", owner.get("kind")),
                              ("metadata.name", meta.get("name")), ("metadata.uid", meta.get("uid"))) if not v]
    if missing:
        raise ValueError(f"an owner needs {', '.join(missing)}")
    return {"apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": meta["name"], "uid": meta["uid"],
            "controller": controller, "blockOwnerDeletion": block_owner_deletion}


# -- wire format --------------------------------------------------------------------------------

E = TypeVar("E", bound=Envelope)


def encode(envelope: Envelope) -> bytes:
    return envelope.model_dump_json(exclude_none=False).encode()


def decode(model: type[E], data: bytes | str) -> E:
    """Parse and validate one message; every failure is a `PermanentError` naming the problem."""
    try:
        raw = json.loads(data)
    except (ValueError, UnicodeDecodeError) as e:
        raise PermanentError(f"malformed JSON for {model.__name__}: {e}") from e
    if not isinstance(raw, dict):
        raise PermanentError(f"{model.__name__} must be a JSON object, got {type(raw).__name__}")
    version = raw.get("schema_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise PermanentError(f"{model.__name__} has no valid schema_version (got {version!r})")
    if version > SCHEMA_VERSION:
        raise PermanentError(f"{model.__name__} schema_version {version} is newer than this service "
                             f"understands ({SCHEMA_VERSION}); upgrade the consumer")
    try:
        return model.model_validate(raw)
    except ValidationError as e:
        problems = "; ".join(f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}"
                             for err in e.errors()[:5])
        raise PermanentError(f"invalid {model.__name__}: {problems}") from e
