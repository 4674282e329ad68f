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
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

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
TLS_ENV = ("RAY_USE_TLS", "RAY_TLS_SERVER_CERT", "RAY_TLS_SERVER_KEY", "RAY_TLS_CA_CERT")
COLLECTOR_FORBIDDEN_ENV = ("POD_IP", "FQ_RAY_IP", "RAY_CLUSTER_NAME", "RAY_CLUSTER_NAMESPACE", "RAY_ROLE",
                           "OWNER_KIND", "OWNER_NAME", "EVENTS_PORT")
_DNS1035 = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
_DNS1123 = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_LABEL = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_VERSION = re.compile(r"\s*v?([0-9]+(?:\.[0-9]+)+)")
DNS1035_MSG = ("a lowercase RFC 1035 label must consist of lower case alphanumeric characters or '-', start "
               "with an alphabetic character, and end with an alphanumeric character")


@dataclass(frozen=True)
class Problem:
    """One reason the cluster is invalid: a JSON path (`spec.workerGroupSpecs[1].maxReplicas`)
    and a message in KubeRay's wording where KubeRay has one."""

    field: str
    message: str


Problems = list[Problem]
HEAD = "spec.headGroupSpec"
HEAD_C0 = HEAD + ".template.spec.containers[0]"


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


def _workers(spec: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    return [(f"spec.workerGroupSpecs[{i}]", w) for i, w in enumerate(spec.get("workerGroupSpecs") or [])]


def _pod_spec(group: Mapping[str, Any]) -> Mapping[str, Any]:
    return (group.get("template") or {}).get("spec") or {}


def _ray_container(group: Mapping[str, Any]) -> Mapping[str, Any]:
    containers = _pod_spec(group).get("containers") or []
    return containers[0] if containers else {}


def _env_index(name: str, env: list[Mapping[str, Any]] | None) -> int | None:
    return next((i for i, e in enumerate(env or []) if e.get("name") == name), None)


def _env_value(name: str, env: list[Mapping[str, Any]] | None) -> str | None:
    i = _env_index(name, env)
    return None if i is None else str((env or [])[i].get("value") or "")


def autoscaling_enabled(spec: Mapping[str, Any]) -> bool:
    return spec.get("enableInTreeAutoscaling") is True


def autoscaler_v2(spec: Mapping[str, Any], *, or_env: bool = False) -> bool:
    """autoscalerOptions.version == v2; with `or_env`, also head env RAY_enable_autoscaler_v2=1/true."""
    if (spec.get("autoscalerOptions") or {}).get("version") == "v2":
        return True
    head_env = _ray_container(spec.get("headGroupSpec") or {}).get("env")
    return or_env and _env_value("RAY_enable_autoscaler_v2", head_env) in ("1", "true")


def ft_enabled(spec: Mapping[str, Any], annotations: Mapping[str, str]) -> bool:
    """KubeRay `IsGCSFaultToleranceEnabled`."""
    return annotations.get("ray.io/ft-enabled", "").lower() == "true" or spec.get("gcsFaultToleranceOptions") is not None


def parse_version(text: str) -> tuple[int, ...] | None:
    """`version.ParseGeneric`: "v"? then at least major.minor; trailing text is ignored."""
    m = _VERSION.match(text or "")
    return tuple(int(p) for p in m.group(1).split(".")) if m else None


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


def _gcs_ft(spec: Mapping[str, Any], annotations: Mapping[str, str], g: Mapping[str, bool]) -> Problems:
    head = spec.get("headGroupSpec") or {}
    c0 = _ray_container(head)
    env = c0.get("env")
    params: Mapping[str, Any] = head.get("rayStartParams") or {}
    opts = spec.get("gcsFaultToleranceOptions")
    out: Problems = []
    via = "GcsFaultToleranceOptions is enabled - use GcsFaultToleranceOptions"
    if annotations.get("ray.io/ft-enabled") and opts is not None:
        out.append(Problem("metadata.annotations[ray.io/ft-enabled]", "ray.io/ft-enabled annotation and "
                           "GcsFaultToleranceOptions are both set. Please use only GcsFaultToleranceOptions to "
                           "configure GCS fault tolerance"))
    address = _env_index("RAY_REDIS_ADDRESS", env)
    if not ft_enabled(spec, annotations) and address is not None:
        out.append(Problem(f"{HEAD_C0}.env[{address}]", "RAY_REDIS_ADDRESS is set which implicitly enables GCS fault "
                           "tolerance, but GcsFaultToleranceOptions is not set. Please set GcsFaultToleranceOptions "
                           "to enable GCS fault tolerance"))
    if opts is not None:
        if params.get("redis-password"):
            out.append(Problem(HEAD + ".rayStartParams[redis-password]", "cannot set `redis-password` in "
                               f"rayStartParams when {via}.RedisPassword instead"))
        for var, use in (("REDIS_PASSWORD", "RedisPassword"), ("RAY_REDIS_ADDRESS", "RedisAddress")):
            if (i := _env_index(var, env)) is not None:
                out.append(Problem(f"{HEAD_C0}.env[{i}]", f"cannot set `{var}` env var in head Pod when {via}.{use} instead"))
        if annotations.get("ray.io/external-storage-namespace"):
            out.append(Problem("metadata.annotations[ray.io/external-storage-namespace]", "cannot set "
                               f"`ray.io/external-storage-namespace` annotation when {via}.ExternalStorageNamespace instead"))
        out += _gcs_backend(opts, head, g)
    user = _env_index("REDIS_USERNAME", env)
    if params.get("redis-username") or user is not None:
        where = HEAD + ".rayStartParams[redis-username]" if params.get("redis-username") else f"{HEAD_C0}.env[{user}]"
        out.append(Problem(where, "cannot set redis username in rayStartParams or environment variables - use "
                                  "GcsFaultToleranceOptions.RedisUsername instead"))
    return out


def _gcs_backend(opts: Mapping[str, Any], head: Mapping[str, Any], g: Mapping[str, bool]) -> Problems:
    """`validateGcsFaultToleranceBackend`: rocksdb forbids redis-only fields and managed env/mounts."""
    path = "spec.gcsFaultToleranceOptions"
    storage = opts.get("storage")
    if opts.get("backend", "redis") in ("", "redis"):
        return [Problem(f"{path}.storage", "cannot set GcsFaultToleranceOptions.Storage when backend is 'redis' - "
                                           "it only applies to the 'rocksdb' backend")] if storage is not None else []
    if not g["GCSFaultToleranceEmbeddedStorage"]:
        return [Problem(f"{path}.backend", "the embedded RocksDB GCS fault tolerance backend (GcsFaultToleranceOptions."
                        "Backend: 'rocksdb') requires the GCSFaultToleranceEmbeddedStorage feature gate to be enabled")]
    out = [Problem(f"{path}.{key}", f"cannot set GcsFaultToleranceOptions.{key[0].upper() + key[1:]} when backend "
                   "is 'rocksdb'") for key in ("redisAddress", "redisUsername", "redisPassword", "externalStorageNamespace")
           if opts.get(key)]
    if storage and storage.get("claimName") and any(k in storage for k in ("size", "storageClassName", "accessModes")):
        out.append(Problem(f"{path}.storage.claimName", "GcsFaultToleranceOptions.Storage.ClaimName is mutually "
                                                        "exclusive with size, storageClassName, and accessModes"))
    c0 = _ray_container(head)
    for var in ("RAY_gcs_storage", "RAY_gcs_storage_path"):
        if (i := _env_index(var, c0.get("env"))) is not None:
            out.append(Problem(f"{HEAD_C0}.env[{i}]", "cannot set `RAY_gcs_storage` or `RAY_gcs_storage_path` env var in "
                               "head Pod when the embedded GCS FT backend is used - these are managed by KubeRay"))
    for i, m in enumerate(c0.get("volumeMounts") or []):
        if m.get("name") == "gcs-storage" or m.get("mountPath") == "/data/gcs":
            out.append(Problem(f"{HEAD_C0}.volumeMounts[{i}]", 'cannot set a volume mount named "gcs-storage" or mounted '
                               "at /data/gcs in the head container when the embedded GCS FT backend is used - it is "
                               "managed by KubeRay"))
    for i, v in enumerate(_pod_spec(head).get("volumes") or []):
        if v.get("name") == "gcs-storage":
            out.append(Problem(f"{HEAD}.template.spec.volumes[{i}]", 'cannot set a volume named "gcs-storage" in the head '
                               "Pod when the embedded GCS FT backend is used - it is managed by KubeRay"))
    return out


def _autoscaling(spec: Mapping[str, Any], g: Mapping[str, bool]) -> Problems:
    out: Problems = []
    head = spec.get("headGroupSpec") or {}
    env = _ray_container(head).get("env")
    suspended = [(p, w) for p, w in _workers(spec) if w.get("suspend") is True]
    if not g["RayJobDeletionPolicy"]:
        out += [Problem(f"{p}.suspend", f"worker group {w.get('groupName')} can be suspended only when the "
                                        "RayJobDeletionPolicy feature gate is enabled") for p, w in suspended]
    v2_env = _env_value("RAY_enable_autoscaler_v2", env)
    opts: Mapping[str, Any] = spec.get("autoscalerOptions") or {}
    if not autoscaling_enabled(spec) and v2_env in ("1", "true"):
        out.append(Problem(f"{HEAD_C0}.env[{_env_index('RAY_enable_autoscaler_v2', env)}]", "environment variable "
                           f"RAY_enable_autoscaler_v2 cannot be set to '{v2_env}' when enableInTreeAutoscaling is false. "
                           "Please set enableInTreeAutoscaling: true to use autoscaler v2"))
    if autoscaling_enabled(spec):
        out += [Problem(f"{p}.suspend", f"worker group {w.get('groupName')} cannot be suspended with Autoscaler enabled")
                for p, w in suspended]
        if opts.get("version") is not None and v2_env is not None:
            out.append(Problem("spec.autoscalerOptions.version", "both .spec.autoscalerOptions.version and head Pod env "
                               "var RAY_enable_autoscaler_v2 are set, please only use the former"))
        if autoscaler_v2(spec):
            if _pod_spec(head).get("restartPolicy", "") not in ("", "Never"):
                out.append(Problem(f"{HEAD}.template.spec.restartPolicy",
                                   "restartPolicy for head Pod should be Never or unset when using autoscaler V2"))
            out += [Problem(f"{p}.template.spec.restartPolicy", f"restartPolicy for worker group {w.get('groupName')} "
                            "should be Never or unset when using autoscaler V2")
                    for p, w in _workers(spec) if _pod_spec(w).get("restartPolicy", "") not in ("", "Never")]
    idle = opts.get("idleTimeoutSeconds")
    if idle is not None and idle < 0:
        out.append(Problem("spec.autoscalerOptions.idleTimeoutSeconds",
                           f"autoscalerOptions.idleTimeoutSeconds must be non-negative, got {idle}"))
    if (i := _env_index("KUBERAY_GEN_AUTOSCALER_START_CMD", opts.get("env"))) is not None:
        out.append(Problem(f"spec.autoscalerOptions.env[{i}]", "autoscalerOptions.env must not contain "
                           "KUBERAY_GEN_AUTOSCALER_START_CMD: it is managed by KubeRay and injected automatically into "
                           "the autoscaler container"))
    return out


def _history(spec: Mapping[str, Any], g: Mapping[str, bool]) -> Problems:
    """historyServerOptions (KubeRay `validateCollectorOptions`)."""
    path = "spec.historyServerOptions"
    if spec.get("historyServerOptions") is None:
        return []
    if not g["RayClusterHistoryServer"]:
        return [Problem(path, "RayClusterHistoryServer feature gate is not enabled")]
    collector = spec["historyServerOptions"].get("collectorOptions")
    if collector is None:
        return [Problem(f"{path}.collectorOptions", "historyServerOptions.collectorOptions must be set")]
    cpath = f"{path}.collectorOptions"
    if not collector.get("image"):
        return [Problem(f"{cpath}.image", "historyServerOptions.collectorOptions.image must be set")]
    env = {e.get("name"): e for e in collector.get("env") or []}
    for name in COLLECTOR_FORBIDDEN_ENV:
        if name in env:
            return [Problem(f"{cpath}.env", f"historyServerOptions.collectorOptions.env must not contain {name}: it is "
                                            "managed by KubeRay and injected automatically into the collector container")]
    backend = str((env.get("STORAGE_BACKEND") or {}).get("value") or "")
    if not backend:
        return [Problem(f"{cpath}.env", "STORAGE_BACKEND environment variable must be set with a literal string value "
                                        "in historyServerOptions.collectorOptions.env")]
    missing = _missing_backend_env(backend.upper(), env)
    if missing:
        return [Problem(f"{cpath}.env", missing)]
    return [Problem(f"{p}.template.spec.containers", "pod template must not define a container with name "
                    "'ray-history-collector' when history server collector options are enabled")
            for p, group in [(HEAD, spec.get("headGroupSpec") or {}), *_workers(spec)]
            if any(c.get("name") == "ray-history-collector" for c in _pod_spec(group).get("containers") or [])]


def _missing_backend_env(backend: str, env: Mapping[str, Mapping[str, Any]]) -> str:
    def has(name: str) -> bool:
        return name in env and bool(env[name].get("value") or env[name].get("valueFrom"))

    needs = {"GCS": ["GCS_BUCKET"], "S3": ["S3_REGION"], "ALIYUNOSS": ["OSS_BUCKET", "OSS_ENDPOINT", "OSS_REGION"]}
    for name in needs.get(backend, []):
        if not has(name):
            return f"{name} environment variable must be set when STORAGE_BACKEND is {backend}"
    if backend == "AZUREBLOB":
        mode = str((env.get("AZURE_STORAGE_AUTH_MODE") or {}).get("value") or "").strip().lower()
        if mode == "connection_string" and not has("AZURE_STORAGE_CONNECTION_STRING"):
            return ("AZURE_STORAGE_CONNECTION_STRING environment variable must be set when STORAGE_BACKEND is "
                    "AZUREBLOB and AZURE_STORAGE_AUTH_MODE is connection_string")
        if mode in ("workload_identity", "default") and not has("AZURE_STORAGE_ACCOUNT_URL"):
            return ("AZURE_STORAGE_ACCOUNT_URL environment variable must be set when STORAGE_BACKEND is AZUREBLOB "
                    f"and AZURE_STORAGE_AUTH_MODE is {mode}")
        if mode not in ("connection_string", "workload_identity", "default") and not (
                has("AZURE_STORAGE_CONNECTION_STRING") or has("AZURE_STORAGE_ACCOUNT_URL")):
            return ("either AZURE_STORAGE_CONNECTION_STRING or AZURE_STORAGE_ACCOUNT_URL environment variable must be "
                    "set when STORAGE_BACKEND is AZUREBLOB")
    return ""


def _auth(spec: Mapping[str, Any]) -> Problems:
    auth: Mapping[str, Any] = spec.get("authOptions") or {}
    k8s = auth.get("enableK8sTokenAuth") is True
    if auth.get("mode") != "token":
        return [Problem("spec.authOptions.enableK8sTokenAuth", "authOptions.enableK8sTokenAuth is enabled but "
                                                               "authOptions.mode not set to 'token'")] if k8s else []
    version = str(spec.get("rayVersion") or "")
    parsed = parse_version(version)
    if not version:
        msg = "authOptions.mode is 'token' but RayVersion was not specified. Ray version 2.52.0 or later is required"
    elif parsed is None:
        msg = f"authOptions.mode is 'token' but RayVersion format is invalid: {version}"
    elif parsed < (2, 52, 0):
        msg = f"authOptions.mode is 'token' but minimum Ray version is 2.52.0, got {version}"
    elif k8s and parsed < (2, 55, 0):
        msg = f"authOptions.enableK8sTokenAuth is enabled but minimum Ray version is 2.55.0, got {version}"
    elif k8s and auth.get("secretName"):
        return [Problem("spec.authOptions.secretName",
                        "authOptions.enableK8sTokenAuth is enabled and authOptions.secretName is also set")]
    else:
        return []
    return [Problem("spec.rayVersion", msg)]


def _network_policy(spec: Mapping[str, Any], g: Mapping[str, bool]) -> Problems:
    np = spec.get("networkPolicy")
    if np is None:
        return []
    if not g["RayClusterNetworkPolicy"]:
        return [Problem("spec.networkPolicy",
                        "spec.networkPolicy requires the RayClusterNetworkPolicy feature gate to be enabled")]
    mode = np.get("mode") or "DenyAll"
    out: Problems = []
    scopes = [(f"networkPolicy.{k}", f"spec.networkPolicy.{k}", np.get(k) or {}) for k in ("head", "worker")]
    scopes += [(f'networkPolicy.workerGroups["{wg.get("groupName")}"]', f"spec.networkPolicy.workerGroups[{i}]", wg)
               for i, wg in enumerate(np.get("workerGroups") or [])]
    for label, path, rules in scopes:
        if mode == "DenyAllEgress" and rules.get("ingressRules"):
            out.append(Problem(f"{path}.ingressRules", f'{label}.ingressRules cannot be set when mode is "{mode}" '
                                                       "(ingress is not restricted)"))
        if mode == "DenyAllIngress" and rules.get("egressRules"):
            out.append(Problem(f"{path}.egressRules", f'{label}.egressRules cannot be set when mode is "{mode}" '
                                                      "(egress is not restricted)"))
    names = set()
    for path, w in _workers(spec):
        name = str(w.get("groupName", ""))
        names.add(name)
        if not (len(name) <= 63 and _DNS1123.fullmatch(name)):
            out.append(Problem(f"{path}.groupName", f'worker group name "{name}" must be a valid DNS1123 label when '
                                                    "networkPolicy is enabled (it is embedded in the NetworkPolicy name)"))
    out += [Problem(f"spec.networkPolicy.workerGroups[{i}].groupName", f'networkPolicy.workerGroups["{wg.get("groupName")}"]'
                    " does not match any group name in workerGroupSpecs")
            for i, wg in enumerate(np.get("workerGroups") or []) if wg.get("groupName") not in names]
    return out


def _tls(spec: Mapping[str, Any], g: Mapping[str, bool]) -> Problems:
    tls = spec.get("tlsOptions")
    if tls is None:
        return []
    if not g["RayClusterMTLS"]:
        return [Problem("spec.tlsOptions", "spec.tlsOptions requires the RayClusterMTLS feature gate to be enabled")]
    if tls.get("enabled") is not True:
        return []
    managed = "- the operator manages TLS configuration automatically"
    out: Problems = []
    places = [(HEAD, "head Pod", spec.get("headGroupSpec") or {})]
    places += [(p, f'worker group "{w.get("groupName")}"', w) for p, w in _workers(spec)]
    for path, where, group in places:
        c0 = _ray_container(group)
        cpath = f"{path}.template.spec.containers[0]"
        out += [Problem(f"{cpath}.env[{_env_index(n, c0.get('env'))}]", f"cannot set {n} environment variable in "
                        f"{where} when tlsOptions is set {managed}") for n in TLS_ENV if _env_index(n, c0.get("env")) is not None]
        out += _tls_mounts(f"{cpath}.volumeMounts", c0.get("volumeMounts"), where, managed)
    opts: Mapping[str, Any] = spec.get("autoscalerOptions") or {}
    out += [Problem("spec.autoscalerOptions.env", f"cannot set {n} environment variable in autoscalerOptions.env when "
                    "tlsOptions is set - the operator manages TLS configuration for the autoscaler automatically")
            for n in TLS_ENV if _env_index(n, opts.get("env")) is not None]
    return out + _tls_mounts("spec.autoscalerOptions.volumeMounts", opts.get("volumeMounts"),
                             "autoscalerOptions.volumeMounts", managed)


def _tls_mounts(path: str, mounts: list[Mapping[str, Any]] | None, where: str, managed: str) -> Problems:
    out: Problems = []
    for i, m in enumerate(mounts or []):
        if m.get("name") == "ray-tls":
            out.append(Problem(f"{path}[{i}]", f'cannot use volume mount named "ray-tls" in {where} when tlsOptions is set {managed}'))
        elif m.get("mountPath") == "/etc/ray/tls":
            out.append(Problem(f"{path}[{i}]", f'cannot use volume mount at path "/etc/ray/tls" in {where} when tlsOptions '
                                               f"is set {managed}"))
    return out


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
