"""Reading and filling the Kubernetes pieces a RayCluster embeds as plain dicts (crds/base.py):
a group's pod template, its Ray container (`containers[0]`, KubeRay's `RayContainerIndex`), and
env lists. Builders use the writers on their own deep copies (`json_copy`); validation uses the
readers.

Pure: no I/O. The readers never mutate; `container_env` adds an empty `env` list when missing.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

Obj = dict[str, Any]
_SCALARS = (str, int, float, bool, type(None))


# --- readers ---------------------------------------------------------------------------------

def pod_spec(template: Mapping[str, Any]) -> Mapping[str, Any]:
    """The template's pod spec, {} when missing."""
    found: Mapping[str, Any] = template.get("spec") or {}
    return found


def ray_container(template: Mapping[str, Any]) -> Mapping[str, Any]:
    """The Ray container (the first), {} when there is none."""
    containers = pod_spec(template).get("containers") or []
    found: Mapping[str, Any] = containers[0] if containers else {}
    return found


def find_env(env: Sequence[Mapping[str, Any]] | None, name: str) -> int | None:
    """The index of env var `name` in `env`, None when absent."""
    return next((i for i, e in enumerate(env or []) if e.get("name") == name), None)


def env_text(env: Sequence[Mapping[str, Any]] | None, name: str) -> str | None:
    """The literal value of env var `name` ("" for a `valueFrom`), None when absent."""
    i = find_env(env, name)
    return None if i is None else str((env or [])[i].get("value") or "")


# --- writers ---------------------------------------------------------------------------------

def container_env(container: Obj) -> list[Obj]:
    """The container's `env` list, added if missing."""
    env: list[Obj] = container.setdefault("env", [])
    return env


def env_var(name: str, value: str) -> Obj:
    return {"name": name, "value": value}


def env_field(name: str, path: str) -> Obj:
    """An env var read from the pod's own fields (the downward API)."""
    return {"name": name, "valueFrom": {"fieldRef": {"fieldPath": path}}}


def set_default_env(env: list[Obj], name: str, value: str) -> None:
    """Append `name=value` unless `env` already sets `name` (KubeRay never overrides the user)."""
    if find_env(env, name) is None:
        env.append(env_var(name, value))


def json_copy(value: Any) -> Any:
    """A deep copy of JSON-shaped data (dicts, lists, scalars), a few times faster than
    `copy.deepcopy`; anything else is deep-copied the slow way."""
    kind = type(value)
    if kind is dict:
        return {k: json_copy(v) for k, v in value.items()}
    if kind is list:
        return [json_copy(v) for v in value]
    if kind in _SCALARS:
        return value
    return copy.deepcopy(value)


def compact(obj: Obj) -> Obj:
    """Drop unset fields, as Go's `omitempty` does."""
    return {k: v for k, v in obj.items() if v not in (None, "", [], {})}
