"""KubeRay's names for what a RayJob makes (`utils/constant.go`, v1.7), as job-ctl uses them: the
labels and annotations of the job's RayCluster, submitter Job and head Service, the submitter
container and its environment, and the texts the submit command is built from. Pure data.

Not here: `ray.io/originated-from-crd` (`raybus_common.crds.raycluster`), and
`app.kubernetes.io/created-by` (`raybus_common.kube.resources`), which other services read too.
"""

from __future__ import annotations

from raybus_common.crds.rayjob import CLUSTER_LABEL, MAX_RAYJOB_NAME_LENGTH

__all__ = ["CLUSTER_LABEL", "MAX_RAYJOB_NAME_LENGTH"]  # KubeRay's, kept in the RayJob model (cron reads them too)

# --- labels and annotations ------------------------------------------------------------------
NODE_TYPE_LABEL = "ray.io/node-type"
IDENTIFIER_LABEL = "ray.io/identifier"
ORIGINATED_FROM_CR_NAME_LABEL = "ray.io/originated-from-cr-name"
SUBMISSION_MODE_LABEL = "ray.io/job-submission-mode"
DISABLE_PROVISIONED_HEAD_RESTART_ANNOTATION = "ray.io/disable-provisioned-head-restart"
RAYJOB_CRD = "RayJob"  # the value of ray.io/originated-from-crd
HEAD = "head"  # a RayNodeType

# --- limits ------------------------------------------------------------------------------------

# --- the submitter -----------------------------------------------------------------------------
SUBMITTER_CONTAINER = "ray-job-submitter"
SUBMITTER_BACKOFF_LIMIT = 2  # the submitter Job's backoffLimit unless submitterConfig says otherwise
PYTHONUNBUFFERED = "PYTHONUNBUFFERED"
RAY_DASHBOARD_ADDRESS = "RAY_DASHBOARD_ADDRESS"
RAY_JOB_SUBMISSION_ID = "RAY_JOB_SUBMISSION_ID"
RAY_AUTH_MODE = "RAY_AUTH_MODE"
RAY_AUTH_TOKEN = "RAY_AUTH_TOKEN"
RAY_AUTH_TOKEN_KEY = "auth_token"  # the Secret's key holding the token
RAY_ENABLE_K8S_TOKEN_AUTH = "RAY_ENABLE_K8S_TOKEN_AUTH"
TOKEN_VOLUME, TOKEN_DIR = "ray-token", "/var/run/secrets/ray.io/serviceaccount"

# --- the submit command ------------------------------------------------------------------------
DASHBOARD_PORT_NAME = "dashboard"
GCS_HEALTH_PATH = "api/gcs_healthz"
GCS_HEALTH_TIMEOUT = 10  # seconds: RayDashboardGCSHealthCheckTimeoutSeconds
# BasePythonHealthCommand: args the health URL and the timeout.
PYTHON_HEALTH_COMMAND = ('python -c "import urllib.request; r=urllib.request.urlopen(\'%s\', timeout=%d); '
                         "exit(0 if b'success' in r.read() else 1)\"")
