"""What the status says about the head: its Service's named ports (`endpoints`, KubeRay
`updateEndpoints`) and the head Pod's and Service's addresses (`head_info`, `updateHeadInfo`),
read from the observed Pods and Services (plain dicts). Pure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from raybus_common import objects
from raybus_common.crds.raycluster import RayNodeType

from ..constants import CLUSTER_LABEL, NODE_TYPE_LABEL

Obj = Mapping[str, Any]


def head_services(cluster_name: str, services: Sequence[Obj]) -> list[Obj]:
    """The cluster's head Services (by KubeRay's labels), by name."""
    found = [s for s in services if objects.labels(s).get(CLUSTER_LABEL) == cluster_name
             and objects.labels(s).get(NODE_TYPE_LABEL) == RayNodeType.HEAD]
    return sorted(found, key=objects.name)


def endpoints(services: Sequence[Obj]) -> dict[str, str]:
    """KubeRay `updateEndpoints` for the first head Service: named port → nodePort if set, else
    targetPort. (KubeRay merges into the previous map and never removes a name; so does the caller.)"""
    out: dict[str, str] = {}
    for svc in services[:1]:
        for port in (svc.get("spec") or {}).get("ports") or []:
            target = port.get("targetPort")
            if not port.get("name"):
                continue
            if port.get("nodePort"):
                out[port["name"]] = str(port["nodePort"])
            elif target not in (None, 0, ""):
                out[port["name"]] = str(target)
    return out


def head_info(head: Obj | None, services: Sequence[Obj]) -> dict[str, str]:
    """KubeRay `updateHeadInfo`: head Pod IP/name; the head Service's ClusterIP, or the head Pod's
    IP when the Service is headless (`None`); "" where unknown (left out on the wire: `shape`)."""
    pod_ip = str(((head or {}).get("status") or {}).get("podIP") or "")
    svc = services[0] if len(services) == 1 else None
    cluster_ip = str(((svc or {}).get("spec") or {}).get("clusterIP") or "")
    return {"podIP": pod_ip, "serviceIP": pod_ip if cluster_ip == "None" else cluster_ip,
            "podName": objects.name(head or {}), "serviceName": objects.name(svc or {})}
