"""raybus-cluster-ctl's declaration and start: its root kind, its reconcile, the children that wake
a RayCluster (by controller owner reference; pods also by their `ray.io/cluster` label, so pods
another operator made are seen) and the part of each it keeps (`keep`), and KubeRay's
`kuberay_cluster_*` metrics over the clusters this replica holds. The shared runtime
(`controller.runtime`) rebuilds the view from the bus, takes its share of the RayClusters through
partition leases, and publishes the actions."""

from __future__ import annotations

from raybus_common.controller import scrape
from raybus_common.controller.runtime import Controller, ControllerSpec, Watch, serve
from raybus_common.controller.view import either, labelled, owned_by
from raybus_common.runner import Service

from .config import ClusterConfig
from .constants import CLUSTER_LABEL
from .keep import keep_for, keep_pod
from .metrics import families
from .reconcile import reconcile
from .settings import ClusterCtlSettings
from .status.calculate import is_transition

ROOT = "raycluster"
OWNED = ("service", "job", "ingress", "serviceaccount", "role", "rolebinding", "secret", "persistentvolumeclaim",
         "networkpolicy")
# A gang's group object, which scheduler-bridge writes: no pod before it is in view. Volcano's
# PodGroup of a RayJob's cluster is the RayJob's and names the cluster in its `ray.io/cluster`.
GROUPS = (Watch("podgroup", either(owned_by(ROOT, "RayCluster"), labelled(ROOT, CLUSTER_LABEL)),
                keep=keep_for("podgroup")),
          Watch("schedulingpodgroup", owned_by(ROOT, "RayCluster"), keep=keep_for("schedulingpodgroup")))
SPEC = ControllerSpec[ClusterConfig]("cluster-ctl", ROOT, reconcile, watches=(
    Watch("pod", either(owned_by(ROOT, "RayCluster"), labelled(ROOT, CLUSTER_LABEL)), keep=keep_pod),
    *(Watch(kind, owned_by(ROOT, "RayCluster"), keep=keep_for(kind)) for kind in OWNED),
    *GROUPS,
), status_transition=is_transition)


async def start(svc: Service, settings: ClusterCtlSettings) -> Controller[ClusterConfig]:
    ctl = serve(svc, SPEC, settings, settings)
    scrape.export(svc, ctl, families)
    return ctl
