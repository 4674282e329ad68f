"""job-ctl's RayJob validation: one row per KubeRay v1.7 rule (`ValidateRayJobMetadata`,
`ValidateRayJobSpec`, `ValidateRayJobStatus`), each asserting the Event reason, the field the
message names first, and KubeRay's words after it (checked against KubeRay's own functions for
these specs); then what does not parse, the order, and the feature gate."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from raybus_common.crds.rayjob_validation import Invalid, parse, validate

HEAD = {"template": {"spec": {"containers": [{"name": "ray-head", "image": "rayproject/ray:2.41.0"}]}}}
SELECTOR = {"ray.io/cluster": "c"}
SPEC_INVALID = "The RayJob spec is invalid: "


def cluster_spec(**extra: Any) -> dict[str, Any]:
    return {"rayVersion": "2.41.0", "headGroupSpec": copy.deepcopy(HEAD), **extra}


def rayjob(spec: dict[str, Any] | None = None, *, name: str = "myjob", status: dict[str, Any] | None = None,
           base: bool = True) -> dict[str, Any]:
    full = {"entrypoint": "python a.py", "rayClusterSpec": cluster_spec()} if base else {}
    full.update(spec or {})
    raw: dict[str, Any] = {"apiVersion": "ray.io/v1", "kind": "RayJob",
                           "metadata": {"name": name, "namespace": "ns", "uid": "u"}, "spec": full}
    if status is not None:
        raw["status"] = status
    return raw


def rule(policy: str, job_status: str | None = None, deployment: str | None = None, ttl: int = 0) -> dict[str, Any]:
    condition: dict[str, Any] = {"ttlSeconds": ttl}
    if job_status:
        condition["jobStatus"] = job_status
    if deployment:
        condition["jobDeploymentStatus"] = deployment
    return {"policy": policy, "condition": condition}


def legacy(on_success: str | None, on_failure: str | None) -> dict[str, Any]:
    return {"onSuccess": {"policy": on_success} if on_success else {},
            "onFailure": {"policy": on_failure} if on_failure else {}}


def check(raw: dict[str, Any], gates: dict[str, bool] | None = None) -> Invalid | None:
    job, invalid = parse(raw)
    if invalid is not None:
        return invalid
    assert job is not None
    return validate(raw, job, gates=gates or {})


DNS = ("[a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic "
       "character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for "
       "validation is '[a-z]([-a-z0-9]*[a-z0-9])?')]")
SIDECAR = {"submissionMode": "SidecarMode"}

RULES = [
    # metadata
    pytest.param(rayjob(name="a" * 48), "InvalidRayJobMetadata", "metadata.name",
                 "The RayJob metadata is invalid: RayJob name should be no more than 47 characters", id="name-length"),
    pytest.param(rayjob(name="My_Job"), "InvalidRayJobMetadata", "metadata.name",
                 f"The RayJob metadata is invalid: RayJob name should be a valid DNS1035 label: {DNS}", id="name-dns"),
    # spec, in KubeRay's order
    pytest.param(rayjob({"suspend": True}), "InvalidRayJobSpec", "spec.suspend",
                 SPEC_INVALID + "a RayJob with shutdownAfterJobFinishes set to false is not allowed to be suspended",
                 id="suspend-without-shutdown"),
    pytest.param(rayjob({"ttlSecondsAfterFinished": -1, "shutdownAfterJobFinishes": True}), "InvalidRayJobSpec",
                 "spec.ttlSecondsAfterFinished", SPEC_INVALID + "TTLSecondsAfterFinished must be a non-negative integer",
                 id="ttl-negative"),
    pytest.param(rayjob({"ttlSecondsAfterFinished": 10}), "InvalidRayJobSpec", "spec.ttlSecondsAfterFinished",
                 SPEC_INVALID + "a RayJob with shutdownAfterJobFinishes set to false cannot have "
                                "TTLSecondsAfterFinished", id="ttl-without-shutdown"),
    pytest.param(rayjob({"shutdownAfterJobFinishes": True, "deletionStrategy": {"deletionRules": [
        rule("DeleteCluster", "FAILED")]}}), "InvalidRayJobSpec", "spec.deletionStrategy.deletionRules",
                 SPEC_INVALID + "spec.shutdownAfterJobFinishes and spec.deletionStrategy.deletionRules are mutually "
                                "exclusive", id="rules-with-shutdown"),
    pytest.param(rayjob({"deletionStrategy": {"deletionRules": [rule("DeleteCluster", "FAILED")],
                                              "onSuccess": {"policy": "DeleteCluster"}}}), "InvalidRayJobSpec",
                 "spec.deletionStrategy", SPEC_INVALID + "Cannot use both legacy onSuccess/onFailure fields and "
                                                         "deletionRules simultaneously", id="rules-with-legacy"),
    pytest.param(rayjob({"deletionStrategy": {}}), "InvalidRayJobSpec", "spec.deletionStrategy",
                 SPEC_INVALID + "DeletionStrategy requires either BOTH onSuccess and onFailure, OR the deletionRules "
                                "field (cannot be empty)", id="strategy-empty"),
    pytest.param(rayjob({"deletionStrategy": {"onSuccess": {"policy": "DeleteCluster"}}}), "InvalidRayJobSpec",
                 "spec.deletionStrategy.onFailure", "both DeletionStrategy.OnSuccess and DeletionStrategy.OnFailure "
                 "must be set when using the legacy deletion policy fields of DeletionStrategy", id="legacy-one-side"),
    pytest.param(rayjob({"deletionStrategy": legacy(None, "DeleteCluster")}), "InvalidRayJobSpec",
                 "spec.deletionStrategy.onSuccess.policy", "the DeletionPolicyType field of DeletionStrategy.OnSuccess "
                 "cannot be unset when DeletionStrategy is enabled", id="legacy-no-policy"),
    pytest.param(rayjob({"clusterSelector": SELECTOR, "deletionStrategy": legacy("DeleteCluster", "DeleteSelf")},
                        base=False), "InvalidRayJobSpec", "spec.deletionStrategy.onSuccess.policy",
                 "the ClusterSelector mode doesn't support DeletionStrategy=DeleteCluster on success",
                 id="legacy-selector-success"),
    pytest.param(rayjob({"clusterSelector": SELECTOR, "deletionStrategy": legacy("DeleteSelf", "DeleteWorkers")},
                        base=False), "InvalidRayJobSpec", "spec.deletionStrategy.onFailure.policy",
                 "the ClusterSelector mode doesn't support DeletionStrategy=DeleteWorkers on failure",
                 id="legacy-selector-failure"),
    pytest.param(rayjob({"rayClusterSpec": cluster_spec(enableInTreeAutoscaling=True),
                         "deletionStrategy": legacy("DeleteSelf", "DeleteWorkers")}), "InvalidRayJobSpec",
                 "spec.deletionStrategy.onFailure.policy", "DeletionStrategy=DeleteWorkers currently does not support "
                 "RayCluster with autoscaling enabled", id="legacy-workers-autoscaling"),
    pytest.param(rayjob({"shutdownAfterJobFinishes": True, "deletionStrategy": legacy("DeleteNone", "DeleteCluster")}),
                 "InvalidRayJobSpec", "spec.shutdownAfterJobFinishes",
                 SPEC_INVALID + "shutdownAfterJobFinshes is set to 'true' while deletion policy is 'DeleteNone'",
                 id="legacy-none-with-shutdown"),
    pytest.param(rayjob({"deletionStrategy": {"deletionRules": [rule("DeleteCluster", "FAILED", "Failed")]}}),
                 "InvalidRayJobSpec", "spec.deletionStrategy.deletionRules[0].condition",
                 "cannot set both JobStatus and JobDeploymentStatus at the same time", id="rule-both-conditions"),
    pytest.param(rayjob({"deletionStrategy": {"deletionRules": [rule("DeleteCluster")]}}), "InvalidRayJobSpec",
                 "spec.deletionStrategy.deletionRules[0].condition",
                 "exactly one of JobStatus and JobDeploymentStatus must be set", id="rule-no-condition"),
    pytest.param(rayjob({"clusterSelector": SELECTOR, "deletionStrategy": {"deletionRules": [
        rule("DeleteSelf", "FAILED"), rule("DeleteWorkers", "FAILED")]}}, base=False), "InvalidRayJobSpec",
                 "spec.deletionStrategy.deletionRules[1].policy",
                 "DeletionPolicyType 'DeleteWorkers' not supported when ClusterSelector is set", id="rule-selector"),
    pytest.param(rayjob({"rayClusterSpec": cluster_spec(enableInTreeAutoscaling=True), "deletionStrategy": {
        "deletionRules": [rule("DeleteWorkers", "SUCCEEDED")]}}), "InvalidRayJobSpec",
                 "spec.deletionStrategy.deletionRules[0].policy",
                 "DeletionPolicyType 'DeleteWorkers' not supported with autoscaling enabled", id="rule-autoscaling"),
    pytest.param(rayjob({"deletionStrategy": {"deletionRules": [rule("DeleteSelf", deployment="Failed"),
                                                                 rule("DeleteSelf", deployment="Failed", ttl=5)]}}),
                 "InvalidRayJobSpec", "spec.deletionStrategy.deletionRules[1]",
                 "duplicate rule for DeletionPolicyType 'DeleteSelf' and JobDeploymentStatus 'Failed'",
                 id="rule-duplicate"),
    pytest.param(rayjob({"deletionStrategy": {"deletionRules": [rule("DeleteWorkers", "FAILED", ttl=30),
                                                                 rule("DeleteCluster", "FAILED", ttl=10)]}}),
                 "InvalidRayJobSpec", "spec.deletionStrategy.deletionRules",
                 "for JobStatus 'FAILED': DeleteCluster TTL (10) must be >= DeleteWorkers TTL (30)", id="rule-ttl-order"),
    pytest.param(rayjob({"clusterSelector": SELECTOR, "suspend": True, "shutdownAfterJobFinishes": True}, base=False),
                 "InvalidRayJobSpec", "spec.suspend",
                 SPEC_INVALID + "the ClusterSelector mode doesn't support the suspend operation", id="suspend-selector"),
    pytest.param(rayjob({"entrypoint": "x"}, base=False), "InvalidRayJobSpec", "spec.rayClusterSpec",
                 SPEC_INVALID + "one of RayClusterSpec or ClusterSelector must be set", id="no-cluster"),
    pytest.param(rayjob({"clusterSelector": {"other": "x"}}, base=False), "InvalidRayJobSpec",
                 "spec.clusterSelector[ray.io/cluster]", "cluster name in ClusterSelector should not be empty",
                 id="selector-without-cluster"),
    pytest.param(rayjob({"clusterSelector": SELECTOR, **SIDECAR}, base=False), "InvalidRayJobSpec",
                 "spec.submissionMode", "ClusterSelector is not supported in SidecarMode", id="selector-sidecar"),
    pytest.param(rayjob({"clusterSelector": SELECTOR, "backoffLimit": 1}, base=False), "InvalidRayJobSpec",
                 "spec.backoffLimit", SPEC_INVALID + "BackoffLimit is incompatible with ClusterSelector mode",
                 id="selector-backoff"),
    pytest.param(rayjob({"submissionMode": "InteractiveMode", "backoffLimit": 2}), "InvalidRayJobSpec",
                 "spec.backoffLimit", SPEC_INVALID + "BackoffLimit is incompatible with InteractiveMode",
                 id="interactive-backoff"),
    pytest.param(rayjob({**SIDECAR, "submitterPodTemplate": {"spec": {"containers": [{"name": "s", "image": "i"}]}}}),
                 "InvalidRayJobSpec", "spec.submitterPodTemplate",
                 "Currently, SidecarMode doesn't support SubmitterPodTemplate", id="sidecar-pod-template"),
    pytest.param(rayjob({**SIDECAR, "submitterConfig": {"backoffLimit": 1}}), "InvalidRayJobSpec",
                 "spec.submitterConfig", "Currently, SidecarMode doesn't support SubmitterConfig", id="sidecar-config"),
    pytest.param(rayjob({**SIDECAR, "rayClusterSpec": cluster_spec(headGroupSpec={"template": {"spec": {
        "restartPolicy": "Always", "containers": [{"name": "h", "image": "i"}]}}})}), "InvalidRayJobSpec",
                 "spec.rayClusterSpec.headGroupSpec.template.spec.restartPolicy",
                 "restartPolicy for head Pod should be Never or unset when using SidecarMode", id="sidecar-restart"),
    pytest.param(rayjob({"rayClusterSpec": cluster_spec(authOptions={"mode": "token", "enableK8sTokenAuth": True})}),
                 "InvalidRayJobSpec", "spec.rayClusterSpec.authOptions.enableK8sTokenAuth",
                 SPEC_INVALID + "K8s token auth mode is currently not supported for RayJob", id="k8s-token-auth"),
    pytest.param(rayjob({"runtimeEnvYAML": "- a\n- b"}), "InvalidRayJobSpec", "spec.runtimeEnvYAML",
                 "failed to unmarshal RuntimeEnvYAML: - a\n- b: error unmarshaling JSON: while decoding JSON: json: "
                 "cannot unmarshal array into Go value of type types.RuntimeEnvType", id="runtime-env-not-a-mapping"),
    pytest.param(rayjob({"runtimeEnvYAML": "a: [unclosed"}), "InvalidRayJobSpec", "spec.runtimeEnvYAML",
                 "failed to unmarshal RuntimeEnvYAML: a: [unclosed: error converting YAML to JSON: yaml: line 1: ",
                 id="runtime-env-not-yaml"),
    pytest.param(rayjob({"activeDeadlineSeconds": 0}), "InvalidRayJobSpec", "spec.activeDeadlineSeconds",
                 SPEC_INVALID + "activeDeadlineSeconds must be a positive integer", id="active-deadline"),
    pytest.param(rayjob({"backoffLimit": -1}), "InvalidRayJobSpec", "spec.backoffLimit",
                 SPEC_INVALID + "backoffLimit must be a positive integer", id="backoff-negative"),
    # status
    pytest.param(rayjob(status={"jobDeploymentStatus": "Waiting"}), "InvalidRayJobStatus",
                 "status.jobDeploymentStatus", "The RayJob status is invalid: JobDeploymentStatus cannot be `Waiting` "
                 "when SubmissionMode is not InteractiveMode", id="waiting-not-interactive"),
]


@pytest.mark.parametrize(("raw", "reason", "field", "text"), RULES)
def test_every_rule(raw: dict[str, Any], reason: str, field: str, text: str) -> None:
    invalid = check(raw)
    assert invalid is not None
    assert invalid.reason == reason
    assert invalid.message.startswith(f"{field}: {text}")


@pytest.mark.parametrize("raw", [
    pytest.param(rayjob(), id="plain"),
    pytest.param(rayjob({"clusterSelector": SELECTOR}, base=False), id="selector"),
    pytest.param(rayjob({"submissionMode": "InteractiveMode"}, status={"jobDeploymentStatus": "Waiting"}),
                 id="interactive-waiting"),
    pytest.param(rayjob({**SIDECAR, "rayClusterSpec": cluster_spec(headGroupSpec={"template": {"spec": {
        "restartPolicy": "Never", "containers": [{"name": "h", "image": "i"}]}}})}), id="sidecar-never"),
    pytest.param(rayjob({"deletionStrategy": legacy("DeleteCluster", "DeleteSelf")}), id="legacy"),
    pytest.param(rayjob({"deletionStrategy": {"deletionRules": [rule("DeleteWorkers", "FAILED", ttl=5),
                                                                 rule("DeleteCluster", "FAILED", ttl=5),
                                                                 rule("DeleteSelf", "FAILED", ttl=9),
                                                                 rule("DeleteSelf", deployment="Failed")]}}),
                 id="rules"),
    pytest.param(rayjob({"suspend": True, "shutdownAfterJobFinishes": True, "ttlSecondsAfterFinished": 10}),
                 id="suspended-with-shutdown"),
    pytest.param(rayjob({"rayClusterSpec": cluster_spec(authOptions={"mode": "token"})}), id="token-auth"),
    pytest.param(rayjob({"runtimeEnvYAML": "~"}), id="runtime-env-null"),
    pytest.param(rayjob({"rayClusterSpec": cluster_spec(futureField={"a": 1})}), id="unknown-cluster-field"),
    pytest.param(rayjob({"rayClusterSpec": cluster_spec(workerGroupSpecs=[{"groupName": "g", "minReplicas": 5,
                                                                           "maxReplicas": 1, "template": HEAD["template"]}])}),
                 id="cluster-spec-problems-are-cluster-ctls"),
])
def test_valid(raw: dict[str, Any]) -> None:
    assert check(raw) is None


def test_every_rule_problem_is_reported_at_once() -> None:
    invalid = check(rayjob({"deletionStrategy": {"deletionRules": [
        rule("DeleteCluster", "FAILED", "Failed"), rule("DeleteSelf", deployment="Failed", ttl=1),
        rule("DeleteCluster", deployment="Failed", ttl=9)]}}))
    assert invalid is not None
    assert invalid.message == (
        "spec.deletionStrategy.deletionRules[0].condition: cannot set both JobStatus and JobDeploymentStatus at the "
        "same time; spec.deletionStrategy.deletionRules: for JobDeploymentStatus 'Failed': DeleteSelf TTL (1) must "
        "be >= DeleteCluster TTL (9)")


def test_first_failure_wins_metadata_before_spec_before_status() -> None:
    raw = rayjob({"suspend": True}, name="Bad_Name", status={"jobDeploymentStatus": "Waiting"})
    invalid = check(raw)
    assert invalid is not None and invalid.reason == "InvalidRayJobMetadata"
    raw["metadata"]["name"] = "good"
    invalid = check(raw)
    assert invalid is not None and invalid.reason == "InvalidRayJobSpec"
    raw["spec"]["suspend"] = False
    invalid = check(raw)
    assert invalid is not None and invalid.reason == "InvalidRayJobStatus"


@pytest.mark.parametrize(("gates", "valid"), [
    pytest.param({}, True, id="default-on"),
    pytest.param({"RayJobDeletionPolicy": True}, True, id="on"),
    pytest.param({"RayJobDeletionPolicy": False}, False, id="off"),
])
def test_deletion_strategy_needs_its_gate(gates: dict[str, bool], valid: bool) -> None:
    invalid = check(rayjob({"deletionStrategy": legacy("DeleteCluster", "DeleteSelf")}), gates)
    if valid:
        assert invalid is None
    else:
        assert invalid == Invalid("InvalidRayJobSpec", "spec.deletionStrategy: RayJobDeletionPolicy feature gate must "
                                                       "be enabled to use DeletionStrategy")


@pytest.mark.parametrize(("raw", "reason", "fields"), [
    pytest.param(rayjob({"preRunningDeadlineSeconds": 0}), "InvalidRayJobSpec", ["spec.preRunningDeadlineSeconds"],
                 id="pre-running-deadline"),
    pytest.param(rayjob({"deletionStrategy": {"deletionRules": [rule("DeleteCluster", "FAILED", ttl=-1)]}}),
                 "InvalidRayJobSpec", ["spec.deletionStrategy.deletionRules[0].condition.ttlSeconds"],
                 id="rule-ttl-negative"),
    pytest.param(rayjob({"deletionStrategy": {"deletionRules": []}}), "InvalidRayJobSpec",
                 ["spec.deletionStrategy.deletionRules"], id="rules-empty"),
    pytest.param(rayjob({"submissionMode": "BatchMode", "suspend": "maybe"}), "InvalidRayJobSpec",
                 ["spec.submissionMode", "spec.suspend"], id="two-fields"),
    pytest.param(rayjob({"entrypoint": "x"}, base=False) | {"spec": None}, "InvalidRayJobSpec", ["spec"],
                 id="no-spec"),
    pytest.param(rayjob(status={"failed": "many"}), "InvalidRayJobStatus", ["status.failed"], id="status"),
    pytest.param(rayjob() | {"metadata": "nope"}, "InvalidRayJobMetadata", ["metadata"], id="metadata"),
])
def test_what_does_not_parse(raw: dict[str, Any], reason: str, fields: list[str]) -> None:
    job, invalid = parse(raw)
    assert job is None and invalid is not None
    assert invalid.reason == reason
    assert [part.split(": ", 1)[0] for part in invalid.message.split("; ")] == fields
