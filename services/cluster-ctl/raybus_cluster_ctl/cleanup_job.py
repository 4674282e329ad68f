"""The Redis cleanup Job of a RayCluster, built the way KubeRay v1.7 builds it
(raycluster_controller.go `buildRedisCleanupJob`). Pure.

When a cluster with Redis-backed GCS fault tolerance is deleted, KubeRay runs this Job to delete
the cluster's storage namespace in Redis before it removes its finalizer. The Job accepts the
built head pod for full fidelity and otherwise derives the parts of it the cleanup needs. Like
the rest of the children it comes without ownerReferences; the caller adds them. The other
non-pod children are in `children.py`, which re-exports `redis_cleanup_job` and `redis_ft_enabled`.
"""

from __future__ import annotations

import copy

from raybus_common.kube.resources import CREATED_BY, CREATED_BY_VALUE

from .children_common import (
    _APP_NAME,
    _APP_NAME_VALUE,
    _CLUSTER,
    _FT_ENABLED,
    _GROUP,
    _IDENTIFIER,
    _IS_RAY_NODE,
    _NODE_TYPE,
    _OVERWRITE_CMD,
    _STORAGE_NS,
    Obj,
    _annotations,
    _head,
    _head_template,
    _meta,
    _name,
    _namespace,
    _spec,
    autoscaler_service_account_name,
    autoscaling_enabled,
    check_label,
)


def redis_ft_enabled(cluster: Obj) -> bool:
    """GCS FT (annotation `ray.io/ft-enabled` "true", any case, or `gcsFaultToleranceOptions`)
    with the Redis backend (the default)."""
    options = _spec(cluster).get("gcsFaultToleranceOptions")
    enabled = _annotations(cluster).get(_FT_ENABLED, "").lower() == "true" or options is not None
    return enabled and (options or {}).get("backend", "redis") in ("", "redis")


def _storage_namespace(cluster: Obj) -> str:
    options = _spec(cluster).get("gcsFaultToleranceOptions") or {}
    return str(options.get("externalStorageNamespace")
               or _annotations(cluster).get(_STORAGE_NS, cluster["metadata"].get("uid", "")))


def _redis_env(cluster: Obj, env: list[Obj]) -> list[Obj]:
    """KubeRay `configureRedisFT`: the env the head (and so the cleanup) gets for Redis FT."""
    names = {e.get("name") for e in env}
    out = list(env)
    if "RAY_external_storage_namespace" not in names:
        out.append({"name": "RAY_external_storage_namespace", "value": _storage_namespace(cluster)})
    options = _spec(cluster).get("gcsFaultToleranceOptions")
    if options is not None:
        out.append({"name": "RAY_REDIS_ADDRESS", "value": options.get("redisAddress", "")})
        for field, var in (("redisUsername", "REDIS_USERNAME"), ("redisPassword", "REDIS_PASSWORD")):
            if options.get(field) is not None:
                out.append({"name": var, **copy.deepcopy(options[field])})
    elif "REDIS_PASSWORD" not in names and "redis-password" in (_head(cluster).get("rayStartParams") or {}):
        out.append({"name": "REDIS_PASSWORD", "value": _head(cluster)["rayStartParams"]["redis-password"]})
    return out


def _derived_head_pod(cluster: Obj) -> Obj:
    """The parts of KubeRay's head pod the cleanup Job keeps: labels, FT annotations, the
    template spec with the Redis env, and the autoscaler's ServiceAccount."""
    name, template = _name(cluster), copy.deepcopy(_head_template(cluster))
    meta = template.get("metadata") or {}
    labels = {_IS_RAY_NODE: "yes", _CLUSTER: name, _NODE_TYPE: "head", _GROUP: "headgroup",
              _IDENTIFIER: check_label(f"{name}-head"), _APP_NAME: _APP_NAME_VALUE, CREATED_BY: CREATED_BY_VALUE}
    overrides = {**(meta.get("labels") or {}), **(_head(cluster).get("labels") or {})}
    labels.update({k: v for k, v in overrides.items() if k not in (_NODE_TYPE, _GROUP, _CLUSTER)})
    annotations = dict(meta.get("annotations") or {})
    if _annotations(cluster).get(_OVERWRITE_CMD, "").lower() == "true":
        annotations[_OVERWRITE_CMD] = "true"
    annotations[_FT_ENABLED] = "true"
    annotations[_STORAGE_NS] = _storage_namespace(cluster)
    spec = template.get("spec") or {}
    spec["containers"][0]["env"] = _redis_env(cluster, spec["containers"][0].get("env") or [])
    if autoscaling_enabled(cluster):
        spec["serviceAccountName"] = autoscaler_service_account_name(cluster)
    return {"metadata": {"labels": labels, "annotations": annotations}, "spec": spec}


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


def redis_cleanup_job(cluster: Obj, *, head_pod: Obj | None = None) -> Obj | None:
    """KubeRay `buildRedisCleanupJob`, for Redis-backed GCS FT: the head pod relabelled
    `ray.io/node-type: redis-cleanup`, only its Ray container (no `wait-for-tls-ip-san` init
    container, no probes) running `cleanup_redis_storage` on the first `RAY_REDIS_ADDRESS`,
    200m/256Mi, restartPolicy Never, backoffLimit 0, activeDeadlineSeconds 300. Pass the
    built `head_pod` for full fidelity; without it the head pod is derived from the template."""
    if not redis_ft_enabled(cluster):
        return None
    pod = copy.deepcopy(head_pod) if head_pod is not None else _derived_head_pod(cluster)
    labels = {**(pod["metadata"].get("labels") or {}), _NODE_TYPE: "redis-cleanup"}
    annotations = dict(pod["metadata"].get("annotations") or {})
    spec = pod["spec"]
    ray = spec["containers"][0]
    env = list(ray.get("env") or [])
    script = _CLEANUP_PREFIX + (_CLEANUP_USERNAME if any(e.get("name") == "REDIS_USERNAME" for e in env) else "")
    ray["command"] = ["/bin/bash", "-c", "--"]
    ray["args"] = [_CLEANUP_HINT + script + _CLEANUP_SUFFIX]
    ray.pop("livenessProbe", None)
    ray.pop("readinessProbe", None)
    ray["env"] = env + [{"name": "RAY_redis_db_connect_retries", "value": "120"},
                        {"name": "RAY_redis_db_connect_wait_milliseconds", "value": "500"}]
    ray["resources"] = {"limits": dict(_CLEANUP_RESOURCES), "requests": dict(_CLEANUP_RESOURCES)}
    spec["containers"] = [ray]
    init = [c for c in spec.get("initContainers") or [] if c.get("name") != "wait-for-tls-ip-san"]
    if init:
        spec["initContainers"] = init
    else:
        spec.pop("initContainers", None)
    spec["restartPolicy"] = "Never"
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": _meta(check_label(f"{_name(cluster)}-redis-cleanup"), _namespace(cluster),
                          labels, annotations),
        "spec": {
            "backoffLimit": 0,
            "activeDeadlineSeconds": 300,  # best effort for five minutes
            "template": {"metadata": {"labels": dict(labels), "annotations": dict(annotations)}, "spec": spec},
        },
    }
