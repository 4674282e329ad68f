"""The conventions every CRD model follows, so one generator can turn models into CRD schemas.

- Models subclass `CRDModel`: snake_case in Python, camelCase on the wire (`alias_generator`);
  irregular wire names (`runtimeEnvYAML`, `desiredCPU`, `podIP`) get an explicit `alias=`.
- Unknown fields are kept (`extra="allow"`), so an object from a newer schema survives a
  read-modify-write through the models; the API server's pruning is the field validator.
- A field's Python default IS its CRD default: `Field(0)` emits `default: 0` in the CRD. Fields
  without a CRD default default to None (or are required). Defaults KubeRay applies in Go code,
  not in the CRD, are the controllers' business.
- Kubernetes types embedded in a CR (pod templates, Services, env vars, conditions, ...) are
  kept as plain dicts annotated with `K8s("<openapi definition name>")`; the generator fills in
  the schema from the API server's own OpenAPI, so a pod template is validated exactly like a
  PodTemplateSpec.
- `Quantity`, `IntOrString`, `Int32`, `Int64` and `Time` carry the formats the CRD needs.
- CRD-only keywords (`x-kubernetes-validations`, `x-kubernetes-list-type`, `pattern`, ...) go
  in `Field(json_schema_extra={...})` on a field or `ConfigDict(json_schema_extra={...})` on a
  model; `ge`/`le`/`min_length`/`max_length` become minimum/maximum/minLength/maxLength (or
  minItems/maxItems on lists).

- `CRDObject` reads its `metadata` dict through `name`, `namespace`, `uid`, `labels` and
  `annotations`; the rules of each kind (KubeRay's `IsAutoscalingEnabled`, ...) are methods and
  properties of its models, each written once, never new fields.

This module does no I/O and knows nothing of any particular kind.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


@dataclass(frozen=True)
class K8s:
    """Marks a dict field holding a Kubernetes API type; `ref` is its OpenAPI definition name."""

    ref: str


@dataclass(frozen=True)
class Format:
    """An OpenAPI `format` for a scalar (int32, int64, date-time)."""

    name: str


@dataclass(frozen=True)
class IntOrStr:
    """`x-kubernetes-int-or-string`; `quantity=True` adds the resource.Quantity pattern."""

    quantity: bool = False


Int32 = Annotated[int, Format("int32")]
Int64 = Annotated[int, Format("int64")]
Time = Annotated[datetime, Format("date-time")]
Quantity = Annotated[int | str, IntOrStr(quantity=True)]
IntOrString = Annotated[int | str, IntOrStr()]

# Kubernetes types that Ray CRDs embed. The names are those of the API server's OpenAPI.
_CORE = "io.k8s.api.core.v1."
PodTemplateSpec = Annotated[dict[str, Any], K8s(_CORE + "PodTemplateSpec")]
Container = Annotated[dict[str, Any], K8s(_CORE + "Container")]
EnvVar = Annotated[dict[str, Any], K8s(_CORE + "EnvVar")]
EnvVarSource = Annotated[dict[str, Any], K8s(_CORE + "EnvVarSource")]
EnvFromSource = Annotated[dict[str, Any], K8s(_CORE + "EnvFromSource")]
VolumeMount = Annotated[dict[str, Any], K8s(_CORE + "VolumeMount")]
ResourceRequirements = Annotated[dict[str, Any], K8s(_CORE + "ResourceRequirements")]
SecurityContext = Annotated[dict[str, Any], K8s(_CORE + "SecurityContext")]
Service = Annotated[dict[str, Any], K8s(_CORE + "Service")]
LocalObjectReference = Annotated[dict[str, Any], K8s(_CORE + "LocalObjectReference")]
ObjectReference = Annotated[dict[str, Any], K8s(_CORE + "ObjectReference")]
IngressTLS = Annotated[dict[str, Any], K8s("io.k8s.api.networking.v1.IngressTLS")]
NetworkPolicyIngressRule = Annotated[dict[str, Any], K8s("io.k8s.api.networking.v1.NetworkPolicyIngressRule")]
NetworkPolicyEgressRule = Annotated[dict[str, Any], K8s("io.k8s.api.networking.v1.NetworkPolicyEgressRule")]
Condition = Annotated[dict[str, Any], K8s("io.k8s.apimachinery.pkg.apis.meta.v1.Condition")]
ObjectMeta = dict[str, Any]  # root metadata: the API server owns its schema; never in a CRD schema


class CRDModel(BaseModel):
    """Base for every spec/status model: camelCase aliases, unknown fields kept."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="allow",
        validate_default=False,
        ser_json_timedelta="float",
    )

    def to_wire(self) -> dict[str, Any]:
        """The JSON-ready dict as the API server would hold it: camelCase, unset fields omitted."""
        return self.model_dump(mode="json", by_alias=True, exclude_unset=True, exclude_none=True)


@dataclass(frozen=True)
class PrinterColumn:
    name: str
    type: str
    json_path: str
    priority: int = 0
    format: str | None = None
    description: str | None = None


@dataclass(frozen=True)
class CRDInfo:
    """Everything about a kind that is not its schema: names, versions, columns."""

    group: str
    version: str
    kind: str
    plural: str
    singular: str
    categories: tuple[str, ...] = ("all",)
    short_names: tuple[str, ...] = ()
    printer_columns: tuple[PrinterColumn, ...] = ()

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}"

    @property
    def crd_name(self) -> str:
        return f"{self.plural}.{self.group}"


class CRDObject(CRDModel):
    """A whole custom resource: apiVersion, kind, metadata, spec, status. Subclasses set `info`."""

    info: ClassVar[CRDInfo]
    api_version: str | None = None
    kind: str | None = None
    metadata: ObjectMeta = {}

    @classmethod
    def from_wire(cls, obj: dict[str, Any]) -> Any:
        return cls.model_validate(obj)

    # Readers of `metadata` (a plain dict, the API server's own schema); missing reads as empty,
    # as `raybus_common.objects` reads any other object's metadata.
    @property
    def name(self) -> str:
        return str(self.metadata.get("name") or "")

    @property
    def namespace(self) -> str:
        return str(self.metadata.get("namespace") or "")

    @property
    def uid(self) -> str:
        return str(self.metadata.get("uid") or "")

    @property
    def labels(self) -> dict[str, str]:
        found: dict[str, str] = self.metadata.get("labels") or {}
        return found

    @property
    def annotations(self) -> dict[str, str]:
        found: dict[str, str] = self.metadata.get("annotations") or {}
        return found
