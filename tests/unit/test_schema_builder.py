"""Models → structural CRD schema, and the API server's OpenAPI → structural form."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

import pytest
from pydantic import Field

from raybus_common.crds.base import (
    CRDInfo,
    CRDModel,
    CRDObject,
    Int32,
    IntOrString,
    PodTemplateSpec,
    Quantity,
    Time,
)
from raybus_common.crds.openapi import EMBEDDED_META, StructuralConverter
from raybus_common.crds.schema import SchemaBuilder, placeholder_resolver, root_schema


class Color(StrEnum):
    RED = "red"
    BLUE = "blue"


class Inner(CRDModel):
    group_name: str
    replicas: Int32 | None = Field(0, ge=0)
    color: Color | None = None
    mode: Literal["a", "b"] | None = None


class Spec(CRDModel):
    groups: list[Inner] | None = Field(None, min_length=1)
    resources: dict[str, Quantity] | None = None
    port: IntOrString | None = None
    started: Time | None = None
    template: PodTemplateSpec | None = None
    free: Any = None
    runtime_env_yaml: str | None = Field(None, alias="runtimeEnvYAML")
    model_config = {"json_schema_extra": {"x-kubernetes-validations": [{"rule": "true", "message": "ok"}]}}  # noqa: RUF012


class Thing(CRDObject):
    info = CRDInfo(group="example.io", version="v1", kind="Thing", plural="things", singular="thing")
    spec: Spec


def build(model: type[CRDModel]) -> dict[str, Any]:
    return SchemaBuilder(placeholder_resolver).model(model)


def test_fields_required_defaults_constraints_and_enums() -> None:
    s = build(Inner)
    assert s["required"] == ["groupName"]
    assert s["properties"]["replicas"] == {"type": "integer", "format": "int32", "minimum": 0, "default": 0}
    assert s["properties"]["color"] == {"type": "string", "enum": ["red", "blue"]}
    assert s["properties"]["mode"] == {"type": "string", "enum": ["a", "b"]}


def test_containers_scalars_and_markers() -> None:
    p = build(Spec)["properties"]
    assert p["groups"]["type"] == "array" and p["groups"]["minItems"] == 1
    assert p["groups"]["items"]["properties"]["groupName"] == {"type": "string"}
    assert p["resources"]["additionalProperties"]["x-kubernetes-int-or-string"] is True
    assert "pattern" in p["resources"]["additionalProperties"]
    assert p["port"] == {"anyOf": [{"type": "integer"}, {"type": "string"}], "x-kubernetes-int-or-string": True}
    assert p["started"] == {"type": "string", "format": "date-time"}
    assert p["template"] == {"x-raybus-k8s": "io.k8s.api.core.v1.PodTemplateSpec"}
    assert p["free"] == {"x-kubernetes-preserve-unknown-fields": True}
    assert "runtimeEnvYAML" in p


def test_model_level_extras_are_kept() -> None:
    assert build(Spec)["x-kubernetes-validations"] == [{"rule": "true", "message": "ok"}]


def test_root_schema_requires_spec_and_types_metadata() -> None:
    s = root_schema(Thing, placeholder_resolver)
    assert s["required"] == ["spec"]
    assert s["properties"]["metadata"] == {"type": "object"}
    assert s["properties"]["apiVersion"] == {"type": "string"}


def test_unsupported_unions_are_refused() -> None:
    class Bad(CRDModel):
        x: int | str

    with pytest.raises(TypeError, match="IntOrStr"):
        build(Bad)


DEFS: dict[str, Any] = {
    "io.k8s.api.core.v1.Probe": {
        "description": "drop me", "type": "object",
        "properties": {
            "port": {"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.util.intstr.IntOrString"},
            "limit": {"allOf": [{"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.api.resource.Quantity"}],
                      "default": {}},
            "name": {"type": "string", "default": "", "x-kubernetes-patch-strategy": "merge"},
            "protocol": {"type": "string", "default": "TCP", "enum": ["TCP", "UDP"]},
            "meta": {"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"},
            "raw": {"description": "anything"},
            "items": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["key"],
                      "items": {"type": "object", "properties": {"key": {"type": "string", "default": ""}}}},
        },
    },
    "io.k8s.api.core.v1.Loop": {"type": "object", "properties": {"next": {"$ref": "#/components/schemas/io.k8s.api.core.v1.Loop"}}},
}


def test_openapi_conversion() -> None:
    out = StructuralConverter(DEFS)("io.k8s.api.core.v1.Probe")
    p = out["properties"]
    assert "description" not in out
    assert p["port"]["x-kubernetes-int-or-string"] is True
    assert p["limit"]["x-kubernetes-int-or-string"] is True and "default" not in p["limit"]
    assert p["name"] == {"type": "string"}, "zero default and patch strategy dropped"
    assert p["protocol"]["default"] == "TCP"
    assert p["meta"] == EMBEDDED_META
    assert p["raw"] == {"x-kubernetes-preserve-unknown-fields": True}
    assert p["items"]["items"]["properties"]["key"]["default"] == "", "a list-map key keeps its default"


def test_openapi_conversion_refuses_recursion_and_unknown_names() -> None:
    conv = StructuralConverter(DEFS)
    with pytest.raises(TypeError, match="recursive"):
        conv("io.k8s.api.core.v1.Loop")
    with pytest.raises(KeyError, match="no definition"):
        conv("io.k8s.api.core.v1.Nope")
