"""The autoscaler sidecar of a RayCluster's head pod, as KubeRay v1.7 builds it:
`BuildAutoscalerContainer`, its token auth and TLS env, and `mergeAutoscalerOverrides`. Pure.

Not here: its ServiceAccount and RBAC (`children.rbac`), the head pod around it (`build`).
"""

from __future__ import annotations

import copy

from raybus_common.crds.raycluster import RayCluster

from ..config import ClusterConfig
from ..constants import AUTOSCALER_CMD, AUTOSCALER_CONTAINER, CLUSTER_LABEL
from ..podtemplate import Obj, env_field, env_var
from .raystart import bash_command
from .security import auth_enabled, tls_enabled, tls_env_and_mount, token_auth_env

_RESOURCES = {"cpu": "500m", "memory": "512Mi"}


def autoscaler_container(cluster: RayCluster, image: str, settings: ClusterConfig) -> Obj:
    """KubeRay `BuildAutoscalerContainer` + auth/TLS env + `mergeAutoscalerOverrides`."""
    container: Obj = {
        "name": AUTOSCALER_CONTAINER,
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "env": [
            env_field("RAY_CLUSTER_NAME", f"metadata.labels['{CLUSTER_LABEL}']"),
            env_field("RAY_CLUSTER_NAMESPACE", "metadata.namespace"),
            env_field("RAY_HEAD_POD_NAME", "metadata.name"),
            env_var("KUBERAY_CRD_VER", "v1"),
            env_var("KUBERAY_GEN_AUTOSCALER_START_CMD", AUTOSCALER_CMD),
        ],
        "command": bash_command(settings),
        "args": [AUTOSCALER_CMD],
        "resources": {"limits": dict(_RESOURCES), "requests": dict(_RESOURCES)},
    }
    if auth_enabled(cluster):
        token_auth_env(cluster, container)
    if tls_enabled(cluster, settings):
        tls_env_and_mount(container)
    options = cluster.spec.autoscaler_options
    wire = options.to_wire() if options is not None else {}
    # KubeRay's pointers replace when set at all, even empty: `securityContext: {}` (as in its
    # autoscaler sample) gives the sidecar `securityContext: {}`, `resources: {}` drops the
    # 500m/512Mi. Its slices count only when non-empty.
    for key in ("resources", "image", "imagePullPolicy", "securityContext"):
        if key in wire:
            container[key] = copy.deepcopy(wire[key])
    for key in ("command", "args"):
        if wire.get(key):
            container[key] = copy.deepcopy(wire[key])
    for key in ("env", "envFrom", "volumeMounts"):
        if wire.get(key):
            container.setdefault(key, []).extend(copy.deepcopy(wire[key]))
    return container
