"""The Pods of a RayCluster, built the way KubeRay v1.7 builds them (`common/pod.go`). Pure.

`head_pod` and `worker_pod` take the RayCluster as plain Kubernetes JSON (camelCase dicts) and
return a complete Pod: labels (§3.3), annotations (§3.4), the rewritten Ray container command
with its `ray start` flags in KubeRay's order (§4.1), env vars (§4.2), the `wait-gcs-ready`
init container, `/dev/shm` and log volumes, the metrics port (§4.3), probes (§4.4), the
autoscaler sidecar (§4.5), token auth, mTLS and GCS fault tolerance (§6). The Ray container is
`containers[0]`. Operator-level switches come from `ClusterCtlSettings`.

Not here: ownerReferences and the `ray.io/upgrade-strategy-recreate-hash` annotation (the
caller adds both), names (the caller picks them; KubeRay uses `generateName`), batch
scheduler metadata, and the history-server collector sidecar (gate RayClusterHistoryServer).
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from decimal import Decimal
from typing import Any

from raybus_common.kube.resources import CREATED_BY, CREATED_BY_VALUE

from .children import autoscaler_service_account_name, check_label, check_name, head_service_name
from .settings import ClusterCtlSettings
from .status import Quantity, is_gpu

Obj = dict[str, Any]

# Labels (utils/constant.go).
CLUSTER_LABEL = "ray.io/cluster"
NODE_TYPE_LABEL = "ray.io/node-type"
GROUP_LABEL = "ray.io/group"
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
HEAD, WORKER = "head", "worker"
HEAD_GROUP = "headgroup"

# Annotations.
FT_ENABLED_ANNOTATION = "ray.io/ft-enabled"
STORAGE_NS_ANNOTATION = "ray.io/external-storage-namespace"
OVERWRITE_CMD_ANNOTATION = "ray.io/overwrite-container-cmd"
KUBERAY_VERSION_ANNOTATION = "ray.io/kuberay-version"

# Ports.
DEFAULT_GCS_PORT = 6379
DEFAULT_DASHBOARD_PORT = 8265
DEFAULT_METRICS_PORT = 8080
DEFAULT_AGENT_PORT = 52365
DEFAULT_SERVE_PORT = 8000

AUTOSCALER_CMD = "ray kuberay-autoscaler --cluster-name $(RAY_CLUSTER_NAME) --cluster-namespace $(RAY_CLUSTER_NAMESPACE)"
ULIMIT_CMD = "ulimit -n ${RAY_START_ULIMIT_OPEN_FILES:-65536}"
_WGET = "wget --tries 1 -T {} -q -O- http://localhost:{}/{} | grep success"
_ACCELERATORS = {"aws.amazon.com/neuroncore": "neuron_cores", "google.com/tpu": "TPU"}
_SPECIAL_BOOL_FLAGS = ("log-color", "include-dashboard", "include-log-monitor")
_TLS_DIR = "/etc/ray/tls"
_TOKEN_DIR = "/var/run/secrets/ray.io/serviceaccount"

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
_WAIT_TLS = (
    'CERT="/etc/ray/tls/tls.crt"\nif [ -z "${POD_IP}" ]; then\n'
    "  POD_IP=$(hostname -i 2>/dev/null | awk '{print $1}')\nfi\n"
    'if ! command -v openssl >/dev/null 2>&1; then\n  echo "openssl not found; cannot verify IP SAN" >&2\n'
    '  exit 1\nfi\necho "Waiting for TLS cert to include IP SAN for ${POD_IP}..."\nwhile true; do\n'
    '  if openssl x509 -in "${CERT}" -noout -text 2>/dev/null | grep -qE "IP Address:${POD_IP}([^0-9.]|$)"; then\n'
    '    echo "TLS cert now includes IP SAN for ${POD_IP}"\n    exit 0\n  fi\n'
    '  echo "IP SAN for ${POD_IP} not yet in cert, retrying in 5s..."\n  sleep 5\ndone'
)


# --- cluster-level facts ---------------------------------------------------------------------

def head_port(cluster: Obj) -> str:
    """KubeRay `GetHeadPort`: the head's `port` start param, else 6379 (GCS)."""
    params = _head(cluster).get("rayStartParams") or {}
    return str(params.get("port", DEFAULT_GCS_PORT))


def head_fqdn(cluster: Obj, settings: ClusterCtlSettings) -> str:
    """`<head service>.<namespace>.svc.<cluster domain>`: the address workers dial."""
    return f"{head_service_name(cluster)}.{_namespace(cluster)}.svc.{settings.cluster_domain}"


def autoscaling_enabled(cluster: Obj) -> bool:
    return (cluster.get("spec") or {}).get("enableInTreeAutoscaling") is True


def autoscaler_version(cluster: Obj) -> str | None:
    """`autoscalerOptions.version` (`v1`/`v2`), None when unset: KubeRay then injects nothing."""
    version = ((cluster.get("spec") or {}).get("autoscalerOptions") or {}).get("version")
    return str(version) if version else None


def gcs_ft_enabled(cluster: Obj) -> bool:
    """§6.1: annotation `ray.io/ft-enabled` is "true" (any case) or gcsFaultToleranceOptions is set."""
    annotation = str((cluster["metadata"].get("annotations") or {}).get(FT_ENABLED_ANNOTATION, ""))
    return annotation.lower() == "true" or (cluster.get("spec") or {}).get("gcsFaultToleranceOptions") is not None


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


# --- ray start -------------------------------------------------------------------------------

def ray_start_params(cluster: Obj, group: Obj, node_type: str, settings: ClusterCtlSettings,
                     container_resources: Obj | None = None) -> dict[str, str]:
    """The `ray start` parameters in KubeRay's order of mutation (§4.1): the group's
    `rayStartParams`, its `resources` and `labels`, the defaults, `no-monitor` and the Redis
    credentials on the head, then what the Ray container's resources imply."""
    params = {str(k): str(v) for k, v in (group.get("rayStartParams") or {}).items()}
    _params_from_group_resources(params, group.get("resources") or {})
    _params_from_group_labels(params, group.get("labels") or {})
    if node_type == WORKER:
        params.setdefault("address", f"{head_fqdn(cluster, settings)}:{head_port(cluster)}")
    else:
        params.setdefault("dashboard-host", "0.0.0.0")
    params.setdefault("metrics-export-port", str(DEFAULT_METRICS_PORT))
    params["block"] = "true"
    params.setdefault("dashboard-agent-listen-port", str(DEFAULT_AGENT_PORT))
    if node_type == HEAD:
        if autoscaling_enabled(cluster):
            params["no-monitor"] = "true"
        options = (cluster.get("spec") or {}).get("gcsFaultToleranceOptions")
        if gcs_ft_enabled(cluster) and options is not None and not _embedded(options):
            if options.get("redisUsername") is not None:
                params["redis-username"] = "$REDIS_USERNAME"
            if options.get("redisPassword") is not None:
                params["redis-password"] = "$REDIS_PASSWORD"
    _params_from_container_resources(params, container_resources or {})
    return params


def render_ray_start(node_type: str, params: dict[str, str]) -> str:
    """KubeRay `generateRayStartCommand` + `convertParamMap`: keys sorted; "true" → ` --key `,
    "false" → nothing (except log-color/include-dashboard/include-log-monitor), else
    ` --key=value `. The flags start with a space, so `ray start --head  --…` has two."""
    flags = ""
    for key in sorted(params):
        value = params[key]
        if value.lower() in ("true", "false") and key not in _SPECIAL_BOOL_FLAGS:
            if value.lower() == "true":
                flags += f" --{key} "
        else:
            flags += f" --{key}={value} "
    return f"ray start --head {flags}" if node_type == HEAD else f"ray start {flags}"


def _params_from_group_resources(params: dict[str, str], resources: Obj) -> None:
    """`updateRayStartParamsResources`: cpu → num-cpus, memory → memory, GPU keys → num-gpus
    (integers, rounded up), anything else into `resources` as single-quoted JSON."""
    custom: dict[str, float] = {}
    for name, raw in resources.items():
        try:
            q = Quantity.parse(raw)
        except ValueError:
            continue  # KubeRay logs and skips an unparsable quantity
        lower = str(name).lower()
        if lower == "cpu":
            params["num-cpus"] = _int(q)
        elif lower == "memory":
            params["memory"] = _int(q)
        elif is_gpu(lower):
            params["num-gpus"] = _int(q)
        else:
            custom[str(name)] = float(q.value)
    if custom:
        params["resources"] = f"'{_go_json(custom)}'"


def _params_from_group_labels(params: dict[str, str], labels: Obj) -> None:
    if labels:
        params["labels"] = ",".join(f"{k}={labels[k]}" for k in sorted(labels))


def _params_from_container_resources(params: dict[str, str], resources: Obj) -> None:
    """The part of `generateRayStartCommand` that reads the Ray container's resources:
    num-cpus from limits else requests, memory from limits, then the accelerators."""
    limits = {str(k): Quantity.parse(v) for k, v in (resources.get("limits") or {}).items()}
    requests = {str(k): Quantity.parse(v) for k, v in (resources.get("requests") or {}).items()}
    if "num-cpus" not in params:
        cpu = limits.get("cpu") if limits.get("cpu", _ZERO).value else requests.get("cpu")
        if cpu is not None and cpu.value:
            params["num-cpus"] = _int(cpu)
    if "memory" not in params and limits.get("memory", _ZERO).value:
        params["memory"] = _int(limits["memory"])
    if limits:
        _params_from_accelerators(params, limits)


def _params_from_accelerators(params: dict[str, str], limits: dict[str, Quantity]) -> None:
    """`addWellKnownAcceleratorResources`: num-gpus from the first (sorted) non-zero GPU limit;
    the first non-zero Neuron/TPU limit joins the `resources` JSON unless one is already there.
    An unparsable `resources` param stops it all, as in KubeRay."""
    try:
        raw = params.get("resources")
        existing = json.loads(raw.strip("'\"` ")) if raw is not None else {}
        if not isinstance(existing, dict):
            return
    except json.JSONDecodeError:
        return
    added = any(name in existing for name in _ACCELERATORS.values())
    for key in sorted(limits):
        q = limits[key]
        if "num-gpus" not in params and is_gpu(key) and q.value:
            params["num-gpus"] = _int(q)
        if not added and key in _ACCELERATORS and q.value:
            if _ACCELERATORS[key] not in existing:
                existing[_ACCELERATORS[key]] = float(q.value)
                params["resources"] = f"'{_go_json(existing)}'"
            added = True


def _int(q: Quantity) -> str:
    """Go's `Quantity.Value()`: rounded up to an integer."""
    return str(-((-q.value.numerator) // q.value.denominator))


def _go_float(f: float) -> str:
    """A float64 the way Go's encoding/json writes it: shortest digits, no exponent in [1e-6, 1e21)."""
    if f == int(f) and abs(f) < 1e21:
        return str(int(f))
    if 1e-6 <= abs(f) < 1e21:
        return format(Decimal(repr(f)), "f")
    return repr(f).replace("e-0", "e-").replace("e+0", "e+")


def _go_json(values: dict[str, Any]) -> str:
    return "{" + ",".join(f"{json.dumps(k)}:{_go_float(float(values[k]))}" for k in sorted(values)) + "}"


# --- the pods --------------------------------------------------------------------------------

def head_pod(cluster: Obj, name: str, settings: ClusterCtlSettings) -> Obj:
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
            _env(ray).append({"name": "RAY_enable_autoscaler_v2", "value": "true" if version == "v2" else "false"})
        if version == "v2":
            spec["restartPolicy"] = "Never"
    _configure_gcs_ft(cluster, HEAD, spec, ray, annotations, params)
    _add_metrics_port(ray)
    _configure_auth(cluster, spec)
    _configure_tls(cluster, HEAD, spec, settings)
    annotations[KUBERAY_VERSION_ANNOTATION] = settings.kuberay_version
    spec["containers"].extend(copy.deepcopy(settings.head_sidecar_containers))
    return _build_pod(cluster, template, name, HEAD, labels, annotations, params, settings, autoscaling=autoscaling)


def worker_pod(cluster: Obj, group: Obj, name: str, settings: ClusterCtlSettings, *,
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
    _configure_gcs_ft(cluster, WORKER, spec, ray, annotations, params)
    _add_metrics_port(ray)
    if autoscaling_enabled(cluster) and autoscaler_version(cluster) == "v2":
        spec["restartPolicy"] = "Never"
    _configure_auth(cluster, spec)
    _configure_tls(cluster, WORKER, spec, settings)
    spec["containers"].extend(copy.deepcopy(settings.worker_sidecar_containers))
    return _build_pod(cluster, template, name, WORKER, labels, annotations, params, settings, autoscaling=False)


def _build_pod(cluster: Obj, template: Obj, name: str, node_type: str, labels: dict[str, str],
               annotations: dict[str, str], params: dict[str, str], settings: ClusterCtlSettings, *,
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
    _params_from_container_resources(params, ray.get("resources") or {})
    start = render_ray_start(node_type, params)
    user_cmd = _cmd_string(ray.get("command")) + _cmd_string(ray.get("args"))
    if annotations.get(OVERWRITE_CMD_ANNOTATION, "").lower() != "true" and "ray start" not in user_cmd:
        generated = f"{ULIMIT_CMD}; {start}"
        ray["command"] = bash_command(settings)
        ray["args"] = [f"{user_cmd} && {generated}" if user_cmd else generated]
    fqdn = head_fqdn(cluster, settings)
    for init in spec.get("initContainers") or []:
        _env(init).extend([_value("FQ_RAY_IP", fqdn), _value("RAY_IP", fqdn.split(".")[0])])
    _ray_container_env(cluster, node_type, ray, start, crd, settings)
    if settings.enable_probes_injection:
        _init_probes(ray, node_type, crd, params, str((cluster.get("spec") or {}).get("rayVersion") or ""))
    meta = {k: v for k, v in (template.get("metadata") or {}).items()
            if k not in ("name", "generateName", "namespace", "labels", "annotations", "ownerReferences",
                         "creationTimestamp")}
    meta.update(name=name, namespace=_namespace(cluster), labels=labels, annotations=annotations)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec}


def bash_command(settings: ClusterCtlSettings) -> list[str]:
    """KubeRay `GetContainerCommand`: `/bin/bash -c --`, `-cl` with ENABLE_LOGIN_SHELL."""
    return ["/bin/bash", "-cl" if settings.enable_login_shell else "-c", "--"]


def _cmd_string(parts: Any) -> str:
    """KubeRay `convertCmdToString`: every element as ` x `."""
    return "".join(f" {p} " for p in parts or [])


def _ray_container_env(cluster: Obj, node_type: str, ray: Obj, start: str, crd: str,
                       settings: ClusterCtlSettings) -> None:
    """KubeRay `setContainerEnvVars` (§4.2), in KubeRay's order."""
    env = _env(ray)
    for default in settings.default_container_envs:
        if not _has(env, str(default.get("name"))):
            env.append(copy.deepcopy(default))
    port = head_port(cluster)
    ip = "127.0.0.1"
    if node_type == WORKER:
        ip = head_fqdn(cluster, settings)
        env.extend([_value("FQ_RAY_IP", ip), _value("RAY_IP", ip.split(".")[0])])
    env.extend([
        _field("RAY_CLUSTER_NAME", f"metadata.labels['{CLUSTER_LABEL}']"),
        _field("RAY_CLUSTER_NAMESPACE", "metadata.namespace"),
        _field("RAY_CLOUD_INSTANCE_ID", "metadata.name"),
        _field("RAY_NODE_TYPE_NAME", f"metadata.labels['{GROUP_LABEL}']"),
        _value("KUBERAY_GEN_RAY_START_CMD", start),
    ])
    _set_default(env, "RAY_PORT", port)
    if crd == "RayService":
        _set_default(env, "RAY_timeout_ms_task_wait_for_death_info", "0")
        _set_default(env, "RAY_gcs_server_request_timeout_seconds", "5")
        _set_default(env, "RAY_SERVE_KV_TIMEOUT_S", "5")
    _set_default(env, "RAY_ADDRESS", f"{ip}:{port}")
    _set_default(env, "RAY_USAGE_STATS_KUBERAY_IN_USE", "1")
    if node_type == HEAD:
        env.append(_value("RAY_USAGE_STATS_EXTRA_TAGS", f"kuberay_version={settings.kuberay_version};kuberay_crd={crd}"))
    _set_default(env, "RAY_DASHBOARD_ENABLE_K8S_DISK_USAGE", "1")


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


# --- containers ------------------------------------------------------------------------------

def autoscaler_container(cluster: Obj, image: str, settings: ClusterCtlSettings) -> Obj:
    """KubeRay `BuildAutoscalerContainer` + auth/TLS env + `mergeAutoscalerOverrides` (§4.5)."""
    resources = {"cpu": "500m", "memory": "512Mi"}
    container: Obj = {
        "name": "autoscaler",
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "env": [
            _field("RAY_CLUSTER_NAME", f"metadata.labels['{CLUSTER_LABEL}']"),
            _field("RAY_CLUSTER_NAMESPACE", "metadata.namespace"),
            _field("RAY_HEAD_POD_NAME", "metadata.name"),
            _value("KUBERAY_CRD_VER", "v1"),
            _value("KUBERAY_GEN_AUTOSCALER_START_CMD", AUTOSCALER_CMD),
        ],
        "command": bash_command(settings),
        "args": [AUTOSCALER_CMD],
        "resources": {"limits": dict(resources), "requests": dict(resources)},
    }
    if _auth_enabled(cluster):
        _token_auth_env(cluster, container)
    if _tls_enabled(cluster, settings):
        _tls_env_and_mount(container)
    options = (cluster.get("spec") or {}).get("autoscalerOptions") or {}
    for key in ("resources", "image", "imagePullPolicy", "securityContext", "command", "args"):
        if options.get(key):
            container[key] = copy.deepcopy(options[key])
    for key in ("env", "envFrom", "volumeMounts"):
        if options.get(key):
            container.setdefault(key, []).extend(copy.deepcopy(options[key]))
    return container


def _wait_gcs_ready(cluster: Obj, ray: Obj, settings: ClusterCtlSettings) -> Obj:
    """The `wait-gcs-ready` init container (§4.3): polls `ray health-check` every 5 s."""
    fqdn, port = head_fqdn(cluster, settings), head_port(cluster)
    fixed = {"cpu": "200m", "memory": "256Mi"}
    return _compact({
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


# --- GCS fault tolerance (§6) ----------------------------------------------------------------

def _configure_gcs_ft(cluster: Obj, node_type: str, spec: Obj, ray: Obj, annotations: dict[str, str],
                      params: dict[str, str]) -> None:
    """KubeRay `configureGCSFaultTolerance`: the head's `ray.io/ft-enabled` annotation; when
    enabled, the workers' reconnect timeout and the head's Redis or RocksDB settings."""
    enabled = gcs_ft_enabled(cluster)
    if node_type == HEAD:
        annotations[FT_ENABLED_ANNOTATION] = "true" if enabled else "false"
    if not enabled:
        return
    env = _env(ray)
    if node_type == WORKER:
        # Workers outlive a GCS restart (about 2 min) only with a longer reconnect window than Ray's 60 s.
        _set_default(env, "RAY_gcs_rpc_server_reconnect_timeout_s", "600")
        return
    options = (cluster.get("spec") or {}).get("gcsFaultToleranceOptions")
    if options is not None and _embedded(options):
        _set_default(env, "RAY_gcs_storage", "rocksdb")
        _set_default(env, "RAY_gcs_storage_path", "/data/gcs")
        storage = options.get("storage") or {}
        mount = _compact({"name": "gcs-storage", "mountPath": "/data/gcs", "subPath": storage.get("subPath")})
        ray.setdefault("volumeMounts", []).append(mount)
        claim = storage.get("claimName") or f"{_name(cluster)}-gcs-pvc"
        spec.setdefault("volumes", []).append({"name": "gcs-storage", "persistentVolumeClaim": {"claimName": claim}})
        return
    storage_ns = str(cluster["metadata"].get("uid", ""))
    storage_ns = str((cluster["metadata"].get("annotations") or {}).get(STORAGE_NS_ANNOTATION, storage_ns))
    if options is not None and options.get("externalStorageNamespace"):
        storage_ns = str(options["externalStorageNamespace"])
    annotations[STORAGE_NS_ANNOTATION] = storage_ns
    _set_default(env, "RAY_external_storage_namespace", storage_ns)
    if options is not None:
        env.append(_compact({"name": "RAY_REDIS_ADDRESS", "value": options.get("redisAddress")}))
        for key, env_name in (("redisUsername", "REDIS_USERNAME"), ("redisPassword", "REDIS_PASSWORD")):
            source = options.get(key)
            if source is not None:
                env.append(_compact({"name": env_name, "value": source.get("value"),
                                     "valueFrom": copy.deepcopy(source.get("valueFrom"))}))
    elif not _has(env, "REDIS_PASSWORD") and "redis-password" in params:
        # The Redis cleanup Job reads the password from this env var.
        env.append(_value("REDIS_PASSWORD", params["redis-password"]))


def _embedded(options: Obj) -> bool:
    return options.get("backend") == "rocksdb"


# --- auth and TLS ----------------------------------------------------------------------------

def _auth_enabled(cluster: Obj) -> bool:
    return ((cluster.get("spec") or {}).get("authOptions") or {}).get("mode") == "token"


def _k8s_auth(cluster: Obj) -> bool:
    return ((cluster.get("spec") or {}).get("authOptions") or {}).get("enableK8sTokenAuth") is True


def _configure_auth(cluster: Obj, spec: Obj) -> None:
    """KubeRay `configureTokenAuth`: env on the Ray and `wait-gcs-ready` containers; with
    Kubernetes token auth a projected service-account token volume."""
    if not _auth_enabled(cluster):
        return
    _token_auth_env(cluster, spec["containers"][0])
    if _k8s_auth(cluster) and not any(v.get("name") == "ray-token" for v in spec.get("volumes") or []):
        spec.setdefault("volumes", []).append(
            {"name": "ray-token", "projected": {"sources": [{"serviceAccountToken": {"path": "token"}}]}})
    for init in spec.get("initContainers") or []:
        if init.get("name") == "wait-gcs-ready":
            _token_auth_env(cluster, init)


def _token_auth_env(cluster: Obj, container: Obj) -> None:
    """KubeRay `SetContainerTokenAuthEnvVars`."""
    env = _env(container)
    _set_default(env, "RAY_AUTH_MODE", "token")
    if _k8s_auth(cluster):
        _set_default(env, "RAY_ENABLE_K8S_TOKEN_AUTH", "true")
        mounts = container.setdefault("volumeMounts", [])
        if not any(m.get("name") == "ray-token" for m in mounts):
            mounts.append({"name": "ray-token", "mountPath": _TOKEN_DIR, "readOnly": True})
        return
    secret = ((cluster.get("spec") or {}).get("authOptions") or {}).get("secretName") or check_name(_name(cluster))
    if not _has(env, "RAY_AUTH_TOKEN"):
        env.append({"name": "RAY_AUTH_TOKEN", "valueFrom": {"secretKeyRef": {"name": secret, "key": "auth_token"}}})


def _tls_enabled(cluster: Obj, settings: ClusterCtlSettings) -> bool:
    tls = (cluster.get("spec") or {}).get("tlsOptions") or {}
    return settings.feature_enabled("RayClusterMTLS") and tls.get("enabled") is True


def _configure_tls(cluster: Obj, node_type: str, spec: Obj, settings: ClusterCtlSettings) -> None:
    """KubeRay `configureTLS`: the cert-manager Secret volume, TLS env on the Ray and
    `wait-gcs-ready` containers, and a prepended `wait-for-tls-ip-san` init container."""
    if not _tls_enabled(cluster, settings):
        return
    volumes = spec.setdefault("volumes", [])
    if not any(v.get("name") == "ray-tls" for v in volumes):
        secret = f"ray-{node_type}-secret-{_name(cluster)}"
        volumes.append({"name": "ray-tls", "secret": {"secretName": secret}})
    ray = spec["containers"][0]
    _tls_env_and_mount(ray)
    inits = spec.setdefault("initContainers", [])
    for init in inits:
        if init.get("name") == "wait-gcs-ready":
            _tls_env_and_mount(init)
    if any(init.get("name") == "wait-for-tls-ip-san" for init in inits):
        return
    fixed = {"cpu": "50m", "memory": "64Mi"}
    inits.insert(0, _compact({
        "name": "wait-for-tls-ip-san",
        "image": ray.get("image"),
        "imagePullPolicy": ray.get("imagePullPolicy"),
        "command": ["sh", "-c"],
        "args": [_WAIT_TLS],
        "securityContext": copy.deepcopy(ray.get("securityContext")),
        "env": [_field("POD_IP", "status.podIP")],
        "volumeMounts": [{"name": "ray-tls", "mountPath": _TLS_DIR, "readOnly": True}],
        "resources": {"limits": dict(fixed), "requests": dict(fixed)},
    }))


def _tls_env_and_mount(container: Obj) -> None:
    """KubeRay `SetContainerTLSConfig`."""
    env = _env(container)
    for name, value in (("RAY_USE_TLS", "1"), ("RAY_TLS_SERVER_CERT", f"{_TLS_DIR}/tls.crt"),
                        ("RAY_TLS_SERVER_KEY", f"{_TLS_DIR}/tls.key"), ("RAY_TLS_CA_CERT", f"{_TLS_DIR}/ca.crt")):
        _set_default(env, name, value)
    mounts = container.setdefault("volumeMounts", [])
    if not any(m.get("name") == "ray-tls" or m.get("mountPath") == _TLS_DIR for m in mounts):
        mounts.append({"name": "ray-tls", "mountPath": _TLS_DIR, "readOnly": True})


# --- small helpers ---------------------------------------------------------------------------

_ZERO = Quantity.parse("0")


def _name(cluster: Obj) -> str:
    return str(cluster["metadata"]["name"])


def _namespace(cluster: Obj) -> str:
    return str(cluster["metadata"].get("namespace") or "default")


def _head(cluster: Obj) -> Obj:
    return dict((cluster.get("spec") or {}).get("headGroupSpec") or {})


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
            empty_dir = _compact({"medium": "Memory", "sizeLimit": None if size is None else str(size)})
        volumes.append({"name": volume, "emptyDir": empty_dir})
    mounts.append({"mountPath": path, "name": volume})


def _env(container: Obj) -> list[Obj]:
    env: list[Obj] = container.setdefault("env", [])
    return env


def _has(env: list[Obj], name: str) -> bool:
    return any(e.get("name") == name for e in env)


def _set_default(env: list[Obj], name: str, value: str) -> None:
    if not _has(env, name):
        env.append(_value(name, value))


def _value(name: str, value: str) -> Obj:
    return {"name": name, "value": value}


def _field(name: str, path: str) -> Obj:
    return {"name": name, "valueFrom": {"fieldRef": {"fieldPath": path}}}


def _compact(obj: Obj) -> Obj:
    """Drop unset fields, as Go's `omitempty` does."""
    return {k: v for k, v in obj.items() if v not in (None, "", [], {})}
