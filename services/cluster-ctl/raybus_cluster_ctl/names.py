"""KubeRay's names and addresses for what it makes of a RayCluster (`utils/util.go`): the head
Service's name and the address workers dial, the autoscaler's ServiceAccount (`CheckName` and
`CheckLabel` are `raybus_common.gotext`'s, shared with job-ctl). Builders of pods and of the other children both read them. Pure.

Not here: pod names (`plan.podnames`, Raybus's deterministic stand-in for `generateName`).
"""

from __future__ import annotations

from raybus_common.crds.raycluster import RayCluster
from raybus_common.gotext import check_name

from .config import ClusterConfig
from .constants import DEFAULT_GCS_PORT


def head_service_name(cluster: RayCluster) -> str:
    """`headGroupSpec.headService.metadata.name` if set, else `<cluster>-head-svc`."""
    custom = cluster.spec.head_group_spec.head_service or {}
    return str((custom.get("metadata") or {}).get("name") or f"{cluster.name}-head-svc")


def head_port(cluster: RayCluster) -> str:
    """KubeRay `GetHeadPort`: the head's `port` start param, else 6379 (GCS)."""
    return str(cluster.spec.head_group_spec.params.get("port", DEFAULT_GCS_PORT))


def head_fqdn(cluster: RayCluster, settings: ClusterConfig) -> str:
    """`<head service>.<namespace>.svc.<cluster domain>`: the address workers dial."""
    return f"{head_service_name(cluster)}.{cluster.namespace}.svc.{settings.cluster_domain}"


def user_service_account(cluster: RayCluster) -> str:
    """The head template's `serviceAccountName`, "" when unset."""
    return str((cluster.spec.head_group_spec.template.get("spec") or {}).get("serviceAccountName") or "")


def autoscaler_service_account_name(cluster: RayCluster) -> str:
    """The head template's `serviceAccountName` if set, else the cluster name; CheckName'd."""
    return check_name(user_service_account(cluster) or cluster.name)
