"""KubeRay v1.7's feature rules over the typed model: GCS fault tolerance (Redis and the embedded
RocksDB backend), the autoscaler (suspension, v2, its options), the history server collector,
token auth, network policies and TLS. Each takes the cluster or spec (and the feature gates where
KubeRay consults one) and returns its `Problem`s in KubeRay's order, with KubeRay's messages. Pure.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from raybus_common.crds.base import CRDModel
from raybus_common.crds.raycluster import (
    FT_ENABLED_ANNOTATION,
    STORAGE_NS_ANNOTATION,
    AuthMode,
    GcsFaultToleranceOptions,
    RayCluster,
    RayClusterSpec,
)

from ..constants import (
    AUTOSCALER_V2_ENV,
    COLLECTOR_CONTAINER,
    GCS_STORAGE_PATH,
    GCS_STORAGE_VOLUME,
    TLS_DIR,
    TLS_ENV,
    TLS_VOLUME,
)
from ..podtemplate import env_text, find_env, pod_spec, ray_container
from .problems import HEAD, HEAD_C0, Problem, Problems, worker_path

Gates = Mapping[str, bool]
COLLECTOR_FORBIDDEN_ENV = ("POD_IP", "FQ_RAY_IP", "RAY_CLUSTER_NAME", "RAY_CLUSTER_NAMESPACE", "RAY_ROLE",
                           "OWNER_KIND", "OWNER_NAME", "EVENTS_PORT")
_DNS1123 = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")


def gcs_ft_rules(cluster: RayCluster, g: Gates) -> Problems:
    spec, annotations = cluster.spec, cluster.annotations
    head = spec.head_group_spec
    env = ray_container(head.template).get("env")
    opts = spec.gcs_fault_tolerance_options
    out: Problems = []
    via = "GcsFaultToleranceOptions is enabled - use GcsFaultToleranceOptions"
    if annotations.get(FT_ENABLED_ANNOTATION) and opts is not None:
        out.append(Problem(f"metadata.annotations[{FT_ENABLED_ANNOTATION}]", f"{FT_ENABLED_ANNOTATION} annotation and "
                           "GcsFaultToleranceOptions are both set. Please use only GcsFaultToleranceOptions to "
                           "configure GCS fault tolerance"))
    address = find_env(env, "RAY_REDIS_ADDRESS")
    if not cluster.gcs_ft_enabled and address is not None:
        out.append(Problem(f"{HEAD_C0}.env[{address}]", "RAY_REDIS_ADDRESS is set which implicitly enables GCS fault "
                           "tolerance, but GcsFaultToleranceOptions is not set. Please set GcsFaultToleranceOptions "
                           "to enable GCS fault tolerance"))
    if opts is not None:
        if head.params.get("redis-password"):
            out.append(Problem(HEAD + ".rayStartParams[redis-password]", "cannot set `redis-password` in "
                               f"rayStartParams when {via}.RedisPassword instead"))
        for var, use in (("REDIS_PASSWORD", "RedisPassword"), ("RAY_REDIS_ADDRESS", "RedisAddress")):
            if (i := find_env(env, var)) is not None:
                out.append(Problem(f"{HEAD_C0}.env[{i}]", f"cannot set `{var}` env var in head Pod when {via}.{use} instead"))
        if annotations.get(STORAGE_NS_ANNOTATION):
            out.append(Problem(f"metadata.annotations[{STORAGE_NS_ANNOTATION}]", f"cannot set `{STORAGE_NS_ANNOTATION}` annotation when "
                               f"{via}.ExternalStorageNamespace instead"))
        out += _gcs_backend(spec, opts, g)
    user = find_env(env, "REDIS_USERNAME")
    if head.params.get("redis-username") or user is not None:
        where = HEAD + ".rayStartParams[redis-username]" if head.params.get("redis-username") else f"{HEAD_C0}.env[{user}]"
        out.append(Problem(where, "cannot set redis username in rayStartParams or environment variables - use "
                                  "GcsFaultToleranceOptions.RedisUsername instead"))
    return out


def _given(value: Any) -> bool:
    """Set to something: a non-empty string, or a block with at least one field."""
    return bool(value.to_wire()) if isinstance(value, CRDModel) else bool(value)


def _gcs_backend(spec: RayClusterSpec, opts: GcsFaultToleranceOptions, g: Gates) -> Problems:
    """`validateGcsFaultToleranceBackend`: rocksdb forbids redis-only fields and managed env/mounts."""
    path = "spec.gcsFaultToleranceOptions"
    storage = opts.storage
    if not spec.gcs_ft_embedded:
        return [Problem(f"{path}.storage", "cannot set GcsFaultToleranceOptions.Storage when backend is 'redis' - "
                                           "it only applies to the 'rocksdb' backend")] if storage is not None else []
    if not g["GCSFaultToleranceEmbeddedStorage"]:
        return [Problem(f"{path}.backend", "the embedded RocksDB GCS fault tolerance backend (GcsFaultToleranceOptions."
                        "Backend: 'rocksdb') requires the GCSFaultToleranceEmbeddedStorage feature gate to be enabled")]
    redis_only = {"redisAddress": opts.redis_address, "redisUsername": opts.redis_username,
                  "redisPassword": opts.redis_password, "externalStorageNamespace": opts.external_storage_namespace}
    out = [Problem(f"{path}.{key}", f"cannot set GcsFaultToleranceOptions.{key[0].upper() + key[1:]} when backend "
                   "is 'rocksdb'") for key, value in redis_only.items() if _given(value)]
    if storage and storage.claim_name and storage.model_fields_set & {"size", "storage_class_name", "access_modes"}:
        out.append(Problem(f"{path}.storage.claimName", "GcsFaultToleranceOptions.Storage.ClaimName is mutually "
                                                        "exclusive with size, storageClassName, and accessModes"))
    head = spec.head_group_spec.template
    c0 = ray_container(head)
    for var in ("RAY_gcs_storage", "RAY_gcs_storage_path"):
        if (i := find_env(c0.get("env"), var)) is not None:
            out.append(Problem(f"{HEAD_C0}.env[{i}]", "cannot set `RAY_gcs_storage` or `RAY_gcs_storage_path` env var in "
                               "head Pod when the embedded GCS FT backend is used - these are managed by KubeRay"))
    for i, m in enumerate(c0.get("volumeMounts") or []):
        if m.get("name") == GCS_STORAGE_VOLUME or m.get("mountPath") == GCS_STORAGE_PATH:
            out.append(Problem(f"{HEAD_C0}.volumeMounts[{i}]", f'cannot set a volume mount named "{GCS_STORAGE_VOLUME}" '
                               f"or mounted at {GCS_STORAGE_PATH} in the head container when the embedded GCS FT backend "
                               "is used - it is managed by KubeRay"))
    for i, v in enumerate(pod_spec(head).get("volumes") or []):
        if v.get("name") == GCS_STORAGE_VOLUME:
            out.append(Problem(f"{HEAD}.template.spec.volumes[{i}]", f'cannot set a volume named "{GCS_STORAGE_VOLUME}" '
                               "in the head Pod when the embedded GCS FT backend is used - it is managed by KubeRay"))
    return out


def autoscaling_rules(spec: RayClusterSpec, g: Gates) -> Problems:
    out: Problems = []
    env = ray_container(spec.head_group_spec.template).get("env")
    suspended = [(worker_path(i), w) for i, w in enumerate(spec.workers) if w.suspended]
    if not g["RayJobDeletionPolicy"]:
        out += [Problem(f"{p}.suspend", f"worker group {w.group_name} can be suspended only when the "
                                        "RayJobDeletionPolicy feature gate is enabled") for p, w in suspended]
    v2_env = env_text(env, AUTOSCALER_V2_ENV)
    opts = spec.autoscaler_options
    if not spec.autoscaling_enabled and v2_env in ("1", "true"):
        out.append(Problem(f"{HEAD_C0}.env[{find_env(env, AUTOSCALER_V2_ENV)}]", "environment variable "
                           f"RAY_enable_autoscaler_v2 cannot be set to '{v2_env}' when enableInTreeAutoscaling is false. "
                           "Please set enableInTreeAutoscaling: true to use autoscaler v2"))
    if spec.autoscaling_enabled:
        out += [Problem(f"{p}.suspend", f"worker group {w.group_name} cannot be suspended with Autoscaler enabled")
                for p, w in suspended]
        if opts is not None and opts.version is not None and v2_env is not None:
            out.append(Problem("spec.autoscalerOptions.version", "both .spec.autoscalerOptions.version and head Pod env "
                               "var RAY_enable_autoscaler_v2 are set, please only use the former"))
        if spec.autoscaler_v2:
            if pod_spec(spec.head_group_spec.template).get("restartPolicy", "") not in ("", "Never"):
                out.append(Problem(f"{HEAD}.template.spec.restartPolicy",
                                   "restartPolicy for head Pod should be Never or unset when using autoscaler V2"))
            out += [Problem(f"{worker_path(i)}.template.spec.restartPolicy", f"restartPolicy for worker group "
                            f"{w.group_name} should be Never or unset when using autoscaler V2")
                    for i, w in enumerate(spec.workers) if pod_spec(w.template).get("restartPolicy", "") not in ("", "Never")]
    idle = opts.idle_timeout_seconds if opts is not None else None
    if idle is not None and idle < 0:
        out.append(Problem("spec.autoscalerOptions.idleTimeoutSeconds",
                           f"autoscalerOptions.idleTimeoutSeconds must be non-negative, got {idle}"))
    if (i := find_env(opts.env if opts is not None else None, "KUBERAY_GEN_AUTOSCALER_START_CMD")) is not None:
        out.append(Problem(f"spec.autoscalerOptions.env[{i}]", "autoscalerOptions.env must not contain "
                           "KUBERAY_GEN_AUTOSCALER_START_CMD: it is managed by KubeRay and injected automatically into "
                           "the autoscaler container"))
    return out


def history_rules(spec: RayClusterSpec, g: Gates) -> Problems:
    """historyServerOptions (KubeRay `validateCollectorOptions`)."""
    path = "spec.historyServerOptions"
    if spec.history_server_options is None:
        return []
    if not g["RayClusterHistoryServer"]:
        return [Problem(path, "RayClusterHistoryServer feature gate is not enabled")]
    collector = spec.history_server_options.collector_options
    if collector is None:
        return [Problem(f"{path}.collectorOptions", "historyServerOptions.collectorOptions must be set")]
    cpath = f"{path}.collectorOptions"
    if not collector.image:
        return [Problem(f"{cpath}.image", "historyServerOptions.collectorOptions.image must be set")]
    env = {str(e.get("name")): e for e in collector.env or []}
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
    groups = [(HEAD, spec.head_group_spec.template), *((worker_path(i), w.template) for i, w in enumerate(spec.workers))]
    return [Problem(f"{p}.template.spec.containers", f"pod template must not define a container with name "
                    f"'{COLLECTOR_CONTAINER}' when history server collector options are enabled")
            for p, template in groups
            if any(c.get("name") == COLLECTOR_CONTAINER for c in pod_spec(template).get("containers") or [])]


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


def auth_rules(spec: RayClusterSpec) -> Problems:
    auth = spec.auth_options
    k8s = auth is not None and auth.enable_k8s_token_auth is True
    if auth is None or auth.mode != AuthMode.TOKEN:
        return [Problem("spec.authOptions.enableK8sTokenAuth", "authOptions.enableK8sTokenAuth is enabled but "
                                                               "authOptions.mode not set to 'token'")] if k8s else []
    version, parsed = spec.ray_version or "", spec.ray_version_numbers
    if not version:
        msg = "authOptions.mode is 'token' but RayVersion was not specified. Ray version 2.52.0 or later is required"
    elif parsed is None:
        msg = f"authOptions.mode is 'token' but RayVersion format is invalid: {version}"
    elif parsed < (2, 52, 0):
        msg = f"authOptions.mode is 'token' but minimum Ray version is 2.52.0, got {version}"
    elif k8s and parsed < (2, 55, 0):
        msg = f"authOptions.enableK8sTokenAuth is enabled but minimum Ray version is 2.55.0, got {version}"
    elif k8s and auth.secret_name:
        return [Problem("spec.authOptions.secretName",
                        "authOptions.enableK8sTokenAuth is enabled and authOptions.secretName is also set")]
    else:
        return []
    return [Problem("spec.rayVersion", msg)]


def network_policy_rules(spec: RayClusterSpec, g: Gates) -> Problems:
    np = spec.network_policy
    if np is None:
        return []
    if not g["RayClusterNetworkPolicy"]:
        return [Problem("spec.networkPolicy",
                        "spec.networkPolicy requires the RayClusterNetworkPolicy feature gate to be enabled")]
    mode = np.mode
    out: Problems = []
    scopes = [(f"networkPolicy.{k}", f"spec.networkPolicy.{k}", rules) for k, rules in (("head", np.head),
                                                                                       ("worker", np.worker))]
    scopes += [(f'networkPolicy.workerGroups["{wg.group_name}"]', f"spec.networkPolicy.workerGroups[{i}]", wg)
               for i, wg in enumerate(np.worker_groups or [])]
    for label, path, rules in scopes:
        if rules is None:
            continue
        if mode == "DenyAllEgress" and rules.ingress_rules:
            out.append(Problem(f"{path}.ingressRules", f'{label}.ingressRules cannot be set when mode is "{mode}" '
                                                       "(ingress is not restricted)"))
        if mode == "DenyAllIngress" and rules.egress_rules:
            out.append(Problem(f"{path}.egressRules", f'{label}.egressRules cannot be set when mode is "{mode}" '
                                                      "(egress is not restricted)"))
    names = set()
    for i, w in enumerate(spec.workers):
        names.add(w.group_name)
        if not (len(w.group_name) <= 63 and _DNS1123.fullmatch(w.group_name)):
            out.append(Problem(f"{worker_path(i)}.groupName", f'worker group name "{w.group_name}" must be a valid DNS1123 '
                                                               "label when networkPolicy is enabled (it is embedded in the "
                                                               "NetworkPolicy name)"))
    out += [Problem(f"spec.networkPolicy.workerGroups[{i}].groupName", f'networkPolicy.workerGroups["{wg.group_name}"]'
                    " does not match any group name in workerGroupSpecs")
            for i, wg in enumerate(np.worker_groups or []) if wg.group_name not in names]
    return out


def tls_rules(spec: RayClusterSpec, g: Gates) -> Problems:
    tls = spec.tls_options
    if tls is None:
        return []
    if not g["RayClusterMTLS"]:
        return [Problem("spec.tlsOptions", "spec.tlsOptions requires the RayClusterMTLS feature gate to be enabled")]
    if tls.enabled is not True:
        return []
    managed = "- the operator manages TLS configuration automatically"
    out: Problems = []
    places = [(HEAD, "head Pod", spec.head_group_spec.template)]
    places += [(worker_path(i), f'worker group "{w.group_name}"', w.template) for i, w in enumerate(spec.workers)]
    for path, where, template in places:
        c0 = ray_container(template)
        cpath = f"{path}.template.spec.containers[0]"
        out += [Problem(f"{cpath}.env[{find_env(c0.get('env'), n)}]", f"cannot set {n} environment variable in "
                        f"{where} when tlsOptions is set {managed}") for n in TLS_ENV if find_env(c0.get("env"), n) is not None]
        out += _tls_mounts(f"{cpath}.volumeMounts", c0.get("volumeMounts"), where, managed)
    opts = spec.autoscaler_options
    env, mounts = (opts.env, opts.volume_mounts) if opts is not None else (None, None)
    out += [Problem("spec.autoscalerOptions.env", f"cannot set {n} environment variable in autoscalerOptions.env when "
                    "tlsOptions is set - the operator manages TLS configuration for the autoscaler automatically")
            for n in TLS_ENV if find_env(env, n) is not None]
    return out + _tls_mounts("spec.autoscalerOptions.volumeMounts", mounts, "autoscalerOptions.volumeMounts", managed)


def _tls_mounts(path: str, mounts: Sequence[Mapping[str, Any]] | None, where: str, managed: str) -> Problems:
    out: Problems = []
    for i, m in enumerate(mounts or []):
        if m.get("name") == TLS_VOLUME:
            out.append(Problem(f"{path}[{i}]", f'cannot use volume mount named "{TLS_VOLUME}" in {where} when tlsOptions '
                                               f"is set {managed}"))
        elif m.get("mountPath") == TLS_DIR:
            out.append(Problem(f"{path}[{i}]", f'cannot use volume mount at path "{TLS_DIR}" in {where} when tlsOptions '
                                               f"is set {managed}"))
    return out
