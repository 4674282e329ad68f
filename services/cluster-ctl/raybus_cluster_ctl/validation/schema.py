"""What the API server would reject before KubeRay sees a RayCluster, checked on the raw object,
because Raybus may run without the CRD schema, its CEL rules and KubeRay's webhook in front of it.

`schema_problems` reports, with the wording the API server and KubeRay use: required fields,
replica fields that are not integers, the enums (`authOptions.mode`, `autoscalerOptions.version`,
`gcsFaultToleranceOptions.backend`, `upgradeStrategy.type`), `managedBy`, and unique worker group
names (the webhook). It reads any JSON without raising. `parse_problems` turns whatever else stops
the object from parsing into the typed model (a string where a boolean belongs, a map where a list
does) into problems naming the field, skipping fields already reported.

Not checked: PodTemplateSpec and other embedded Kubernetes types (the API server's job). Pure.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from raybus_common.crds.raycluster import (
    KUBERAY_OPERATOR,
    MULTIKUEUE,
    AuthMode,
    AutoscalerVersion,
    GcsFaultToleranceBackend,
    RayClusterUpgradeType,
)

from .problems import HEAD, Problem, Problems, worker_path

_ENUMS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("authOptions", "mode", tuple(AuthMode)),
    ("autoscalerOptions", "version", tuple(AutoscalerVersion)),
    ("gcsFaultToleranceOptions", "backend", tuple(GcsFaultToleranceBackend)),
)
_INTEGERS = ("replicas", "minReplicas", "maxReplicas", "numOfHosts")


def schema_problems(raw: Mapping[str, Any]) -> Problems:
    """Every schema-level problem of `raw` (a RayCluster as JSON), in the order of its fields."""
    spec = raw.get("spec")
    if not isinstance(spec, Mapping):
        return []  # no spec, or not an object: the parse names it
    head = spec.get("headGroupSpec")
    out: Problems = []
    if head is None:
        out.append(Problem(HEAD, "Required value"))
    elif isinstance(head, Mapping) and "template" not in head:
        out.append(Problem(HEAD + ".template", "Required value"))
    workers = spec.get("workerGroupSpecs")
    seen: set[str] = set()
    for i, w in enumerate(workers if isinstance(workers, list) else []):
        if not isinstance(w, Mapping):
            continue  # the parse reports it
        path = worker_path(i)
        out += [Problem(f"{path}.{key}", "Required value") for key in ("groupName", "template") if key not in w]
        out += [Problem(f"{path}.{key}", f'Invalid value: "{w[key]}": must be of type integer') for key in _INTEGERS
                if w.get(key) is not None and (isinstance(w[key], bool) or not isinstance(w[key], int))]
        name = w.get("groupName")
        if isinstance(name, str) and name in seen:
            out.append(Problem(f"{path}.groupName", "worker group names must be unique"))
        if isinstance(name, str):
            seen.add(name)
    if "managedBy" in spec and spec["managedBy"] not in (KUBERAY_OPERATOR, MULTIKUEUE):
        out.append(Problem("spec.managedBy", "Invalid value: the managedBy field value must be either "
                                             f"'{KUBERAY_OPERATOR}' or '{MULTIKUEUE}'"))
    for block, key, allowed in _ENUMS:
        value = _mapping(spec.get(block)).get(key)
        if value is not None and value not in allowed:
            out.append(Problem(f"spec.{block}.{key}", f'Unsupported value: "{value}": supported values: '
                               + ", ".join(f'"{a}"' for a in allowed)))
    upgrade = _mapping(spec.get("upgradeStrategy")).get("type")
    if upgrade is not None and upgrade not in tuple(RayClusterUpgradeType):  # KubeRay's ValidateRayClusterUpgradeOptions
        out.append(Problem("spec.upgradeStrategy.type", f"The RayCluster spec is invalid: Spec.UpgradeStrategy.Type "
                                                        f"value {upgrade} is invalid, valid options are Recreate or None"))
    return out


def parse_problems(error: ValidationError, known: Problems) -> Problems:
    """The fields that failed to parse, one problem per field, except fields at or under (or
    above) a field `known` already names."""
    out: Problems = []
    taken = [p.field for p in known]
    for e in error.errors():
        path = _path(e["loc"])
        if any(_related(path, t) for t in taken):
            continue
        taken.append(path)
        if e["type"] == "missing":
            out.append(Problem(path, "Required value"))
        else:
            shown = json.dumps(e.get("input"), default=str)
            shown = shown if len(shown) <= 60 else shown[:57] + "..."
            out.append(Problem(path, f"Invalid value: {shown}: {e['msg']}"))
    return out


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _related(a: str, b: str) -> bool:
    """One path is the other, or lies under it."""
    short, long = sorted((a, b), key=len)
    return long == short or long.startswith((short + ".", short + "["))
