"""cluster-ctl's memo (`memo`): what follows from a RayCluster's spec is worked out once and kept,
and a pass decides exactly as one that worked everything out afresh."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import yaml
from cluster_views import FIXTURES, NOW, REPO, SETTINGS, World, converge, views

from raybus_cluster_ctl.config import ClusterConfig
from raybus_cluster_ctl.memo import MEMO
from raybus_cluster_ctl.plan.children import planned_children
from raybus_cluster_ctl.pods.build import named_worker, worker_pod
from raybus_cluster_ctl.reconcile import reconcile
from raybus_cluster_ctl.status.calculate import desired_resources
from raybus_cluster_ctl.validation.check import check
from raybus_common.actions import Apply, RecordEvent
from raybus_common.controller.view import Observed, RootKey
from raybus_common.crds.raycluster import RayCluster
from raybus_common.decision import Decision

Obj = dict[str, Any]
OTHER = ClusterConfig(enable_ray_head_cluster_ip_service=True, enable_init_container_injection=False,
                      feature_gates={"RayMultiHostIndexing": False, "RayClusterStatusConditions": False})


@pytest.fixture(autouse=True)
def _empty_memo() -> Iterator[None]:
    MEMO.clear()
    yield
    MEMO.clear()


def fresh(observed: Observed, settings: ClusterConfig = SETTINGS) -> Decision:
    """The pass with the memo off: everything worked out from the cluster as checked."""
    return reconcile(observed, now=NOW, settings=settings.model_copy(update={"spec_memo_size": 0}))


def again(observed: Observed) -> Observed:
    """The same view as the bus would deliver it again: equal objects, none of them the same."""
    return Observed(observed.key, copy.deepcopy(observed.root), observed.children, observed.failures)


def test_memoised_passes_decide_as_fresh_ones_over_every_fixture_view() -> None:
    """Every fixture's life and variations, under two settings: each pass with the memo as the
    passes before left it (the same objects again, equal copies, the other settings in between)
    decides what a pass with an empty memo decides."""
    for settings in (SETTINGS, OTHER):
        every = views(settings)
        expected = [fresh(observed, settings) for _, observed in every]
        MEMO.clear()
        MEMO.hits = MEMO.misses = 0
        for (name, observed), want in zip(every, expected, strict=True):
            for view in (observed, observed, again(observed)):
                assert reconcile(view, now=NOW, settings=settings) == want, name
            other = OTHER if settings is SETTINGS else SETTINGS
            reconcile(observed, now=NOW, settings=other)  # the same cluster under other settings: a miss
        assert MEMO.hits >= len(every) * 2, "the memo served the repeated passes"


def test_each_kept_fact_is_what_the_cluster_as_checked_gives() -> None:
    for name, observed in views():
        assert observed.root is not None
        facts = MEMO.facts(observed.root, SETTINGS)
        checked = check(observed.root, gates=SETTINGS.gates)
        assert facts is not None and checked.cluster is not None, name
        assert facts.checked(observed.root) == checked, name
        assert facts.spec_hash == checked.cluster.spec.spec_hash(), name
        assert facts.desired_resources == desired_resources(checked.cluster), name
        assert facts.children == tuple((c["kind"], c["metadata"]["name"])
                                       for c in planned_children(checked.cluster, SETTINGS)), name


def _replicas(c: Obj) -> None:
    c["spec"]["workerGroupSpecs"][0]["replicas"] += 1


def _image(c: Obj) -> None:
    c["spec"]["workerGroupSpecs"][0]["template"]["spec"]["containers"][0]["image"] = "rayproject/ray:2.53.0"


def _overwrite_cmd(c: Obj) -> None:
    c["metadata"].setdefault("annotations", {})["ray.io/overwrite-container-cmd"] = "true"


def _made_by_rayservice(c: Obj) -> None:
    """Upgrade strategies are for RayClusters made directly (KubeRay `ValidateRayClusterUpgradeOptions`)."""
    c["metadata"].setdefault("labels", {})["ray.io/originated-from-crd"] = "RayService"


def _recreated(c: Obj) -> None:
    c["metadata"]["uid"] = "uid-recreated"


def _bad_status(c: Obj) -> None:
    c["status"] = {**c.get("status", {}), "readyWorkerReplicas": "many"}  # does not parse: checked afresh


def _both_suspend_conditions(c: Obj) -> None:
    c["status"] = {"conditions": [
        {"type": t, "status": "True", "reason": "x", "message": "", "lastTransitionTime": "2026-12-02T02:58:00Z"}
        for t in ("RayClusterSuspending", "RayClusterSuspended")]}


def _without_workers() -> Observed:
    """The cpu-workers fixture converged, then its workers gone: the pass makes workers, whose
    names and pods follow from the spec, the uid and the settings."""
    raw = yaml.safe_load(next(p for p in FIXTURES if p.stem == "raycluster-cpu-workers").read_text())
    *_, (_, world) = converge(raw)
    for pod in world.pods("worker"):
        del world.children[("pod", pod["metadata"]["name"])]
    return world.observe()


@pytest.mark.parametrize("change", [_replicas, _image, _overwrite_cmd, _made_by_rayservice, _recreated, _bad_status,
                                    _both_suspend_conditions])
def test_a_changed_cluster_is_not_served_from_the_memo(change: Callable[[Obj], None]) -> None:
    """Changed in place (the very objects the memo saw) and as a new object: the pass decides as
    a fresh one, and not as before the change."""
    observed = _without_workers()
    assert observed.root is not None
    if change is _made_by_rayservice:  # the label alone is no change; with Recreate it is
        observed.root["spec"]["upgradeStrategy"] = {"type": "Recreate"}
    before = reconcile(observed, now=NOW, settings=SETTINGS)
    assert reconcile(observed, now=NOW, settings=SETTINGS) == before and MEMO.hits >= 1
    kept = copy.deepcopy(observed.root)
    change(observed.root)  # in place
    after = reconcile(observed, now=NOW, settings=SETTINGS)
    assert after == fresh(observed)
    assert after != before
    unchanged = Observed(observed.key, kept, observed.children)
    assert reconcile(unchanged, now=NOW, settings=SETTINGS) == before
    changed = copy.deepcopy(kept)
    change(changed)
    assert reconcile(Observed(observed.key, changed, observed.children), now=NOW, settings=SETTINGS) == after


@pytest.mark.parametrize("same", [True, 1.0])
def test_a_replica_count_of_true_or_1_0_is_not_1(same: Any) -> None:
    """Python's `True == 1.0 == 1`; the schema check's is not: the memo compares the spec as JSON."""
    observed = _without_workers()
    assert observed.root is not None
    observed.root["spec"]["workerGroupSpecs"][0]["replicas"] = 1
    before = reconcile(observed, now=NOW, settings=SETTINGS)
    observed.root["spec"]["workerGroupSpecs"][0]["replicas"] = same
    after = reconcile(observed, now=NOW, settings=SETTINGS)
    assert after == fresh(observed) != before
    assert [a.reason for a in after.actions if isinstance(a, RecordEvent)] == ["InvalidRayClusterSpec"]


def test_a_feature_gate_is_not_served_from_the_memo() -> None:
    """The embedded GCS store is valid only with its gate on."""
    observed = _without_workers()
    assert observed.root is not None
    observed.root["spec"]["gcsFaultToleranceOptions"] = {"backend": "rocksdb"}
    gated = ClusterConfig(feature_gates={"GCSFaultToleranceEmbeddedStorage": True})
    on, off = (reconcile(observed, now=NOW, settings=s) for s in (gated, SETTINGS))
    assert (on, off) == (fresh(observed, gated), fresh(observed, SETTINGS))
    assert [a.reason for a in off.actions if isinstance(a, RecordEvent)] == ["InvalidRayClusterSpec"]
    assert not [a for a in on.actions if isinstance(a, RecordEvent)]


def test_changed_settings_are_not_served_from_the_memo() -> None:
    observed = _without_workers()
    plain = reconcile(observed, now=NOW, settings=SETTINGS)
    other = reconcile(observed, now=NOW, settings=OTHER)
    assert other == fresh(observed, OTHER) and plain == fresh(observed, SETTINGS)
    inits = [a.object["spec"].get("initContainers") for d in (plain, other) for a in d.actions
             if isinstance(a, Apply) and a.object["kind"] == "Pod" and "worker" in a.object["metadata"]["name"]]
    assert inits[0] and not inits[-1]


def _sample() -> Obj:
    raw: Obj = yaml.safe_load((REPO / "deploy" / "samples" / "raycluster-sample.yaml").read_text())
    return raw


def _cluster(name: str) -> Observed:
    raw = _sample()
    raw["metadata"]["name"] = name
    world = World(raw)
    return world.observe()


def test_the_memo_keeps_one_entry_per_cluster_at_most_the_size_and_forgets_clusters_that_go() -> None:
    small = ClusterConfig(spec_memo_size=2)
    for name in ("a", "b", "c"):
        reconcile(_cluster(name), now=NOW, settings=small)
        reconcile(_cluster(name), now=NOW, settings=small)
    assert len(MEMO) == 2
    reconcile(Observed(RootKey("raycluster", "default", "c"), None), now=NOW, settings=small)
    assert len(MEMO) == 1
    off = ClusterConfig(spec_memo_size=0)
    MEMO.clear()
    MEMO.misses = 0
    d = reconcile(_cluster("a"), now=NOW, settings=off)
    assert len(MEMO) == 0 and MEMO.misses == 0 and d == reconcile(_cluster("a"), now=NOW, settings=small)


def test_an_invalid_spec_decides_as_afresh_pass_after_pass() -> None:
    c = _cluster("invalid")
    assert c.root is not None
    c.root["spec"]["workerGroupSpecs"][0]["maxReplicas"] = -1
    want = fresh(c)
    assert [a.reason for a in want.actions if isinstance(a, RecordEvent)] == ["InvalidRayClusterSpec"]
    assert reconcile(c, now=NOW, settings=SETTINGS) == want == reconcile(again(c), now=NOW, settings=SETTINGS)


@pytest.mark.parametrize("settings", [SETTINGS, OTHER])
def test_a_worker_pod_copied_and_named_is_the_one_built_for_that_name(settings: ClusterConfig) -> None:
    """A pass builds each group's pod once and names copies of it (`Pass.worker_pod`)."""
    for path in FIXTURES:
        cluster = RayCluster.model_validate({**yaml.safe_load(path.read_text()), "metadata": {
            "name": path.stem[len("raycluster-"):], "namespace": "default", "uid": "uid-1"}})
        for group in cluster.spec.workers:
            built = worker_pod(cluster, group, "first-name", settings, replica_group="r0", host_index=3)
            as_built = copy.deepcopy(built)
            for kw in ({}, {"replica_group": "r1", "host_index": 1, "replica_index": 2}, {"host_index": 0}):
                named = named_worker(built, group, "other-name", settings, **kw)
                assert named == worker_pod(cluster, group, "other-name", settings, **kw), (path.stem, kw)
                assert built == as_built, (path.stem, kw)  # naming a copy leaves the pod it was made from
