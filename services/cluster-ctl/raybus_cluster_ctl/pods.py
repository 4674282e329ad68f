"""The Pods of a RayCluster, built the way KubeRay v1.7 builds them (`common/pod.go`). Pure.

`head_pod` and `worker_pod` take the RayCluster as plain Kubernetes JSON (camelCase dicts) and
return a complete Pod: labels (§3.3), annotations (§3.4), the rewritten Ray container command
with its `ray start` flags in KubeRay's order (§4.1), env vars (§4.2), the `wait-gcs-ready`
init container, `/dev/shm` and log volumes, the metrics port (§4.3), probes (§4.4), the
autoscaler sidecar (§4.5), token auth, mTLS and GCS fault tolerance (§6). The Ray container is
`containers[0]`. Operator-level switches come from `ClusterConfig`.

This module assembles the pod and holds the public constants. The `ray start` flags and command
come from `raystart.py`; the injected env vars, with the token auth, mTLS, GCS fault tolerance
and autoscaler sidecar that carry them, from `podenv.py`. The public names callers use from
either are re-exported here (`__all__`), so callers import only `pods`.

Not here: ownerReferences and the `ray.io/upgrade-strategy-recreate-hash` annotation (the
caller adds both), names (the caller picks them; KubeRay uses `generateName`), batch
scheduler metadata, and the history-server collector sidecar (gate RayClusterHistoryServer).
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from typing import Any

from raybus_common.kube.resources import CREATED_BY, CREATED_BY_VALUE

from .children import autoscaler_service_account_name, check_label
from .children_common import _head, _name, _namespace
from .config import ClusterConfig
from .podenv import (
    AUTOSCALER_CMD,
    CLUSTER_LABEL,
    GROUP_LABEL,
    STORAGE_NS_ANNOTATION,
    autoscaler_container,
    compact,
    configure_auth,
    configure_gcs_ft,
    configure_tls,
    container_env,
    env_value,
    ray_container_env,
)
from .raystart import (
    DEFAULT_AGENT_PORT,
    DEFAULT_GCS_PORT,
    DEFAULT_METRICS_PORT,
    FT_ENABLED_ANNOTATION,
    HEAD,
    ULIMIT_CMD,
    WORKER,
    autoscaling_enabled,
    bash_command,
    gcs_ft_enabled,
    head_fqdn,
    head_port,
    params_from_container_resources,
    ray_start_params,
    render_ray_start,
    set_ray_command,
)

__all__ = [
    "APP_NAME_LABEL", "APP_NAME_VALUE", "AUTOSCALER_CMD", "CLUSTER_LABEL", "CREATED_BY_LABEL",
    "DEFAULT_AGENT_PORT", "DEFAULT_DASHBOARD_PORT", "DEFAULT_GCS_PORT", "DEFAULT_METRICS_PORT",
    "DEFAULT_SERVE_PORT", "FT_ENABLED_ANNOTATION", "GROUP_LABEL", "HEAD", "HEAD_GROUP",
    "HOST_INDEX_LABEL", "IDENTIFIER_LABEL", "IS_RAY_NODE_LABEL", "KUBERAY_VERSION_ANNOTATION",
    "NODE_TYPE_LABEL", "ORIGINATED_FROM_CRD_LABEL", "OVERWRITE_CMD_ANNOTATION", "REPLICA_INDEX_LABEL",
    "REPLICA_NAME_LABEL", "SERVE_LABEL", "STORAGE_NS_ANNOTATION", "ULIMIT_CMD", "WORKER",
    "autoscaler_container", "autoscaler_version", "autoscaling_enabled", "bash_command", "creator_crd",
    "gcs_ft_enabled", "head_fqdn", "head_pod", "head_port", "pod_labels", "pod_template_hash",
    "ray_start_params", "render_ray_start", "supports_http_health_check", "worker_pod",
]

Obj = dict[str, Any]

# Labels (utils/constant.go). Imported above: HEAD, WORKER (raystart.py), CLUSTER_LABEL and
# GROUP_LABEL (podenv.py).
NODE_TYPE_LABEL = "ray.io/node-type"
IS_RAY_NODE_LABEL = "ray.io/is-ray-node"
IDENTIFIER_LABEL = "ray.io/identifier"
APP_NAME_LABEL = "app.kubernetes.io/name"
APP_NAME_VALUE = "kuberay"
CREATED_BY_LABEL = CREATED_BY
SERVE_LABEL = "ray.io/serve"
REPLICA_INDEX_LABEL = "ray.io/worker-group-replica-index"
REPLICA_NAME_LABEL = "ray.io/worker-group-replica-name"
HOST_INDEX_LABEL = "ray.io/replica-host-index"
ORIGINATED_FROM_CRD_LABEL = "ray.io/originated-from-crd"
HEAD_GROUP = "headgroup"

# Annotations. Imported above: FT_ENABLED_ANNOTATION (raystart.py), STORAGE_NS_ANNOTATION (podenv.py).
OVERWRITE_CMD_ANNOTATION = "ray.io/overwrite-container-cmd"
KUBERAY_VERSION_ANNOTATION = "ray.io/kuberay-version"

# Ports. Imported above: DEFAULT_GCS_PORT, DEFAULT_METRICS_PORT, DEFAULT_AGENT_PORT (raystart.py).
DEFAULT_DASHBOARD_PORT = 8265
DEFAULT_SERVE_PORT = 8000

_WGET = "wget --tries 1 -T {} -q -O- http://localhost:{}/{} | grep success"

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


# --- cluster-level facts (more in raystart.py) -----------------------------------------------

def autoscaler_version(cluster: Obj) -> str | None:
    """`autoscalerOptions.version` (`v1`/`v2`), None when unset: KubeRay then injects nothing."""
    version = ((cluster.get("spec") or {}).get("autoscalerOptions") or {}).get("version")
    return str(version) if version else None


def creator_crd(cluster: Obj) -> str:
    """KubeRay `GetCRDType`: the `ray.io/originated-from-crd` label if known, else RayCluster."""
    value = (cluster["metadata"].get("labels") or {}).get(ORIGINATED_FROM_CRD_LABEL)
    return value if value in ("RayCluster", "RayJob", "RayService") else "RayCluster"


def pod_template_hash(template: Obj) -> str:
    """A stable hash of a pod template: sha256 of its sorted-key compact JSON, 16 hex chars."""
    text = json.dumps(template, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# --- labels ----------------------------------------------------------------------------------

def pod_labels(cluster: Obj, node_type: str, group_name: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    """KubeRay `labelPod`: the base labels, overridden by `extra` (template labels merged with
    the group's `labels`) except `ray.io/node-type`, `ray.io/group` and `ray.io/cluster`."""
    name = _name(cluster)
    labels = {
        IS_RAY_NODE_LABEL: "yes",
        CLUSTER_LABEL: name,
        NODE_TYPE_LABEL: node_type,
        GROUP_LABEL: group_name,
        IDENTIFIER_LABEL: check_label(f"{name}-{node_type}"),
        APP_NAME_LABEL: APP_NAME_VALUE,
        CREATED_BY_LABEL: CREATED_BY_VALUE,
    }
    for key, value in (extra or {}).items():
        if key not in (NODE_TYPE_LABEL, GROUP_LABEL, CLUSTER_LABEL):
            labels[str(key)] = str(value)
    return labels


# --- the pods --------------------------------------------------------------------------------

def head_pod(cluster: Obj, name: str, settings: ClusterConfig) -> Obj:
    """KubeRay `buildHeadPod` (`DefaultHeadPodTemplate` + `BuildPod`) with the name given."""
    head = _head(cluster)
    template = copy.deepcopy(head.get("template") or {})
    spec, ray = _spec_and_ray(template)
    labels = pod_labels(cluster, HEAD, HEAD_GROUP, _merged_labels(template, head))
    annotations = _template_annotations(cluster, template)
    params = ray_start_params(cluster, head, HEAD, settings)
    autoscaling = autoscaling_enabled(cluster)
    if autoscaling:
        spec["serviceAccountName"] = autoscaler_service_account_name(cluster)
        spec["containers"].append(autoscaler_container(cluster, str(ray.get("image") or ""), settings))
        version = autoscaler_version(cluster)
        if version in ("v1", "v2"):
            value = "true" if version == "v2" else "false"
            container_env(ray).append({"name": "RAY_enable_autoscaler_v2", "value": value})
        if version == "v2":
            spec["restartPolicy"] = "Never"
    configure_gcs_ft(cluster, HEAD, spec, ray, annotations, params)
    _add_metrics_port(ray)
    configure_auth(cluster, spec)
    configure_tls(cluster, HEAD, spec, settings)
    annotations[KUBERAY_VERSION_ANNOTATION] = settings.kuberay_version
    spec["containers"].extend(copy.deepcopy(settings.head_sidecar_containers))
    return _build_pod(cluster, template, name, HEAD, labels, annotations, params, settings, autoscaling=autoscaling)


def worker_pod(cluster: Obj, group: Obj, name: str, settings: ClusterConfig, *,
               replica_group: str | None = None, host_index: int | None = None,
               replica_index: int | None = None) -> Obj:
    """KubeRay `buildWorkerPod` (`DefaultWorkerPodTemplate` + `BuildPod`) with the name given.
    Under the RayMultiHostIndexing gate every worker carries `ray.io/worker-group-replica-index`
    (`replica_index`, 0 when not given, as KubeRay's unindexed path) and, when numOfHosts > 1,
    `ray.io/worker-group-replica-name` and `ray.io/replica-host-index`."""
    template = copy.deepcopy(group.get("template") or {})
    spec, ray = _spec_and_ray(template)
    if settings.enable_init_container_injection:
        spec.setdefault("initContainers", []).append(_wait_gcs_ready(cluster, ray, settings))
    labels = pod_labels(cluster, WORKER, str(group.get("groupName", "")), _merged_labels(template, group))
    if settings.feature_enabled("RayMultiHostIndexing"):
        labels[REPLICA_INDEX_LABEL] = str(replica_index or 0)
        if int(group.get("numOfHosts") or 1) > 1:
            labels[REPLICA_NAME_LABEL] = replica_group or ""
            labels[HOST_INDEX_LABEL] = str(host_index or 0)
    annotations = _template_annotations(cluster, template)
    params = ray_start_params(cluster, group, WORKER, settings)
    configure_gcs_ft(cluster, WORKER, spec, ray, annotations, params)
    _add_metrics_port(ray)
    if autoscaling_enabled(cluster) and autoscaler_version(cluster) == "v2":
        spec["restartPolicy"] = "Never"
    configure_auth(cluster, spec)
    configure_tls(cluster, WORKER, spec, settings)
    spec["containers"].extend(copy.deepcopy(settings.worker_sidecar_containers))
    return _build_pod(cluster, template, name, WORKER, labels, annotations, params, settings, autoscaling=False)


def _build_pod(cluster: Obj, template: Obj, name: str, node_type: str, labels: dict[str, str],
               annotations: dict[str, str], params: dict[str, str], settings: ClusterConfig, *,
               autoscaling: bool) -> Obj:
    """The operator defaults and KubeRay `BuildPod`: serve label, volumes, the command, env, probes."""
    for key, value in settings.default_pod_annotations.items():
        annotations.setdefault(key, value)
    for key, value in settings.default_pod_labels.items():
        labels.setdefault(key, value)
    crd = creator_crd(cluster)
    if crd == "RayService":
        labels[SERVE_LABEL] = "false" if node_type == HEAD else "true"
    spec, ray = template["spec"], template["spec"]["containers"][0]
    if "plasma-directory" not in params:
        _add_empty_dir(spec, ray, "shared-mem", "/dev/shm", memory=True)
    if autoscaling:
        autoscaler = next(c for c in spec["containers"] if c.get("name") == "autoscaler")
        _add_empty_dir(spec, ray, "ray-logs", "/tmp/ray")
        _add_empty_dir(spec, autoscaler, "ray-logs", "/tmp/ray")
    params = dict(params)
    params_from_container_resources(params, ray.get("resources") or {})
    start = render_ray_start(node_type, params)
    keep_user_command = annotations.get(OVERWRITE_CMD_ANNOTATION, "").lower() == "true"
    set_ray_command(ray, start, settings, keep_user_command=keep_user_command)
    fqdn = head_fqdn(cluster, settings)
    for init in spec.get("initContainers") or []:
        container_env(init).extend([env_value("FQ_RAY_IP", fqdn), env_value("RAY_IP", fqdn.split(".")[0])])
    ray_container_env(cluster, node_type, ray, start, crd, settings)
    if settings.enable_probes_injection:
        _init_probes(ray, node_type, crd, params, str((cluster.get("spec") or {}).get("rayVersion") or ""))
    meta = {k: v for k, v in (template.get("metadata") or {}).items()
            if k not in ("name", "generateName", "namespace", "labels", "annotations", "ownerReferences",
                         "creationTimestamp")}
    meta.update(name=name, namespace=_namespace(cluster), labels=labels, annotations=annotations)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec}


# --- probes ----------------------------------------------------------------------------------

def supports_http_health_check(ray_version: str) -> bool:
    """Ray ≥ 2.53.0 serves `/api/healthz` on the dashboard agent (KubeRay parses generically:
    `v` prefix and trailing text allowed, at least two components)."""
    m = re.match(r"^\s*v?([0-9]+(?:\.[0-9]+)+)", ray_version)
    if m is None:
        return False
    parts = [int(p) for p in m.group(1).split(".")]
    return parts + [0] * (3 - len(parts)) >= [2, 53, 0]


def _init_probes(ray: Obj, node_type: str, crd: str, params: dict[str, str], ray_version: str) -> None:
    """KubeRay `initLivenessAndReadinessProbe` (§4.4): fills only the probes the user left unset."""
    agent = _port_param(params, "dashboard-agent-listen-port", DEFAULT_AGENT_PORT)
    commands = [_WGET.format(2, agent, "api/local_raylet_healthz")]
    if node_type == HEAD:
        commands.append(_WGET.format(10, _port_param(params, "dashboard-port", DEFAULT_DASHBOARD_PORT),
                                     "api/gcs_healthz"))
    http = supports_http_health_check(ray_version)
    timeout = 5 if node_type == HEAD else 2

    def action(cmds: list[str]) -> Obj:
        if http:
            return {"httpGet": {"path": "/api/healthz", "port": agent}}
        return {"exec": {"command": ["bash", "-c", " && ".join(cmds)]}}

    if ray.get("livenessProbe") is None:
        ray["livenessProbe"] = {"initialDelaySeconds": 30, "timeoutSeconds": timeout, "periodSeconds": 5,
                                "successThreshold": 1, "failureThreshold": 120, **action(commands)}
    if ray.get("readinessProbe") is None:
        readiness = {"initialDelaySeconds": 10, "timeoutSeconds": timeout, "periodSeconds": 5,
                     "successThreshold": 1, "failureThreshold": 10, **action(commands)}
        if crd == "RayService" and node_type == WORKER:
            # Serving workers are ready only once their Serve proxy is: always exec, fail fast.
            serve_port = next((p.get("containerPort") for p in ray.get("ports") or [] if p.get("name") == "serve"),
                              DEFAULT_SERVE_PORT)
            readiness.pop("httpGet", None)
            readiness["failureThreshold"] = 1
            cmds = [*commands, _WGET.format(10, serve_port, "-/healthz")]
            readiness["exec"] = {"command": ["bash", "-c", " && ".join(cmds)]}
        ray["readinessProbe"] = readiness


def _port_param(params: dict[str, str], key: str, default: int) -> int:
    try:
        port = int(params[key])
    except (KeyError, ValueError):
        return default
    return port if -(2**31) <= port < 2**31 else default


# --- init containers -------------------------------------------------------------------------

def _wait_gcs_ready(cluster: Obj, ray: Obj, settings: ClusterConfig) -> Obj:
    """The `wait-gcs-ready` init container (§4.3): polls `ray health-check` every 5 s."""
    fqdn, port = head_fqdn(cluster, settings), head_port(cluster)
    fixed = {"cpu": "200m", "memory": "256Mi"}
    return compact({
        "name": "wait-gcs-ready",
        "image": ray.get("image"),
        "imagePullPolicy": ray.get("imagePullPolicy"),
        "command": bash_command(settings),
        "args": [_WAIT_GCS.format(fqdn, port)],
        "securityContext": copy.deepcopy(ray.get("securityContext")),
        "env": copy.deepcopy(ray.get("env")),
        "volumeMounts": copy.deepcopy(ray.get("volumeMounts")),
        "resources": {"limits": dict(fixed), "requests": dict(fixed)},
    })


# --- small helpers ---------------------------------------------------------------------------

def _spec_and_ray(template: Obj) -> tuple[Obj, Obj]:
    spec = template.setdefault("spec", {})
    containers = spec.setdefault("containers", [])
    if not containers:
        containers.append({})
    return spec, containers[0]


def _merged_labels(template: Obj, group: Obj) -> dict[str, str]:
    """KubeRay `mergeLabels`: template labels, then the group's `labels` on top."""
    return {**((template.get("metadata") or {}).get("labels") or {}), **(group.get("labels") or {})}


def _template_annotations(cluster: Obj, template: Obj) -> dict[str, str]:
    """KubeRay `initTemplateAnnotations`: the template's, plus `ray.io/overwrite-container-cmd`
    copied from the cluster when "true"."""
    annotations = {str(k): str(v) for k, v in ((template.get("metadata") or {}).get("annotations") or {}).items()}
    if str((cluster["metadata"].get("annotations") or {}).get(OVERWRITE_CMD_ANNOTATION, "")).lower() == "true":
        annotations[OVERWRITE_CMD_ANNOTATION] = "true"
    return annotations


def _add_metrics_port(ray: Obj) -> None:
    ports = ray.setdefault("ports", [])
    if not any(p.get("name") == "metrics" for p in ports):
        ports.append({"name": "metrics", "containerPort": DEFAULT_METRICS_PORT})


def _add_empty_dir(spec: Obj, container: Obj, volume: str, path: str, *, memory: bool = False) -> None:
    """KubeRay `addEmptyDir`: nothing if `path` is already mounted; the volume is added once
    (a Memory one sized to the container's memory limit, else request) and mounted."""
    mounts = container.setdefault("volumeMounts", [])
    if any(m.get("mountPath") == path for m in mounts):
        return
    volumes = spec.setdefault("volumes", [])
    if not any(v.get("name") == volume for v in volumes):
        empty_dir: Obj = {}
        if memory:
            res = container.get("resources") or {}
            size = (res.get("limits") or {}).get("memory") or (res.get("requests") or {}).get("memory")
            empty_dir = compact({"medium": "Memory", "sizeLimit": None if size is None else str(size)})
        volumes.append({"name": volume, "emptyDir": empty_dir})
    mounts.append({"mountPath": path, "name": volume})
