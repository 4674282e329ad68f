"""Validation of a RayCluster, the entry: `check(raw)` parses the observed object into the typed
model once and returns it with every `Problem` found; `validate(cluster)` runs KubeRay's rules
over an already typed model: `spec_rules` (every rule but the status's, a function of the spec, the
name, labels and annotations, which `memo` keeps per cluster) then `status_rules`.

Order: first what the API server would have rejected (`schema`, over the raw object; then whatever
kept it from parsing), then KubeRay's own checks in KubeRay's order (`ValidateRayClusterMetadata`,
`ValidateRayClusterSpec`, `ValidateRayClusterUpgradeOptions`, `ValidateRayClusterStatus`). KubeRay
stops at the first error; Raybus reports them all, so for an object the API server accepted,
`problems[0]` is what KubeRay would report. An object that does not parse gets its schema and
parse problems only: KubeRay's rules need the model.

Not checked: PodTemplateSpec schema (the API server's job), the runtime check that cert-manager
exists for TLS, and KubeRay's non-fatal v1-autoscaler restartPolicy warning event. Pure: feature
gates are a parameter (KubeRay v1.7's defaults when not given).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from raybus_common.controller.config import FEATURE_GATES
from raybus_common.crds.raycluster import RayCluster

from .features import (
    auth_rules,
    autoscaling_rules,
    gcs_ft_rules,
    history_rules,
    network_policy_rules,
    tls_rules,
)
from .problems import Problem, Problems
from .schema import parse_problems, schema_problems
from .spec import group_rules, metadata_rules, status_rules, upgrade_rules


@dataclass(frozen=True)
class Checked:
    """The typed cluster (None when the object does not parse) and every problem found."""

    cluster: RayCluster | None
    problems: tuple[Problem, ...]


def check(raw: Mapping[str, Any], *, gates: Mapping[str, bool] | None = None) -> Checked:
    """Parse `raw` (a RayCluster as JSON) and validate it; never raises."""
    problems = schema_problems(raw)
    try:
        cluster = RayCluster.model_validate(raw)
    except ValidationError as e:
        return Checked(None, (*problems, *parse_problems(e, problems)))
    return Checked(cluster, (*problems, *validate(cluster, gates=gates)))


def validate(cluster: RayCluster, *, gates: Mapping[str, bool] | None = None) -> Problems:
    """KubeRay's rules over the typed cluster, in KubeRay's order; [] when valid."""
    return [*spec_rules(cluster, gates=gates), *status_rules(cluster)]


def spec_rules(cluster: RayCluster, *, gates: Mapping[str, bool] | None = None) -> Problems:
    """Every rule but `status_rules` (KubeRay's last), in KubeRay's order: they read the spec and
    the cluster's name, labels and annotations, nothing else."""
    g = {**FEATURE_GATES, **(gates or {})}
    spec = cluster.spec
    return [*metadata_rules(cluster), *group_rules(spec), *gcs_ft_rules(cluster, g), *autoscaling_rules(spec, g),
            *history_rules(spec, g), *auth_rules(spec), *network_policy_rules(spec, g), *tls_rules(spec, g),
            *upgrade_rules(cluster)]
