"""The auth token Secret of a RayCluster (KubeRay `reconcileAuthSecret`). Pure.

KubeRay creates it once, when absent, with `stringData.auth_token` = the base64 of 32 random
bytes, and never rotates it. A pure pass cannot draw random bytes, so the Secret built here has
no token: the pass asks the actuator to generate `AUTH_TOKEN_KEY` from `AUTH_TOKEN_BYTES` random
bytes as it creates the Secret (`Apply(create_only=True, generate=...)`, `plan.children`).
"""

from __future__ import annotations

from raybus_common.crds.raycluster import AuthMode, RayCluster
from raybus_common.gotext import check_name

from ..podtemplate import Obj
from .metadata import object_meta, our_labels

AUTH_TOKEN_KEY = "auth_token"
AUTH_TOKEN_BYTES = 32


def auth_secret_needed(cluster: RayCluster) -> bool:
    """KubeRay's quirk kept: any `authOptions` whose mode is not `disabled` (an empty mode
    too), unless auth is delegated to Kubernetes tokens or a `secretName` is given."""
    auth = cluster.spec.auth_options
    if auth is None or auth.mode == AuthMode.DISABLED:
        return False
    return not auth.enable_k8s_token_auth and not auth.secret_name


def auth_secret(cluster: RayCluster, token: str | None = None) -> Obj | None:
    """Secret `CheckName(<cluster>)`, when `auth_secret_needed`; with `stringData.auth_token`
    only when a `token` is given (the pass gives none: the actuator makes it)."""
    if not auth_secret_needed(cluster):
        return None
    secret: Obj = {"apiVersion": "v1", "kind": "Secret",
                   "metadata": object_meta(check_name(cluster.name), cluster.namespace, our_labels(cluster), {})}
    if token is not None:
        secret["stringData"] = {AUTH_TOKEN_KEY: token}
    return secret
