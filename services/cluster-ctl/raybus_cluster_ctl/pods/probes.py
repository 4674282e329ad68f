"""The Ray container's liveness and readiness probes, as KubeRay v1.7 injects them
(`initLivenessAndReadinessProbe`): only where the user left one unset; exec `wget` checks
of the raylet and (head) the GCS, or the dashboard agent's `/api/healthz` from Ray 2.53.0
(`rayVersion` as `RayClusterSpec.ray_version_numbers` reads it);
Serve's proxy too for a RayService's workers. Pure.
"""

from __future__ import annotations

from collections.abc import Mapping

from raybus_common.crds.raycluster import RayNodeType

from ..constants import DEFAULT_AGENT_PORT, DEFAULT_DASHBOARD_PORT, DEFAULT_SERVE_PORT
from ..podtemplate import Obj

_WGET = "wget --tries 1 -T {} -q -O- http://localhost:{}/{} | grep success"


def init_probes(ray: Obj, node_type: RayNodeType, crd: str, params: Mapping[str, str],
                ray_version: tuple[int, ...] | None) -> None:
    """KubeRay `initLivenessAndReadinessProbe`: fills only the probes the user left unset."""
    agent = _port_param(params, "dashboard-agent-listen-port", DEFAULT_AGENT_PORT)
    commands = [_WGET.format(2, agent, "api/local_raylet_healthz")]
    if node_type == RayNodeType.HEAD:
        commands.append(_WGET.format(10, _port_param(params, "dashboard-port", DEFAULT_DASHBOARD_PORT),
                                     "api/gcs_healthz"))
    http = ray_version is not None and ray_version >= (2, 53, 0)  # Ray serves /api/healthz on the agent
    timeout = 5 if node_type == RayNodeType.HEAD else 2

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
        if crd == "RayService" and node_type == RayNodeType.WORKER:
            # Serving workers are ready only once their Serve proxy is: always exec, fail fast.
            serve_port = next((p.get("containerPort") for p in ray.get("ports") or [] if p.get("name") == "serve"),
                              DEFAULT_SERVE_PORT)
            readiness.pop("httpGet", None)
            readiness["failureThreshold"] = 1
            cmds = [*commands, _WGET.format(10, serve_port, "-/healthz")]
            readiness["exec"] = {"command": ["bash", "-c", " && ".join(cmds)]}
        ray["readinessProbe"] = readiness


def _port_param(params: Mapping[str, str], key: str, default: int) -> int:
    try:
        port = int(params[key])
    except (KeyError, ValueError):
        return default
    return port if -(2**31) <= port < 2**31 else default
