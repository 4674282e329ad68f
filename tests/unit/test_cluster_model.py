"""KubeRay's semantics written once on the RayCluster models (`raybus_common.crds.raycluster`):
each rule against a table of cases, with Go's nil-pointer behaviour where the CRD default differs."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from raybus_common.crds.raycluster import RayCluster, WorkerGroupSpec, external_manager
from raybus_common.crds.resources import is_gpu

FIXTURE_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "valid"
FIXTURES = sorted(FIXTURE_DIR.glob("raycluster-*.yaml"))
Obj = dict[str, Any]


def rc(spec: Obj | None = None, **meta: Any) -> RayCluster:
    return RayCluster.model_validate({"metadata": {"name": "c", "uid": "uid-1", **meta},
                                      "spec": {"headGroupSpec": {"template": {}}, **(spec or {})}})


def group(**fields: Any) -> WorkerGroupSpec:
    return WorkerGroupSpec.model_validate({"groupName": "g", "template": {}, **fields})


REPLICAS = [
    ("replicas-unset-uses-min", group(minReplicas=2, maxReplicas=5), 2),
    ("below-min", group(replicas=1, minReplicas=2, maxReplicas=5), 2),
    ("above-max", group(replicas=9, minReplicas=2, maxReplicas=5), 5),
    ("within", group(replicas=4, minReplicas=2, maxReplicas=5), 4),
    ("max-unset-unbounded", group(replicas=400, minReplicas=0), 400),
    ("all-unset", group(), 0),
    ("explicit-zero-is-not-unset", group(replicas=0, minReplicas=0, maxReplicas=5), 0),
    ("group-suspended", group(replicas=3, minReplicas=1, maxReplicas=5, suspend=True), 0),
    ("multi-host", group(replicas=9, minReplicas=1, maxReplicas=2, numOfHosts=4), 8),
    ("zero-hosts-read-as-one", group(replicas=2, minReplicas=0, maxReplicas=5, numOfHosts=0), 2),
]


@pytest.mark.parametrize(("grp", "want"), [r[1:] for r in REPLICAS], ids=[r[0] for r in REPLICAS])
def test_desired_replicas_is_get_worker_group_desired_replicas(grp: WorkerGroupSpec, want: int) -> None:
    assert grp.desired_replicas() == want


def test_cluster_sums_skip_suspended_groups_and_ignore_the_cluster_suspend() -> None:
    groups = [{"groupName": "a", "replicas": 2, "minReplicas": 1, "maxReplicas": 3, "template": {}},
              {"groupName": "b", "replicas": 1, "minReplicas": 1, "numOfHosts": 2, "template": {}},
              {"groupName": "c", "replicas": 4, "minReplicas": 4, "maxReplicas": 4, "suspend": True, "template": {}}]
    spec = rc({"workerGroupSpecs": groups, "suspend": True}).spec  # KubeRay deletes the pods instead
    assert spec.desired_worker_replicas() == 2 + 2
    assert spec.min_worker_replicas() == 1 + 2
    assert spec.max_worker_replicas() == 2**31 - 1  # 3 + MaxInt32 × 2, clamped


FLAGS: list[tuple[str, Obj, Obj, tuple[bool, bool, bool, bool]]] = [
    # (autoscaling_enabled, autoscaler_v2, gcs_ft_enabled, redis_gcs_ft)
    ("nothing", {}, {}, (False, False, False, False)),
    ("autoscaling-false", {"enableInTreeAutoscaling": False}, {}, (False, False, False, False)),
    ("autoscaling-version-unset", {"enableInTreeAutoscaling": True, "autoscalerOptions": {}}, {},
     (True, False, False, False)),
    ("autoscaler-v1", {"enableInTreeAutoscaling": True, "autoscalerOptions": {"version": "v1"}}, {},
     (True, False, False, False)),
    ("autoscaler-v2", {"enableInTreeAutoscaling": True, "autoscalerOptions": {"version": "v2"}}, {},
     (True, True, False, False)),
    ("ft-annotation-any-case", {}, {"ray.io/ft-enabled": "True"}, (False, False, True, True)),
    ("ft-annotation-false", {}, {"ray.io/ft-enabled": "false"}, (False, False, False, False)),
    ("ft-options-default-backend", {"gcsFaultToleranceOptions": {}}, {}, (False, False, True, True)),
    ("ft-options-redis", {"gcsFaultToleranceOptions": {"backend": "redis"}}, {}, (False, False, True, True)),
    ("ft-options-rocksdb", {"gcsFaultToleranceOptions": {"backend": "rocksdb"}}, {}, (False, False, True, False)),
]


@pytest.mark.parametrize(("spec", "annotations", "want"), [f[1:] for f in FLAGS], ids=[f[0] for f in FLAGS])
def test_autoscaling_and_gcs_ft_switches(spec: Obj, annotations: dict[str, str],
                                         want: tuple[bool, bool, bool, bool]) -> None:
    c = rc(spec, annotations=annotations)
    assert (c.spec.autoscaling_enabled, c.spec.autoscaler_v2, c.gcs_ft_enabled, c.redis_gcs_ft) == want
    assert c.spec.gcs_ft_embedded is (spec.get("gcsFaultToleranceOptions", {}).get("backend") == "rocksdb")


STORAGE_NS = [
    ("uid", {}, {}, "uid-1"),
    ("annotation", {"ray.io/external-storage-namespace": "ann"}, {}, "ann"),
    ("options-win", {"ray.io/external-storage-namespace": "ann"}, {"externalStorageNamespace": "opt"}, "opt"),
    ("empty-options-value-ignored", {}, {"externalStorageNamespace": ""}, "uid-1"),
]


@pytest.mark.parametrize(("annotations", "options", "want"), [s[1:] for s in STORAGE_NS], ids=[s[0] for s in STORAGE_NS])
def test_gcs_storage_namespace(annotations: dict[str, str], options: Obj, want: str) -> None:
    assert rc({"gcsFaultToleranceOptions": options}, annotations=annotations).gcs_storage_namespace == want


@pytest.mark.parametrize(("label", "want"), [(None, "RayCluster"), ("RayJob", "RayJob"), ("RayService", "RayService"),
                                             ("RayCronJob", "RayCluster"), ("rayjob", "RayCluster")],
                         ids=["unset", "rayjob", "rayservice", "unknown-kind", "case-matters"])
def test_creator_crd_is_get_crd_type(label: str | None, want: str) -> None:
    labels = {} if label is None else {"ray.io/originated-from-crd": label}
    assert rc(labels=labels).creator_crd == want


@pytest.mark.parametrize(("value", "want"), [(None, None), ("", None), ("ray.io/kuberay-operator", None),
                                             ("kueue.x-k8s.io/multikueue", "kueue.x-k8s.io/multikueue"),
                                             ("example.com/other", "example.com/other")],
                         ids=["unset", "empty", "kuberay", "multikueue", "anything-else"])
def test_external_manager(value: str | None, want: str | None) -> None:
    assert external_manager(value) == want
    assert rc({} if value is None else {"managedBy": value}).spec.external_manager == want


@pytest.mark.parametrize(("text", "want"), [("2.52.0", (2, 52, 0)), ("v2.56.1", (2, 56, 1)), ("2.53", (2, 53, 0)),
                                            (" 2.9.0-rc1", (2, 9, 0)), ("2", None), ("nightly", None), (None, None)],
                         ids=["plain", "v-prefix", "two-parts-padded", "trailing-text", "one-part", "word", "unset"])
def test_ray_version_numbers_parse_generic(text: str | None, want: tuple[int, ...] | None) -> None:
    assert rc({} if text is None else {"rayVersion": text}).spec.ray_version_numbers == want


@pytest.mark.parametrize(("name", "want"), [("nvidia.com/gpu", True), ("amd.com/gpu", True), ("nvidia.com/mig-1g.5gb", True),
                                            ("nvidia.com/mig-1g.5gbx", False), ("cpu", False), ("google.com/tpu", False)],
                         ids=["nvidia", "amd", "mig", "mig-suffix", "cpu", "tpu"])
def test_is_gpu_resource_key(name: str, want: bool) -> None:
    assert is_gpu(name) is want


def test_desired_resources_is_a_resource_list() -> None:
    head = {"template": {"spec": {"containers": [{"resources": {"requests": {"cpu": "1"}, "limits": {"memory": "1Gi"}}}]}}}
    workers = [{"groupName": "g", "replicas": 3, "numOfHosts": 2, "template": {"spec": {"containers": [
        {"resources": {"limits": {"cpu": "500m", "nvidia.com/gpu": "1"}}}]}}}]
    total = rc({"headGroupSpec": head, "workerGroupSpecs": workers}).spec.desired_resources()
    assert {k: str(v) for k, v in total.items()} == {"cpu": "4", "memory": "1Gi", "nvidia.com/gpu": "6"}


def test_condition_true_reads_the_observed_status() -> None:
    c = RayCluster.model_validate({"metadata": {}, "spec": {"headGroupSpec": {"template": {}}}, "status": {
        "conditions": [{"type": "RayClusterProvisioned", "status": "True"}, {"type": "HeadPodReady", "status": "False"}]}})
    assert c.condition_true("RayClusterProvisioned") and not c.condition_true("HeadPodReady")
    assert not rc().condition_true("RayClusterProvisioned")


def test_metadata_readers_read_missing_as_empty() -> None:
    c = RayCluster.model_validate({"spec": {"headGroupSpec": {"template": {}}}})
    assert (c.name, c.namespace, c.uid, c.labels, c.annotations) == ("", "", "", {}, {})


# --- the spec hash --------------------------------------------------------------------------------

# What pods already carry (`ray.io/upgrade-strategy-recreate-hash`), computed by Raybus before the
# typed model (commit 8434d92): the hash must not move, or Recreate would replace every pod.
# Only the scale-strategy fixture moves, once, with the empty-scaleStrategy fix (see spec_hash).
PINNED = {
    "raycluster-autoscaler-v2": "c3si8jrf11o8duv8q4lqrvuihsojrirp",
    "raycluster-cpu-workers": "skag6rqtu0qb0a94djttm9duoacvf46l",
    "raycluster-gcs-ft-legacy-annotation": "jp56sp2j2asjklea460uubadlicso45s",
    "raycluster-gcs-ft-redis": "jjpv09jr0ho48usmfhh6m0br9vql69pp",
    "raycluster-gpu-workers": "6tjpo5uo1i37kaav0ouovp1m8k92cdb2",
    "raycluster-head-only": "tkpul4pqr0t80nelbehaa654d8s4suus",
    "raycluster-head-service-ingress": "5d12f79vadc07s95jinoslv80sgu1tuc",
    "raycluster-token-auth": "pf3isiv2tm4pcnmb7diua0s176qtk5t4",
    "raycluster-tpu-multihost": "kjjsiu5gb0gr469jl7lvaeotkmiene3m",
    "raycluster-upgrade-recreate": "cf5honi582bqtrrer60964hcmfkhk33c",
    "raycluster-volcano": "tqlkl1fekd4967lo6s0t9tudpjc28f2g",
    "raycluster-yunikorn-gang": "tl3n7f7tu8ru8q5tq5j0lgnva42bj9jd",
}


@pytest.mark.parametrize("name", sorted(PINNED))
def test_spec_hash_does_not_move_across_raybus_versions(name: str) -> None:
    raw = yaml.safe_load((FIXTURE_DIR / f"{name}.yaml").read_text())
    assert RayCluster.model_validate(raw).spec.spec_hash() == PINNED[name]


def test_an_empty_scale_strategy_is_no_spec_change() -> None:
    # The autoscaler sets workersToDelete on a group that had no scaleStrategy, then clears it.
    raw = yaml.safe_load((FIXTURE_DIR / "raycluster-cpu-workers.yaml").read_text())
    before = RayCluster.model_validate(raw).spec.spec_hash()
    for strategy in ({"workersToDelete": ["pod-a"]}, {}, {"workersToDelete": []}):
        changed = copy.deepcopy(raw)
        changed["spec"]["workerGroupSpecs"][0]["scaleStrategy"] = copy.deepcopy(strategy)
        assert RayCluster.model_validate(changed).spec.spec_hash() == before, strategy


def test_spec_hash_ignores_replicas_tolerations_and_upgrade_strategy_only() -> None:
    raw = yaml.safe_load(FIXTURES[0].read_text())
    raw["spec"]["workerGroupSpecs"][0]["scaleStrategy"] = {}
    before = RayCluster.model_validate(raw).spec.spec_hash()
    scaled = copy.deepcopy(raw)
    scaled["spec"]["workerGroupSpecs"][0].update(replicas=7, minReplicas=0, maxReplicas=9,
                                                 scaleStrategy={"workersToDelete": ["p"]})
    scaled["spec"]["workerGroupSpecs"][0]["template"]["spec"]["tolerations"] = [{"key": "k"}]
    scaled["spec"]["upgradeStrategy"] = {"type": "Recreate"}
    assert RayCluster.model_validate(scaled).spec.spec_hash() == before
    scaled["spec"]["workerGroupSpecs"][0]["template"]["spec"]["containers"][0]["image"] = "other"
    assert RayCluster.model_validate(scaled).spec.spec_hash() != before
