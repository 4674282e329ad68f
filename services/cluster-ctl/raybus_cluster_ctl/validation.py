"""Validation of a RayCluster, as KubeRay v1.7 does it, plus the two desired-replica helpers.

`validate(cluster)` returns every `Problem` it finds, each naming a JSON path and, where KubeRay
has one, KubeRay's message. KubeRay stops at the first error (`ValidateRayClusterMetadata`,
`ValidateRayClusterSpec`, `ValidateRayClusterUpgradeOptions`, `ValidateRayClusterStatus`), so the
problems come in KubeRay's order: `problems[0]` is what KubeRay would report. Also checked, because
Raybus may run without the CRD schema, CEL rules and webhook in front of it: required fields,
the enums, `managedBy`, and unique worker group names (KubeRay's webhook).

Not checked: container/port types and other PodTemplateSpec schema (the API server's job), the
runtime check that cert-manager exists for TLS, and KubeRay's non-fatal v1-autoscaler
restartPolicy warning event. Pure: no I/O; feature gates are a parameter (KubeRay v1.7 defaults).

Layout: this module holds the entry point, the desired-replica helpers and the metadata, schema,
group, upgrade and status rules; `validation_features.py` the feature rules (GCS fault tolerance,
autoscaler, history server, auth, network policy, TLS); `validation_common.py` the `Problem` type
and the readers both share. Every public name of the three is importable from here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .validation_common import (
    HEAD,
    HEAD_C0,
    Problem,
    Problems,
    _pod_spec,
    _workers,
    autoscaler_v2,
    autoscaling_enabled,
    ft_enabled,
    parse_version,
)
from .validation_features import (
    COLLECTOR_FORBIDDEN_ENV,
    TLS_ENV,
    _auth,
    _autoscaling,
    _gcs_ft,
    _history,
    _network_policy,
    _tls,
)

# Every public name of the three validation modules stays importable from here.
__all__ = [
    "COLLECTOR_FORBIDDEN_ENV", "DNS1035_MSG", "GATES_V1_7", "HEAD", "HEAD_C0", "MANAGED_BY", "MAX_INT32",
    "MAX_NAME_LENGTH", "TLS_ENV", "Problem", "Problems", "autoscaler_v2", "autoscaling_enabled",
    "desired_worker_replicas", "ft_enabled", "group_desired_replicas", "parse_version", "validate",
]

MAX_NAME_LENGTH = 53  # utils.MaxRayClusterNameLength
MAX_INT32 = 2**31 - 1
GATES_V1_7: Mapping[str, bool] = {
    "RayJobDeletionPolicy": True,
    "RayClusterNetworkPolicy": False,
    "GCSFaultToleranceEmbeddedStorage": False,
    "RayClusterMTLS": False,
    "RayClusterHistoryServer": False,
}
MANAGED_BY = ("ray.io/kuberay-operator", "kueue.x-k8s.io/multikueue")
_DNS1035 = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
_LABEL = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
DNS1035_MSG = ("a lowercase RFC 1035 label must consist of lower case alphanumeric characters or '-', start "
               "with an alphabetic character, and end with an alphanumeric character")


def validate(cluster: Mapping[str, Any], *, gates: Mapping[str, bool] | None = None) -> Problems:
    """Every problem of `cluster` (a RayCluster dict), in KubeRay's order; [] when valid."""
    g = {**GATES_V1_7, **(gates or {})}
    spec: Mapping[str, Any] = cluster.get("spec") or {}
    meta: Mapping[str, Any] = cluster.get("metadata") or {}
    annotations: Mapping[str, str] = meta.get("annotations") or {}
    return [*_metadata(meta), *_schema(spec), *_groups(spec), *_gcs_ft(spec, annotations, g),
            *_autoscaling(spec, g), *_history(spec, g), *_auth(spec), *_network_policy(spec, g),
            *_tls(spec, g), *_upgrade(cluster), *_status(cluster)]


def desired_worker_replicas(group: Mapping[str, Any], cluster: Mapping[str, Any]) -> int:
    """Pods a worker group should have (KubeRay `GetWorkerGroupDesiredReplicas`): replicas (unset →
    minReplicas) clamped into [minReplicas (default 0), maxReplicas (default MaxInt32)], times
    numOfHosts (default 1); 0 when the group is suspended. Raybus also returns 0 when the whole
    cluster is suspended (KubeRay gets there by deleting every Pod instead)."""
    if (cluster.get("spec") or {}).get("suspend") is True:
        return 0
    return group_desired_replicas(group)


def group_desired_replicas(group: Mapping[str, Any]) -> int:
    """KubeRay's `GetWorkerGroupDesiredReplicas` exactly: ignores the cluster's own `suspend`
    (status.desiredWorkerReplicas is the sum of these)."""
    if group.get("suspend") is True:
        return 0
    low, high, replicas = group.get("minReplicas", 0) or 0, group.get("maxReplicas", MAX_INT32), group.get("replicas")
    high = MAX_INT32 if high is None else high
    count = low if replicas is None or replicas < low else min(replicas, high)
    return int(count) * int(group.get("numOfHosts", 1) or 1)


# --- helpers -------------------------------------------------------------------------------------


def _unsupported(path: str, value: Any, allowed: tuple[str, ...]) -> Problem:
    return Problem(path, f'Unsupported value: "{value}": supported values: ' + ", ".join(f'"{a}"' for a in allowed))


# --- rules ---------------------------------------------------------------------------------------


def _metadata(meta: Mapping[str, Any]) -> Problems:
    name = str(meta.get("name") or "")
    if len(name) > MAX_NAME_LENGTH:
        return [Problem("metadata.name", f"RayCluster name should be no more than {MAX_NAME_LENGTH} characters")]
    if not _DNS1035.fullmatch(name):
        return [Problem("metadata.name", f"RayCluster name should be a valid DNS1035 label: [{DNS1035_MSG}]")]
    return []


def _schema(spec: Mapping[str, Any]) -> Problems:
    """What the CRD schema, its CEL rules and KubeRay's webhook reject before the controller runs."""
    out: Problems = []
    if "headGroupSpec" not in spec:
        out.append(Problem(HEAD, "Required value"))
    elif "template" not in spec["headGroupSpec"]:
        out.append(Problem(HEAD + ".template", "Required value"))
    seen: set[str] = set()
    for path, w in _workers(spec):
        for key in ("groupName", "template"):
            if key not in w:
                out.append(Problem(f"{path}.{key}", "Required value"))
        for key in ("replicas", "minReplicas", "maxReplicas", "numOfHosts"):
            if key in w and w[key] is not None and (isinstance(w[key], bool) or not isinstance(w[key], int)):
                out.append(Problem(f"{path}.{key}", f'Invalid value: "{w[key]}": must be of type integer'))
        name = w.get("groupName")
        if isinstance(name, str) and name in seen:
            out.append(Problem(f"{path}.groupName", "worker group names must be unique"))
        if isinstance(name, str):
            seen.add(name)
    if "managedBy" in spec and spec["managedBy"] not in MANAGED_BY:
        out.append(Problem("spec.managedBy", "Invalid value: the managedBy field value must be either "
                                             "'ray.io/kuberay-operator' or 'kueue.x-k8s.io/multikueue'"))
    enums = [("spec.authOptions.mode", (spec.get("authOptions") or {}).get("mode"), ("disabled", "token")),
             ("spec.autoscalerOptions.version", (spec.get("autoscalerOptions") or {}).get("version"), ("v1", "v2")),
             ("spec.gcsFaultToleranceOptions.backend", (spec.get("gcsFaultToleranceOptions") or {}).get("backend"),
              ("redis", "rocksdb"))]
    out += [_unsupported(p, v, allowed) for p, v, allowed in enums if v is not None and v not in allowed]
    return out


def _group_common(path: str, name: str, group: Mapping[str, Any]) -> Problems:
    """`validateRayGroupResources` and `validateRayGroupLabels`."""
    out: Problems = []
    params: Mapping[str, Any] = group.get("rayStartParams") or {}
    if any(params.get(k) for k in ("num-cpus", "num-gpus", "memory", "resources")) and group.get("resources"):
        out.append(Problem(f"{path}.resources", "resource fields should not be set in both rayStartParams and "
                                                f"Resources for {name} group; please use only one"))
    if "labels" in params:
        out.append(Problem(f"{path}.rayStartParams[labels]", f"rayStartParams['labels'] is not supported for {name} "
                                                             "group; please use the top-level Labels field instead"))
    for key, value in sorted((group.get("labels") or {}).items()):
        if not _qualified_name(key):
            out.append(Problem(f"{path}.labels[{key}]", f"invalid label key for {name} group: '{key}', error: name "
                                                        "part must be a valid label and an optional DNS prefix"))
        if value and not (len(value) <= 63 and _LABEL.fullmatch(value)):
            out.append(Problem(f"{path}.labels[{key}]", f"invalid label value for key '{key}' in {name} group: "
                                                        f"'{value}', error: a valid label must be 63 characters or "
                                                        "less, alphanumeric, '-', '_' or '.'"))
    return out


def _qualified_name(key: str) -> bool:
    prefix, _, name = key.rpartition("/")
    if "/" in key and not (prefix and len(prefix) <= 253 and _SUBDOMAIN.fullmatch(prefix)):
        return False
    return 0 < len(name) <= 63 and bool(_LABEL.fullmatch(name))


def _groups(spec: Mapping[str, Any]) -> Problems:
    head = spec.get("headGroupSpec") or {}
    out: Problems = []
    if "template" in head and not _pod_spec(head).get("containers"):
        out.append(Problem(HEAD + ".template.spec.containers", "headGroupSpec should have at least one container"))
    out += _group_common(HEAD, "Head", head)
    for path, w in _workers(spec):
        name = str(w.get("groupName", ""))
        if "template" in w and not _pod_spec(w).get("containers"):
            out.append(Problem(f"{path}.template.spec.containers", "workerGroupSpec should have at least one container"))
        low, high = w.get("minReplicas"), w.get("maxReplicas")
        if not autoscaling_enabled(spec) and (low is None or high is None):
            out.append(Problem(f"{path}.{'minReplicas' if low is None else 'maxReplicas'}", f"worker group {name} must "
                               "set both minReplicas and maxReplicas when autoscaling is disabled"))
        ints = isinstance(low, int) and isinstance(high, int)
        if isinstance(low, int) and low < 0:
            out.append(Problem(f"{path}.minReplicas", f"worker group {name} has negative minReplicas {low}"))
        if isinstance(high, int) and high < 0:
            out.append(Problem(f"{path}.maxReplicas", f"worker group {name} has negative maxReplicas {high}"))
        if ints and low > high:  # type: ignore[operator]
            out.append(Problem(f"{path}.maxReplicas",
                               f"worker group {name} has minReplicas {low} greater than maxReplicas {high}"))
        out += _group_common(path, name, w)
        out += _idle_and_priority(path, name, w, spec)
    return out


def _idle_and_priority(path: str, name: str, w: Mapping[str, Any], spec: Mapping[str, Any]) -> Problems:
    """`validateWorkerGroupIdleTimeout` and `validateWorkerGroupPriority` (autoscaler v2 only)."""
    idle, prio = w.get("idleTimeoutSeconds"), w.get("priority") or 0
    if idle is not None and idle < 0:
        return [Problem(f"{path}.idleTimeoutSeconds",
                        f"worker group {name}: idleTimeoutSeconds must be non-negative, got {idle}")]
    if idle is not None and not autoscaler_v2(spec, or_env=True):
        return [Problem(f"{path}.idleTimeoutSeconds", f"worker group {name}: idleTimeoutSeconds is set, but autoscaler "
                        "v2 is not enabled. Please set .spec.autoscalerOptions.version to 'v2' (or set "
                        "RAY_enable_autoscaler_v2 environment variable to 'true' in the head pod if using KubeRay < 1.4.0)")]
    if not prio:
        return []
    version = str(spec.get("rayVersion") or "")
    base = f"worker group {name}: priority is set"
    if not version:
        msg = f"{base}, but RayVersion was not specified. Ray version 2.56.0 or later is required"
    elif (parsed := parse_version(version)) is None:
        msg = f"{base}, but RayVersion format is invalid: {version}"
    elif parsed < (2, 56, 0):
        msg = f"{base}, but minimum Ray version is 2.56.0, got {version}"
    elif not autoscaler_v2(spec, or_env=True):
        msg = f"{base} to {prio}, but autoscaler v2 is not enabled. Priority is only supported with autoscaler v2 enabled"
    else:
        return []
    return [Problem(f"{path}.priority", msg)]


def _upgrade(cluster: Mapping[str, Any]) -> Problems:
    """`ValidateRayClusterUpgradeOptions` (the CRD enum says the same thing first)."""
    kind = (cluster.get("spec") or {}).get("upgradeStrategy", {}) or {}
    value = kind.get("type")
    if value is None:
        return []
    if value not in ("Recreate", "None"):
        return [Problem("spec.upgradeStrategy.type", f"The RayCluster spec is invalid: Spec.UpgradeStrategy.Type value "
                                                     f"{value} is invalid, valid options are Recreate or None")]
    creator = ((cluster.get("metadata") or {}).get("labels") or {}).get("ray.io/originated-from-crd")
    if creator in ("RayJob", "RayService"):
        return [Problem("spec.upgradeStrategy.type", f"upgradeStrategy cannot be set when RayCluster is created by {creator}")]
    return []


def _status(cluster: Mapping[str, Any]) -> Problems:
    """`ValidateRayClusterStatus`: Suspending and Suspended must not both be True."""
    true = {c.get("type") for c in (cluster.get("status") or {}).get("conditions") or [] if c.get("status") == "True"}
    if {"RayClusterSuspending", "RayClusterSuspended"} <= true:
        return [Problem("status.conditions", "invalid RayCluster State: rayv1.RayClusterSuspending and "
                                             "rayv1.RayClusterSuspended conditions should not be both true")]
    return []
