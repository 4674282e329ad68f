"""The Redis cleanup Job of a RayCluster, built the way KubeRay v1.7 builds it
(raycluster_controller.go `buildRedisCleanupJob`). Pure.

When a cluster with Redis-backed GCS fault tolerance is deleted, KubeRay runs this Job to delete
the cluster's storage namespace in Redis before it removes its finalizer. Like KubeRay, it is made
from the built head pod, which already carries the Redis env (`pods.env.configure_gcs_ft`). It
comes without ownerReferences; the pass adds them.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from raybus_common.crds.raycluster import RayCluster, RayNodeType
from raybus_common.gotext import check_label

from ..constants import NODE_TYPE_LABEL, WAIT_TLS_IP_SAN
from ..podtemplate import Obj, find_env
from .metadata import object_meta

_CLEANUP_HINT = (
    "echo \"To get more information about manually deleting the storage namespace in Redis and removing "
    "the RayCluster's finalizer, please check "
    "https://docs.ray.io/en/master/cluster/kubernetes/user-guides/kuberay-gcs-ft.html for more details.\" && "
)
_CLEANUP_PREFIX = (
    "python -c \"from ray._private.gcs_utils import cleanup_redis_storage; "
    "from urllib.parse import urlparse; import os; import sys; "
    "redis_address = os.getenv('RAY_REDIS_ADDRESS', '').split(',')[0]; "
    "redis_address = redis_address if '://' in redis_address else 'redis://' + redis_address; "
    "parsed = urlparse(redis_address); "
    "sys.exit(1) if not cleanup_redis_storage(host=parsed.hostname, port=parsed.port, "
)
_CLEANUP_USERNAME = "username=os.getenv('REDIS_USERNAME', parsed.username), "
_CLEANUP_SUFFIX = (
    "password=os.getenv('REDIS_PASSWORD', parsed.password or ''), use_ssl=parsed.scheme=='rediss', "
    "storage_namespace=os.getenv('RAY_external_storage_namespace')) else None\""
)
_CLEANUP_RESOURCES = {"cpu": "200m", "memory": "256Mi"}


def redis_cleanup_job(cluster: RayCluster, head_pod: Mapping[str, Any]) -> Obj | None:
    """KubeRay `buildRedisCleanupJob`, for Redis-backed GCS FT (None otherwise): `head_pod`
    relabelled `ray.io/node-type: redis-cleanup`, only its Ray container (no
    `wait-for-tls-ip-san` init container, no probes) running `cleanup_redis_storage` on the
    first `RAY_REDIS_ADDRESS`, 200m/256Mi, restartPolicy Never, backoffLimit 0,
    activeDeadlineSeconds 300."""
    if not cluster.redis_gcs_ft:
        return None
    pod = copy.deepcopy(dict(head_pod))
    labels = {**(pod["metadata"].get("labels") or {}), NODE_TYPE_LABEL: RayNodeType.REDIS_CLEANUP.value}
    annotations = dict(pod["metadata"].get("annotations") or {})
    spec = pod["spec"]
    ray = spec["containers"][0]
    env = list(ray.get("env") or [])
    script = _CLEANUP_PREFIX + (_CLEANUP_USERNAME if find_env(env, "REDIS_USERNAME") is not None else "")
    ray["command"] = ["/bin/bash", "-c", "--"]
    ray["args"] = [_CLEANUP_HINT + script + _CLEANUP_SUFFIX]
    ray.pop("livenessProbe", None)
    ray.pop("readinessProbe", None)
    ray["env"] = env + [{"name": "RAY_redis_db_connect_retries", "value": "120"},
                        {"name": "RAY_redis_db_connect_wait_milliseconds", "value": "500"}]
    ray["resources"] = {"limits": dict(_CLEANUP_RESOURCES), "requests": dict(_CLEANUP_RESOURCES)}
    spec["containers"] = [ray]
    init = [c for c in spec.get("initContainers") or [] if c.get("name") != WAIT_TLS_IP_SAN]
    if init:
        spec["initContainers"] = init
    else:
        spec.pop("initContainers", None)
    spec["restartPolicy"] = "Never"
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": object_meta(check_label(f"{cluster.name}-redis-cleanup"), cluster.namespace, labels, annotations),
        "spec": {
            "backoffLimit": 0,
            "activeDeadlineSeconds": 300,  # best effort for five minutes
            "template": {"metadata": {"labels": dict(labels), "annotations": dict(annotations)}, "spec": spec},
        },
    }
