"""Convert the API server's OpenAPI v3 definitions into structural CRD schemas.

The kube-apiserver serves its own types at `/openapi/v3/api/v1`, `/openapi/v3/apis/<group>/<v>`.
A CRD may embed them (a pod template, a Service) only in structural form: refs inlined,
descriptions dropped, int-or-string and Quantity spelled the CRD way, embedded ObjectMeta
reduced to the fields a template may carry, and only the vendor extensions CRDs accept.
Pure: the caller fetches the documents (`raybus crds generate`), this module only converts.
"""

from __future__ import annotations

from typing import Any

from .schema import int_or_string

INT_OR_STRING = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"
OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
TIME_TYPES = ("io.k8s.apimachinery.pkg.apis.meta.v1.Time", "io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime")

# What a CRD schema may carry; everything else (descriptions, patch strategies, GVKs) is dropped.
KEPT = (
    "type", "format", "enum", "default", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
    "minLength", "maxLength", "pattern", "minItems", "maxItems", "uniqueItems", "minProperties",
    "maxProperties", "nullable", "x-kubernetes-list-type", "x-kubernetes-list-map-keys",
    "x-kubernetes-map-type", "x-kubernetes-int-or-string", "x-kubernetes-preserve-unknown-fields",
    "x-kubernetes-embedded-resource", "x-kubernetes-validations",
)

ZERO_VALUES: tuple[Any, ...] = ("", 0, False, {}, [])

# Embedded metadata: what controller-gen's generateEmbeddedObjectMeta keeps, so labels and
# annotations on a pod template survive pruning.
EMBEDDED_META: dict[str, Any] = {
    "type": "object",
    "properties": {
        "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
        "finalizers": {"type": "array", "items": {"type": "string"}},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "name": {"type": "string"},
        "namespace": {"type": "string"},
    },
}


def definitions(*documents: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Merge `components.schemas` of several OpenAPI v3 documents into one name → schema map."""
    out: dict[str, dict[str, Any]] = {}
    for doc in documents:
        out.update(doc.get("components", {}).get("schemas", {}))
    return out


class StructuralConverter:
    """Callable resolver for `schema.SchemaBuilder`: definition name → structural schema."""

    def __init__(self, defs: dict[str, dict[str, Any]]) -> None:
        self.defs = defs
        self._stack: list[str] = []

    def __call__(self, ref: str) -> dict[str, Any]:
        return self.definition(ref)

    def definition(self, name: str) -> dict[str, Any]:
        if name == INT_OR_STRING:
            return int_or_string(quantity=False)
        if name == QUANTITY:
            return int_or_string(quantity=True)
        if name in TIME_TYPES:
            return {"type": "string", "format": "date-time"}
        if name == OBJECT_META:
            return EMBEDDED_META
        if name not in self.defs:
            raise KeyError(f"the API server's OpenAPI has no definition {name!r}")
        if name in self._stack:
            raise TypeError(f"recursive definition {name}: cannot embed in a CRD")
        self._stack.append(name)
        try:
            return self.convert(self.defs[name])
        finally:
            self._stack.pop()

    def convert(self, schema: dict[str, Any]) -> dict[str, Any]:
        ref = schema.get("$ref")
        if ref:
            return self.definition(ref.rsplit("/", 1)[-1])
        if "allOf" in schema:
            # `allOf: [{$ref}]` is how OpenAPI v3 attaches a default to a referenced type.
            merged: dict[str, Any] = {}
            for part in schema["allOf"]:
                merged.update(self.convert(part))
            own = {k: schema[k] for k in KEPT if k in schema and schema[k] not in ZERO_VALUES}
            merged.update(own)
            return merged
        return self._own(schema)

    def _own(self, schema: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {k: schema[k] for k in KEPT if k in schema}
        if out.get("default") in ZERO_VALUES:
            # openapi-gen writes Go's zero value as a default; it says nothing, and a `{}` default
            # on a type with required fields would not even validate.
            del out["default"]
        if "properties" in schema:
            out["properties"] = {k: self.convert(v) for k, v in sorted(schema["properties"].items())}
            out.setdefault("type", "object")
        if "required" in schema:
            out["required"] = sorted(schema["required"])
        if "items" in schema:
            out["items"] = self.convert(schema["items"])
            for key in schema.get("x-kubernetes-list-map-keys", []):
                # A list-map key must be required or defaulted; keep the zero default there.
                items = out["items"]
                if key not in items.get("required", []) and "default" not in items["properties"][key]:
                    zero = "" if items["properties"][key].get("type") == "string" else 0
                    items["properties"][key] = {**items["properties"][key], "default": zero}
        ap = schema.get("additionalProperties")
        if isinstance(ap, dict):
            out["additionalProperties"] = self.convert(ap)
        elif ap is True and "properties" not in schema:
            out["x-kubernetes-preserve-unknown-fields"] = True
        if not out.get("type") and not out.get("x-kubernetes-int-or-string") and "properties" not in out:
            # An untyped value (RawExtension and friends) must say it is free-form.
            out.setdefault("x-kubernetes-preserve-unknown-fields", True)
        return out
