"""The Ray CRD models read and write KubeRay's `ray.io/v1` objects without losing or adding a field.

Tables: manifests that must round-trip (every valid fixture plus inline ones, statuses included),
the CRD defaults the models fill in, values the enums and constraints refuse, the wire names that
camelCase alone would get wrong, and the CRD facts (columns, CEL rule counts) KubeRay's CRDs have.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel, ValidationError

from raybus_common.crds import KINDS, RayCluster, RayCronJob, RayJob, RayService
from raybus_common.crds.base import CRDObject
from raybus_common.crds.raycluster import (
    AuthOptions,
    ClusterState,
    HeadInfo,
    RayClusterSpec,
    RayClusterStatus,
    WorkerGroupSpec,
)
from raybus_common.crds.rayjob import JobDeploymentStatus, JobStatus, RayJobSpec, RayJobStatus
from raybus_common.crds.rayservice import RayServiceSpec
from raybus_common.crds.schema import placeholder_resolver, root_schema

VALID = Path(__file__).resolve().parents[1] / "fixtures" / "valid"
BY_KIND: dict[str, type[CRDObject]] = {k.info.kind: k for k in KINDS}

POD = {"spec": {"containers": [{"name": "ray", "image": "rayproject/ray:2.52.0"}]}}
HEAD = {"rayStartParams": {}, "template": POD}


def cluster_spec(**extra: Any) -> dict[str, Any]:
    return {"headGroupSpec": HEAD, **extra}


def obj(kind: str, spec: dict[str, Any], status: dict[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"apiVersion": "ray.io/v1", "kind": kind, "metadata": {"name": "x"}, "spec": spec}
    if status is not None:
        out["status"] = status
    return out


CLUSTER_STATUS: dict[str, Any] = {
    "state": "ready",
    "desiredCPU": "3",
    "desiredMemory": "6Gi",
    "desiredGPU": "0",
    "desiredTPU": "0",
    "lastUpdateTime": "2025-03-01T10:05:00Z",
    "stateTransitionTimes": {"ready": "2025-03-01T10:04:58Z"},
    "endpoints": {"client": "10001", "dashboard": "8265", "gcs-server": "6379", "metrics": "8080"},
    "head": {"podIP": "10.244.0.7", "serviceIP": "10.244.0.7", "podName": "c-head-x7k2p",
             "serviceName": "c-head-svc"},
    "conditions": [
        {"type": "HeadPodReady", "status": "True", "reason": "HeadPodRunningAndReady", "message": "",
         "lastTransitionTime": "2025-03-01T10:04:40Z"},
        {"type": "RayClusterProvisioned", "status": "True", "reason": "AllPodRunningAndReadyFirstTime",
         "message": "All Ray Pods are ready for the first time", "lastTransitionTime": "2025-03-01T10:04:58Z"},
        {"type": "RayClusterSuspended", "status": "False", "reason": "RayClusterSuspended", "message": "",
         "lastTransitionTime": "2025-03-01T10:03:00Z", "observedGeneration": 1},
    ],
    "readyWorkerReplicas": 2,
    "availableWorkerReplicas": 2,
    "desiredWorkerReplicas": 2,
    "minWorkerReplicas": 1,
    "maxWorkerReplicas": 5,
    "observedGeneration": 1,
}

JOB_STATUS: dict[str, Any] = {
    "jobId": "nightly-abc12",
    "rayClusterName": "nightly-raycluster-q9w8e",
    "dashboardURL": "nightly-raycluster-q9w8e-head-svc.default.svc.cluster.local:8265",
    "jobStatus": "SUCCEEDED",
    "jobDeploymentStatus": "Complete",
    "message": "Job finished successfully.",
    "startTime": "2025-03-01T10:03:00Z",
    "endTime": "2025-03-01T10:09:31Z",
    "rayJobInfo": {"startTime": "2025-03-01T10:05:10Z", "endTime": "2025-03-01T10:09:30Z"},
    "succeeded": 1,
    "failed": 0,
    "rayClusterStatus": CLUSTER_STATUS,
    "observedGeneration": 2,
}

SERVICE_STATUS: dict[str, Any] = {
    "conditions": [
        {"type": "Ready", "status": "True", "reason": "NonZeroServeEndpoints", "message": "",
         "lastTransitionTime": "2025-03-01T10:06:00Z", "observedGeneration": 1},
        {"type": "UpgradeInProgress", "status": "False", "reason": "NoPendingCluster", "message": "",
         "lastTransitionTime": "2025-03-01T10:06:00Z", "observedGeneration": 1},
    ],
    "lastUpdateTime": "2025-03-01T10:07:00Z",
    "serviceStatus": "Running",
    "numServeEndpoints": 2,
    "observedGeneration": 1,
    "activeServiceStatus": {
        "rayClusterName": "svc-raycluster-abcde",
        "applicationStatuses": {"echo": {"status": "RUNNING", "serveDeploymentStatuses": {
            "Echo": {"status": "HEALTHY"}, "Router": {"status": "UPDATING", "message": "scaling"}}}},
        "rayClusterStatus": {"state": "ready", "desiredCPU": "500m"},
        "targetCapacity": 100,
        "trafficRoutedPercent": 100,
        "lastTrafficMigratedTime": "2025-03-01T10:06:30Z",
    },
    "pendingServiceStatus": {},
}

WORKERS = {"groupName": "cpu", "replicas": 1, "minReplicas": 1, "maxReplicas": 5, "numOfHosts": 1,
           "rayStartParams": {}, "template": POD, "scaleStrategy": {"workersToDelete": ["cpu-w-1"]}}

INLINE: list[tuple[str, dict[str, Any]]] = [
    ("raycluster-minimal", obj("RayCluster", cluster_spec())),
    ("raycluster-every-option", obj("RayCluster", cluster_spec(
        rayVersion="2.56.0",
        upgradeStrategy={"type": "Recreate"},
        authOptions={"mode": "token", "enableK8sTokenAuth": True},
        suspend=False,
        managedBy="ray.io/kuberay-operator",
        enableInTreeAutoscaling=True,
        autoscalerOptions={"version": "v2", "upscalingMode": "Conservative", "idleTimeoutSeconds": 30,
                           "imagePullPolicy": "Always", "command": ["ray"], "args": ["autoscaler"],
                           "env": [{"name": "A", "value": "1"}], "envFrom": [{"configMapRef": {"name": "cm"}}],
                           "volumeMounts": [{"name": "v", "mountPath": "/v"}]},
        headServiceAnnotations={"a": "b"},
        gcsFaultToleranceOptions={"backend": "rocksdb", "storage": {
            "size": "2Gi", "storageClassName": "fast", "accessModes": ["ReadWriteOnce"], "subPath": "gcs",
            "deletionPolicy": "Retain"}},
        historyServerOptions={"collectorOptions": {"image": "collector:1", "env": [{"name": "STORAGE_BACKEND",
                                                                                    "value": "S3"}]}},
        networkPolicy={"mode": "DenyAllIngress", "head": {"ingressRules": [{"from": [{"podSelector": {}}]}]},
                       "workerGroups": [{"groupName": "cpu", "ingressRules": []}]},
        tlsOptions={"enabled": True},
        workerGroupSpecs=[{**WORKERS, "priority": 3, "idleTimeoutSeconds": 120, "suspend": False,
                           "resources": {"cpu": "1"}, "labels": {"zone": "a"}}],
    ))),
    ("raycluster-head-ingress", obj("RayCluster", {"headGroupSpec": {
        **HEAD, "enableIngress": True, "serviceType": "NodePort", "resources": {"CPU": "0"},
        "ingressOptions": {"host": "ray.example.com", "path": "/ray", "pathType": "Exact",
                           "tls": [{"hosts": ["ray.example.com"], "secretName": "tls"}]},
        "headService": {"metadata": {"name": "my-head"}, "spec": {"type": "ClusterIP"}}}})),
    ("raycluster-redis-ft", obj("RayCluster", cluster_spec(gcsFaultToleranceOptions={
        "redisAddress": "redis:6379", "externalStorageNamespace": "ns1",
        "redisUsername": {"value": "default"},
        "redisPassword": {"valueFrom": {"secretKeyRef": {"name": "redis", "key": "password"}}}}))),
    ("raycluster-unknown-field-kept", {**obj("RayCluster", cluster_spec(futureField={"a": [1, None]})),
                                       "metadata": {"name": "keeps-unknown"}}),
    ("raycluster-status", obj("RayCluster", cluster_spec(workerGroupSpecs=[WORKERS]), CLUSTER_STATUS)),
    ("rayjob-every-field", obj("RayJob", {
        "entrypoint": "python main.py", "runtimeEnvYAML": "pip:\n  - numpy\n", "jobId": "j1",
        "submissionMode": "HTTPMode", "entrypointNumCpus": 0.5, "entrypointNumGpus": 1.0,
        "entrypointResources": '{"r": 1}', "metadata": {"team": "a"}, "activeDeadlineSeconds": 600,
        "preRunningDeadlineSeconds": 60, "backoffLimit": 2, "ttlSecondsAfterFinished": 30,
        "shutdownAfterJobFinishes": True, "suspend": False, "managedBy": "kueue.x-k8s.io/multikueue",
        "submitterConfig": {"backoffLimit": 1}, "submitterPodTemplate": POD,
        "deletionStrategy": {"onSuccess": {"policy": "DeleteCluster"}, "onFailure": {"policy": "DeleteNone"}},
        "rayClusterSpec": cluster_spec(workerGroupSpecs=[WORKERS])})),
    ("rayjob-status", obj("RayJob", {"clusterSelector": {"ray.io/cluster": "c"}}, JOB_STATUS)),
    ("rayjob-status-failed", obj("RayJob", {"entrypoint": "x", "rayClusterSpec": cluster_spec()}, {
        "jobStatus": "FAILED", "jobDeploymentStatus": "Failed", "reason": "AppFailed", "message": "boom",
        "failed": 1, "jobStatusCheckFailureStartTime": "2025-03-01T10:08:00Z"})),
    ("rayservice-status", obj("RayService", {
        "serveConfigV2": "applications: []\n", "rayClusterConfig": cluster_spec(),
        "rayClusterDeletionDelaySeconds": 0, "excludeHeadPodFromServeSvc": True, "suspend": False,
        "serviceUnhealthySecondThreshold": 900, "deploymentUnhealthySecondThreshold": 300,
        "serveService": {"metadata": {"name": "serve"}}, "upgradeStrategy": {"type": "NewCluster"}},
        SERVICE_STATUS)),
    ("raycronjob-status", obj("RayCronJob", {
        "schedule": "*/5 * * * *", "timeZone": "Europe/Paris", "suspend": True,
        "jobTemplate": {"entrypoint": "python main.py", "rayClusterSpec": cluster_spec()}},
        {"lastScheduleTime": "2025-03-01T10:05:00Z"})),
]


def rfc3339(value: Any) -> Any:
    """YAML turns unquoted timestamps into datetimes; the API server holds them as RFC 3339 text."""
    if isinstance(value, dict):
        return {k: rfc3339(v) for k, v in value.items()}
    if isinstance(value, list):
        return [rfc3339(v) for v in value]
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, date):
        return value.isoformat()
    return value


def manifests() -> list[Any]:
    files = [pytest.param(rfc3339(yaml.safe_load(p.read_text())), id=f"fixture:{p.stem}")
             for p in sorted(VALID.glob("*.yaml"))]
    return files + [pytest.param(m, id=f"inline:{name}") for name, m in INLINE]


def undeclared(model: BaseModel, path: str = "") -> list[str]:
    """Wire keys kept only as extras: fields the models do not declare."""
    out = [f"{path}.{k}" for k in model.model_extra or {}]
    for name, value in model:
        items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else []
        for key, item in [(None, value), *items]:
            if isinstance(item, BaseModel):
                out += undeclared(item, f"{path}.{name}" + (f"[{key}]" if key is not None else ""))
    return out


@pytest.mark.parametrize("manifest", manifests())
def test_round_trip_loses_and_adds_nothing(manifest: dict[str, Any]) -> None:
    model = BY_KIND[manifest["kind"]].from_wire(manifest)
    wire = model.to_wire()
    assert wire == manifest
    assert BY_KIND[manifest["kind"]].from_wire(wire).to_wire() == wire
    expected_extras = [".spec.futureField"] if manifest["metadata"]["name"] == "keeps-unknown" else []
    assert undeclared(model) == expected_extras


# -- defaults ---------------------------------------------------------------------------------

MINIMAL_CLUSTER = obj("RayCluster", cluster_spec(workerGroupSpecs=[{"groupName": "g", "template": POD}]))
MINIMAL_JOB = obj("RayJob", {"entrypoint": "x", "deletionStrategy": {
    "deletionRules": [{"policy": "DeleteCluster", "condition": {"jobStatus": "FAILED"}}]}},
    {"jobStatus": "PENDING"})
MINIMAL_SERVICE = obj("RayService", {"rayClusterConfig": cluster_spec(), "upgradeStrategy": {
    "type": "NewClusterWithIncrementalUpgrade",
    "clusterUpgradeOptions": {"gatewayClassName": "istio", "stepSizePercent": 10, "intervalSeconds": 30}}})
POLICY_CLUSTER = obj("RayCluster", cluster_spec(networkPolicy={}))

DEFAULTS = [
    ("worker-replicas", MINIMAL_CLUSTER, ("spec", "workerGroupSpecs", 0, "replicas"), 0),
    ("worker-min-replicas", MINIMAL_CLUSTER, ("spec", "workerGroupSpecs", 0, "minReplicas"), 0),
    ("worker-max-replicas", MINIMAL_CLUSTER, ("spec", "workerGroupSpecs", 0, "maxReplicas"), 2147483647),
    ("worker-num-of-hosts", MINIMAL_CLUSTER, ("spec", "workerGroupSpecs", 0, "numOfHosts"), 1),
    ("worker-priority", MINIMAL_CLUSTER, ("spec", "workerGroupSpecs", 0, "priority"), 0),
    ("worker-suspend-unset", MINIMAL_CLUSTER, ("spec", "workerGroupSpecs", 0, "suspend"), None),
    ("autoscaling-unset", MINIMAL_CLUSTER, ("spec", "enableInTreeAutoscaling"), None),
    ("network-policy-mode", POLICY_CLUSTER, ("spec", "networkPolicy", "mode"), "DenyAll"),
    ("job-submission-mode", MINIMAL_JOB, ("spec", "submissionMode"), "K8sJobMode"),
    ("job-backoff-limit", MINIMAL_JOB, ("spec", "backoffLimit"), 0),
    ("job-ttl", MINIMAL_JOB, ("spec", "ttlSecondsAfterFinished"), 0),
    ("deletion-rule-ttl", MINIMAL_JOB, ("spec", "deletionStrategy", "deletionRules", 0, "condition", "ttlSeconds"), 0),
    ("job-status-succeeded", MINIMAL_JOB, ("status", "succeeded"), 0),
    ("job-status-failed", MINIMAL_JOB, ("status", "failed"), 0),
    ("service-max-surge", MINIMAL_SERVICE, ("spec", "upgradeStrategy", "clusterUpgradeOptions", "maxSurgePercent"),
     100),
    ("service-deletion-delay-unset", MINIMAL_SERVICE, ("spec", "rayClusterDeletionDelaySeconds"), None),
]


@pytest.mark.parametrize(("manifest", "path", "expected"), [pytest.param(*d[1:], id=d[0]) for d in DEFAULTS])
def test_crd_defaults_are_model_defaults(manifest: dict[str, Any], path: tuple[str | int, ...], expected: Any) -> None:
    node: Any = BY_KIND[manifest["kind"]].from_wire(manifest).model_dump(by_alias=True)
    for key in path:
        node = node[key]
    assert node == expected


def test_defaults_are_not_written_back() -> None:
    assert RayCluster.from_wire(MINIMAL_CLUSTER).to_wire() == MINIMAL_CLUSTER


# -- rejected values --------------------------------------------------------------------------


def with_cluster(**extra: Any) -> dict[str, Any]:
    return obj("RayCluster", cluster_spec(**extra))


def with_job(**extra: Any) -> dict[str, Any]:
    return obj("RayJob", {"entrypoint": "x", **extra})


def rule(policy: str = "DeleteCluster", **condition: Any) -> dict[str, Any]:
    return {"deletionStrategy": {"deletionRules": [{"policy": policy, "condition": condition}]}}


REJECTED = [
    ("auth-mode", with_cluster(authOptions={"mode": "oauth"}), "spec.authOptions.mode"),
    ("upgrade-type", with_cluster(upgradeStrategy={"type": "RollingUpdate"}), "spec.upgradeStrategy.type"),
    ("autoscaler-version", with_cluster(autoscalerOptions={"version": "v3"}), "spec.autoscalerOptions.version"),
    ("upscaling-mode", with_cluster(autoscalerOptions={"upscalingMode": "Fast"}),
     "spec.autoscalerOptions.upscalingMode"),
    ("gcs-backend", with_cluster(gcsFaultToleranceOptions={"backend": "etcd"}),
     "spec.gcsFaultToleranceOptions.backend"),
    ("gcs-storage-deletion-policy", with_cluster(gcsFaultToleranceOptions={"storage": {"deletionPolicy": "Keep"}}),
     "spec.gcsFaultToleranceOptions.storage.deletionPolicy"),
    ("network-policy-mode", with_cluster(networkPolicy={"mode": "AllowAll"}), "spec.networkPolicy.mode"),
    ("ingress-path-type", obj("RayCluster", {"headGroupSpec": {**HEAD, "ingressOptions": {"pathType": "Regex"}}}),
     "spec.headGroupSpec.ingressOptions.pathType"),
    ("submission-mode", with_job(submissionMode="FooMode"), "spec.submissionMode"),
    ("deletion-rule-policy", with_job(**rule("DeleteAll", jobStatus="FAILED")),
     "spec.deletionStrategy.deletionRules.0.policy"),
    ("deletion-condition-job-status", with_job(**rule(jobStatus="RUNNING")),
     "spec.deletionStrategy.deletionRules.0.condition.jobStatus"),
    ("deletion-condition-deployment-status", with_job(**rule(jobDeploymentStatus="Complete")),
     "spec.deletionStrategy.deletionRules.0.condition.jobDeploymentStatus"),
    ("legacy-deletion-policy", with_job(deletionStrategy={"onSuccess": {"policy": "Delete"}}),
     "spec.deletionStrategy.onSuccess.policy"),
    # Not enums, but the same CRD constraints, checked on the way in.
    ("deletion-rule-negative-ttl", with_job(**rule(jobStatus="FAILED", ttlSeconds=-1)),
     "spec.deletionStrategy.deletionRules.0.condition.ttlSeconds"),
    ("deletion-rules-empty", with_job(deletionStrategy={"deletionRules": []}), "spec.deletionStrategy.deletionRules"),
    ("pre-running-deadline-zero", with_job(preRunningDeadlineSeconds=0), "spec.preRunningDeadlineSeconds"),
    ("cron-empty-timezone", obj("RayCronJob", {"schedule": "@hourly", "timeZone": "", "jobTemplate": {}}),
     "spec.timeZone"),
    ("cron-missing-schedule", obj("RayCronJob", {"jobTemplate": {}}), "spec.schedule"),
    ("worker-missing-group-name", with_cluster(workerGroupSpecs=[{"template": POD}]),
     "spec.workerGroupSpecs.0.groupName"),
    ("head-missing-template", obj("RayCluster", {"headGroupSpec": {}}), "spec.headGroupSpec.template"),
    ("service-missing-cluster-config", obj("RayService", {"serveConfigV2": ""}), "spec.rayClusterConfig"),
    ("upgrade-options-missing-gateway", obj("RayService", {"rayClusterConfig": cluster_spec(), "upgradeStrategy": {
        "clusterUpgradeOptions": {"stepSizePercent": 10, "intervalSeconds": 30}}}),
     "spec.upgradeStrategy.clusterUpgradeOptions.gatewayClassName"),
]


@pytest.mark.parametrize(("manifest", "field"), [pytest.param(*r[1:], id=r[0]) for r in REJECTED])
def test_bad_values_are_rejected_naming_the_field(manifest: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as err:
        BY_KIND[manifest["kind"]].from_wire(manifest)
    locations = [".".join(str(p) for p in e["loc"]) for e in err.value.errors()]
    assert field in locations, locations


# -- irregular wire names ---------------------------------------------------------------------

ALIASES = [
    ("runtime-env-yaml", RayJobSpec, "runtime_env_yaml", "runtimeEnvYAML"),
    ("desired-cpu", RayClusterStatus, "desired_cpu", "desiredCPU"),
    ("desired-gpu", RayClusterStatus, "desired_gpu", "desiredGPU"),
    ("desired-tpu", RayClusterStatus, "desired_tpu", "desiredTPU"),
    ("pod-ip", HeadInfo, "pod_ip", "podIP"),
    ("service-ip", HeadInfo, "service_ip", "serviceIP"),
    ("dashboard-url", RayJobStatus, "dashboard_url", "dashboardURL"),
    ("k8s-token-auth", AuthOptions, "enable_k8s_token_auth", "enableK8sTokenAuth"),
    ("serve-config-v2", RayServiceSpec, "serve_config_v2", "serveConfigV2"),
    ("ray-cluster-config", RayServiceSpec, "ray_cluster_config", "rayClusterConfig"),
    ("ray-job-info", RayJobStatus, "ray_job_info", "rayJobInfo"),
    ("tls-options", RayClusterSpec, "tls_options", "tlsOptions"),
    ("num-of-hosts", WorkerGroupSpec, "num_of_hosts", "numOfHosts"),
    ("ttl-seconds-after-finished", RayJobSpec, "ttl_seconds_after_finished", "ttlSecondsAfterFinished"),
    ("check-failure-start", RayJobStatus, "job_status_check_failure_start_time", "jobStatusCheckFailureStartTime"),
]


@pytest.mark.parametrize(("model", "name", "wire"), [pytest.param(*a[1:], id=a[0]) for a in ALIASES])
def test_wire_names_match_kuberay(model: type[BaseModel], name: str, wire: str) -> None:
    assert model.model_fields[name].alias == wire


def test_python_names_and_wire_names_both_populate() -> None:
    by_name = HeadInfo(pod_ip="10.0.0.1", service_ip="10.0.0.2")
    by_wire = HeadInfo.model_validate({"podIP": "10.0.0.1", "serviceIP": "10.0.0.2"})
    assert by_name == by_wire
    assert by_name.to_wire() == {"podIP": "10.0.0.1", "serviceIP": "10.0.0.2"}


# -- statuses as the controllers see them -----------------------------------------------------


def test_status_values_compare_with_the_enums() -> None:
    job = RayJob.from_wire(obj("RayJob", {"entrypoint": "x"}, JOB_STATUS))
    assert job.status is not None and job.status.ray_cluster_status is not None
    assert job.status.job_status == JobStatus.SUCCEEDED
    assert job.status.job_deployment_status == JobDeploymentStatus.COMPLETE
    assert job.status.ray_cluster_status.state == ClusterState.READY
    assert job.status.end_time == datetime(2025, 3, 1, 10, 9, 31, tzinfo=UTC)
    assert job.status.ray_cluster_status.conditions is not None
    assert [c["type"] for c in job.status.ray_cluster_status.conditions][:2] == ["HeadPodReady",
                                                                                 "RayClusterProvisioned"]


# -- CRD facts --------------------------------------------------------------------------------


def test_kinds_in_order() -> None:
    assert KINDS == (RayCluster, RayJob, RayService, RayCronJob)
    assert [k.info.crd_name for k in KINDS] == [
        "rayclusters.ray.io", "rayjobs.ray.io", "rayservices.ray.io", "raycronjobs.ray.io"]


COLUMNS = [
    (RayCluster, [("desired workers", ".status.desiredWorkerReplicas", 0), ("available workers",
     ".status.availableWorkerReplicas", 0), ("cpus", ".status.desiredCPU", 0), ("memory", ".status.desiredMemory", 0),
     ("gpus", ".status.desiredGPU", 0), ("tpus", ".status.desiredTPU", 1), ("status", ".status.state", 0),
     ("age", ".metadata.creationTimestamp", 0), ("head pod IP", ".status.head.podIP", 1),
     ("head service IP", ".status.head.serviceIP", 1)]),
    (RayJob, [("job status", ".status.jobStatus", 0), ("deployment status", ".status.jobDeploymentStatus", 0),
              ("ray cluster name", ".status.rayClusterName", 0), ("start time", ".status.startTime", 0),
              ("end time", ".status.endTime", 0), ("age", ".metadata.creationTimestamp", 0)]),
    (RayService, [("service status", ".status.serviceStatus", 0),
                  ("num serve endpoints", ".status.numServeEndpoints", 0)]),
    (RayCronJob, [("schedule", ".spec.schedule", 0), ("timezone", ".spec.timeZone", 0),
                  ("last schedule", ".status.lastScheduleTime", 0), ("age", ".metadata.creationTimestamp", 0),
                  ("suspend", ".spec.suspend", 0)]),
]


@pytest.mark.parametrize(("kind", "columns"), [pytest.param(k, c, id=k.info.kind) for k, c in COLUMNS])
def test_printer_columns(kind: type[CRDObject], columns: list[tuple[str, str, int]]) -> None:
    assert [(c.name, c.json_path, c.priority) for c in kind.info.printer_columns] == columns


def count_rules(node: Any) -> int:
    if isinstance(node, dict):
        return len(node.get("x-kubernetes-validations", [])) + sum(count_rules(v) for v in node.values())
    if isinstance(node, list):
        return sum(count_rules(v) for v in node)
    return 0


# KubeRay v1.7's v1 CRDs carry this many CEL rules (counted in KubeRay v1.7's generated CRDs).
@pytest.mark.parametrize(("kind", "rules"), [pytest.param(k, n, id=k.info.kind) for k, n in
                                             [(RayCluster, 3), (RayJob, 9), (RayService, 5), (RayCronJob, 9)]])
def test_cel_rule_count(kind: type[CRDObject], rules: int) -> None:
    assert count_rules(root_schema(kind, placeholder_resolver)) == rules
