"""A RayCluster's status as KubeRay puts it on the wire, field for field.

KubeRay writes its status with `Status().Update`: the Go struct `RayClusterStatus` marshalled
by encoding/json. So a field tagged `omitempty` is absent when it holds Go's zero value ("",
0, a nil pointer, an empty map or slice), while a field without `omitempty` is always there,
and so is a struct-valued field whatever its tag says (encoding/json never omits a struct):
`desiredCPU`/`Memory`/`GPU`/`TPU` (resource.Quantity, "0" when zero) and `head` (`{}` when
nothing is known). Each `metav1.Condition` has `type`, `status`, `lastTransitionTime`, `reason`
and `message` always (`message` may be ""), `observedGeneration` only when set, which KubeRay
never does. The tables below say this once; `wire_status` applies them to the status
`calculate` builds and `status_changed` compares through them, so what Raybus writes and what
it counts as a change cannot drift apart. KubeRay v1.5.0 and v1.7.0 have the same tags
(`apis/ray/v1/raycluster_types.go`); a unit test checks the tables against that source
whenever it is on disk, and against the status model's fields always.

A field that goes from set to zero must vanish, as it does when KubeRay's Update replaces the
whole object: the actuator writes the status as a whole (a JSON patch `add /status`), so a
field absent here is removed from the stored object. Keys the tables do not name are dropped,
as decoding into the Go struct drops them. Pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Wire:
    """How one field is marshalled: `omitempty` fields are left out when they hold `zero` (or
    are null); the others are always written, as `zero` when unset. `zero` None: no value to
    write (a zero metav1.Time marshals as null, which the API server prunes)."""

    omitempty: bool
    zero: Any = None

    def holds_zero(self, value: Any) -> bool:
        """Null, or this field's zero (of the same type): what an `omitempty` field leaves out."""
        return value is None or (value == self.zero and type(value) is type(self.zero))


_OMIT_STR, _OMIT_INT, _OMIT_MAP, _OMIT_LIST, _OMIT_PTR = (
    Wire(True, ""), Wire(True, 0), Wire(True, {}), Wire(True, []), Wire(True, None))
_QUANTITY = Wire(False, "0")  # resource.Quantity is a struct: omitempty does nothing

# RayClusterStatus. `head` and `conditions` are shaped further below.
STATUS_FIELDS: dict[str, Wire] = {
    "state": _OMIT_STR,
    "desiredCPU": _QUANTITY,
    "desiredMemory": _QUANTITY,
    "desiredGPU": _QUANTITY,
    "desiredTPU": _QUANTITY,
    "lastUpdateTime": _OMIT_PTR,
    "stateTransitionTimes": _OMIT_MAP,
    "endpoints": _OMIT_MAP,
    "head": Wire(False, {}),  # HeadInfo is a struct: always there, `{}` when empty
    "reason": _OMIT_STR,
    "conditions": _OMIT_LIST,
    "readyWorkerReplicas": _OMIT_INT,
    "availableWorkerReplicas": _OMIT_INT,
    "desiredWorkerReplicas": _OMIT_INT,
    "minWorkerReplicas": _OMIT_INT,
    "maxWorkerReplicas": _OMIT_INT,
    "observedGeneration": _OMIT_INT,
}

HEAD_FIELDS: dict[str, Wire] = {
    "podIP": _OMIT_STR,
    "serviceIP": _OMIT_STR,
    "podName": _OMIT_STR,
    "serviceName": _OMIT_STR,
}

# metav1.Condition.
CONDITION_FIELDS: dict[str, Wire] = {
    "type": Wire(False, ""),
    "status": Wire(False, ""),
    "observedGeneration": _OMIT_INT,
    "lastTransitionTime": Wire(False, None),
    "reason": Wire(False, ""),
    "message": Wire(False, ""),
}


def wire_status(status: Mapping[str, Any]) -> dict[str, Any]:
    """`status` as encoding/json would write KubeRay's struct holding the same values."""
    out = _shape(status, STATUS_FIELDS)
    out["head"] = _shape(out["head"] if isinstance(out["head"], Mapping) else {}, HEAD_FIELDS)
    if "conditions" in out:
        out["conditions"] = [_shape(c, CONDITION_FIELDS) for c in out["conditions"] if isinstance(c, Mapping)]
    return out


def _shape(value: Mapping[str, Any], fields: Mapping[str, Wire]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, wire in fields.items():
        got = value.get(name)
        if got is None or (wire.omitempty and wire.holds_zero(got)):
            if wire.omitempty or wire.zero is None:
                continue
            got = wire.zero
        out[name] = got
    return out
