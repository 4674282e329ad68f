"""KubeRay v1.7's core RayCluster rules over the typed model: `ValidateRayClusterMetadata` (the
name), the group rules of `ValidateRayClusterSpec` (containers, resources, labels, replica bounds,
idle timeout, priority), `ValidateRayClusterUpgradeOptions` and `ValidateRayClusterStatus`. Each
returns its `Problem`s in KubeRay's order, with KubeRay's messages. Pure.

Not here: the feature rules (`features`), the schema checks (`schema`), the order (`check`).
"""

from __future__ import annotations

import re

from raybus_common.crds import batch
from raybus_common.crds.raycluster import (
    HeadGroupSpec,
    RayCluster,
    RayClusterConditionType,
    RayClusterSpec,
    WorkerGroupSpec,
)
from raybus_common.gotext import DNS1035_LABEL

from ..constants import AUTOSCALER_V2_ENV
from ..podtemplate import env_text, pod_spec, ray_container
from .problems import HEAD, Problem, Problems, worker_path

MAX_NAME_LENGTH = 53  # utils.MaxRayClusterNameLength
_LABEL = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
DNS1035_MSG = ("a lowercase RFC 1035 label must consist of lower case alphanumeric characters or '-', start "
               "with an alphabetic character, and end with an alphanumeric character")


def autoscaler_v2_or_env(spec: RayClusterSpec) -> bool:
    """Autoscaler v2 as validation sees it: `autoscalerOptions.version` v2, or the head's
    `RAY_enable_autoscaler_v2` env var 1/true (how KubeRay < 1.4 switched it on)."""
    env = ray_container(spec.head_group_spec.template).get("env")
    return spec.autoscaler_v2 or env_text(env, AUTOSCALER_V2_ENV) in ("1", "true")


def metadata_rules(cluster: RayCluster) -> Problems:
    name = cluster.name
    if len(name) > MAX_NAME_LENGTH:
        return [Problem("metadata.name", f"RayCluster name should be no more than {MAX_NAME_LENGTH} characters")]
    if not DNS1035_LABEL.fullmatch(name):
        return [Problem("metadata.name", f"RayCluster name should be a valid DNS1035 label: [{DNS1035_MSG}]")]
    scheduler = batch.scheduler_problem(cluster.labels)  # Raybus's per-object choice: KubeRay has none
    if scheduler is not None:
        return [Problem(f"metadata.labels[{batch.SCHEDULER_LABEL}]", scheduler)]
    return []


def group_rules(spec: RayClusterSpec) -> Problems:
    head = spec.head_group_spec
    out: Problems = []
    if not pod_spec(head.template).get("containers"):
        out.append(Problem(HEAD + ".template.spec.containers", "headGroupSpec should have at least one container"))
    out += _group_common(HEAD, "Head", head)
    for i, w in enumerate(spec.workers):
        path, name = worker_path(i), w.group_name
        if not pod_spec(w.template).get("containers"):
            out.append(Problem(f"{path}.template.spec.containers", "workerGroupSpec should have at least one container"))
        # Go's nil pointers: a bound the user left out (the Python default is the CRD's).
        low = w.min_replicas if "min_replicas" in w.model_fields_set else None
        high = w.max_replicas if "max_replicas" in w.model_fields_set else None
        if not spec.autoscaling_enabled and (low is None or high is None):
            out.append(Problem(f"{path}.{'minReplicas' if low is None else 'maxReplicas'}", f"worker group {name} must "
                               "set both minReplicas and maxReplicas when autoscaling is disabled"))
        if low is not None and low < 0:
            out.append(Problem(f"{path}.minReplicas", f"worker group {name} has negative minReplicas {low}"))
        if high is not None and high < 0:
            out.append(Problem(f"{path}.maxReplicas", f"worker group {name} has negative maxReplicas {high}"))
        if low is not None and high is not None and low > high:
            out.append(Problem(f"{path}.maxReplicas",
                               f"worker group {name} has minReplicas {low} greater than maxReplicas {high}"))
        out += _group_common(path, name, w)
        out += _idle_and_priority(path, w, spec)
    return out


def _group_common(path: str, name: str, group: HeadGroupSpec | WorkerGroupSpec) -> Problems:
    """`validateRayGroupResources` and `validateRayGroupLabels`."""
    out: Problems = []
    params = group.params
    if any(params.get(k) for k in ("num-cpus", "num-gpus", "memory", "resources")) and group.resources:
        out.append(Problem(f"{path}.resources", "resource fields should not be set in both rayStartParams and "
                                                f"Resources for {name} group; please use only one"))
    if "labels" in params:
        out.append(Problem(f"{path}.rayStartParams[labels]", f"rayStartParams['labels'] is not supported for {name} "
                                                             "group; please use the top-level Labels field instead"))
    for key, value in sorted((group.labels or {}).items()):
        if not _qualified_name(key):
            out.append(Problem(f"{path}.labels[{key}]", f"invalid label key for {name} group: '{key}', error: name "
                                                        "part must be a valid label and an optional DNS prefix"))
        if value and not (len(value) <= 63 and _LABEL.fullmatch(value)):
            out.append(Problem(f"{path}.labels[{key}]", f"invalid label value for key '{key}' in {name} group: "
                                                        f"'{value}', error: a valid label must be 63 characters or "
                                                        "less, alphanumeric, '-', '_' or '.'"))
    return out


def _qualified_name(key: str) -> bool:
    prefix, _, name = key.rpartition("/")
    if "/" in key and not (prefix and len(prefix) <= 253 and _SUBDOMAIN.fullmatch(prefix)):
        return False
    return 0 < len(name) <= 63 and bool(_LABEL.fullmatch(name))


def _idle_and_priority(path: str, w: WorkerGroupSpec, spec: RayClusterSpec) -> Problems:
    """`validateWorkerGroupIdleTimeout` and `validateWorkerGroupPriority` (autoscaler v2 only)."""
    name, idle, prio = w.group_name, w.idle_timeout_seconds, w.priority
    if idle is not None and idle < 0:
        return [Problem(f"{path}.idleTimeoutSeconds",
                        f"worker group {name}: idleTimeoutSeconds must be non-negative, got {idle}")]
    if idle is not None and not autoscaler_v2_or_env(spec):
        return [Problem(f"{path}.idleTimeoutSeconds", f"worker group {name}: idleTimeoutSeconds is set, but autoscaler "
                        "v2 is not enabled. Please set .spec.autoscalerOptions.version to 'v2' (or set "
                        "RAY_enable_autoscaler_v2 environment variable to 'true' in the head pod if using KubeRay < 1.4.0)")]
    if not prio:
        return []
    version, parsed = spec.ray_version or "", spec.ray_version_numbers
    base = f"worker group {name}: priority is set"
    if not version:
        msg = f"{base}, but RayVersion was not specified. Ray version 2.56.0 or later is required"
    elif parsed is None:
        msg = f"{base}, but RayVersion format is invalid: {version}"
    elif parsed < (2, 56, 0):
        msg = f"{base}, but minimum Ray version is 2.56.0, got {version}"
    elif not autoscaler_v2_or_env(spec):
        msg = f"{base} to {prio}, but autoscaler v2 is not enabled. Priority is only supported with autoscaler v2 enabled"
    else:
        return []
    return [Problem(f"{path}.priority", msg)]


def upgrade_rules(cluster: RayCluster) -> Problems:
    """`ValidateRayClusterUpgradeOptions`, past the enum (`schema` checks the value)."""
    strategy = cluster.spec.upgrade_strategy
    creator = cluster.creator_crd
    if strategy is None or strategy.type is None or creator == "RayCluster":
        return []
    return [Problem("spec.upgradeStrategy.type", f"upgradeStrategy cannot be set when RayCluster is created by {creator}")]


def status_rules(cluster: RayCluster) -> Problems:
    """`ValidateRayClusterStatus`: Suspending and Suspended must not both be True."""
    if cluster.condition_true(RayClusterConditionType.SUSPENDING) and cluster.condition_true(
            RayClusterConditionType.SUSPENDED):
        return [Problem("status.conditions", "invalid RayCluster State: rayv1.RayClusterSuspending and "
                                             "rayv1.RayClusterSuspended conditions should not be both true")]
    return []
