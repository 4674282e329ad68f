"""The autoscaler's ServiceAccount, Role and RoleBinding, built the way KubeRay v1.7 builds them
(`common/rbac.go`). Pure."""

from __future__ import annotations

import copy

from raybus_common.crds.raycluster import RayCluster
from raybus_common.gotext import check_name

from ..names import autoscaler_service_account_name, user_service_account
from ..podtemplate import Obj
from .metadata import kuberay_labels, object_meta

_RULES: list[Obj] = [
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch", "patch"]},
    {"apiGroups": [""], "resources": ["pods/resize"], "verbs": ["patch"]},
    {"apiGroups": ["ray.io"], "resources": ["rayclusters"], "verbs": ["get", "patch"]},
]


def autoscaler_rbac(cluster: RayCluster) -> list[Obj]:
    """With `enableInTreeAutoscaling`: ServiceAccount, Role (pods get/list/watch/patch,
    pods/resize patch, rayclusters get/patch) and a RoleBinding of the one to the other, all with
    KubeRay's labels. No ServiceAccount when the head names its own: KubeRay never creates that
    one (the user must; a missing one is an `AutoscalerServiceAccountNotFound` error), so neither
    does Raybus."""
    if not cluster.spec.autoscaling_enabled:
        return []
    ns, sa, role = cluster.namespace, autoscaler_service_account_name(cluster), check_name(cluster.name)
    out: list[Obj] = []
    if user_service_account(cluster) != sa:
        out.append({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": object_meta(sa, ns, kuberay_labels(cluster), {})})
    out.append({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                "metadata": object_meta(role, ns, kuberay_labels(cluster), {}), "rules": copy.deepcopy(_RULES)})
    out.append({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                "metadata": object_meta(role, ns, kuberay_labels(cluster), {}),
                "subjects": [{"kind": "ServiceAccount", "name": sa, "namespace": ns}],
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role}})
    return out
