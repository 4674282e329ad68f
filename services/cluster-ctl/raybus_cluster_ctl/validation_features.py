"""The feature rules of RayCluster validation, as KubeRay v1.7 has them: GCS fault tolerance (Redis
and the embedded RocksDB backend), the autoscaler (suspension, v2, its options), the history
server collector, token auth, network policies and TLS.

Each rule takes the spec (and the feature gates where KubeRay consults one) and returns its
`Problem`s in KubeRay's order; `validation.validate` calls them in turn. The entry point, the
desired-replica helpers and the metadata and core spec rules live in `validation.py`; the shared
readers in `validation_common.py`. Pure: no I/O.
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
    _env_index,
    _env_value,
    _pod_spec,
    _ray_container,
    _workers,
    autoscaler_v2,
    autoscaling_enabled,
    ft_enabled,
    parse_version,
)

TLS_ENV = ("RAY_USE_TLS", "RAY_TLS_SERVER_CERT", "RAY_TLS_SERVER_KEY", "RAY_TLS_CA_CERT")
COLLECTOR_FORBIDDEN_ENV = ("POD_IP", "FQ_RAY_IP", "RAY_CLUSTER_NAME", "RAY_CLUSTER_NAMESPACE", "RAY_ROLE",
                           "OWNER_KIND", "OWNER_NAME", "EVENTS_PORT")
_DNS1123 = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")


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
