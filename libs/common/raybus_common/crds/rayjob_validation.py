"""Validation of a RayJob, as KubeRay v1.7's controller does it (`utils/validation.go`): `parse`
turns the observed object into the typed model (or says which fields would not parse), and
`validate` runs `ValidateRayJobMetadata`, `ValidateRayJobSpec` and `ValidateRayJobStatus` in that
order; the first failure wins, as in KubeRay, and becomes ValidationFailed with an Event.

A message names the field first and then says what is wrong in KubeRay's words
(`spec.ttlSecondsAfterFinished: The RayJob spec is invalid: TTLSecondsAfterFinished must be a
non-negative integer`); the deletion rules report every problem at once, as KubeRay's
`errors.Join` does, one `field: text` each, joined by "; ".

The embedded `rayClusterSpec` is checked here only for what concerns the RayJob: the Kubernetes
token auth mode (`authOptions.enableK8sTokenAuth`), which RayJob does not support, and the head
pod's `restartPolicy` in SidecarMode. KubeRay also runs the whole `ValidateRayClusterSpec` on
it; in Raybus that stays with cluster-ctl (services never import each other), which validates
the RayCluster the RayJob creates and reports its problems on that RayCluster, so a RayJob
with an invalid cluster spec waits in Initializing (until a deadline, if it has one) instead of
turning ValidationFailed.

job-ctl runs all of it on every RayJob; cron runs `validate_spec` on a RayCronJob's
`jobTemplate`, as KubeRay's `ValidateRayCronJobSpec` runs `ValidateRayJobSpec`. Pure: feature
gates are a parameter (KubeRay v1.7's defaults for any gate not given).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import ValidationError

from .. import gotext
from ..controller.config import FEATURE_GATES
from .rayjob import (
    CLUSTER_LABEL,
    MAX_RAYJOB_NAME_LENGTH,
    DeletionPolicyType,
    DeletionRule,
    DeletionStrategy,
    JobDeploymentStatus,
    JobSubmissionMode,
    RayJob,
)

Reason = Literal["InvalidRayJobMetadata", "InvalidRayJobSpec", "InvalidRayJobStatus"]
METADATA: Reason = "InvalidRayJobMetadata"
SPEC: Reason = "InvalidRayJobSpec"
STATUS: Reason = "InvalidRayJobStatus"

_SPEC_INVALID = "The RayJob spec is invalid: "
_STRATEGY = "spec.deletionStrategy"
_RULES = _STRATEGY + ".deletionRules"
_BY_IMPACT = (DeletionPolicyType.DELETE_WORKERS, DeletionPolicyType.DELETE_CLUSTER, DeletionPolicyType.DELETE_SELF)


@dataclass(frozen=True)
class Invalid:
    """Why a RayJob is invalid: the Event's reason and the status message (`field: text`)."""

    reason: Reason
    message: str


def _spec(field: str, text: str) -> Invalid:
    return Invalid(SPEC, f"{field}: {text}")


def parse(raw: Mapping[str, Any]) -> tuple[RayJob | None, Invalid | None]:
    """The typed RayJob, or why it does not parse: every field pydantic refused, named by its
    path. The reason is InvalidRayJobSpec, unless the first refused field is under `metadata`
    (InvalidRayJobMetadata) or `status` (InvalidRayJobStatus). Never raises."""
    try:
        return RayJob.model_validate(dict(raw)), None
    except ValidationError as e:
        root = str(e.errors()[0]["loc"][0]) if e.errors() and e.errors()[0]["loc"] else "spec"
        reason = {"metadata": METADATA, "status": STATUS}.get(root, SPEC)
        return None, Invalid(reason, refused(e))


def refused(e: ValidationError) -> str:
    """Every field pydantic refused, `path: what`, joined by "; " (a custom resource's parse
    failure as a status message or an Event names the fields)."""
    problems: list[str] = []
    for err in e.errors():
        path = _path(err["loc"])
        if err["type"] == "missing":
            problems.append(f"{path}: Required value")
        else:
            shown = repr(err.get("input"))
            shown = shown if len(shown) <= 60 else shown[:57] + "..."
            problems.append(f"{path}: Invalid value: {shown}: {err['msg']}")
    return "; ".join(problems)


def _path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "spec"


def validate(raw: Mapping[str, Any], job: RayJob, *, gates: Mapping[str, bool]) -> Invalid | None:
    """KubeRay's RayJob checks in KubeRay's order; the first failure, or None. `raw` is the
    object as observed: the `rayClusterSpec` part is read from it, as sent."""
    return _metadata(job) or _spec_rules(raw, job, gates) or _status(job)


def validate_spec(raw: Mapping[str, Any], job: RayJob, *, gates: Mapping[str, bool]) -> Invalid | None:
    """`ValidateRayJobSpec` alone: the first failure of the spec's rules, or None."""
    return _spec_rules(raw, job, gates)


def _metadata(job: RayJob) -> Invalid | None:
    name = job.name
    if len(name) > MAX_RAYJOB_NAME_LENGTH:
        return Invalid(METADATA, f"metadata.name: The RayJob metadata is invalid: RayJob name should be no more "
                                 f"than {MAX_RAYJOB_NAME_LENGTH} characters")
    if not gotext.DNS1035_LABEL.fullmatch(name):
        return Invalid(METADATA, "metadata.name: The RayJob metadata is invalid: RayJob name should be a valid "
                                 f"DNS1035 label: {gotext.DNS1035_MESSAGE}")
    return None


def _status(job: RayJob) -> Invalid | None:
    status = job.status.job_deployment_status if job.status else None
    if status == JobDeploymentStatus.WAITING and job.spec.submission_mode != JobSubmissionMode.INTERACTIVE_MODE:
        return Invalid(STATUS, "status.jobDeploymentStatus: The RayJob status is invalid: JobDeploymentStatus "
                               "cannot be `Waiting` when SubmissionMode is not InteractiveMode")
    return None


def _spec_rules(raw: Mapping[str, Any], job: RayJob, gates: Mapping[str, bool]) -> Invalid | None:
    spec = job.spec
    suspend, shutdown = bool(spec.suspend), bool(spec.shutdown_after_job_finishes)
    if suspend and not shutdown:
        return _spec("spec.suspend", _SPEC_INVALID + "a RayJob with shutdownAfterJobFinishes set to false is not "
                                                     "allowed to be suspended")
    if spec.ttl_seconds_after_finished < 0:
        return _spec("spec.ttlSecondsAfterFinished", _SPEC_INVALID + "TTLSecondsAfterFinished must be a "
                                                                     "non-negative integer")
    problem = _deletion(job, gates)
    if problem:
        return problem
    selector = bool(spec.cluster_selector)
    if suspend and selector:
        return _spec("spec.suspend", _SPEC_INVALID + "the ClusterSelector mode doesn't support the suspend operation")
    if spec.ray_cluster_spec is None and not selector:
        return _spec("spec.rayClusterSpec", _SPEC_INVALID + "one of RayClusterSpec or ClusterSelector must be set")
    mode = spec.submission_mode
    if selector:
        if not (spec.cluster_selector or {}).get(CLUSTER_LABEL):
            return _spec(f"spec.clusterSelector[{CLUSTER_LABEL}]", "cluster name in ClusterSelector should not be "
                                                                  "empty")
        if mode == JobSubmissionMode.SIDECAR_MODE:
            return _spec("spec.submissionMode", "ClusterSelector is not supported in SidecarMode")
        if spec.backoff_limit > 0:
            return _spec("spec.backoffLimit", _SPEC_INVALID + "BackoffLimit is incompatible with ClusterSelector "
                                                              "mode")
    if mode == JobSubmissionMode.INTERACTIVE_MODE and spec.backoff_limit > 0:
        return _spec("spec.backoffLimit", _SPEC_INVALID + "BackoffLimit is incompatible with InteractiveMode")
    cluster_spec = _mapping(_mapping(raw.get("spec")).get("rayClusterSpec"))
    if mode == JobSubmissionMode.SIDECAR_MODE:
        if spec.submitter_pod_template is not None:
            return _spec("spec.submitterPodTemplate", "Currently, SidecarMode doesn't support SubmitterPodTemplate")
        if spec.submitter_config is not None:
            return _spec("spec.submitterConfig", "Currently, SidecarMode doesn't support SubmitterConfig")
        head_pod = _mapping(_mapping(_mapping(cluster_spec.get("headGroupSpec")).get("template")).get("spec"))
        if head_pod.get("restartPolicy") not in (None, "", "Never"):
            return _spec("spec.rayClusterSpec.headGroupSpec.template.spec.restartPolicy",
                         "restartPolicy for head Pod should be Never or unset when using SidecarMode")
    if spec.ray_cluster_spec is not None:
        auth = spec.ray_cluster_spec.auth_options
        if auth is not None and auth.enable_k8s_token_auth:
            return _spec("spec.rayClusterSpec.authOptions.enableK8sTokenAuth",
                         _SPEC_INVALID + "K8s token auth mode is currently not supported for RayJob")
    try:
        load_runtime_env(spec.runtime_env_yaml or "")
    except ValueError as e:
        return _spec("spec.runtimeEnvYAML", str(e))
    if spec.active_deadline_seconds is not None and spec.active_deadline_seconds <= 0:
        return _spec("spec.activeDeadlineSeconds", _SPEC_INVALID + "activeDeadlineSeconds must be a positive integer")
    if spec.pre_running_deadline_seconds is not None and spec.pre_running_deadline_seconds <= 0:
        return _spec("spec.preRunningDeadlineSeconds",
                     _SPEC_INVALID + "preRunningDeadlineSeconds must be a positive integer")
    if spec.backoff_limit < 0:
        return _spec("spec.backoffLimit", _SPEC_INVALID + "backoffLimit must be a positive integer")
    return None


# --- deletion: validateDeletionConfiguration and what it calls ---------------------------------
def _deletion(job: RayJob, gates: Mapping[str, bool]) -> Invalid | None:
    spec = job.spec
    shutdown = bool(spec.shutdown_after_job_finishes)
    if not shutdown and spec.ttl_seconds_after_finished > 0:
        return _spec("spec.ttlSecondsAfterFinished", _SPEC_INVALID + "a RayJob with shutdownAfterJobFinishes set to "
                                                                     "false cannot have TTLSecondsAfterFinished")
    strategy = spec.deletion_strategy
    if strategy is None:
        return None
    if not gates.get("RayJobDeletionPolicy", FEATURE_GATES["RayJobDeletionPolicy"]):
        return _spec(_STRATEGY, "RayJobDeletionPolicy feature gate must be enabled to use DeletionStrategy")
    legacy = strategy.on_success is not None or strategy.on_failure is not None
    rules = bool(strategy.deletion_rules)
    if rules and shutdown:
        return _spec(_RULES, _SPEC_INVALID + "spec.shutdownAfterJobFinishes and spec.deletionStrategy.deletionRules "
                                             "are mutually exclusive")
    if rules and legacy:
        return _spec(_STRATEGY, _SPEC_INVALID + "Cannot use both legacy onSuccess/onFailure fields and deletionRules "
                                                "simultaneously")
    if legacy:
        return _legacy(job, strategy)
    if rules:
        return _rules(job, strategy.deletion_rules or [])
    return _spec(_STRATEGY, _SPEC_INVALID + "DeletionStrategy requires either BOTH onSuccess and onFailure, OR the "
                                            "deletionRules field (cannot be empty)")


def _legacy(job: RayJob, strategy: DeletionStrategy) -> Invalid | None:
    on_success, on_failure = strategy.on_success, strategy.on_failure
    if on_success is None or on_failure is None:
        missing = "onSuccess" if on_success is None else "onFailure"
        return _spec(f"{_STRATEGY}.{missing}", "both DeletionStrategy.OnSuccess and DeletionStrategy.OnFailure must "
                                               "be set when using the legacy deletion policy fields of "
                                               "DeletionStrategy")
    for key, name, policy in (("onSuccess", "OnSuccess", on_success.policy), ("onFailure", "OnFailure",
                                                                              on_failure.policy)):
        if policy is None:
            return _spec(f"{_STRATEGY}.{key}.policy", f"the DeletionPolicyType field of DeletionStrategy.{name} "
                                                      "cannot be unset when DeletionStrategy is enabled")
    success, failure = on_success.policy, on_failure.policy
    assert success is not None and failure is not None  # checked just above
    destructive = (DeletionPolicyType.DELETE_CLUSTER, DeletionPolicyType.DELETE_WORKERS)
    if job.spec.cluster_selector:
        for key, policy, when in (("onSuccess", success, "success"), ("onFailure", failure, "failure")):
            if policy in destructive:
                return _spec(f"{_STRATEGY}.{key}.policy", f"the ClusterSelector mode doesn't support "
                                                          f"DeletionStrategy={policy} on {when}")
    workers = DeletionPolicyType.DELETE_WORKERS
    if workers in (success, failure) and _autoscaling(job):
        key = "onSuccess" if success == workers else "onFailure"
        return _spec(f"{_STRATEGY}.{key}.policy", "DeletionStrategy=DeleteWorkers currently does not support "
                                                  "RayCluster with autoscaling enabled")
    if job.spec.shutdown_after_job_finishes and DeletionPolicyType.DELETE_NONE in (success, failure):
        return _spec("spec.shutdownAfterJobFinishes", _SPEC_INVALID + "shutdownAfterJobFinshes is set to 'true' "
                                                                      "while deletion policy is 'DeleteNone'")
    return None


def _rules(job: RayJob, rules: list[DeletionRule]) -> Invalid | None:
    """Every problem of the rules (KubeRay joins them): each rule's own, then the TTL order of
    each condition value (job statuses first, each in the order its first rule came)."""
    problems: list[str] = []
    groups: dict[tuple[str, str], dict[DeletionPolicyType, int]] = {}
    selector = bool(job.spec.cluster_selector)
    for i, rule in enumerate(rules):
        path, cond = f"{_RULES}[{i}]", rule.condition
        if cond.job_status is not None and cond.job_deployment_status is not None:
            problems.append(f"{path}.condition: cannot set both JobStatus and JobDeploymentStatus at the same time")
            continue
        if cond.job_status is None and cond.job_deployment_status is None:
            problems.append(f"{path}.condition: exactly one of JobStatus and JobDeploymentStatus must be set")
            continue
        if cond.ttl_seconds < 0:
            problems.append(f"{path}.condition.ttlSeconds: TTLSeconds must be non-negative")
            continue
        if selector and rule.policy in (DeletionPolicyType.DELETE_CLUSTER, DeletionPolicyType.DELETE_WORKERS):
            problems.append(f"{path}.policy: DeletionPolicyType '{rule.policy}' not supported when ClusterSelector "
                            "is set")
            continue
        if _autoscaling(job) and rule.policy == DeletionPolicyType.DELETE_WORKERS:
            problems.append(f"{path}.policy: DeletionPolicyType 'DeleteWorkers' not supported with autoscaling "
                            "enabled")
            continue
        kind, value = (("JobStatus", str(cond.job_status)) if cond.job_status is not None
                       else ("JobDeploymentStatus", str(cond.job_deployment_status)))
        group = groups.setdefault((kind, value), {})
        if rule.policy in group:
            problems.append(f"{path}: duplicate rule for DeletionPolicyType '{rule.policy}' and {kind} '{value}'")
            continue
        group[rule.policy] = cond.ttl_seconds
    for (kind, value), ttls in sorted(groups.items(), key=lambda item: item[0][0] != "JobStatus"):
        previous: tuple[DeletionPolicyType, int] | None = None
        for policy in _BY_IMPACT:
            if policy not in ttls:
                continue
            if previous is not None and ttls[policy] < previous[1]:
                problems.append(f"{_RULES}: for {kind} '{value}': {policy} TTL ({ttls[policy]}) must be >= "
                                f"{previous[0]} TTL ({previous[1]})")
            previous = (policy, ttls[policy])
    return Invalid(SPEC, "; ".join(problems)) if problems else None


def _autoscaling(job: RayJob) -> bool:
    """KubeRay `IsAutoscalingEnabled(spec.rayClusterSpec)`: false without a cluster spec."""
    return job.spec.ray_cluster_spec is not None and job.spec.ray_cluster_spec.autoscaling_enabled


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def load_runtime_env(text: str) -> dict[str, Any] | None:
    """`runtimeEnvYAML` as KubeRay reads it (sigs.k8s.io/yaml into a map): a mapping, or None
    when empty or null; ValueError with KubeRay's message when it is not YAML or not a mapping."""
    if not text:
        return None
    try:
        value = gotext.yaml_value(text)
    except ValueError as e:
        raise ValueError(f"failed to unmarshal RuntimeEnvYAML: {text}: error converting YAML to JSON: {e}") from None
    if value is not None and not isinstance(value, dict):
        kind = {list: "array", str: "string", bool: "bool"}.get(type(value), "number")
        raise ValueError(f"failed to unmarshal RuntimeEnvYAML: {text}: error unmarshaling JSON: while decoding "
                         f"JSON: json: cannot unmarshal {kind} into Go value of type types.RuntimeEnvType")
    return value
