"""The `wait-gcs-ready` init container KubeRay v1.7 adds to worker pods: it polls
`ray health-check` against the head every 5 s, so workers start once the GCS answers. Pure.
"""

from __future__ import annotations

import copy

from raybus_common.crds.raycluster import RayCluster

from ..config import ClusterConfig
from ..constants import WAIT_GCS_READY
from ..names import head_fqdn, head_port
from ..podtemplate import Obj, compact
from .raystart import bash_command

# The wait-gcs-ready script, byte for byte as KubeRay renders it (tabs included).
_WAIT_GCS = (
    "\n\t\t\t\t\tSECONDS=0\n\t\t\t\t\twhile true; do\n\t\t\t\t\t\tif (( SECONDS <= 120 )); then\n"
    "\t\t\t\t\t\t\tif ray health-check --address {0}:{1} > /dev/null 2>&1; then\n"
    "\t\t\t\t\t\t\t\techo \"GCS is ready.\"\n\t\t\t\t\t\t\t\tbreak\n\t\t\t\t\t\t\tfi\n"
    "\t\t\t\t\t\t\techo \"$SECONDS seconds elapsed: Waiting for GCS to be ready.\"\n\t\t\t\t\t\telse\n"
    "\t\t\t\t\t\t\tif ray health-check --address {0}:{1}; then\n"
    "\t\t\t\t\t\t\t\techo \"GCS is ready. Any error messages above can be safely ignored.\"\n"
    "\t\t\t\t\t\t\t\tbreak\n\t\t\t\t\t\t\tfi\n"
    "\t\t\t\t\t\t\techo \"$SECONDS seconds elapsed: Still waiting for GCS to be ready. For troubleshooting, "
    "refer to the FAQ at https://docs.ray.io/en/master/cluster/kubernetes/troubleshooting.html.\"\n"
    "\t\t\t\t\t\tfi\n\t\t\t\t\t\tsleep 5\n\t\t\t\t\tdone\n\t\t\t\t"
)
_RESOURCES = {"cpu": "200m", "memory": "256Mi"}


def wait_gcs_ready(cluster: RayCluster, ray: Obj, settings: ClusterConfig) -> Obj:
    """The init container, with the Ray container's image, security context, env and mounts."""
    return compact({
        "name": WAIT_GCS_READY,
        "image": ray.get("image"),
        "imagePullPolicy": ray.get("imagePullPolicy"),
        "command": bash_command(settings),
        "args": [_WAIT_GCS.format(head_fqdn(cluster, settings), head_port(cluster))],
        "securityContext": copy.deepcopy(ray.get("securityContext")),
        "env": copy.deepcopy(ray.get("env")),
        "volumeMounts": copy.deepcopy(ray.get("volumeMounts")),
        "resources": {"limits": dict(_RESOURCES), "requests": dict(_RESOURCES)},
    })
