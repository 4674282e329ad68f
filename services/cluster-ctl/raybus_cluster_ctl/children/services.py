"""The Services of a RayCluster, built the way KubeRay v1.7 builds them (`common/service.go`): the
head Service, the serve Service and the headless worker Service. Pure.

The head and serve Services are built by `raybus_common.crds.cluster_services`, which serve-ctl
shares (a RayService's Services point at its clusters the same way); here is what is a
RayCluster's own: the head Service's name and `headServiceAnnotations`, its
`app.kubernetes.io/name` following the head template's, and the serve Service's opt-in
annotation and labels. The deliberate differences from KubeRay are that module's.
"""

from __future__ import annotations

from raybus_common.crds import cluster_services as shared
from raybus_common.crds.cluster_services import head_ports as service_ports
from raybus_common.crds.raycluster import ORIGINATED_FROM_CRD_LABEL, RayCluster, RayNodeType

from ..constants import (
    APP_NAME_LABEL,
    APP_NAME_VALUE,
    CLUSTER_LABEL,
    ENABLE_SERVE_SERVICE_ANNOTATION,
    HEADLESS_SERVICE_LABEL,
    NODE_TYPE_LABEL,
    ORIGINATED_FROM_CR_NAME_LABEL,
    SERVE_LABEL,
)
from ..names import head_service_name
from ..podtemplate import Obj
from .metadata import object_meta, our_labels

__all__ = ["head_service", "head_service_labels", "headless_worker_service", "serve_service", "service_ports"]


def head_service_labels(cluster: RayCluster) -> dict[str, str]:
    """Labels and selector of the head Service; `app.kubernetes.io/name` follows the head
    template's value of that label, else `kuberay`."""
    return shared.head_selector(cluster.name, _app_name(cluster))


def _app_name(cluster: RayCluster) -> str:
    template_labels = (cluster.spec.head_group_spec.template.get("metadata") or {}).get("labels") or {}
    return str(template_labels.get(APP_NAME_LABEL, APP_NAME_VALUE))


def head_service(cluster: RayCluster, *, cluster_ip_service: bool = False) -> Obj:
    """KubeRay `BuildServiceForHeadPod` as the RayCluster controller calls it: named
    `head_service_name`, annotated with `headServiceAnnotations`, selecting by
    `head_service_labels` (see `cluster_services.head_service`)."""
    return shared.head_service(cluster, name=head_service_name(cluster),
                               annotations=dict(cluster.spec.head_service_annotations or {}), app_name=_app_name(cluster),
                               cluster_ip_service=cluster_ip_service)


def serve_service(cluster: RayCluster) -> Obj | None:
    """KubeRay `BuildServeService` for a RayCluster, only with annotation
    `ray.io/enable-serve-service: "true"`: selects every pod of the cluster, ports are the head
    ports named `serve` or `serve-*` (no appProtocol), type `serviceType`. None when not enabled,
    or when no port qualifies: KubeRay then returns an error, which also stops that reconcile
    pass before pods are created."""
    if cluster.annotations.get(ENABLE_SERVE_SERVICE_ANNOTATION) != "true":
        return None
    ports = shared.serve_ports(cluster)
    if not ports:
        return None
    name = cluster.name
    labels = our_labels(cluster, {ORIGINATED_FROM_CR_NAME_LABEL: name, ORIGINATED_FROM_CRD_LABEL: "RayCluster",
                                  SERVE_LABEL: f"{name}-serve"})
    return shared.serve_service(name=f"{name}-serve-svc", namespace=cluster.namespace, labels=labels,
                                selector={CLUSTER_LABEL: name}, ports=ports,
                                service_type=cluster.spec.head_group_spec.service_type)


def headless_worker_service(cluster: RayCluster) -> Obj | None:
    """KubeRay `BuildHeadlessServiceForRayCluster`: `<cluster>-headless` selecting the worker
    pods, headless and publishing not-ready addresses, for multi-host peer DNS. Only when some
    worker group has `numOfHosts > 1`."""
    if not any(w.hosts > 1 for w in cluster.spec.workers):
        return None
    name = cluster.name
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": object_meta(f"{name}-headless", cluster.namespace, our_labels(cluster, {HEADLESS_SERVICE_LABEL: name}),
                                {}),
        "spec": {"clusterIP": "None", "selector": {CLUSTER_LABEL: name, NODE_TYPE_LABEL: RayNodeType.WORKER.value},
                 "type": "ClusterIP", "publishNotReadyAddresses": True},
    }
