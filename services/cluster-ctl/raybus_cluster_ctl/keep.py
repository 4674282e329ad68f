"""The part of each child object cluster-ctl keeps in its view (`Watch.keep`): what a pass, the
status, an Event's text or the runtime reads, nothing else. A pod as the API server serves it is
about 6.5 KB of JSON (33 KB of Python objects); what is kept of it is a tenth of that. Pure.

What is read, and so kept (the audit behind each function; a new read of a child field must be
added here, and `tests/unit/test_cluster_keep.py` fails while it is not):

- every child: `apiVersion`, `kind`, `metadata.name`/`namespace`/`uid` (lookups by name, the
  uid precondition of a delete), `resourceVersion` (the view's staleness check, the action ids'
  salt), `deletionTimestamp` (`objects.terminating`), the RayCluster controller reference among
  `ownerReferences` (kind, name, controller: how the view finds the child's cluster);
- pods: the labels `ray.io/cluster` (the view's second mapper, the status), `ray.io/node-type`,
  `ray.io/group`, `ray.io/worker-group-replica-name` and `-index` (`plan.pods`); the annotations
  `ray.io/kuberay-version` and `ray.io/upgrade-strategy-recreate-hash` (adoption, Recreate);
  `spec.restartPolicy` and the first container's name (`should_delete_pod`, the Event texts);
  `status.phase`, `podIP`, the `Ready` conditions (type, status, reason, message; the list only
  when one is there, so the `PodScheduled` of a pod's binding changes nothing kept) and each
  container status's name and `waiting`/`terminated` state (readiness, HeadPodReady, the texts
  of `plan.texts`);
- Services: the labels `ray.io/cluster` and `ray.io/node-type` (which is the head Service),
  `spec.clusterIP` and each port's name, `nodePort` and `targetPort` (`status.endpoints`);
- Ingresses: labels, annotations and spec whole (`plan.children.drifted`);
- Jobs: the label `ray.io/node-type` and each condition's type and status (`plan.deletion`);
- ServiceAccounts, Roles, RoleBindings, Secrets (no token data in the view), PVCs,
  NetworkPolicies: nothing beyond the metadata above (only whether they exist is read).

What is kept is copied where it is a container and shared where it is a string, so the kept
object never shares a dict or list with the object it came from.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from .constants import (
    CLUSTER_LABEL,
    GROUP_LABEL,
    KUBERAY_VERSION_ANNOTATION,
    NODE_TYPE_LABEL,
    RECREATE_HASH_ANNOTATION,
    REPLICA_INDEX_LABEL,
    REPLICA_NAME_LABEL,
)
from .podtemplate import json_copy

Obj = dict[str, Any]
Keep = Callable[[Obj], Obj]
OWNER_KIND = "RayCluster"
_META = ("name", "namespace", "uid", "resourceVersion", "deletionTimestamp")
POD_LABELS = (CLUSTER_LABEL, NODE_TYPE_LABEL, GROUP_LABEL, REPLICA_NAME_LABEL, REPLICA_INDEX_LABEL)
POD_ANNOTATIONS = (KUBERAY_VERSION_ANNOTATION, RECREATE_HASH_ANNOTATION)
SERVICE_LABELS = (CLUSTER_LABEL, NODE_TYPE_LABEL)
JOB_LABELS = (NODE_TYPE_LABEL,)


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _pick(source: Mapping[str, Any], keys: tuple[str, ...]) -> Obj:
    """The `keys` `source` has, copied (absent stays absent: readers tell the two apart)."""
    return {k: json_copy(source[k]) for k in keys if k in source}


def _meta(obj: Mapping[str, Any], labels: tuple[str, ...] | None = (),
          annotations: tuple[str, ...] | None = ()) -> Obj:
    """The metadata every child keeps, with the `labels` and `annotations` named (None: all)."""
    meta = _map(obj.get("metadata"))
    out = _pick(meta, _META)
    owners = [{k: ref[k] for k in ("kind", "name", "controller") if k in ref}
              for ref in _list(meta.get("ownerReferences"))
              if isinstance(ref, Mapping) and ref.get("kind") == OWNER_KIND and ref.get("controller")]
    if owners:
        out["ownerReferences"] = owners
    for field, keys in (("labels", labels), ("annotations", annotations)):
        if field in meta and isinstance(meta[field], Mapping):
            kept = dict(meta[field]) if keys is None else _pick(meta[field], keys)
            if kept:
                out[field] = kept
    return out


def _head(obj: Mapping[str, Any], **meta: tuple[str, ...] | None) -> Obj:
    return {**_pick(obj, ("apiVersion", "kind")), "metadata": _meta(obj, **meta)}


def keep_pod(pod: Obj) -> Obj:
    out = _head(pod, labels=POD_LABELS, annotations=POD_ANNOTATIONS)
    if "spec" in pod:
        spec = _map(pod["spec"])
        kept = _pick(spec, ("restartPolicy",))
        if "containers" in spec:
            containers = _list(spec["containers"])
            kept["containers"] = [_pick(_map(containers[0]), ("name",))] if containers else []
        out["spec"] = kept
    if "status" in pod:
        status = _map(pod["status"])
        kept = _pick(status, ("phase", "podIP"))
        ready = [_pick(c, ("type", "status", "reason", "message")) for c in _list(status.get("conditions"))
                 if isinstance(c, Mapping) and c.get("type") == "Ready"]
        if ready:  # (none, or not one yet: the same to every reader, so a bind changes nothing kept)
            kept["conditions"] = ready
        if "containerStatuses" in status:
            kept["containerStatuses"] = [_container_status(cs) for cs in _list(status["containerStatuses"])]
        out["status"] = kept
    return out


def _container_status(cs: Any) -> Obj:
    cs = _map(cs)
    out = _pick(cs, ("name",))
    if "state" in cs:
        out["state"] = _pick(_map(cs["state"]), ("waiting", "terminated"))
    return out


def keep_service(svc: Obj) -> Obj:
    out = _head(svc, labels=SERVICE_LABELS)
    if "spec" in svc:
        spec = _map(svc["spec"])
        kept = _pick(spec, ("clusterIP",))
        if "ports" in spec:
            kept["ports"] = [_pick(_map(p), ("name", "nodePort", "targetPort")) for p in _list(spec["ports"])]
        out["spec"] = kept
    return out


def keep_ingress(ingress: Obj) -> Obj:
    return {**_head(ingress, labels=None, annotations=None), **_pick(ingress, ("spec",))}


def keep_job(job: Obj) -> Obj:
    out = _head(job, labels=JOB_LABELS)
    if "status" in job:
        status = _map(job["status"])
        out["status"] = ({"conditions": [_pick(_map(c), ("type", "status")) for c in _list(status["conditions"])]}
                         if "conditions" in status else {})
    return out


def keep_metadata(obj: Obj) -> Obj:
    """For kinds of which only whether they exist is read."""
    return _head(obj)


def keep_group(obj: Obj) -> Obj:
    """A batch scheduler's group object: whether it exists, and the cluster its label names (a
    RayJob's Volcano PodGroup reaches its cluster's view by that label, not by an owner)."""
    return _head(obj, labels=(CLUSTER_LABEL,))


KEEP: dict[str, Keep] = {"pod": keep_pod, "service": keep_service, "ingress": keep_ingress, "job": keep_job,
                         "podgroup": keep_group}


def keep_for(kind: str) -> Keep:
    """What cluster-ctl keeps of a child of `kind` (a subject kind: lowercase)."""
    return KEEP.get(kind, keep_metadata)
