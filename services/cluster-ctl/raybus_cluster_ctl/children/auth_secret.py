"""The auth token Secret of a RayCluster (KubeRay `reconcileAuthSecret`). Pure:
the caller makes the token (KubeRay: base64 of 32 random bytes)."""

from __future__ import annotations

from raybus_common.crds.raycluster import AuthMode, RayCluster

from ..names import check_name
from ..podtemplate import Obj
from .metadata import object_meta, our_labels


def auth_secret_needed(cluster: RayCluster) -> bool:
    """KubeRay's quirk kept: any `authOptions` whose mode is not `disabled` (an empty mode
    too), unless auth is delegated to Kubernetes tokens or a `secretName` is given."""
    auth = cluster.spec.auth_options
    if auth is None or auth.mode == AuthMode.DISABLED:
        return False
    return not auth.enable_k8s_token_auth and not auth.secret_name


def auth_secret(cluster: RayCluster, token: str) -> Obj | None:
    """Secret `CheckName(<cluster>)` with `stringData.auth_token`, when `auth_secret_needed`."""
    if not auth_secret_needed(cluster):
        return None
    return {"apiVersion": "v1", "kind": "Secret",
            "metadata": object_meta(check_name(cluster.name), cluster.namespace, our_labels(cluster), {}),
            "stringData": {"auth_token": token}}
