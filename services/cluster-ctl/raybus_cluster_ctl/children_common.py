"""What the builders of a RayCluster's non-pod children share: KubeRay's label and annotation keys,
its name rules (`CheckName`, `CheckLabel`, the head Service and autoscaler ServiceAccount names) and
small readers of the RayCluster as plain Kubernetes JSON.

Shared by `children.py` (Services, Ingress, autoscaler RBAC, auth Secret) and `cleanup_job.py`
(the Redis cleanup Job); it builds no objects itself. Pure: no clock, environment or API server.
"""

from __future__ import annotations

from typing import Any

Obj = dict[str, Any]

# KubeRay label and annotation keys (utils/constant.go); pods.py keeps its own copy.
_CLUSTER = "ray.io/cluster"
_NODE_TYPE = "ray.io/node-type"
_GROUP = "ray.io/group"
_IS_RAY_NODE = "ray.io/is-ray-node"
_IDENTIFIER = "ray.io/identifier"
_APP_NAME = "app.kubernetes.io/name"
_APP_NAME_VALUE = "kuberay"
_ORIGIN_NAME = "ray.io/originated-from-cr-name"
_ORIGIN_CRD = "ray.io/originated-from-crd"
_SERVE = "ray.io/serve"
_HEADLESS = "ray.io/headless-worker-svc"
_ENABLE_SERVE_SERVICE = "ray.io/enable-serve-service"
_FT_ENABLED = "ray.io/ft-enabled"
_STORAGE_NS = "ray.io/external-storage-namespace"
_OVERWRITE_CMD = "ray.io/overwrite-container-cmd"
_INGRESS_CLASS = "kubernetes.io/ingress.class"

# Go's unicode.IsPunct over ASCII: what CheckName/CheckLabel replace when leading.
_GO_PUNCT = set("!\"#%&'()*,-./:;?@[\\]_{}")


# --- names (utils/util.go) -------------------------------------------------------------------

def check_name(s: str) -> str:
    """KubeRay `CheckName`: keep the last 50 chars; a leading digit or punctuation becomes `r`."""
    s = s[-50:]
    if s[:1].isdigit():
        s = "r" + s[1:]
    if s[:1] in _GO_PUNCT:
        s = "r" + s[1:]
    return s


def check_label(s: str) -> str:
    """KubeRay `CheckLabel`: keep the last 63 chars; leading punctuation becomes `r`."""
    s = s[-63:]
    if s[:1] in _GO_PUNCT:
        s = "r" + s[1:]
    return s


def head_service_name(cluster: Obj) -> str:
    """`headGroupSpec.headService.metadata.name` if set, else `<cluster>-head-svc`."""
    custom = _head(cluster).get("headService") or {}
    return str((custom.get("metadata") or {}).get("name") or f"{_name(cluster)}-head-svc")


def autoscaler_service_account_name(cluster: Obj) -> str:
    """The head template's `serviceAccountName` if set, else the cluster name; CheckName'd."""
    sa = _head_template(cluster).get("spec", {}).get("serviceAccountName") or _name(cluster)
    return check_name(str(sa))


# --- small readers ---------------------------------------------------------------------------

def _name(cluster: Obj) -> str:
    return str(cluster["metadata"]["name"])


def _namespace(cluster: Obj) -> str:
    return str(cluster["metadata"].get("namespace") or "default")


def _annotations(cluster: Obj) -> dict[str, str]:
    return dict(cluster["metadata"].get("annotations") or {})


def _spec(cluster: Obj) -> Obj:
    return dict(cluster.get("spec") or {})


def _head(cluster: Obj) -> Obj:
    return dict(_spec(cluster).get("headGroupSpec") or {})


def _head_template(cluster: Obj) -> Obj:
    return dict(_head(cluster).get("template") or {})


def _meta(name: str, namespace: str, labels: dict[str, str], annotations: dict[str, str]) -> Obj:
    return {"name": name, "namespace": namespace, "labels": labels, "annotations": annotations}


def autoscaling_enabled(cluster: Obj) -> bool:
    return bool(_spec(cluster).get("enableInTreeAutoscaling"))
