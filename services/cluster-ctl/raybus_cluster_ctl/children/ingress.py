"""The head Ingress of a RayCluster, built the way KubeRay v1.7 builds it (`common/ingress.go`).
Pure. Not covered: the OpenShift Route KubeRay makes instead on OpenShift."""

from __future__ import annotations

import copy

from raybus_common.crds.raycluster import RayCluster
from raybus_common.gotext import check_label, check_name

from ..constants import DEFAULT_DASHBOARD_PORT, IDENTIFIER_LABEL, INGRESS_CLASS_ANNOTATION
from ..names import head_service_name
from ..podtemplate import Obj
from .metadata import kuberay_labels, object_meta
from .services import service_ports


def ingress(cluster: RayCluster) -> Obj | None:
    """KubeRay `BuildIngressForHeadService`, when `headGroupSpec.enableIngress`: one rule to
    the head Service's dashboard port (host/path/pathType from `ingressOptions`, defaults any
    host, `/`, `Prefix`), `ingressOptions.tls` copied, every cluster annotation copied except
    `kubernetes.io/ingress.class`, which becomes `spec.ingressClassName`."""
    head = cluster.spec.head_group_spec
    if not head.enable_ingress:
        return None
    name = cluster.name
    options = head.ingress_options
    annotations = dict(cluster.annotations)
    ingress_class = annotations.pop(INGRESS_CLASS_ANNOTATION, None)
    backend = {"service": {"name": head_service_name(cluster),
                           "port": {"number": service_ports(cluster).get("dashboard", DEFAULT_DASHBOARD_PORT)}}}
    path = {"path": (options.path if options else None) or "/",
            "pathType": str((options.path_type if options else None) or "Prefix"), "backend": backend}
    rule: Obj = {"http": {"paths": [path]}}
    if options is not None and options.host:
        rule = {"host": options.host, **rule}
    spec: Obj = {"rules": [rule]}
    if options is not None and options.tls:
        spec["tls"] = copy.deepcopy(options.tls)
    if ingress_class is not None:
        spec["ingressClassName"] = ingress_class
    labels = kuberay_labels(cluster, {IDENTIFIER_LABEL: check_label(f"{name}-head")})
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": object_meta(check_name(f"{name}-head-ingress"), cluster.namespace, labels, annotations),
            "spec": spec}
