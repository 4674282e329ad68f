"""Turn CRD models (see `base.py`) into structural OpenAPI v3 schemas for CustomResourceDefinitions.

Pure: Kubernetes-typed fields (`K8s(ref)` markers) are filled in by a resolver the caller passes,
normally `openapi.StructuralConverter` over the API server's own OpenAPI document; unit tests pass
a placeholder resolver. Nothing here reads files or talks to a server.
"""

from __future__ import annotations

import copy
import enum
import types
import typing
from collections.abc import Callable
from datetime import datetime
from typing import Any

import annotated_types as at
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from .base import CRDObject, Format, IntOrStr, K8s

Resolver = Callable[[str], dict[str, Any]]

# resource.Quantity's textual form, as the API server's CRDs spell it.
QUANTITY_PATTERN = (
    r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]"
    r"|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)


def placeholder_resolver(ref: str) -> dict[str, Any]:
    """Stands in for the API server's schema where only the Raybus-owned parts matter."""
    return {"x-raybus-k8s": ref}


def int_or_string(quantity: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"anyOf": [{"type": "integer"}, {"type": "string"}]}
    if quantity:
        out["pattern"] = QUANTITY_PATTERN
    out["x-kubernetes-int-or-string"] = True
    return out


class SchemaBuilder:
    def __init__(self, resolve: Resolver) -> None:
        self.resolve = resolve
        self._stack: list[type[BaseModel]] = []

    # -- models -------------------------------------------------------------------------
    def model(self, model: type[BaseModel]) -> dict[str, Any]:
        if model in self._stack:
            raise TypeError(f"recursive model {model.__name__}: CRD schemas cannot recurse")
        self._stack.append(model)
        try:
            props: dict[str, Any] = {}
            required: list[str] = []
            for name, info in model.model_fields.items():
                wire = info.alias or name
                props[wire] = self.field(info, where=f"{model.__name__}.{name}")
                if info.is_required():
                    required.append(wire)
            out: dict[str, Any] = {"type": "object", "properties": dict(sorted(props.items()))}
            if required:
                out["required"] = sorted(required)
            extra = model.model_config.get("json_schema_extra")
            if isinstance(extra, dict):
                out.update(copy.deepcopy(extra))  # models embedded twice must not share nodes
            return out
        finally:
            self._stack.pop()

    def field(self, info: FieldInfo, *, where: str) -> dict[str, Any]:
        out = self.annotation(info.annotation, list(info.metadata), where=where)
        default = info.default
        if default is not PydanticUndefined and default is not None and info.default_factory is None:
            out["default"] = default.value if isinstance(default, enum.Enum) else default
        if isinstance(info.json_schema_extra, dict):
            out.update(copy.deepcopy(info.json_schema_extra))
        return out

    # -- annotations --------------------------------------------------------------------
    def annotation(self, tp: Any, meta: list[Any], *, where: str) -> dict[str, Any]:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            base, *extra = typing.get_args(tp)
            return self.annotation(base, [*extra, *meta], where=where)
        for m in meta:
            if isinstance(m, K8s):
                return self._constrain(self.resolve(m.ref), meta, is_list=False)
            if isinstance(m, IntOrStr):
                return int_or_string(m.quantity)
        if origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            if len(args) != 1:
                raise TypeError(f"{where}: unions other than `X | None` need an IntOrStr marker")
            return self.annotation(args[0], meta, where=where)
        if origin is typing.Literal:
            values = list(typing.get_args(tp))
            return self._constrain({"type": "string", "enum": values}, meta, is_list=False)
        if origin is list:
            (item,) = typing.get_args(tp)
            return self._constrain(
                {"type": "array", "items": self.annotation(item, [], where=where + "[]")}, meta, is_list=True
            )
        if origin is dict:
            key, value = typing.get_args(tp)
            if key is not str:
                raise TypeError(f"{where}: map keys must be str")
            if value is Any:
                return {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
            return {"type": "object", "additionalProperties": self.annotation(value, [], where=where + "{}")}
        if tp is Any:
            return {"x-kubernetes-preserve-unknown-fields": True}
        if isinstance(tp, type):
            return self._constrain(self._scalar_or_model(tp, meta, where), meta, is_list=False)
        raise TypeError(f"{where}: cannot express {tp!r} in a CRD schema")

    def _scalar_or_model(self, tp: type, meta: list[Any], where: str) -> dict[str, Any]:
        fmt = next((m.name for m in meta if isinstance(m, Format)), None)
        if issubclass(tp, BaseModel):
            return self.model(tp)
        if issubclass(tp, enum.Enum):
            return {"type": "string", "enum": [e.value for e in tp]}
        if tp is bool:
            return {"type": "boolean"}
        if tp is int:
            return {"type": "integer", **({"format": fmt} if fmt else {})}
        if tp is float:
            return {"type": "number"}
        if tp is str:
            return {"type": "string", **({"format": fmt} if fmt else {})}
        if tp is datetime:
            return {"type": "string", "format": "date-time"}
        raise TypeError(f"{where}: cannot express {tp.__name__} in a CRD schema")

    @staticmethod
    def _constrain(schema: dict[str, Any], meta: list[Any], *, is_list: bool) -> dict[str, Any]:
        out = dict(schema)
        for m in meta:
            if isinstance(m, at.Ge):
                out["minimum"] = m.ge
            elif isinstance(m, at.Le):
                out["maximum"] = m.le
            elif isinstance(m, at.Gt):
                out["minimum"], out["exclusiveMinimum"] = m.gt, True
            elif isinstance(m, at.Lt):
                out["maximum"], out["exclusiveMaximum"] = m.lt, True
            elif isinstance(m, at.MinLen):
                out["minItems" if is_list else "minLength"] = m.min_length
            elif isinstance(m, at.MaxLen):
                out["maxItems" if is_list else "maxLength"] = m.max_length
        return out


def root_schema(kind: type[CRDObject], resolve: Resolver) -> dict[str, Any]:
    """The `openAPIV3Schema` of a whole custom resource."""
    builder = SchemaBuilder(resolve)
    schema = builder.model(kind)
    props = schema["properties"]
    props["apiVersion"] = {"type": "string"}
    props["kind"] = {"type": "string"}
    props["metadata"] = {"type": "object"}
    schema.pop("required", None)  # apiVersion/kind/metadata are the API server's to check
    schema["required"] = [n for n in ("spec",) if kind.model_fields.get("spec") and kind.model_fields["spec"].is_required()]
    if not schema["required"]:
        del schema["required"]
    return schema
