"""What every RayCluster validation rule shares: the `Problem` type, the head paths, and small
readers of the spec (worker groups, pod specs, env lists, the autoscaler switches, Ray versions).

Shared by `validation.py` (the entry point and the core spec rules) and `validation_features.py`
(the feature rules); it holds no rules itself. Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_VERSION = re.compile(r"\s*v?([0-9]+(?:\.[0-9]+)+)")


@dataclass(frozen=True)
class Problem:
    """One reason the cluster is invalid: a JSON path (`spec.workerGroupSpecs[1].maxReplicas`)
    and a message in KubeRay's wording where KubeRay has one."""

    field: str
    message: str


Problems = list[Problem]
HEAD = "spec.headGroupSpec"
HEAD_C0 = HEAD + ".template.spec.containers[0]"


# --- helpers -------------------------------------------------------------------------------------


def _workers(spec: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    return [(f"spec.workerGroupSpecs[{i}]", w) for i, w in enumerate(spec.get("workerGroupSpecs") or [])]


def _pod_spec(group: Mapping[str, Any]) -> Mapping[str, Any]:
    return (group.get("template") or {}).get("spec") or {}


def _ray_container(group: Mapping[str, Any]) -> Mapping[str, Any]:
    containers = _pod_spec(group).get("containers") or []
    return containers[0] if containers else {}


def _env_index(name: str, env: list[Mapping[str, Any]] | None) -> int | None:
    return next((i for i, e in enumerate(env or []) if e.get("name") == name), None)


def _env_value(name: str, env: list[Mapping[str, Any]] | None) -> str | None:
    i = _env_index(name, env)
    return None if i is None else str((env or [])[i].get("value") or "")


def autoscaling_enabled(spec: Mapping[str, Any]) -> bool:
    return spec.get("enableInTreeAutoscaling") is True


def autoscaler_v2(spec: Mapping[str, Any], *, or_env: bool = False) -> bool:
    """autoscalerOptions.version == v2; with `or_env`, also head env RAY_enable_autoscaler_v2=1/true."""
    if (spec.get("autoscalerOptions") or {}).get("version") == "v2":
        return True
    head_env = _ray_container(spec.get("headGroupSpec") or {}).get("env")
    return or_env and _env_value("RAY_enable_autoscaler_v2", head_env) in ("1", "true")


def ft_enabled(spec: Mapping[str, Any], annotations: Mapping[str, str]) -> bool:
    """KubeRay `IsGCSFaultToleranceEnabled`."""
    return annotations.get("ray.io/ft-enabled", "").lower() == "true" or spec.get("gcsFaultToleranceOptions") is not None


def parse_version(text: str) -> tuple[int, ...] | None:
    """`version.ParseGeneric`: "v"? then at least major.minor; trailing text is ignored."""
    m = _VERSION.match(text or "")
    return tuple(int(p) for p in m.group(1).split(".")) if m else None
