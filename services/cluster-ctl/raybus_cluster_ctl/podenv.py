"""The env vars KubeRay v1.7 injects into a RayCluster's pods, and what comes with them. Pure.

`ray_container_env` adds the Ray container's env (§4.2), in KubeRay's order. `configure_gcs_ft`
(§6.1), `configure_auth` and `configure_tls` (§6) add the GCS fault tolerance, token auth and
mTLS env vars to the Ray and `wait-gcs-ready` containers, with what those need besides: the
`ray.io/ft-enabled` and storage-namespace annotations, the RocksDB, token and certificate
volumes and mounts, and the `wait-for-tls-ip-san` init container. `autoscaler_container` builds
the autoscaler sidecar (§4.5), a container made mostly of env vars, auth and TLS included. The
small env-list helpers at the end are shared with `pods.py`.

Not here: the `ray start` flags (`raystart.py`) and the rest of the pod (`pods.py`, which
re-exports the public names of this module that callers use).
"""

from __future__ import annotations

import copy
from typing import Any

from .children import check_name
from .children_common import _name
from .config import ClusterConfig
from .raystart import (
    FT_ENABLED_ANNOTATION,
    HEAD,
    WORKER,
    bash_command,
    gcs_ft_embedded,
    gcs_ft_enabled,
    head_fqdn,
    head_port,
)

Obj = dict[str, Any]

# The labels the env's fieldRefs read, and the storage-namespace annotation (utils/constant.go).
CLUSTER_LABEL = "ray.io/cluster"
GROUP_LABEL = "ray.io/group"
STORAGE_NS_ANNOTATION = "ray.io/external-storage-namespace"

AUTOSCALER_CMD = "ray kuberay-autoscaler --cluster-name $(RAY_CLUSTER_NAME) --cluster-namespace $(RAY_CLUSTER_NAMESPACE)"

_TLS_DIR = "/etc/ray/tls"
_TOKEN_DIR = "/var/run/secrets/ray.io/serviceaccount"

# The wait-for-tls-ip-san script: waits until the cert-manager certificate names the pod's IP.
_WAIT_TLS = (
    'CERT="/etc/ray/tls/tls.crt"\nif [ -z "${POD_IP}" ]; then\n'
    "  POD_IP=$(hostname -i 2>/dev/null | awk '{print $1}')\nfi\n"
    'if ! command -v openssl >/dev/null 2>&1; then\n  echo "openssl not found; cannot verify IP SAN" >&2\n'
    '  exit 1\nfi\necho "Waiting for TLS cert to include IP SAN for ${POD_IP}..."\nwhile true; do\n'
    '  if openssl x509 -in "${CERT}" -noout -text 2>/dev/null | grep -qE "IP Address:${POD_IP}([^0-9.]|$)"; then\n'
    '    echo "TLS cert now includes IP SAN for ${POD_IP}"\n    exit 0\n  fi\n'
    '  echo "IP SAN for ${POD_IP} not yet in cert, retrying in 5s..."\n  sleep 5\ndone'
)


# --- the Ray container's env (§4.2) ----------------------------------------------------------

def ray_container_env(cluster: Obj, node_type: str, ray: Obj, start: str, crd: str,
                      settings: ClusterConfig) -> None:
    """KubeRay `setContainerEnvVars` (§4.2), in KubeRay's order."""
    env = container_env(ray)
    for default in settings.default_container_envs:
        if not has_env(env, str(default.get("name"))):
            env.append(copy.deepcopy(default))
    port = head_port(cluster)
    ip = "127.0.0.1"
    if node_type == WORKER:
        ip = head_fqdn(cluster, settings)
        env.extend([env_value("FQ_RAY_IP", ip), env_value("RAY_IP", ip.split(".")[0])])
    env.extend([
        env_field("RAY_CLUSTER_NAME", f"metadata.labels['{CLUSTER_LABEL}']"),
        env_field("RAY_CLUSTER_NAMESPACE", "metadata.namespace"),
        env_field("RAY_CLOUD_INSTANCE_ID", "metadata.name"),
        env_field("RAY_NODE_TYPE_NAME", f"metadata.labels['{GROUP_LABEL}']"),
        env_value("KUBERAY_GEN_RAY_START_CMD", start),
    ])
    set_default_env(env, "RAY_PORT", port)
    if crd == "RayService":
        set_default_env(env, "RAY_timeout_ms_task_wait_for_death_info", "0")
        set_default_env(env, "RAY_gcs_server_request_timeout_seconds", "5")
        set_default_env(env, "RAY_SERVE_KV_TIMEOUT_S", "5")
    set_default_env(env, "RAY_ADDRESS", f"{ip}:{port}")
    set_default_env(env, "RAY_USAGE_STATS_KUBERAY_IN_USE", "1")
    if node_type == HEAD:
        tags = f"kuberay_version={settings.kuberay_version};kuberay_crd={crd}"
        env.append(env_value("RAY_USAGE_STATS_EXTRA_TAGS", tags))
    set_default_env(env, "RAY_DASHBOARD_ENABLE_K8S_DISK_USAGE", "1")


# --- GCS fault tolerance (§6) ----------------------------------------------------------------

def configure_gcs_ft(cluster: Obj, node_type: str, spec: Obj, ray: Obj, annotations: dict[str, str],
                     params: dict[str, str]) -> None:
    """KubeRay `configureGCSFaultTolerance`: the head's `ray.io/ft-enabled` annotation; when
    enabled, the workers' reconnect timeout and the head's Redis or RocksDB settings."""
    enabled = gcs_ft_enabled(cluster)
    if node_type == HEAD:
        annotations[FT_ENABLED_ANNOTATION] = "true" if enabled else "false"
    if not enabled:
        return
    env = container_env(ray)
    if node_type == WORKER:
        # Workers outlive a GCS restart (about 2 min) only with a longer reconnect window than Ray's 60 s.
        set_default_env(env, "RAY_gcs_rpc_server_reconnect_timeout_s", "600")
        return
    options = (cluster.get("spec") or {}).get("gcsFaultToleranceOptions")
    if options is not None and gcs_ft_embedded(options):
        set_default_env(env, "RAY_gcs_storage", "rocksdb")
        set_default_env(env, "RAY_gcs_storage_path", "/data/gcs")
        storage = options.get("storage") or {}
        mount = compact({"name": "gcs-storage", "mountPath": "/data/gcs", "subPath": storage.get("subPath")})
        ray.setdefault("volumeMounts", []).append(mount)
        claim = storage.get("claimName") or f"{_name(cluster)}-gcs-pvc"
        spec.setdefault("volumes", []).append({"name": "gcs-storage", "persistentVolumeClaim": {"claimName": claim}})
        return
    storage_ns = str(cluster["metadata"].get("uid", ""))
    storage_ns = str((cluster["metadata"].get("annotations") or {}).get(STORAGE_NS_ANNOTATION, storage_ns))
    if options is not None and options.get("externalStorageNamespace"):
        storage_ns = str(options["externalStorageNamespace"])
    annotations[STORAGE_NS_ANNOTATION] = storage_ns
    set_default_env(env, "RAY_external_storage_namespace", storage_ns)
    if options is not None:
        env.append(compact({"name": "RAY_REDIS_ADDRESS", "value": options.get("redisAddress")}))
        for key, env_name in (("redisUsername", "REDIS_USERNAME"), ("redisPassword", "REDIS_PASSWORD")):
            source = options.get(key)
            if source is not None:
                env.append(compact({"name": env_name, "value": source.get("value"),
                                    "valueFrom": copy.deepcopy(source.get("valueFrom"))}))
    elif not has_env(env, "REDIS_PASSWORD") and "redis-password" in params:
        # The Redis cleanup Job reads the password from this env var.
        env.append(env_value("REDIS_PASSWORD", params["redis-password"]))


# --- the autoscaler sidecar (§4.5) -----------------------------------------------------------

def autoscaler_container(cluster: Obj, image: str, settings: ClusterConfig) -> Obj:
    """KubeRay `BuildAutoscalerContainer` + auth/TLS env + `mergeAutoscalerOverrides` (§4.5)."""
    resources = {"cpu": "500m", "memory": "512Mi"}
    container: Obj = {
        "name": "autoscaler",
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "env": [
            env_field("RAY_CLUSTER_NAME", f"metadata.labels['{CLUSTER_LABEL}']"),
            env_field("RAY_CLUSTER_NAMESPACE", "metadata.namespace"),
            env_field("RAY_HEAD_POD_NAME", "metadata.name"),
            env_value("KUBERAY_CRD_VER", "v1"),
            env_value("KUBERAY_GEN_AUTOSCALER_START_CMD", AUTOSCALER_CMD),
        ],
        "command": bash_command(settings),
        "args": [AUTOSCALER_CMD],
        "resources": {"limits": dict(resources), "requests": dict(resources)},
    }
    if _auth_enabled(cluster):
        _token_auth_env(cluster, container)
    if _tls_enabled(cluster, settings):
        _tls_env_and_mount(container)
    options = (cluster.get("spec") or {}).get("autoscalerOptions") or {}
    for key in ("resources", "image", "imagePullPolicy", "securityContext", "command", "args"):
        if options.get(key):
            container[key] = copy.deepcopy(options[key])
    for key in ("env", "envFrom", "volumeMounts"):
        if options.get(key):
            container.setdefault(key, []).extend(copy.deepcopy(options[key]))
    return container


# --- auth and TLS ----------------------------------------------------------------------------

def _auth_enabled(cluster: Obj) -> bool:
    return ((cluster.get("spec") or {}).get("authOptions") or {}).get("mode") == "token"


def _k8s_auth(cluster: Obj) -> bool:
    return ((cluster.get("spec") or {}).get("authOptions") or {}).get("enableK8sTokenAuth") is True


def configure_auth(cluster: Obj, spec: Obj) -> None:
    """KubeRay `configureTokenAuth`: env on the Ray and `wait-gcs-ready` containers; with
    Kubernetes token auth a projected service-account token volume."""
    if not _auth_enabled(cluster):
        return
    _token_auth_env(cluster, spec["containers"][0])
    if _k8s_auth(cluster) and not any(v.get("name") == "ray-token" for v in spec.get("volumes") or []):
        spec.setdefault("volumes", []).append(
            {"name": "ray-token", "projected": {"sources": [{"serviceAccountToken": {"path": "token"}}]}})
    for init in spec.get("initContainers") or []:
        if init.get("name") == "wait-gcs-ready":
            _token_auth_env(cluster, init)


def _token_auth_env(cluster: Obj, container: Obj) -> None:
    """KubeRay `SetContainerTokenAuthEnvVars`."""
    env = container_env(container)
    set_default_env(env, "RAY_AUTH_MODE", "token")
    if _k8s_auth(cluster):
        set_default_env(env, "RAY_ENABLE_K8S_TOKEN_AUTH", "true")
        mounts = container.setdefault("volumeMounts", [])
        if not any(m.get("name") == "ray-token" for m in mounts):
            mounts.append({"name": "ray-token", "mountPath": _TOKEN_DIR, "readOnly": True})
        return
    secret = ((cluster.get("spec") or {}).get("authOptions") or {}).get("secretName") or check_name(_name(cluster))
    if not has_env(env, "RAY_AUTH_TOKEN"):
        env.append({"name": "RAY_AUTH_TOKEN", "valueFrom": {"secretKeyRef": {"name": secret, "key": "auth_token"}}})


def _tls_enabled(cluster: Obj, settings: ClusterConfig) -> bool:
    tls = (cluster.get("spec") or {}).get("tlsOptions") or {}
    return settings.feature_enabled("RayClusterMTLS") and tls.get("enabled") is True


def configure_tls(cluster: Obj, node_type: str, spec: Obj, settings: ClusterConfig) -> None:
    """KubeRay `configureTLS`: the cert-manager Secret volume, TLS env on the Ray and
    `wait-gcs-ready` containers, and a prepended `wait-for-tls-ip-san` init container."""
    if not _tls_enabled(cluster, settings):
        return
    volumes = spec.setdefault("volumes", [])
    if not any(v.get("name") == "ray-tls" for v in volumes):
        secret = f"ray-{node_type}-secret-{_name(cluster)}"
        volumes.append({"name": "ray-tls", "secret": {"secretName": secret}})
    ray = spec["containers"][0]
    _tls_env_and_mount(ray)
    inits = spec.setdefault("initContainers", [])
    for init in inits:
        if init.get("name") == "wait-gcs-ready":
            _tls_env_and_mount(init)
    if any(init.get("name") == "wait-for-tls-ip-san" for init in inits):
        return
    fixed = {"cpu": "50m", "memory": "64Mi"}
    inits.insert(0, compact({
        "name": "wait-for-tls-ip-san",
        "image": ray.get("image"),
        "imagePullPolicy": ray.get("imagePullPolicy"),
        "command": ["sh", "-c"],
        "args": [_WAIT_TLS],
        "securityContext": copy.deepcopy(ray.get("securityContext")),
        "env": [env_field("POD_IP", "status.podIP")],
        "volumeMounts": [{"name": "ray-tls", "mountPath": _TLS_DIR, "readOnly": True}],
        "resources": {"limits": dict(fixed), "requests": dict(fixed)},
    }))


def _tls_env_and_mount(container: Obj) -> None:
    """KubeRay `SetContainerTLSConfig`."""
    env = container_env(container)
    for name, value in (("RAY_USE_TLS", "1"), ("RAY_TLS_SERVER_CERT", f"{_TLS_DIR}/tls.crt"),
                        ("RAY_TLS_SERVER_KEY", f"{_TLS_DIR}/tls.key"), ("RAY_TLS_CA_CERT", f"{_TLS_DIR}/ca.crt")):
        set_default_env(env, name, value)
    mounts = container.setdefault("volumeMounts", [])
    if not any(m.get("name") == "ray-tls" or m.get("mountPath") == _TLS_DIR for m in mounts):
        mounts.append({"name": "ray-tls", "mountPath": _TLS_DIR, "readOnly": True})


# --- small helpers ---------------------------------------------------------------------------

def container_env(container: Obj) -> list[Obj]:
    """The container's `env` list, added if missing."""
    env: list[Obj] = container.setdefault("env", [])
    return env


def has_env(env: list[Obj], name: str) -> bool:
    return any(e.get("name") == name for e in env)


def set_default_env(env: list[Obj], name: str, value: str) -> None:
    if not has_env(env, name):
        env.append(env_value(name, value))


def env_value(name: str, value: str) -> Obj:
    return {"name": name, "value": value}


def env_field(name: str, path: str) -> Obj:
    return {"name": name, "valueFrom": {"fieldRef": {"fieldPath": path}}}


def compact(obj: Obj) -> Obj:
    """Drop unset fields, as Go's `omitempty` does."""
    return {k: v for k, v in obj.items() if v not in (None, "", [], {})}
