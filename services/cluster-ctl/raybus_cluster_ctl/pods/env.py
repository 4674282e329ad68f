"""The Ray container's env vars as KubeRay v1.7 sets them, and GCS fault tolerance,
which is mostly env too: the head's `ray.io/ft-enabled` and storage-namespace annotations, the
Redis settings or the RocksDB volume, and the workers' reconnect window. Pure: fills the pod
spec and containers it is given (the builder's own copies).

Not here: the token auth and mTLS env (`security`), the autoscaler sidecar's (`autoscaler`),
the rest of the pod (`build`).
"""

from __future__ import annotations

import copy

from raybus_common.crds.raycluster import (
    FT_ENABLED_ANNOTATION,
    STORAGE_NS_ANNOTATION,
    RayCluster,
    RayNodeType,
)

from ..config import ClusterConfig
from ..constants import CLUSTER_LABEL, GCS_STORAGE_PATH, GCS_STORAGE_VOLUME, GROUP_LABEL
from ..names import head_fqdn, head_port
from ..podtemplate import Obj, compact, container_env, env_field, env_var, find_env, set_default_env


def head_address_env(cluster: RayCluster, settings: ClusterConfig) -> list[Obj]:
    """`FQ_RAY_IP` (the head Service's FQDN) and `RAY_IP` (its first label), which workers' and
    init containers' scripts read."""
    fqdn = head_fqdn(cluster, settings)
    return [env_var("FQ_RAY_IP", fqdn), env_var("RAY_IP", fqdn.split(".")[0])]


def ray_container_env(cluster: RayCluster, node_type: RayNodeType, ray: Obj, start: str,
                      settings: ClusterConfig) -> None:
    """KubeRay `setContainerEnvVars`, in KubeRay's order."""
    env = container_env(ray)
    for default in settings.default_container_envs:
        if find_env(env, str(default.get("name"))) is None:
            env.append(copy.deepcopy(default))
    port = head_port(cluster)
    ip = "127.0.0.1"
    if node_type == RayNodeType.WORKER:
        ip = head_fqdn(cluster, settings)
        env.extend(head_address_env(cluster, settings))
    env.extend([
        env_field("RAY_CLUSTER_NAME", f"metadata.labels['{CLUSTER_LABEL}']"),
        env_field("RAY_CLUSTER_NAMESPACE", "metadata.namespace"),
        env_field("RAY_CLOUD_INSTANCE_ID", "metadata.name"),
        env_field("RAY_NODE_TYPE_NAME", f"metadata.labels['{GROUP_LABEL}']"),
        env_var("KUBERAY_GEN_RAY_START_CMD", start),
    ])
    set_default_env(env, "RAY_PORT", port)
    crd = cluster.creator_crd
    if crd == "RayService":
        set_default_env(env, "RAY_timeout_ms_task_wait_for_death_info", "0")
        set_default_env(env, "RAY_gcs_server_request_timeout_seconds", "5")
        set_default_env(env, "RAY_SERVE_KV_TIMEOUT_S", "5")
    set_default_env(env, "RAY_ADDRESS", f"{ip}:{port}")
    set_default_env(env, "RAY_USAGE_STATS_KUBERAY_IN_USE", "1")
    if node_type == RayNodeType.HEAD:
        env.append(env_var("RAY_USAGE_STATS_EXTRA_TAGS", f"kuberay_version={settings.kuberay_version};kuberay_crd={crd}"))
    set_default_env(env, "RAY_DASHBOARD_ENABLE_K8S_DISK_USAGE", "1")


def configure_gcs_ft(cluster: RayCluster, node_type: RayNodeType, spec: Obj, ray: Obj,
                     annotations: dict[str, str], params: dict[str, str]) -> None:
    """KubeRay `configureGCSFaultTolerance`: the head's `ray.io/ft-enabled` annotation; when
    enabled, the workers' reconnect timeout and the head's Redis or RocksDB settings."""
    enabled = cluster.gcs_ft_enabled
    if node_type == RayNodeType.HEAD:
        annotations[FT_ENABLED_ANNOTATION] = "true" if enabled else "false"
    if not enabled:
        return
    env = container_env(ray)
    if node_type == RayNodeType.WORKER:
        # Workers outlive a GCS restart (about 2 min) only with a longer reconnect window than Ray's 60 s.
        set_default_env(env, "RAY_gcs_rpc_server_reconnect_timeout_s", "600")
        return
    options = cluster.spec.gcs_fault_tolerance_options
    if options is not None and cluster.spec.gcs_ft_embedded:
        set_default_env(env, "RAY_gcs_storage", "rocksdb")
        set_default_env(env, "RAY_gcs_storage_path", GCS_STORAGE_PATH)
        storage = options.storage
        mount = compact({"name": GCS_STORAGE_VOLUME, "mountPath": GCS_STORAGE_PATH,
                         "subPath": storage.sub_path if storage else None})
        ray.setdefault("volumeMounts", []).append(mount)
        claim = (storage.claim_name if storage else None) or f"{cluster.name}-gcs-pvc"
        spec.setdefault("volumes", []).append({"name": GCS_STORAGE_VOLUME, "persistentVolumeClaim": {"claimName": claim}})
        return
    storage_ns = cluster.gcs_storage_namespace
    annotations[STORAGE_NS_ANNOTATION] = storage_ns
    set_default_env(env, "RAY_external_storage_namespace", storage_ns)
    if options is not None:
        env.append(compact({"name": "RAY_REDIS_ADDRESS", "value": options.redis_address}))
        for source, env_name in ((options.redis_username, "REDIS_USERNAME"), (options.redis_password, "REDIS_PASSWORD")):
            if source is not None:
                env.append(compact({"name": env_name, "value": source.value,
                                    "valueFrom": copy.deepcopy(source.value_from)}))
    elif find_env(env, "REDIS_PASSWORD") is None and "redis-password" in params:
        # The Redis cleanup Job reads the password from this env var.
        env.append(env_var("REDIS_PASSWORD", params["redis-password"]))
