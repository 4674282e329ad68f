"""RayCluster validation (KubeRay v1.7 `ValidateRayCluster*`, plus schema/CEL/webhook rules): every
rule accepted and rejected, and the YAML fixtures."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from raybus_cluster_ctl.validation.check import check
from raybus_cluster_ctl.validation.problems import Problem

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
Mut = Callable[[dict[str, Any]], None]
HEAD = ("spec", "headGroupSpec")
HC0 = (*HEAD, "template", "spec", "containers", 0)
W0 = ("spec", "workerGroupSpecs", 0)
WC0 = (*W0, "template", "spec", "containers", 0)
ON = {"RayClusterNetworkPolicy": True, "GCSFaultToleranceEmbeddedStorage": True, "RayClusterMTLS": True,
      "RayClusterHistoryServer": True}


def validate(cluster: dict[str, Any], gates: dict[str, bool] | None = None) -> list[Problem]:
    """Every problem `check` finds in the raw object."""
    return list(check(cluster, gates=gates).problems)


def base() -> dict[str, Any]:
    def group(container: str) -> dict[str, Any]:
        return {"rayStartParams": {}, "template": {"spec": {"containers": [{"name": container, "image": "ray"}]}}}

    worker = {"groupName": "workers", "replicas": 1, "minReplicas": 0, "maxReplicas": 3, **group("ray-worker")}
    return {"apiVersion": "ray.io/v1", "kind": "RayCluster", "metadata": {"name": "demo", "generation": 1},
            "spec": {"rayVersion": "2.52.0", "headGroupSpec": group("ray-head"), "workerGroupSpecs": [worker]}}


def S(path: tuple[Any, ...], value: Any) -> Mut:
    """Set `value` at `path`, creating dicts on the way."""
    def apply(obj: dict[str, Any]) -> None:
        node: Any = obj
        for key in path[:-1]:
            node = node.setdefault(key, {}) if isinstance(key, str) else node[key]
        node[path[-1]] = value
    return apply


def D(path: tuple[Any, ...]) -> Mut:
    def apply(obj: dict[str, Any]) -> None:
        node: Any = obj
        for key in path[:-1]:
            node = node[key]
        del node[path[-1]]
    return apply


def env(*pairs: tuple[str, str]) -> list[dict[str, str]]:
    return [{"name": n, "value": v} for n, v in pairs]


def build(muts: list[Mut]) -> dict[str, Any]:
    cluster = base()
    for m in muts:
        m(cluster)
    return cluster


AUTOSCALE = S(("spec", "enableInTreeAutoscaling"), True)
V2 = S(("spec", "autoscalerOptions"), {"version": "v2"})
FT = S(("spec", "gcsFaultToleranceOptions"), {"redisAddress": "redis:6379"})
ROCKS = S(("spec", "gcsFaultToleranceOptions"), {"backend": "rocksdb"})
TOKEN = S(("spec", "authOptions"), {"mode": "token"})
NP = S(("spec", "networkPolicy"), {"mode": "DenyAll"})
TLS = S(("spec", "tlsOptions"), {"enabled": True})
COLLECTOR = {"image": "collector:1", "env": env(("STORAGE_BACKEND", "GCS"), ("GCS_BUCKET", "b"))}

# (id, mutations, gates, field, message fragment)
REJECTED: list[tuple[str, list[Mut], dict[str, bool], str, str]] = [
    ("name-too-long", [S(("metadata", "name"), "a" * 54)], {}, "metadata.name", "no more than 53 characters"),
    ("name-uppercase", [S(("metadata", "name"), "Demo")], {}, "metadata.name", "valid DNS1035 label"),
    ("name-leading-digit", [S(("metadata", "name"), "1demo")], {}, "metadata.name", "valid DNS1035 label"),
    ("head-no-containers", [S((*HEAD, "template", "spec", "containers"), [])], {},
     "spec.headGroupSpec.template.spec.containers", "headGroupSpec should have at least one container"),
    ("worker-no-containers", [S((*W0, "template", "spec", "containers"), [])], {},
     "spec.workerGroupSpecs[0].template.spec.containers", "workerGroupSpec should have at least one container"),
    ("head-resources-and-num-cpus", [S((*HEAD, "resources"), {"cpu": "1"}), S((*HEAD, "rayStartParams", "num-cpus"), "1")],
     {}, "spec.headGroupSpec.resources", "both rayStartParams and Resources for Head group"),
    ("worker-resources-and-memory", [S((*W0, "resources"), {"x": "1"}), S((*W0, "rayStartParams", "memory"), "1")], {},
     "spec.workerGroupSpecs[0].resources", "for workers group; please use only one"),
    ("ray-start-labels", [S((*W0, "rayStartParams", "labels"), "a=b")], {},
     "spec.workerGroupSpecs[0].rayStartParams[labels]", "rayStartParams['labels'] is not supported for workers group"),
    ("bad-label-key", [S((*HEAD, "labels"), {"-bad": "x"})], {}, "spec.headGroupSpec.labels[-bad]",
     "invalid label key for Head group: '-bad'"),
    ("bad-label-value", [S((*W0, "labels"), {"zone": "a b"})], {}, "spec.workerGroupSpecs[0].labels[zone]",
     "invalid label value for key 'zone' in workers group: 'a b'"),
    ("min-unset-no-autoscaler", [D((*W0, "minReplicas"))], {}, "spec.workerGroupSpecs[0].minReplicas",
     "worker group workers must set both minReplicas and maxReplicas when autoscaling is disabled"),
    ("max-unset-no-autoscaler", [D((*W0, "maxReplicas"))], {}, "spec.workerGroupSpecs[0].maxReplicas",
     "must set both minReplicas and maxReplicas"),
    ("min-negative", [S((*W0, "minReplicas"), -1)], {}, "spec.workerGroupSpecs[0].minReplicas",
     "worker group workers has negative minReplicas -1"),
    ("max-negative", [S((*W0, "maxReplicas"), -2), S((*W0, "minReplicas"), -3)], {},
     "spec.workerGroupSpecs[0].maxReplicas", "negative maxReplicas -2"),
    ("min-greater-than-max", [S((*W0, "minReplicas"), 5)], {}, "spec.workerGroupSpecs[0].maxReplicas",
     "worker group workers has minReplicas 5 greater than maxReplicas 3"),
    ("idle-timeout-negative", [S((*W0, "idleTimeoutSeconds"), -1)], {}, "spec.workerGroupSpecs[0].idleTimeoutSeconds",
     "idleTimeoutSeconds must be non-negative, got -1"),
    ("idle-timeout-without-v2", [S((*W0, "idleTimeoutSeconds"), 30), AUTOSCALE], {},
     "spec.workerGroupSpecs[0].idleTimeoutSeconds", "idleTimeoutSeconds is set, but autoscaler v2 is not enabled"),
    ("priority-without-version", [S((*W0, "priority"), 1), D(("spec", "rayVersion"))], {},
     "spec.workerGroupSpecs[0].priority", "RayVersion was not specified. Ray version 2.56.0 or later is required"),
    ("priority-bad-version", [S((*W0, "priority"), 1), S(("spec", "rayVersion"), "latest")], {},
     "spec.workerGroupSpecs[0].priority", "RayVersion format is invalid: latest"),
    ("priority-old-ray", [S((*W0, "priority"), 1), AUTOSCALE, V2], {}, "spec.workerGroupSpecs[0].priority",
     "minimum Ray version is 2.56.0, got 2.52.0"),
    ("priority-without-v2", [S((*W0, "priority"), 2), S(("spec", "rayVersion"), "2.56.0")], {},
     "spec.workerGroupSpecs[0].priority", "priority is set to 2, but autoscaler v2 is not enabled"),
    ("ft-annotation-and-options", [S(("metadata", "annotations"), {"ray.io/ft-enabled": "true"}), FT], {},
     "metadata.annotations[ray.io/ft-enabled]", "annotation and GcsFaultToleranceOptions are both set"),
    ("redis-address-without-ft", [S((*HC0, "env"), env(("RAY_REDIS_ADDRESS", "r:6379")))], {},
     "spec.headGroupSpec.template.spec.containers[0].env[0]", "RAY_REDIS_ADDRESS is set which implicitly enables"),
    ("redis-address-ft-annotation-false", [S((*HC0, "env"), env(("RAY_REDIS_ADDRESS", "r"))),
                                           S(("metadata", "annotations"), {"ray.io/ft-enabled": "false"})], {},
     "spec.headGroupSpec.template.spec.containers[0].env[0]", "implicitly enables GCS fault tolerance"),
    ("options-and-redis-password-param", [FT, S((*HEAD, "rayStartParams", "redis-password"), "x")], {},
     "spec.headGroupSpec.rayStartParams[redis-password]", "cannot set `redis-password` in rayStartParams"),
    ("options-and-redis-password-env", [FT, S((*HC0, "env"), env(("A", "1"), ("REDIS_PASSWORD", "x")))], {},
     "spec.headGroupSpec.template.spec.containers[0].env[1]", "cannot set `REDIS_PASSWORD` env var in head Pod"),
    ("options-and-redis-address-env", [FT, S((*HC0, "env"), env(("RAY_REDIS_ADDRESS", "x")))], {},
     "spec.headGroupSpec.template.spec.containers[0].env[0]", "use GcsFaultToleranceOptions.RedisAddress instead"),
    ("options-and-storage-ns-annotation", [FT, S(("metadata", "annotations"), {"ray.io/external-storage-namespace": "n"})],
     {}, "metadata.annotations[ray.io/external-storage-namespace]", "GcsFaultToleranceOptions.ExternalStorageNamespace"),
    ("rocksdb-gate-off", [ROCKS], {}, "spec.gcsFaultToleranceOptions.backend",
     "requires the GCSFaultToleranceEmbeddedStorage feature gate to be enabled"),
    ("rocksdb-redis-address", [S(("spec", "gcsFaultToleranceOptions"), {"backend": "rocksdb", "redisAddress": "r"})], ON,
     "spec.gcsFaultToleranceOptions.redisAddress", "cannot set GcsFaultToleranceOptions.RedisAddress when backend is"),
    ("rocksdb-claim-and-size", [S(("spec", "gcsFaultToleranceOptions"),
                                  {"backend": "rocksdb", "storage": {"claimName": "c", "size": "1Gi"}})], ON,
     "spec.gcsFaultToleranceOptions.storage.claimName", "ClaimName is mutually exclusive"),
    ("rocksdb-managed-env", [ROCKS, S((*HC0, "env"), env(("RAY_gcs_storage_path", "/x")))], ON,
     "spec.headGroupSpec.template.spec.containers[0].env[0]", "these are managed by KubeRay"),
    ("rocksdb-mount-path", [ROCKS, S((*HC0, "volumeMounts"), [{"name": "data", "mountPath": "/data/gcs"}])], ON,
     "spec.headGroupSpec.template.spec.containers[0].volumeMounts[0]", "mounted at /data/gcs"),
    ("rocksdb-volume", [ROCKS, S((*HEAD, "template", "spec", "volumes"), [{"name": "gcs-storage"}])], ON,
     "spec.headGroupSpec.template.spec.volumes[0]", 'cannot set a volume named "gcs-storage"'),
    ("redis-with-storage", [S(("spec", "gcsFaultToleranceOptions"), {"storage": {"size": "1Gi"}})], {},
     "spec.gcsFaultToleranceOptions.storage", "only applies to the 'rocksdb' backend"),
    ("redis-username-param", [S((*HEAD, "rayStartParams", "redis-username"), "u")], {},
     "spec.headGroupSpec.rayStartParams[redis-username]", "cannot set redis username"),
    ("redis-username-env", [S((*HC0, "env"), env(("REDIS_USERNAME", "u")))], {},
     "spec.headGroupSpec.template.spec.containers[0].env[0]", "use GcsFaultToleranceOptions.RedisUsername instead"),
    ("group-suspend-gate-off", [S((*W0, "suspend"), True)], {"RayJobDeletionPolicy": False},
     "spec.workerGroupSpecs[0].suspend", "can be suspended only when the RayJobDeletionPolicy feature gate"),
    ("group-suspend-autoscaling", [S((*W0, "suspend"), True), AUTOSCALE], {}, "spec.workerGroupSpecs[0].suspend",
     "worker group workers cannot be suspended with Autoscaler enabled"),
    ("v2-env-without-autoscaling", [S((*HC0, "env"), env(("RAY_enable_autoscaler_v2", "1")))], {},
     "spec.headGroupSpec.template.spec.containers[0].env[0]", "cannot be set to '1' when enableInTreeAutoscaling is false"),
    ("version-and-v2-env", [AUTOSCALE, V2, S((*HC0, "env"), env(("RAY_enable_autoscaler_v2", "true")))], {},
     "spec.autoscalerOptions.version", "both .spec.autoscalerOptions.version and head Pod env var"),
    ("v2-head-restart-always", [AUTOSCALE, V2, S((*HEAD, "template", "spec", "restartPolicy"), "Always")], {},
     "spec.headGroupSpec.template.spec.restartPolicy", "restartPolicy for head Pod should be Never or unset"),
    ("v2-worker-restart-on-failure", [AUTOSCALE, V2, S((*W0, "template", "spec", "restartPolicy"), "OnFailure")], {},
     "spec.workerGroupSpecs[0].template.spec.restartPolicy", "restartPolicy for worker group workers should be Never"),
    ("autoscaler-idle-negative", [S(("spec", "autoscalerOptions"), {"idleTimeoutSeconds": -5})], {},
     "spec.autoscalerOptions.idleTimeoutSeconds", "must be non-negative, got -5"),
    ("autoscaler-gen-cmd-env", [S(("spec", "autoscalerOptions"), {"env": env(("KUBERAY_GEN_AUTOSCALER_START_CMD", "x"))})],
     {}, "spec.autoscalerOptions.env[0]", "autoscalerOptions.env must not contain KUBERAY_GEN_AUTOSCALER_START_CMD"),
    ("history-gate-off", [S(("spec", "historyServerOptions"), {"collectorOptions": COLLECTOR})], {},
     "spec.historyServerOptions", "RayClusterHistoryServer feature gate is not enabled"),
    ("history-no-collector", [S(("spec", "historyServerOptions"), {})], ON,
     "spec.historyServerOptions.collectorOptions", "collectorOptions must be set"),
    ("history-no-image", [S(("spec", "historyServerOptions"), {"collectorOptions": {**COLLECTOR, "image": ""}})], ON,
     "spec.historyServerOptions.collectorOptions.image", "collectorOptions.image must be set"),
    ("history-managed-env", [S(("spec", "historyServerOptions"),
                               {"collectorOptions": {"image": "c", "env": env(("POD_IP", "x"))}})], ON,
     "spec.historyServerOptions.collectorOptions.env", "must not contain POD_IP"),
    ("history-no-backend", [S(("spec", "historyServerOptions"), {"collectorOptions": {"image": "c"}})], ON,
     "spec.historyServerOptions.collectorOptions.env", "STORAGE_BACKEND environment variable must be set"),
    ("history-s3-no-region", [S(("spec", "historyServerOptions"),
                                {"collectorOptions": {"image": "c", "env": env(("STORAGE_BACKEND", "s3"))}})], ON,
     "spec.historyServerOptions.collectorOptions.env", "S3_REGION environment variable must be set when STORAGE_BACKEND is S3"),
    ("history-azure-no-url", [S(("spec", "historyServerOptions"), {"collectorOptions": {"image": "c", "env": env(
        ("STORAGE_BACKEND", "AZUREBLOB"))}})], ON, "spec.historyServerOptions.collectorOptions.env",
     "either AZURE_STORAGE_CONNECTION_STRING or AZURE_STORAGE_ACCOUNT_URL"),
    ("history-container-name", [S(("spec", "historyServerOptions"), {"collectorOptions": COLLECTOR}),
                                S((*WC0, "name"), "ray-history-collector")], ON,
     "spec.workerGroupSpecs[0].template.spec.containers", "must not define a container with name 'ray-history-collector'"),
    ("token-no-version", [TOKEN, D(("spec", "rayVersion"))], {}, "spec.rayVersion", "RayVersion was not specified"),
    ("token-bad-version", [TOKEN, S(("spec", "rayVersion"), "nightly")], {}, "spec.rayVersion",
     "RayVersion format is invalid: nightly"),
    ("token-old-version-numeric", [TOKEN, S(("spec", "rayVersion"), "2.9.0")], {}, "spec.rayVersion",
     "minimum Ray version is 2.52.0, got 2.9.0"),
    ("k8s-token-old-ray", [S(("spec", "authOptions"), {"mode": "token", "enableK8sTokenAuth": True}),
                           S(("spec", "rayVersion"), "2.54.0")], {}, "spec.rayVersion",
     "enableK8sTokenAuth is enabled but minimum Ray version is 2.55.0"),
    ("k8s-token-and-secret", [S(("spec", "authOptions"), {"mode": "token", "enableK8sTokenAuth": True, "secretName": "s"}),
                              S(("spec", "rayVersion"), "2.55.0")], {}, "spec.authOptions.secretName",
     "authOptions.secretName is also set"),
    ("k8s-token-without-token-mode", [S(("spec", "authOptions"), {"enableK8sTokenAuth": True})], {},
     "spec.authOptions.enableK8sTokenAuth", "authOptions.mode not set to 'token'"),
    ("network-policy-gate-off", [NP], {}, "spec.networkPolicy", "requires the RayClusterNetworkPolicy feature gate"),
    ("np-head-ingress-deny-egress", [S(("spec", "networkPolicy"), {"mode": "DenyAllEgress",
                                                                   "head": {"ingressRules": [{}]}})], ON,
     "spec.networkPolicy.head.ingressRules", 'networkPolicy.head.ingressRules cannot be set when mode is "DenyAllEgress"'),
    ("np-group-egress-deny-ingress", [S(("spec", "networkPolicy"), {"mode": "DenyAllIngress", "workerGroups": [
        {"groupName": "workers", "egressRules": [{}]}]})], ON, "spec.networkPolicy.workerGroups[0].egressRules",
     'networkPolicy.workerGroups["workers"].egressRules cannot be set'),
    ("np-group-name-not-dns1123", [NP, S((*W0, "groupName"), "Workers")], ON, "spec.workerGroupSpecs[0].groupName",
     'worker group name "Workers" must be a valid DNS1123 label'),
    ("np-unknown-group", [S(("spec", "networkPolicy"), {"workerGroups": [{"groupName": "gpu"}]})], ON,
     "spec.networkPolicy.workerGroups[0].groupName", "does not match any group name in workerGroupSpecs"),
    ("tls-gate-off", [TLS], {}, "spec.tlsOptions", "requires the RayClusterMTLS feature gate"),
    ("tls-worker-env", [TLS, S((*WC0, "env"), env(("RAY_USE_TLS", "1")))], ON,
     "spec.workerGroupSpecs[0].template.spec.containers[0].env[0]",
     'cannot set RAY_USE_TLS environment variable in worker group "workers"'),
    ("tls-head-mount-name", [TLS, S((*HC0, "volumeMounts"), [{"name": "ray-tls", "mountPath": "/x"}])], ON,
     "spec.headGroupSpec.template.spec.containers[0].volumeMounts[0]", 'volume mount named "ray-tls" in head Pod'),
    ("tls-autoscaler-mount-path", [TLS, S(("spec", "autoscalerOptions"), {"volumeMounts": [
        {"name": "c", "mountPath": "/etc/ray/tls"}]})], ON, "spec.autoscalerOptions.volumeMounts[0]",
     'volume mount at path "/etc/ray/tls" in autoscalerOptions.volumeMounts'),
    ("tls-autoscaler-env", [TLS, S(("spec", "autoscalerOptions"), {"env": env(("RAY_TLS_CA_CERT", "x"))})], ON,
     "spec.autoscalerOptions.env", "cannot set RAY_TLS_CA_CERT environment variable in autoscalerOptions.env"),
    ("upgrade-strategy-unknown", [S(("spec", "upgradeStrategy"), {"type": "Rolling"})], {}, "spec.upgradeStrategy.type",
     "Spec.UpgradeStrategy.Type value Rolling is invalid, valid options are Recreate or None"),
    ("upgrade-strategy-on-rayjob-cluster", [S(("spec", "upgradeStrategy"), {"type": "Recreate"}),
                                            S(("metadata", "labels"), {"ray.io/originated-from-crd": "RayJob"})], {},
     "spec.upgradeStrategy.type", "upgradeStrategy cannot be set when RayCluster is created by RayJob"),
    ("status-suspending-and-suspended", [S(("status", "conditions"), [
        {"type": "RayClusterSuspending", "status": "True"}, {"type": "RayClusterSuspended", "status": "True"}])], {},
     "status.conditions", "conditions should not be both true"),
    ("group-names-not-unique", [lambda c: c["spec"]["workerGroupSpecs"].append(
        copy.deepcopy(c["spec"]["workerGroupSpecs"][0]))], {}, "spec.workerGroupSpecs[1].groupName",
     "worker group names must be unique"),
    ("managed-by-unknown", [S(("spec", "managedBy"), "example.com/x")], {}, "spec.managedBy",
     "must be either 'ray.io/kuberay-operator' or 'kueue.x-k8s.io/multikueue'"),
    ("replicas-not-int", [S((*W0, "replicas"), "2")], {}, "spec.workerGroupSpecs[0].replicas", "must be of type integer"),
]

ACCEPTED: list[tuple[str, list[Mut], dict[str, bool]]] = [
    ("base", [], {}),
    ("name-53-chars", [S(("metadata", "name"), "a" * 53)], {}),
    ("good-labels", [S((*W0, "labels"), {"example.com/team": "a_b.c", "empty": ""})], {}),
    ("resources-without-params", [S((*HEAD, "resources"), {"cpu": "1"}), S((*HEAD, "rayStartParams", "port"), "6380")], {}),
    ("autoscaling-without-min-max", [AUTOSCALE, D((*W0, "minReplicas")), D((*W0, "maxReplicas"))], {}),
    ("min-equals-max", [S((*W0, "minReplicas"), 3)], {}),
    ("idle-timeout-with-v2", [AUTOSCALE, V2, S((*W0, "idleTimeoutSeconds"), 0)], {}),
    ("idle-timeout-with-v2-env", [AUTOSCALE, S((*HC0, "env"), env(("RAY_enable_autoscaler_v2", "true"))),
                                  S((*W0, "idleTimeoutSeconds"), 60)], {}),
    ("priority-zero-anywhere", [S((*W0, "priority"), 0), D(("spec", "rayVersion"))], {}),
    ("priority-with-v2-and-2.56", [AUTOSCALE, V2, S((*W0, "priority"), 3), S(("spec", "rayVersion"), "v2.56.1")], {}),
    ("ft-annotation-case-insensitive", [S(("metadata", "annotations"), {"ray.io/ft-enabled": "TRUE"}),
                                        S((*HC0, "env"), env(("RAY_REDIS_ADDRESS", "r"), ("REDIS_PASSWORD", "p")))], {}),
    ("ft-options-alone", [FT], {}),
    ("rocksdb-with-gate", [S(("spec", "gcsFaultToleranceOptions"), {"backend": "rocksdb",
                                                                    "storage": {"claimName": "mine", "subPath": "x"}})], ON),
    ("v2-env-false-without-autoscaling", [S((*HC0, "env"), env(("RAY_enable_autoscaler_v2", "false")))], {}),
    ("v2-restart-never", [AUTOSCALE, V2, S((*W0, "template", "spec", "restartPolicy"), "Never")], {}),
    ("v1-restart-always", [AUTOSCALE, S(("spec", "autoscalerOptions"), {"version": "v1"}),
                           S((*W0, "template", "spec", "restartPolicy"), "Always")], {}),
    ("group-suspend-gate-on", [S((*W0, "suspend"), True)], {}),
    ("history-with-gate", [S(("spec", "historyServerOptions"), {"collectorOptions": COLLECTOR})], ON),
    ("token-2.52", [TOKEN], {}),
    ("token-two-component-version", [TOKEN, S(("spec", "rayVersion"), "2.52")], {}),  # 2.52 is 2.52.0, as in Go
    ("k8s-token-2.55", [S(("spec", "authOptions"), {"mode": "token", "enableK8sTokenAuth": True}),
                        S(("spec", "rayVersion"), "2.55.0")], {}),
    ("auth-disabled-any-version", [S(("spec", "authOptions"), {"mode": "disabled"}), D(("spec", "rayVersion"))], {}),
    ("np-matching-rules", [S(("spec", "networkPolicy"), {"mode": "DenyAllIngress", "head": {"ingressRules": [{}]},
                                                         "workerGroups": [{"groupName": "workers"}]})], ON),
    ("tls-disabled-with-env", [S(("spec", "tlsOptions"), {"enabled": False}), S((*WC0, "env"), env(("RAY_USE_TLS", "1")))],
     ON),
    ("upgrade-none", [S(("spec", "upgradeStrategy"), {"type": "None"})], {}),
    ("upgrade-recreate-on-raycluster", [S(("spec", "upgradeStrategy"), {"type": "Recreate"}),
                                        S(("metadata", "labels"), {"ray.io/originated-from-crd": "RayCluster"})], {}),
    ("managed-by-multikueue", [S(("spec", "managedBy"), "kueue.x-k8s.io/multikueue")], {}),
    ("status-only-suspended", [S(("status", "conditions"), [{"type": "RayClusterSuspended", "status": "True"},
                                                           {"type": "RayClusterSuspending", "status": "False"}])], {}),
]


@pytest.mark.parametrize(("muts", "gates", "field", "message"), [r[1:] for r in REJECTED], ids=[r[0] for r in REJECTED])
def test_rule_rejects(muts: list[Mut], gates: dict[str, bool], field: str, message: str) -> None:
    problems = validate(build(muts), gates=gates)
    assert any(p.field == field and message in p.message for p in problems), problems


@pytest.mark.parametrize(("muts", "gates"), [r[1:] for r in ACCEPTED], ids=[r[0] for r in ACCEPTED])
def test_rule_accepts(muts: list[Mut], gates: dict[str, bool]) -> None:
    assert validate(build(muts), gates=gates) == []


def test_problems_come_in_kuberay_order() -> None:
    cluster = build([S(("metadata", "name"), "Bad"), S((*W0, "minReplicas"), 9)])
    assert [p.field for p in validate(cluster)] == ["metadata.name", "spec.workerGroupSpecs[0].maxReplicas"]


VALID = sorted((FIXTURES / "valid").glob("raycluster-*.yaml"))
# Fixtures whose error is one this module checks; the others are PodTemplateSpec schema.
INVALID = [p for p in sorted((FIXTURES / "invalid").glob("raycluster-*.yaml"))
           if p.stem not in ("raycluster-container-port-string", "raycluster-container-without-name")]


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.stem)
def test_valid_fixture(path: Path) -> None:
    assert validate(yaml.safe_load(path.read_text())) == []


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.stem)
def test_invalid_fixture(path: Path) -> None:
    text = path.read_text()
    expected = next(line.split(":", 2)[1].strip() for line in text.splitlines() if line.startswith("# expect-error:"))
    assert expected in [p.field for p in validate(yaml.safe_load(text))]


UNPARSABLE = [
    ("no-spec", {"metadata": {"name": "demo"}}, ["spec"]),
    ("spec-is-text", {"metadata": {"name": "demo"}, "spec": "x"}, ["spec"]),
    ("head-is-a-list", {"metadata": {"name": "demo"}, "spec": {"headGroupSpec": []}}, ["spec.headGroupSpec"]),
    ("groups-are-a-map", {"metadata": {"name": "demo"}, "spec": {"headGroupSpec": {"template": {}},
                                                                 "workerGroupSpecs": {"a": {}}}},
     ["spec.workerGroupSpecs"]),
    ("group-is-text", {"metadata": {"name": "demo"}, "spec": {"headGroupSpec": {"template": {}},
                                                              "workerGroupSpecs": ["g"]}},
     ["spec.workerGroupSpecs[0]"]),
    ("options-are-text", {"metadata": {"name": "demo"}, "spec": {"headGroupSpec": {"template": {}},
                                                                 "autoscalerOptions": "v2", "authOptions": 1}},
     ["spec.authOptions", "spec.autoscalerOptions"]),
]


@pytest.mark.parametrize(("raw", "fields"), [u[1:] for u in UNPARSABLE], ids=[u[0] for u in UNPARSABLE])
def test_what_does_not_parse_is_named_field_by_field_and_never_raises(raw: dict[str, Any], fields: list[str]) -> None:
    checked = check(raw)
    assert checked.cluster is None
    found = [p.field for p in checked.problems]
    assert found == fields, checked.problems
    assert len(set(found)) == len(found)  # one problem per field: schema and parse do not both report it


def test_a_field_the_schema_names_is_not_reported_again_by_the_parse() -> None:
    raw = build([S((*W0, "replicas"), "two"), D((*W0, "template"))])
    checked = check(raw)
    assert checked.cluster is None
    assert [p.field for p in checked.problems] == ["spec.workerGroupSpecs[0].template", "spec.workerGroupSpecs[0].replicas"]


def test_an_object_that_parses_is_handed_back_typed() -> None:
    checked = check(base())
    assert checked.problems == ()
    assert checked.cluster is not None and checked.cluster.spec.workers[0].group_name == "workers"
