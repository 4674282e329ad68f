"""KubeRay's label and annotation keys, their values, its default ports and the names of what it
injects into pods (`utils/constant.go`), as cluster-ctl uses them: the one copy.

Not here: the keys the RayCluster API's own rules read (`ray.io/ft-enabled`,
`ray.io/external-storage-namespace`, `ray.io/originated-from-crd`) and the node types
(`RayNodeType`), which live with the models in `raybus_common.crds.raycluster`;
`app.kubernetes.io/created-by`, which lives with the watcher's selectors in
`raybus_common.kube.resources`. Pure data.
"""

from __future__ import annotations

# --- labels ----------------------------------------------------------------------------------
CLUSTER_LABEL = "ray.io/cluster"
NODE_TYPE_LABEL = "ray.io/node-type"
GROUP_LABEL = "ray.io/group"
IS_RAY_NODE_LABEL = "ray.io/is-ray-node"
IDENTIFIER_LABEL = "ray.io/identifier"
APP_NAME_LABEL = "app.kubernetes.io/name"
APP_NAME_VALUE = "kuberay"
SERVE_LABEL = "ray.io/serve"
HEADLESS_SERVICE_LABEL = "ray.io/headless-worker-svc"
ORIGINATED_FROM_CR_NAME_LABEL = "ray.io/originated-from-cr-name"
REPLICA_INDEX_LABEL = "ray.io/worker-group-replica-index"
REPLICA_NAME_LABEL = "ray.io/worker-group-replica-name"
HOST_INDEX_LABEL = "ray.io/replica-host-index"
HEAD_GROUP = "headgroup"  # the head's `ray.io/group`

# --- annotations -----------------------------------------------------------------------------
OVERWRITE_CMD_ANNOTATION = "ray.io/overwrite-container-cmd"
KUBERAY_VERSION_ANNOTATION = "ray.io/kuberay-version"
RECREATE_HASH_ANNOTATION = "ray.io/upgrade-strategy-recreate-hash"
ENABLE_SERVE_SERVICE_ANNOTATION = "ray.io/enable-serve-service"
FT_DELETION_TIMEOUT_ANNOTATION = "ray.io/gcs-ft-deletion-timeout"
DISABLE_PROVISIONED_HEAD_RESTART_ANNOTATION = "ray.io/disable-provisioned-head-restart"
INGRESS_CLASS_ANNOTATION = "kubernetes.io/ingress.class"

FT_FINALIZER = "ray.io/gcs-ft-redis-cleanup-finalizer"

# --- ports -----------------------------------------------------------------------------------
DEFAULT_GCS_PORT = 6379
DEFAULT_DASHBOARD_PORT = 8265
DEFAULT_CLIENT_PORT = 10001
DEFAULT_METRICS_PORT = 8080
DEFAULT_SERVE_PORT = 8000
DEFAULT_AGENT_PORT = 52365
# The head Service's ports when the head container declares none.
DEFAULT_HEAD_PORTS = {"client": DEFAULT_CLIENT_PORT, "gcs-server": DEFAULT_GCS_PORT, "dashboard": DEFAULT_DASHBOARD_PORT,
                      "metrics": DEFAULT_METRICS_PORT, "serve": DEFAULT_SERVE_PORT}

# --- what KubeRay injects into pods (validation forbids users to take these names) ------------
AUTOSCALER_CONTAINER = "autoscaler"
WAIT_GCS_READY = "wait-gcs-ready"
WAIT_TLS_IP_SAN = "wait-for-tls-ip-san"
COLLECTOR_CONTAINER = "ray-history-collector"
GCS_STORAGE_VOLUME, GCS_STORAGE_PATH = "gcs-storage", "/data/gcs"
TLS_VOLUME, TLS_DIR = "ray-tls", "/etc/ray/tls"
TOKEN_VOLUME, TOKEN_DIR = "ray-token", "/var/run/secrets/ray.io/serviceaccount"
TLS_ENV = ("RAY_USE_TLS", "RAY_TLS_SERVER_CERT", "RAY_TLS_SERVER_KEY", "RAY_TLS_CA_CERT")
AUTOSCALER_V2_ENV = "RAY_enable_autoscaler_v2"
AUTOSCALER_CMD = "ray kuberay-autoscaler --cluster-name $(RAY_CLUSTER_NAME) --cluster-namespace $(RAY_CLUSTER_NAMESPACE)"

# --- timing and Raybus's own condition ---------------------------------------------------------
REQUEUE_SOON = 2.0  # seconds: KubeRay's DefaultRequeueDuration
FT_DELETION_TIMEOUT = 300.0  # seconds, unless annotation ray.io/gcs-ft-deletion-timeout says otherwise
VALID_CONDITION = "RayClusterValid"  # Raybus: why a spec is invalid, on the status (KubeRay: Events only)
