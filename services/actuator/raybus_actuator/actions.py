"""What each action becomes against the Kubernetes API, and how its failure is judged.

The pure half (request builders, `finalizers_after`, `judge`; the Events' in `events`) is
unit-tested without a server; `Executor` is the thin I/O half that sends the requests. The
path of an action's object comes from discovery
(`kube.discovery.Discovery`): its apiVersion and kind as the API server serves them (refreshed
once when the server seems not to serve them, so a CRD installed after start is found). A kind
the server does not serve is `UnknownResource`: permanent. The builders take that resolved
`Resource`.

| action                       | request                                                          |
|------------------------------|------------------------------------------------------------------|
| `Apply`                      | PATCH the object, `application/apply-patch+yaml`, one field manager, force |
| `Apply` with `create_only`   | POST the object (with `generate`d `stringData` made here, from `os.urandom`) |
| `ApplyStatus`                | JSON patch of `/status`: test `metadata.uid`, then replace the status |
| `Patch`                      | a JSON merge patch (fields Raybus does not apply), `metadata.uid` pinned |
| `Delete`                     | DELETE with `preconditions.uid` and the propagation policy       |
| `AddFinalizer`               | GET, then merge-patch `metadata.finalizers` with the resourceVersion read |
| `RemoveFinalizer`            | (optimistic concurrency: a concurrent writer makes it a retried 409) |
| `RecordEvent`, a write's Events | through `recorder.EventRecorder` (its own client and rate limit): POST an `events.k8s.io/v1` Event named after its isomorphic key and a 6-minute window; repeats count in memory and the next flush writes the series' count (one patch) |

How Events are named and chosen for a write's outcome is `events`; how series are kept, `recorder`.
All the actuator reads of an answer is metadata (a write's resourceVersion, a finalizer round's
uid, finalizers and resourceVersion), so every request asks for the metadata only
(`kube.client.METADATA`): the API server encodes, and the actuator parses, no spec or status.

Every action is safe to carry out twice, because JetStream redelivers an action whose ack was
lost (a crash between the API call and the ack): an apply of the same object changes nothing
the second time, a create finds its object there (AlreadyExists: done, nothing overwritten, a
generated secret never rotates), a finalizer already present (or absent) is left alone, and a
delete that finds the object gone has nothing left to do. An Event is the exception: a
redelivered Event, or a write's success Event after a redelivered write, counts once more in its
series.

`judge` is the one table of outcomes of a Kubernetes API answer in Raybus:

| API answer                                   | outcome                                    |
|----------------------------------------------|--------------------------------------------|
| 2xx                                          | ok                                         |
| 409 AlreadyExists on a `create_only` `Apply` | ok: it exists, and is left as it is        |
| 404 on `Delete` or `RemoveFinalizer`         | ok: the object is gone, which is what was asked (KubeRay treats NotFound as done too) |
| 404 on `ApplyStatus`                         | ok: the object is gone (deleted while its status was on the way); nothing to write, nothing to retry |
| 409 "Precondition failed" (UID)              | permanent: the name now holds another object |
| 408, 409, 425, 429, 5xx, timeouts, transport | temporary, retried after `Retry-After` if the API sent one, else with backoff; bounded |
| 400, 403, 404, 410, 422 and other 4xx        | permanent: result + dead letter            |

Only an outcome of the write itself (`Judgement.done`) records the write's success Event
(`events.outcome_event`): an object found already gone or already there was not deleted or
created by this action.
"""

from __future__ import annotations

import asyncio
import base64
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from raybus_common.actions import (
    Action,
    AddFinalizer,
    Apply,
    ApplyStatus,
    Delete,
    ObjectRef,
    Patch,
    RayCall,
    RecordEvent,
    RemoveFinalizer,
)
from raybus_common.errors import retryable
from raybus_common.kube.client import APPLY, JSON_PATCH, MERGE, METADATA, ApiError, KubeClient
from raybus_common.kube.discovery import Discovery
from raybus_common.kube.resources import Resource

from .recorder import EventRecorder

Obj = dict[str, Any]
Judged = Literal["ok", "temporary", "permanent"]
FINALIZER_TRIES = 3  # GET + patch rounds before a conflicting writer makes it a retried 409


class UnknownResource(Exception):
    """The action names a kind the API server does not serve (or no namespace for a namespaced
    one): there is no API path for it. Permanent."""


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    body: Obj | list[Obj] | None = None
    content_type: str | None = None
    params: dict[str, str] | None = None


def _item(ref: ObjectRef, res: Resource) -> str:
    if res.namespaced and not ref.namespace:
        raise UnknownResource(f"{ref.kind} {ref.name!r} is namespaced but the action names no namespace")
    return res.item(ref.namespace or None, ref.name)


def apply_request(action: Apply, res: Resource, field_manager: str) -> Request:
    return Request("PATCH", _item(action.ref, res), action.object, APPLY,
                   {"fieldManager": field_manager, "force": "true"})


def generated(action: Apply, random_bytes: Callable[[int], bytes] = os.urandom) -> dict[str, str]:
    """The `stringData` the action asks to generate: the standard base64 of N random bytes per
    key (KubeRay's auth token: 32 bytes, 44 characters)."""
    return {key: base64.b64encode(random_bytes(n)).decode() for key, n in sorted(action.generate.items())}


def create_request(action: Apply, res: Resource, field_manager: str, made: Mapping[str, str]) -> Request:
    """A `create_only` apply: POST the object, with the generated `stringData` (`made`) added."""
    ref = action.ref
    if res.namespaced and not ref.namespace:
        raise UnknownResource(f"{ref.kind} {ref.name!r} is namespaced but the action names no namespace")
    body = dict(action.object)  # (only the top level changes: the action's object is left as it was)
    if made:
        body["stringData"] = {**(body.get("stringData") or {}), **made}
    return Request("POST", res.collection(ref.namespace or None), body, "application/json",
                   {"fieldManager": field_manager})


def status_request(action: ApplyStatus, res: Resource, field_manager: str) -> Request:
    """The status subresource, replaced as a whole. With the object's uid (the usual case) it is
    a JSON patch that first tests `metadata.uid`, so a status computed for an object that has
    since been deleted and re-created under the same name is refused (server-side apply would
    ignore a uid in the body); without a uid, a server-side apply of the status."""
    ref = action.ref
    if ref.uid:
        ops: list[Obj] = [{"op": "test", "path": "/metadata/uid", "value": ref.uid},
               {"op": "add", "path": "/status", "value": action.status}]
        return Request("PATCH", _item(ref, res) + "/status", ops, JSON_PATCH, {"fieldManager": field_manager})
    meta: Obj = {"name": ref.name}
    if ref.namespace:
        meta["namespace"] = ref.namespace
    body = {"apiVersion": ref.api_version, "kind": ref.kind, "metadata": meta, "status": action.status}
    return Request("PATCH", _item(ref, res) + "/status", body, APPLY, {"fieldManager": field_manager, "force": "true"})


def patch_request(action: Patch, res: Resource) -> Request:
    """A merge patch; with the ref's uid in `metadata.uid`, which the API server refuses to change."""
    body = action.patch
    if action.ref.uid:  # (a copy of the levels that change: the action's patch is left as it was)
        body = {**body, "metadata": {**(body.get("metadata") or {}), "uid": action.ref.uid}}
    return Request("PATCH", _item(action.ref, res), body, MERGE)


def delete_request(action: Delete, res: Resource) -> Request:
    body = {"apiVersion": "v1", "kind": "DeleteOptions", "preconditions": {"uid": action.ref.uid},
            "propagationPolicy": action.propagation}
    return Request("DELETE", _item(action.ref, res), body, "application/json")


def finalizers_after(obj: Obj, action: AddFinalizer | RemoveFinalizer) -> list[str] | None:
    """The object's finalizers once the action is done, or None if nothing needs to change."""
    current = list((obj.get("metadata") or {}).get("finalizers") or [])
    if isinstance(action, AddFinalizer):
        return None if action.finalizer in current else [*current, action.finalizer]
    return [f for f in current if f != action.finalizer] if action.finalizer in current else None


def _is_uid_precondition(err: ApiError) -> bool:
    return err.status == 409 and "precondition" in err.message.lower() and "uid" in err.message.lower()


@dataclass(frozen=True)
class Judgement:
    outcome: Judged
    message: str  # what happened, for a person and the dead letter ("403 Forbidden: ...")
    delay: float | None = None  # for a temporary outcome: the API's Retry-After, if it sent one
    error: str = ""  # a failure's own message: the API's Status message, what KubeRay's `%v` prints
    done: bool = False  # ok because this action did the write (not: found it already done)
    resource_version: str = ""  # the object's resourceVersion after the write, when the API said


def judge(action: Action, err: ApiError) -> Judgement:
    """The outcome of an API error while carrying out `action` (see the module table)."""
    text = f"{err.status} {err.reason}: {err.message}".replace(" :", ":") if err.status else err.message
    if isinstance(action, Apply) and action.create_only and err.status == 409 and err.reason == "AlreadyExists":
        return Judgement("ok", "already exists; left as it is")
    if isinstance(action, (Delete, RemoveFinalizer)) and err.status == 404:
        return Judgement("ok", "already gone")
    if isinstance(action, ApplyStatus) and err.status == 404:
        return Judgement("ok", "the object is gone: its status has nowhere to go")
    if _is_uid_precondition(err):
        return Judgement("permanent", f"the name now holds another object ({text})", error=err.message)
    if retryable(err.status):
        return Judgement("temporary", text, err.retry_after, error=err.message)
    return Judgement("permanent", text, error=err.message)


def _done(message: str) -> Judgement:
    return Judgement("ok", message, done=True)


def _rv(obj: Obj) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion", "?"))


class Executor:
    """Sends the requests for one action; raises `ApiError` (or `UnknownResource`)."""

    def __init__(self, kube: KubeClient, discovery: Discovery, *, field_manager: str, instance: str,
                 recorder: EventRecorder | None = None) -> None:
        self.kube = kube
        self.discovery = discovery
        self.field_manager = field_manager
        self.instance = instance
        self.recorder = recorder or EventRecorder(kube, instance)

    async def resource_of(self, ref: ObjectRef) -> Resource:
        res = await self.discovery.lookup(ref.api_version, ref.kind)
        if res is None:
            raise UnknownResource(f"no API path for {ref.api_version} {ref.kind}: the API server does not serve it")
        return res

    async def send(self, req: Request) -> Obj:
        """Send one request; the answer's metadata (`{"metadata": {...}}`): all the actuator reads
        of a write's answer is its resourceVersion, so the API server sends (and this parses)
        no spec or status."""
        return await self.kube.request(req.method, req.path, body=req.body, content_type=req.content_type,
                                       params=req.params, accept=METADATA)

    async def execute(self, action: Action, *, controller: str, now: datetime) -> Judgement:
        """Carry the action out: an ok `Judgement` saying what was done (`done`: this action
        made the change, rather than finding it made). Raises `ApiError`, `UnknownResource`."""
        if isinstance(action, RecordEvent):
            return _done(await self.record(action, controller=controller, now=now))
        if isinstance(action, RayCall):  # the handler sends these to `ray_calls`
            raise UnknownResource(f"{action.op} is a call to Ray's dashboard, not a Kubernetes write")
        res = await self.resource_of(action.ref)
        if isinstance(action, Apply):
            if action.create_only:
                got = await self.send(create_request(action, res, self.field_manager, generated(action)))
                return _done(f"created (resourceVersion {_rv(got)})")
            got = await self.send(apply_request(action, res, self.field_manager))
            return _done(f"applied (resourceVersion {_rv(got)})")
        if isinstance(action, ApplyStatus):
            try:
                got = await self.send(status_request(action, res, self.field_manager))
            except ApiError as e:
                if e.status == 422 and action.ref.uid:
                    await self._explain_uid_test(action.ref, res)
                raise
            return Judgement("ok", f"status applied (resourceVersion {_rv(got)})", done=True,
                             resource_version=str((got.get("metadata") or {}).get("resourceVersion", "")))
        if isinstance(action, Patch):
            return _done(f"patched (resourceVersion {_rv(await self.send(patch_request(action, res)))})")
        if isinstance(action, Delete):
            await self.send(delete_request(action, res))
            return _done(f"deleted ({action.propagation})")
        return await self._finalizer(action, res)

    async def record(self, action: RecordEvent, *, controller: str, now: datetime) -> str:
        """Record the Event through the recorder (its own client and budget; series in memory)."""
        return await self.recorder.record(action, controller=controller, now=now)

    async def _explain_uid_test(self, ref: ObjectRef, res: Resource) -> None:
        """A JSON patch whose `test` fails is a bare 422; name the real cause if it is the uid."""
        current = await self.kube.request("GET", _item(ref, res), accept=METADATA)  # a 404 says "gone" better
        uid = (current.get("metadata") or {}).get("uid")
        if uid != ref.uid:
            raise ApiError(409, f"Precondition failed: the UID in the precondition ({ref.uid}) does not match the "
                                f"UID in record ({uid}); the object was deleted and re-created", "Conflict")

    async def _finalizer(self, action: AddFinalizer | RemoveFinalizer, res: Resource) -> Judgement:
        path = _item(action.ref, res)
        for attempt in range(1, FINALIZER_TRIES + 1):
            obj = await self.kube.request("GET", path, accept=METADATA)
            meta = obj.get("metadata") or {}
            if action.ref.uid and meta.get("uid") != action.ref.uid:
                if isinstance(action, RemoveFinalizer):
                    return Judgement("ok", "the object was re-created; the old one and its finalizers are gone")
                raise ApiError(409, f"Precondition failed: UID in precondition: {action.ref.uid}, "
                                    f"UID in object meta: {meta.get('uid')}", "Conflict")
            wanted = finalizers_after(obj, action)
            if wanted is None:
                return Judgement("ok", "finalizer already " + ("present" if isinstance(action, AddFinalizer)
                                                               else "absent"))
            patch = {"metadata": {"finalizers": wanted, "resourceVersion": meta.get("resourceVersion")}}
            try:
                await self.kube.raw("PATCH", path, body=patch, content_type=MERGE, accept=METADATA)
            except ApiError as e:
                if e.status != 409 or attempt == FINALIZER_TRIES:
                    raise
                await asyncio.sleep(0.05 * attempt)  # someone wrote meanwhile: read again
                continue
            return _done("finalizer " + ("added" if isinstance(action, AddFinalizer) else "removed"))
        raise AssertionError("unreachable: the last round returns or raises")
