"""KubeRay's names for what a RayService makes and reads (`utils/constant.go`, v1.7), as serve-ctl
uses them: the finalizer, the annotations of its RayClusters, the initializing-timeout annotation,
the Gateway listener, the name limit, the gate, the requeue interval. Pure data.

Not here: the labels and ports the Services are built from (`raybus_common.crds.cluster_services`,
shared with cluster-ctl), `ray.io/originated-from-crd` (`raybus_common.crds.raycluster`) and
`app.kubernetes.io/created-by` (`raybus_common.kube.resources`), which other services read too.
"""

from __future__ import annotations

from raybus_common.crds.cluster_services import ORIGINATED_FROM_CR_NAME_LABEL, SERVE_LABEL
from raybus_common.crds.raycluster import ORIGINATED_FROM_CRD_LABEL
from raybus_common.crds.rayjob import CLUSTER_LABEL

__all__ = ["CLUSTER_LABEL", "ORIGINATED_FROM_CRD_LABEL", "ORIGINATED_FROM_CR_NAME_LABEL", "SERVE_LABEL"]

FINALIZER = "ray.io/rayservice-finalizer"
RAYSERVICE_CRD = "RayService"  # the value of ray.io/originated-from-crd

# --- the annotations of a RayService's RayClusters -------------------------------------------------
HASH_ANNOTATION = "ray.io/hash-without-replicas-and-workers-to-delete"
NUM_WORKER_GROUPS_ANNOTATION = "ray.io/num-worker-groups"
KUBERAY_VERSION_ANNOTATION = "ray.io/kuberay-version"

# --- on the RayService ------------------------------------------------------------------------------
INITIALIZING_TIMEOUT_ANNOTATION = "ray.io/initializing-timeout"
MAX_RAYSERVICE_NAME_LENGTH = 47  # MaxRayClusterNameLength (53) - 6: room for `-<5 chars>`
INCREMENTAL_GATE = "RayServiceIncrementalUpgrade"

# --- the Gateway of an incremental upgrade --------------------------------------------------------
GATEWAY_LISTENER_NAME = "http"
GATEWAY_LISTENER_PORT = 80
GATEWAY_API_VERSION = "gateway.networking.k8s.io/v1"

# --- timing ---------------------------------------------------------------------------------------
REQUEUE = 2.0  # seconds: KubeRay's ServiceDefaultRequeueDuration
DEFAULT_DELETION_DELAY = 60  # seconds: rayClusterDeletionDelaySeconds when unset
