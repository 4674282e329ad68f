"""The metadata every non-pod child of a RayCluster carries. Pure.

Deliberately beyond KubeRay, because Raybus applies objects rather than creating them once:
every child carries `app.kubernetes.io/created-by` (the watcher selects children by it) and
`ray.io/cluster`, where KubeRay omits both on the serve and headless Services and the auth Secret.
OwnerReferences are not here: the pass adds the controller reference to whatever it applies.
"""

from __future__ import annotations

from collections.abc import Mapping

from raybus_common.crds.raycluster import RayCluster
from raybus_common.kube.resources import CREATED_BY, CREATED_BY_VALUE

from ..constants import APP_NAME_LABEL, APP_NAME_VALUE, CLUSTER_LABEL
from ..podtemplate import Obj


def object_meta(name: str, namespace: str, labels: Mapping[str, str], annotations: Mapping[str, str]) -> Obj:
    return {"name": name, "namespace": namespace, "labels": dict(labels), "annotations": dict(annotations)}


def our_labels(cluster: RayCluster, labels: Mapping[str, str] | None = None) -> dict[str, str]:
    """`ray.io/cluster` and `app.kubernetes.io/created-by` (Raybus's two, see above) under `labels`."""
    return {CLUSTER_LABEL: cluster.name, CREATED_BY: CREATED_BY_VALUE, **(labels or {})}


def kuberay_labels(cluster: RayCluster, labels: Mapping[str, str] | None = None) -> dict[str, str]:
    """KubeRay's own set on RBAC objects and the Ingress: `ray.io/cluster`,
    `app.kubernetes.io/name: kuberay`, `app.kubernetes.io/created-by: kuberay-operator`."""
    return {CLUSTER_LABEL: cluster.name, APP_NAME_LABEL: APP_NAME_VALUE, CREATED_BY: CREATED_BY_VALUE,
            **(labels or {})}
