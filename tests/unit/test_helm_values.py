"""The chart's values.yaml is its reference: every top-level value has a comment right above it,
and values.yaml and values.schema.json name the same values (the schema refuses unknown keys,
so a value missing from it could not be set; one missing from values.yaml is undocumented).
Rendering and the schema's verdicts are tested with helm itself (tests/integration/test_helm_chart.py).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

CHART = Path(__file__).resolve().parents[2] / "deploy" / "helm" / "raybus"
VALUES_TEXT = (CHART / "values.yaml").read_text()
VALUES: dict[str, Any] = yaml.safe_load(VALUES_TEXT)
SCHEMA: dict[str, Any] = json.loads((CHART / "values.schema.json").read_text())


def key_paths(values: Any, schema: dict[str, Any], prefix: str = "") -> list[tuple[str, bool]]:
    """(path, whether the schema names it) for every key of `values` the schema describes by properties."""
    out: list[tuple[str, bool]] = []
    props = schema.get("properties")
    if not isinstance(values, dict) or props is None:
        return out
    for key, value in values.items():
        path = f"{prefix}{key}"
        out.append((path, key in props))
        if key in props:
            out += key_paths(value, props[key], f"{path}.")
    return out


@pytest.mark.parametrize("key", sorted(VALUES), ids=str)
def test_each_top_level_value_is_documented_where_it_is_set(key: str) -> None:
    lines = VALUES_TEXT.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith(f"{key}:"))
    assert at > 0 and lines[at - 1].startswith("#"), f"{key}: no comment right above it in values.yaml"


@pytest.mark.parametrize(("path", "named"), key_paths(VALUES, SCHEMA), ids=[p for p, _ in key_paths(VALUES, SCHEMA)])
def test_each_value_is_in_the_schema(path: str, named: bool) -> None:
    assert named, f"{path} is in values.yaml but not in values.schema.json"


def test_each_schema_value_is_in_values_yaml() -> None:
    assert set(SCHEMA["properties"]) - {"global"} == set(VALUES)
    assert set(SCHEMA["properties"]["nats"]["properties"]) == set(VALUES["nats"])
    assert set(SCHEMA["properties"]["services"]["properties"]) == set(VALUES["services"])
