"""The RayCluster a RayService creates (KubeRay `constructRayClusterForRayService`) and the in-place
update goal (`modifyRayCluster`)."""

from __future__ import annotations

import copy

import pytest
from serve_core_views import NS, OWNER, Obj, cluster_config, raycluster, rayservice, worker

from raybus_serve_ctl.cluster import cluster_config as config_of
from raybus_serve_ctl.cluster import ray_cluster_for, replicas_unset, updated_cluster
from raybus_serve_ctl.hashing import spec_hash

HASH = "ray.io/hash-without-replicas-and-workers-to-delete"


def test_the_cluster_object() -> None:
    config = cluster_config(workers=[worker("a"), worker("b")], suspend=True, futureField={"kept": 1})
    raw = rayservice(config=config, labels={"team": "a", "ray.io/originated-from-crd": "user"},
                     annotations={"note": "n", "ray.io/num-worker-groups": "9"})
    before = copy.deepcopy(raw)
    obj = ray_cluster_for(raw, name="rs-abcde", kuberay_version="v1.7.0", unset_replicas=False)
    assert raw == before, "the RayService is not changed"
    assert obj["apiVersion"] == "ray.io/v1" and obj["kind"] == "RayCluster"
    meta = obj["metadata"]
    assert (meta["name"], meta["namespace"]) == ("rs-abcde", NS)
    assert meta["labels"] == {"team": "a", "ray.io/originated-from-crd": "RayService",
                              "ray.io/originated-from-cr-name": "rs"}
    assert meta["annotations"] == {"note": "n", HASH: spec_hash(config), "ray.io/num-worker-groups": "2",
                                   "ray.io/kuberay-version": "v1.7.0"}
    assert meta["ownerReferences"] == [OWNER]
    expected = copy.deepcopy(config)  # the config as sent: suspend and unknown fields included;
    expected["headGroupSpec"]["template"]["metadata"] = {"labels": {  # the head pod names its RayService
        "ray.io/originated-from-cr-name": "rs", "ray.io/originated-from-crd": "RayService"}}
    assert obj["spec"] == expected
    assert obj["spec"] is not config_of(raw) and obj["spec"]["workerGroupSpecs"][0]["replicas"] == 1


def test_the_hash_annotation_leaves_suspend_out() -> None:
    running = ray_cluster_for(rayservice(), name="c", kuberay_version="v", unset_replicas=False)
    suspended = ray_cluster_for(rayservice(config=cluster_config(suspend=True)), name="c", kuberay_version="v",
                                unset_replicas=False)
    assert running["metadata"]["annotations"][HASH] == suspended["metadata"]["annotations"][HASH]
    assert suspended["spec"]["suspend"] is True


def test_no_worker_groups() -> None:
    obj = ray_cluster_for(rayservice(config=cluster_config(workers=[])), name="c", kuberay_version="v",
                          unset_replicas=True)
    assert obj["metadata"]["annotations"]["ray.io/num-worker-groups"] == "0"


def test_an_incremental_pending_cluster_leaves_worker_replicas_out() -> None:
    config = cluster_config(workers=[worker("a", replicas=4), worker("b")])
    obj = ray_cluster_for(rayservice(config=config), name="c", kuberay_version="v", unset_replicas=True)
    assert [("replicas" in g, g["minReplicas"]) for g in obj["spec"]["workerGroupSpecs"]] == [(False, 1), (False, 1)]
    assert config["workerGroupSpecs"][0]["replicas"] == 4, "the RayService's spec is not changed"
    assert obj["metadata"]["annotations"][HASH] == spec_hash(config), "replicas are not in the hash anyway"


@pytest.mark.parametrize(("incremental", "active", "want"), [
    pytest.param(True, "rs-abcde", True, id="incremental-with-an-active-cluster"),
    pytest.param(True, "", False, id="incremental-first-cluster"),
    pytest.param(False, "rs-abcde", False, id="blue-green"),
])
def test_replicas_unset(incremental: bool, active: str, want: bool) -> None:
    assert replicas_unset(incremental=incremental, active_name=active) is want


def _current(suspend: object) -> Obj:
    config = cluster_config()
    if suspend is not None:
        config["suspend"] = suspend
    current = raycluster("rs-abcde", config, annotations={"old": "a"})
    current["metadata"].update(labels={"old": "l"}, resourceVersion="9",
                               ownerReferences=[OWNER])
    current["status"] = {"state": "ready"}
    return current


@pytest.mark.parametrize(("current_suspend", "goal_suspend", "want"), [
    pytest.param(None, True, None, id="goal-suspends-current-never-did"),
    pytest.param(True, False, True, id="kueue-suspended-it"),
    pytest.param(False, True, False, id="kueue-admitted-it"),
])
def test_an_in_place_update_keeps_suspend(current_suspend: object, goal_suspend: bool, want: object) -> None:
    config = cluster_config(workers=[worker("a"), worker("b")], suspend=goal_suspend)
    goal = ray_cluster_for(rayservice(config=config, labels={"new": "l"}), name="rs-abcde", kuberay_version="v",
                           unset_replicas=False)
    current = _current(current_suspend)
    out = updated_cluster(current, goal)
    assert out["spec"].get("suspend") == want and ("suspend" in out["spec"]) is (want is not None)
    assert [g["groupName"] for g in out["spec"]["workerGroupSpecs"]] == ["a", "b"]
    assert out["metadata"]["labels"] == goal["metadata"]["labels"]
    assert out["metadata"]["annotations"] == goal["metadata"]["annotations"]
    assert (out["metadata"]["name"], out["metadata"]["uid"], out["metadata"]["resourceVersion"]) == (
        "rs-abcde", "uid-rs-abcde", "9")
    assert "status" not in out
    assert current["metadata"]["labels"] == {"old": "l"}, "the observed cluster is not changed"
