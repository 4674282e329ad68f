"""The `ray start` command of a Ray container, rendered the way KubeRay v1.7 renders it. Pure.

`ray_start_params` collects the flags in KubeRay's order of mutation, `render_ray_start` turns
them into the command line (`generateRayStartCommand`) and `set_ray_command` puts it into the Ray
container behind `ulimit`, through `bash_command` (also the shell of the autoscaler and the
`wait-gcs-ready` init container).

Not here: the rest of the pod (`build`) and the env vars, among them the rendered command as
`KUBERAY_GEN_RAY_START_CMD` (`env`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from raybus_common.crds.raycluster import HeadGroupSpec, RayCluster, RayNodeType, WorkerGroupSpec
from raybus_common.crds.resources import is_gpu
from raybus_common.quantity import Quantity

from ..config import ClusterConfig
from ..constants import DEFAULT_AGENT_PORT, DEFAULT_METRICS_PORT
from ..names import head_fqdn, head_port
from ..podtemplate import Obj

ULIMIT_CMD = "ulimit -n ${RAY_START_ULIMIT_OPEN_FILES:-65536}"
_ACCELERATORS = {"aws.amazon.com/neuroncore": "neuron_cores", "google.com/tpu": "TPU"}
_SPECIAL_BOOL_FLAGS = ("log-color", "include-dashboard", "include-log-monitor")
_ZERO = Quantity.parse("0")


def ray_start_params(cluster: RayCluster, group: HeadGroupSpec | WorkerGroupSpec, node_type: RayNodeType,
                     settings: ClusterConfig) -> dict[str, str]:
    """The `ray start` parameters in KubeRay's order of mutation: the group's
    `rayStartParams`, its `resources` and `labels`, the defaults, `no-monitor` and the Redis
    credentials on the head. What the Ray container's resources imply comes last, from
    `params_from_container_resources`, once the container is final."""
    params = dict(group.params)
    _params_from_group_resources(params, group.resources or {})
    if group.labels:
        params["labels"] = ",".join(f"{k}={group.labels[k]}" for k in sorted(group.labels))
    if node_type == RayNodeType.WORKER:
        params.setdefault("address", f"{head_fqdn(cluster, settings)}:{head_port(cluster)}")
    else:
        params.setdefault("dashboard-host", "0.0.0.0")
    params.setdefault("metrics-export-port", str(DEFAULT_METRICS_PORT))
    params["block"] = "true"
    params.setdefault("dashboard-agent-listen-port", str(DEFAULT_AGENT_PORT))
    if node_type == RayNodeType.HEAD:
        if cluster.spec.autoscaling_enabled:
            params["no-monitor"] = "true"
        options = cluster.spec.gcs_fault_tolerance_options
        if options is not None and cluster.redis_gcs_ft:
            if options.redis_username is not None:
                params["redis-username"] = "$REDIS_USERNAME"
            if options.redis_password is not None:
                params["redis-password"] = "$REDIS_PASSWORD"
    return params


def render_ray_start(node_type: RayNodeType, params: Mapping[str, str]) -> str:
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
    return f"ray start --head {flags}" if node_type == RayNodeType.HEAD else f"ray start {flags}"


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

def _params_from_group_resources(params: dict[str, str], resources: Mapping[str, str]) -> None:
    """`updateRayStartParamsResources`: cpu → num-cpus, memory → memory, GPU keys → num-gpus
    (integers, rounded up), anything else into `resources` as single-quoted JSON."""
    custom: dict[str, float] = {}
    for name, raw in resources.items():
        try:
            q = Quantity.parse(raw)
        except ValueError:
            continue  # KubeRay logs and skips an unparsable quantity
        lower = name.lower()
        if lower == "cpu":
            params["num-cpus"] = _int(q)
        elif lower == "memory":
            params["memory"] = _int(q)
        elif is_gpu(lower):
            params["num-gpus"] = _int(q)
        else:
            custom[name] = float(q.value)
    if custom:
        params["resources"] = f"'{_go_json(custom)}'"


def params_from_container_resources(params: dict[str, str], resources: Mapping[str, Any]) -> None:
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


def _go_json(values: Mapping[str, Any]) -> str:
    return "{" + ",".join(f"{json.dumps(k)}:{_go_float(float(values[k]))}" for k in sorted(values)) + "}"
