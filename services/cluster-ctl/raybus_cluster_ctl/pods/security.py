"""Token authentication and mTLS in a RayCluster's pods, as KubeRay v1.7 configures them
(`configureTokenAuth`, `configureTLS`): env vars on the Ray, `wait-gcs-ready` and autoscaler
containers, the projected service-account token and cert-manager Secret volumes, and the
`wait-for-tls-ip-san` init container. Pure: fills the pod spec and containers it is given.

Not here: the auth Secret and the cert-manager objects themselves (children).
"""

from __future__ import annotations

import copy

from raybus_common.crds.raycluster import AuthMode, RayCluster, RayNodeType
from raybus_common.gotext import check_name

from ..config import ClusterConfig
from ..constants import TLS_DIR, TLS_ENV, TLS_VOLUME, TOKEN_DIR, TOKEN_VOLUME, WAIT_GCS_READY, WAIT_TLS_IP_SAN
from ..podtemplate import Obj, compact, container_env, env_field, find_env, set_default_env

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


# --- token auth ------------------------------------------------------------------------------

def auth_enabled(cluster: RayCluster) -> bool:
    """`authOptions.mode` is token."""
    auth = cluster.spec.auth_options
    return auth is not None and auth.mode == AuthMode.TOKEN


def _k8s_auth(cluster: RayCluster) -> bool:
    auth = cluster.spec.auth_options
    return auth is not None and auth.enable_k8s_token_auth is True


def configure_auth(cluster: RayCluster, spec: Obj) -> None:
    """KubeRay `configureTokenAuth`: env on the Ray and `wait-gcs-ready` containers; with
    Kubernetes token auth a projected service-account token volume."""
    if not auth_enabled(cluster):
        return
    token_auth_env(cluster, spec["containers"][0])
    if _k8s_auth(cluster) and not any(v.get("name") == TOKEN_VOLUME for v in spec.get("volumes") or []):
        spec.setdefault("volumes", []).append(
            {"name": TOKEN_VOLUME, "projected": {"sources": [{"serviceAccountToken": {"path": "token"}}]}})
    for init in spec.get("initContainers") or []:
        if init.get("name") == WAIT_GCS_READY:
            token_auth_env(cluster, init)


def token_auth_env(cluster: RayCluster, container: Obj) -> None:
    """KubeRay `SetContainerTokenAuthEnvVars`."""
    env = container_env(container)
    set_default_env(env, "RAY_AUTH_MODE", "token")
    if _k8s_auth(cluster):
        set_default_env(env, "RAY_ENABLE_K8S_TOKEN_AUTH", "true")
        mounts = container.setdefault("volumeMounts", [])
        if not any(m.get("name") == TOKEN_VOLUME for m in mounts):
            mounts.append({"name": TOKEN_VOLUME, "mountPath": TOKEN_DIR, "readOnly": True})
        return
    auth = cluster.spec.auth_options
    secret = (auth.secret_name if auth else None) or check_name(cluster.name)
    if find_env(env, "RAY_AUTH_TOKEN") is None:
        env.append({"name": "RAY_AUTH_TOKEN", "valueFrom": {"secretKeyRef": {"name": secret, "key": "auth_token"}}})


# --- mTLS ------------------------------------------------------------------------------------

def tls_enabled(cluster: RayCluster, settings: ClusterConfig) -> bool:
    """Gate RayClusterMTLS on and `tlsOptions.enabled` true."""
    tls = cluster.spec.tls_options
    return settings.feature_enabled("RayClusterMTLS") and tls is not None and tls.enabled is True


def configure_tls(cluster: RayCluster, node_type: RayNodeType, spec: Obj, settings: ClusterConfig) -> None:
    """KubeRay `configureTLS`: the cert-manager Secret volume, TLS env on the Ray and
    `wait-gcs-ready` containers, and a prepended `wait-for-tls-ip-san` init container."""
    if not tls_enabled(cluster, settings):
        return
    volumes = spec.setdefault("volumes", [])
    if not any(v.get("name") == TLS_VOLUME for v in volumes):
        volumes.append({"name": TLS_VOLUME, "secret": {"secretName": f"ray-{node_type}-secret-{cluster.name}"}})
    ray = spec["containers"][0]
    tls_env_and_mount(ray)
    inits = spec.setdefault("initContainers", [])
    for init in inits:
        if init.get("name") == WAIT_GCS_READY:
            tls_env_and_mount(init)
    if any(init.get("name") == WAIT_TLS_IP_SAN for init in inits):
        return
    fixed = {"cpu": "50m", "memory": "64Mi"}
    inits.insert(0, compact({
        "name": WAIT_TLS_IP_SAN,
        "image": ray.get("image"),
        "imagePullPolicy": ray.get("imagePullPolicy"),
        "command": ["sh", "-c"],
        "args": [_WAIT_TLS],
        "securityContext": copy.deepcopy(ray.get("securityContext")),
        "env": [env_field("POD_IP", "status.podIP")],
        "volumeMounts": [{"name": TLS_VOLUME, "mountPath": TLS_DIR, "readOnly": True}],
        "resources": {"limits": dict(fixed), "requests": dict(fixed)},
    }))


def tls_env_and_mount(container: Obj) -> None:
    """KubeRay `SetContainerTLSConfig`."""
    env = container_env(container)
    values = ("1", f"{TLS_DIR}/tls.crt", f"{TLS_DIR}/tls.key", f"{TLS_DIR}/ca.crt")
    for name, value in zip(TLS_ENV, values, strict=True):
        set_default_env(env, name, value)
    mounts = container.setdefault("volumeMounts", [])
    if not any(m.get("name") == TLS_VOLUME or m.get("mountPath") == TLS_DIR for m in mounts):
        mounts.append({"name": TLS_VOLUME, "mountPath": TLS_DIR, "readOnly": True})
