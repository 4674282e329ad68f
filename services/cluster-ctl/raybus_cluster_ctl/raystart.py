"""The `ray start` command of a Ray container, rendered the way KubeRay v1.7 renders it (§4.1). Pure.

`ray_start_params` collects the flags in KubeRay's order of mutation, `render_ray_start` turns
them into the command line (`generateRayStartCommand`) and `set_ray_command` puts it into the Ray
container behind `ulimit`, through `bash_command`. The cluster-level facts the flags depend on
live here too: the head's address and port, in-tree autoscaling and GCS fault tolerance, with
the node types, ports and annotation they read.

Not here: the rest of the pod (`pods.py`, which re-exports the public names of this module) and
the env vars, among them the rendered command as `KUBERAY_GEN_RAY_START_CMD` (`podenv.py`).
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from raybus_common.quantity import Quantity

from .children import head_service_name
from .children_common import _head, _namespace
from .config import ClusterConfig
from .status import is_gpu

Obj = dict[str, Any]

HEAD, WORKER = "head", "worker"
FT_ENABLED_ANNOTATION = "ray.io/ft-enabled"

# Ports.
DEFAULT_GCS_PORT = 6379
DEFAULT_METRICS_PORT = 8080
DEFAULT_AGENT_PORT = 52365

ULIMIT_CMD = "ulimit -n ${RAY_START_ULIMIT_OPEN_FILES:-65536}"
_ACCELERATORS = {"aws.amazon.com/neuroncore": "neuron_cores", "google.com/tpu": "TPU"}
_SPECIAL_BOOL_FLAGS = ("log-color", "include-dashboard", "include-log-monitor")
_ZERO = Quantity.parse("0")


# --- cluster-level facts ---------------------------------------------------------------------

def head_port(cluster: Obj) -> str:
    """KubeRay `GetHeadPort`: the head's `port` start param, else 6379 (GCS)."""
    params = _head(cluster).get("rayStartParams") or {}
    return str(params.get("port", DEFAULT_GCS_PORT))


def head_fqdn(cluster: Obj, settings: ClusterConfig) -> str:
    """`<head service>.<namespace>.svc.<cluster domain>`: the address workers dial."""
    return f"{head_service_name(cluster)}.{_namespace(cluster)}.svc.{settings.cluster_domain}"


def autoscaling_enabled(cluster: Obj) -> bool:
    return (cluster.get("spec") or {}).get("enableInTreeAutoscaling") is True


def gcs_ft_enabled(cluster: Obj) -> bool:
    """§6.1: annotation `ray.io/ft-enabled` is "true" (any case) or gcsFaultToleranceOptions is set."""
    annotation = str((cluster["metadata"].get("annotations") or {}).get(FT_ENABLED_ANNOTATION, ""))
    return annotation.lower() == "true" or (cluster.get("spec") or {}).get("gcsFaultToleranceOptions") is not None


def gcs_ft_embedded(options: Obj) -> bool:
    return options.get("backend") == "rocksdb"


# --- ray start -------------------------------------------------------------------------------

def ray_start_params(cluster: Obj, group: Obj, node_type: str, settings: ClusterConfig,
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
        if gcs_ft_enabled(cluster) and options is not None and not gcs_ft_embedded(options):
            if options.get("redisUsername") is not None:
                params["redis-username"] = "$REDIS_USERNAME"
            if options.get("redisPassword") is not None:
                params["redis-password"] = "$REDIS_PASSWORD"
    params_from_container_resources(params, container_resources or {})
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


def set_ray_command(ray: Obj, start: str, settings: ClusterConfig, *, keep_user_command: bool) -> None:
    """KubeRay `BuildPod`'s command rewrite: unless `keep_user_command` (the pod's
    `ray.io/overwrite-container-cmd` annotation is "true") or the container's command and args
    already run `ray start`, run `ulimit …; <start>` through `bash_command`, after them if any."""
    user_cmd = _cmd_string(ray.get("command")) + _cmd_string(ray.get("args"))
    if not keep_user_command and "ray start" not in user_cmd:
        generated = f"{ULIMIT_CMD}; {start}"
        ray["command"] = bash_command(settings)
        ray["args"] = [f"{user_cmd} && {generated}" if user_cmd else generated]


def bash_command(settings: ClusterConfig) -> list[str]:
    """KubeRay `GetContainerCommand`: `/bin/bash -c --`, `-cl` with ENABLE_LOGIN_SHELL."""
    return ["/bin/bash", "-cl" if settings.enable_login_shell else "-c", "--"]


def _cmd_string(parts: Any) -> str:
    """KubeRay `convertCmdToString`: every element as ` x `."""
    return "".join(f" {p} " for p in parts or [])


# --- flags from resources --------------------------------------------------------------------

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


def params_from_container_resources(params: dict[str, str], resources: Obj) -> None:
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


# --- small helpers ---------------------------------------------------------------------------

