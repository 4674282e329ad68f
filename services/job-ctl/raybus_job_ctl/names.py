"""The names a RayJob's controller gives and reads: the generated RayCluster name and Ray job
submission id of an attempt, the head Service names, and `status.dashboardURL`. Pure.

KubeRay names an attempt's RayCluster and submission id `<rayjob>-<5 random chars>` (the API
server's `generateName` alphabet). A pure reconcile cannot draw random characters, and must not
name a second cluster when a decision is taken twice, so here the five characters come from a
sha256 of the RayJob's uid, what is named, and the attempt's `status.startTime` as written.
They are derived once, in the New → Initializing status write, and read from the status ever
after: every later pass, and every replica, uses the status's values, never derives again.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from raybus_common import objects

from .constants import DASHBOARD_PORT_NAME

ALPHABET = objects.SUFFIX_ALPHABET  # k8s.io/apimachinery's rand.String alphabet
Named = Literal["raycluster", "jobid"]


def generated_suffix(uid: str, what: Named, start_time: str) -> str:
    """Five characters of `ALPHABET`, the same for the same inputs (`objects.generated_suffix`)."""
    return objects.generated_suffix(uid, what, start_time)


def generated_name(rayjob: str, uid: str, what: Named, start_time: str) -> str:
    """KubeRay's `GenerateRayClusterName` / `GenerateRayJobId`: `<rayjob>-<suffix>`."""
    return f"{rayjob}-{generated_suffix(uid, what, start_time)}"


def rayjob_head_service_name(rayjob: str) -> str:
    """The RayJob's own head Service (KubeRay `GenerateHeadServiceName(RayJobCRD, …)`)."""
    return f"{rayjob}-head-svc"


def cluster_head_service_name(cluster: str, cluster_spec: Mapping[str, Any] | None) -> str:
    """The RayCluster's head Service: `headGroupSpec.headService.metadata.name`, else
    `<cluster>-head-svc` (KubeRay `GenerateHeadServiceName(RayClusterCRD, …)`)."""
    head = (cluster_spec or {}).get("headGroupSpec") or {}
    custom = ((head.get("headService") or {}).get("metadata") or {}).get("name")
    return str(custom) if custom else f"{cluster}-head-svc"


def service_port(service: Mapping[str, Any], name: str = DASHBOARD_PORT_NAME) -> int | None:
    """The `port` of the Service's port named `name`."""
    for port in (service.get("spec") or {}).get("ports") or []:
        if port.get("name") == name and isinstance(port.get("port"), int):
            return int(port["port"])
    return None


def dashboard_url(cluster: Mapping[str, Any], *, head_service: Mapping[str, Any] | None, fallback_port: int,
                  domain: str) -> str | None:
    """KubeRay `FetchHeadServiceURL`: `<head svc>.<ns>.svc.<domain>:<port of its "dashboard" port>`.

    The port is read from the cluster's head Service when the view holds it (None when that
    Service has no `dashboard` port: KubeRay's error, retried); without the Service, from
    `fallback_port` (the head container's `dashboard` port, which the head Service copies)."""
    service_name = cluster_head_service_name(objects.name(cluster), cluster.get("spec"))
    port = service_port(head_service) if head_service is not None else fallback_port
    if port is None:
        return None
    return f"{service_name}.{objects.namespace(cluster)}.svc.{domain}:{port}"
