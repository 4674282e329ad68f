"""Reading Kubernetes objects held as JSON (`dict`s with camelCase keys), the one way.

Observed objects reach controllers as the API server sent them: plain dicts. Every service reads
their metadata through these few functions (name, namespace, labels, annotations, whether the
object is being deleted), builds owner references with `owner_reference`, strips
`managedFields` with `strip_managed_fields`, makes `generateName`-like suffixes that a pure
reconcile can repeat (`generated_suffix`), reads and writes `metav1.Time` (`read_time`,
`wire_time`) and sets a `metav1.Condition` in a status (`set_condition`), and writes an object
as JSON bytes (`dumps`). Missing metadata reads as empty, never as an error.

Pure: no I/O, no clock, no environment. Typed views of Raybus's own kinds are the pydantic models
in `raybus_common.crds`; this module is for everything else (Pods, Services, Jobs, ...).
"""


import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import orjson
from pydantic_core import to_jsonable_python

Obj = dict[str, Any]
SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # the API server's generateName (k8s rand.String) alphabet


def dumps(value: Any) -> bytes:
    """JSON bytes as pydantic writes them, by orjson (bus messages, API request bodies): UTC
    datetimes end in `Z`; what orjson cannot write natively (a pydantic model, a set, a Decimal)
    goes through pydantic-core's JSON-able form."""
    return orjson.dumps(value, default=to_jsonable_python, option=orjson.OPT_UTC_Z)


def generated_suffix(*parts: object) -> str:
    """Five characters of `SUFFIX_ALPHABET` derived from `parts`: what KubeRay leaves to
    `generateName` or draws at random (pod names; a RayJob's cluster name and submission id),
    the same for the same inputs, so a decision taken twice names the same object."""
    digest = hashlib.sha256("/".join(str(p) for p in parts).encode()).digest()
    return "".join(SUFFIX_ALPHABET[b % len(SUFFIX_ALPHABET)] for b in digest[:5])


def meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    """`metadata`, or an empty mapping."""
    found: Mapping[str, Any] = obj.get("metadata") or {}
    return found


def name(obj: Mapping[str, Any]) -> str:
    return str(meta(obj).get("name") or "")


def namespace(obj: Mapping[str, Any]) -> str:
    return str(meta(obj).get("namespace") or "")


def uid(obj: Mapping[str, Any]) -> str:
    return str(meta(obj).get("uid") or "")


def resource_version(obj: Mapping[str, Any]) -> str:
    return str(meta(obj).get("resourceVersion") or "")


def labels(obj: Mapping[str, Any]) -> Mapping[str, str]:
    found: Mapping[str, str] = meta(obj).get("labels") or {}
    return found


def annotations(obj: Mapping[str, Any]) -> Mapping[str, str]:
    found: Mapping[str, str] = meta(obj).get("annotations") or {}
    return found


def finalizers(obj: Mapping[str, Any]) -> list[str]:
    return list(meta(obj).get("finalizers") or [])


def terminating(obj: Mapping[str, Any]) -> bool:
    """The object has a deletionTimestamp: it goes once its finalizers are removed."""
    return bool(meta(obj).get("deletionTimestamp"))


def strip_managed_fields(obj: Obj) -> Obj:
    """The object without `metadata.managedFields` (large, and no controller reads it)."""
    m = obj.get("metadata")
    if not isinstance(m, dict) or "managedFields" not in m:
        return obj
    return {**obj, "metadata": {k: v for k, v in m.items() if k != "managedFields"}}


def owner_reference(owner: Mapping[str, Any], controller: bool = True, block_owner_deletion: bool = True) -> Obj:
    """The ownerReference that makes `owner` (an object dict) own another object; the one way
    Raybus builds owner references, so garbage collection behaves the same everywhere."""
    m = meta(owner)
    missing = [k for k, v in (("apiVersion", owner.get("apiVersion")), ("kind", owner.get("kind")),
                              ("metadata.name", m.get("name")), ("metadata.uid", m.get("uid"))) if not v]
    if missing:
        raise ValueError(f"an owner needs {', '.join(missing)}")
    return {"apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": m["name"], "uid": m["uid"],
            "controller": controller, "blockOwnerDeletion": block_owner_deletion}


def wire_time(at: datetime) -> str:
    """`metav1.Time` on the wire: RFC 3339 in UTC, whole seconds."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def read_time(value: Any) -> datetime | None:
    """A time from the wire (None when absent or unreadable); naive times are UTC."""
    if isinstance(value, datetime):
        found = value
    elif isinstance(value, str) and value:
        try:
            found = datetime.fromisoformat(value)
        except ValueError:
            return None
    else:
        return None
    return found if found.tzinfo is not None else found.replace(tzinfo=UTC)


def set_condition(conditions: list[Obj], cond: Obj, stamp: str) -> None:
    """`meta.SetStatusCondition`: update in place, keep lastTransitionTime unless status changes;
    append new types at the end."""
    cond = {"message": "", **cond}
    for i, existing in enumerate(conditions):
        if existing.get("type") == cond["type"]:
            same = existing.get("status") == cond["status"] and existing.get("lastTransitionTime")
            conditions[i] = {**cond, "lastTransitionTime": existing["lastTransitionTime"] if same else stamp}
            return
    conditions.append({**cond, "lastTransitionTime": stamp})
