"""Validation of a RayService, as KubeRay v1.7's controller does it (`utils/validation.go`:
`ValidateRayServiceMetadata`, `ValidateRayServiceSpec`, `ValidateClusterUpgradeOptions`): the first
failure wins, as in KubeRay, and becomes Ready False/ValidationFailed with a Warning Event
(`InvalidRayServiceMetadata` or `InvalidRayServiceSpec`, action Validate), and no requeue.

A message names the field first and then says what is wrong in KubeRay's words
(`spec.upgradeStrategy.type: The RayService spec is invalid: Spec.UpgradeStrategy.Type value X is
invalid, valid options are …`).

| field | rule |
|---|---|
| `metadata.name` | at most 47 characters; a DNS-1035 label |
| `metadata.annotations[ray.io/initializing-timeout]` | a Go duration or integer seconds, > 0 |
| `spec.rayClusterConfig.authOptions.enableK8sTokenAuth` | not true |
| `spec.rayClusterConfig.headGroupSpec.headService.metadata.name` | not set |
| `spec.upgradeStrategy.type` | NewClusterWithIncrementalUpgrade, NewCluster or None |
| `spec.rayClusterConfig.enableInTreeAutoscaling` | true, under the incremental strategy (gate on) |
| `spec.upgradeStrategy.clusterUpgradeOptions` | set, maxSurgePercent and stepSizePercent in 0..100, step ≤ maxSurge, intervalSeconds > 0, gatewayClassName not empty (incremental strategy) |

A negative `rayClusterDeletionDelaySeconds`, and options left out where the CRD requires them,
are refused when the RayService is parsed (the model's bounds), before these rules run.

The embedded `rayClusterConfig` is checked here only for what concerns the RayService. KubeRay
also runs the whole `ValidateRayClusterSpec` on it; in Raybus that stays with cluster-ctl
(services never import each other), which validates the RayCluster the RayService creates and
reports its problems on that RayCluster, so a RayService with an invalid cluster spec waits
(Initializing, until its `ray.io/initializing-timeout` if it has one) instead of turning
ValidationFailed. Pure: the feature gate is a parameter.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from raybus_common import gotext
from raybus_common.crds.rayservice import RayService, RayServiceUpgradeType

from .conditions import read_timeout
from .constants import INITIALIZING_TIMEOUT_ANNOTATION, MAX_RAYSERVICE_NAME_LENGTH
from .upgrade import incremental_enabled

Reason = Literal["InvalidRayServiceMetadata", "InvalidRayServiceSpec"]
METADATA: Reason = "InvalidRayServiceMetadata"
SPEC: Reason = "InvalidRayServiceSpec"

_META_INVALID = "The RayService metadata is invalid: "
_SPEC_INVALID = "The RayService spec is invalid: "
_OPTIONS = "spec.upgradeStrategy.clusterUpgradeOptions"
_TYPES = (RayServiceUpgradeType.NEW_CLUSTER_WITH_INCREMENTAL_UPGRADE, RayServiceUpgradeType.NEW_CLUSTER,
          RayServiceUpgradeType.NONE)


@dataclass(frozen=True)
class Invalid:
    """Why a RayService is invalid: the Event's reason and the status message (`field: text`)."""

    reason: Reason
    message: str


def validate(raw: Mapping[str, Any], rs: RayService, *, incremental_gate: bool) -> Invalid | None:
    """KubeRay's `validateRayService`: metadata, then spec; the first failure, or None. `raw` is
    the object as observed (the cluster config's custom head Service is read from it, as sent)."""
    return validate_metadata(rs) or validate_spec(raw, rs, incremental_gate=incremental_gate)


def validate_metadata(rs: RayService) -> Invalid | None:
    """`ValidateRayServiceMetadata`."""
    name = rs.name
    if len(name) > MAX_RAYSERVICE_NAME_LENGTH:
        return Invalid(METADATA, f"metadata.name: {_META_INVALID}RayService name should be no more than "
                                 f"{MAX_RAYSERVICE_NAME_LENGTH} characters")
    if not gotext.DNS1035_LABEL.fullmatch(name):
        return Invalid(METADATA, f"metadata.name: {_META_INVALID}RayService name should be a valid DNS1035 label: "
                                 f"{gotext.DNS1035_MESSAGE}")
    problem = initializing_timeout_problem(rs.annotations.get(INITIALIZING_TIMEOUT_ANNOTATION, ""))
    if problem:
        return Invalid(METADATA, f"metadata.annotations[{INITIALIZING_TIMEOUT_ANNOTATION}]: {_META_INVALID}"
                                 f"RayService annotations is invalid: {problem}")
    return None


def initializing_timeout_problem(text: str) -> str | None:
    """KubeRay `validateInitializingTimeout`: what is wrong with the annotation's value, None when
    it is fine or empty."""
    if not text:
        return None
    try:
        seconds: float | None = gotext.parse_duration(text)
        kind = "duration"
    except ValueError:
        seconds, kind = read_timeout(text), "integer (seconds)"
    if seconds is None:
        return (f"annotation {INITIALIZING_TIMEOUT_ANNOTATION} has invalid format: {text}. Expected Go duration "
                "format (e.g., '5m', '1h') or positive integer seconds")
    if seconds <= 0:
        return f"annotation {INITIALIZING_TIMEOUT_ANNOTATION} must be a positive {kind}, got: {text}"
    return None


def validate_spec(raw: Mapping[str, Any], rs: RayService, *, incremental_gate: bool) -> Invalid | None:
    """`ValidateRayServiceSpec`, without `ValidateRayClusterSpec` (see the module's docstring)."""
    spec = rs.spec
    auth = spec.ray_cluster_config.auth_options
    if auth is not None and auth.enable_k8s_token_auth:
        return _spec("spec.rayClusterConfig.authOptions.enableK8sTokenAuth",
                     _SPEC_INVALID + "K8s token auth mode is currently not supported for RayService")
    cluster = (raw.get("spec") or {}).get("rayClusterConfig") or {}
    head_service = (cluster.get("headGroupSpec") or {}).get("headService") or {}
    if (head_service.get("metadata") or {}).get("name"):
        field = "spec.rayClusterConfig.headGroupSpec.headService.metadata.name"
        return _spec(field, f"{_SPEC_INVALID}{field} should not be set")
    kind = spec.upgrade_strategy.type if spec.upgrade_strategy else None
    if kind is not None and kind not in _TYPES:
        return _spec("spec.upgradeStrategy.type", f"{_SPEC_INVALID}Spec.UpgradeStrategy.Type value {kind} is invalid, "
                                                  f"valid options are {', '.join(_TYPES[:2])}, or {_TYPES[2]}")
    if incremental_enabled(rs, gate=incremental_gate):
        return validate_upgrade_options(rs)
    return None


def validate_upgrade_options(rs: RayService) -> Invalid | None:
    """`ValidateClusterUpgradeOptions` (under the incremental strategy)."""
    if not rs.spec.ray_cluster_config.autoscaling_enabled:
        return _spec("spec.rayClusterConfig.enableInTreeAutoscaling",
                     _SPEC_INVALID + "Ray Autoscaler is required for NewClusterWithIncrementalUpgrade")
    options = rs.spec.upgrade_strategy.cluster_upgrade_options if rs.spec.upgrade_strategy else None
    if options is None:
        return _spec(_OPTIONS, _SPEC_INVALID + "ClusterUpgradeOptions are required for NewClusterWithIncrementalUpgrade")
    surge, step = options.max_surge_percent, options.step_size_percent
    if not 0 <= surge <= 100:
        return _spec(f"{_OPTIONS}.maxSurgePercent", _SPEC_INVALID + "maxSurgePercent must be between 0 and 100")
    if not 0 <= step <= 100:
        return _spec(f"{_OPTIONS}.stepSizePercent", _SPEC_INVALID + "stepSizePercent must be between 0 and 100")
    if step > surge:
        return _spec(f"{_OPTIONS}.stepSizePercent",
                     _SPEC_INVALID + "stepSizePercent must be less than or equal to maxSurgePercent")
    if options.interval_seconds <= 0:
        return _spec(f"{_OPTIONS}.intervalSeconds", _SPEC_INVALID + "intervalSeconds must be greater than 0")
    if not options.gateway_class_name:
        return _spec(f"{_OPTIONS}.gatewayClassName",
                     _SPEC_INVALID + "gatewayClassName is required for NewClusterWithIncrementalUpgrade")
    return None


def _spec(field: str, text: str) -> Invalid:
    return Invalid(SPEC, f"{field}: {text}")
