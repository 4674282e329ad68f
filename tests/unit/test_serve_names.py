"""serve-ctl's names (A.4) and the cluster spec hash (A.5): what the hash ignores and what it does
not, the partial hash of appended worker groups, and the generated cluster name (deterministic,
never the active or pending one)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from serve_core_views import cluster_config, raycluster, worker

from raybus_common import objects
from raybus_common.objects import SUFFIX_ALPHABET
from raybus_serve_ctl import hashing
from raybus_serve_ctl.names import (
    FINALIZER,
    cluster_name,
    cluster_serve_service_name,
    gateway_name,
    head_service_name,
    httproute_name,
    serve_service_name,
)

Obj = dict[str, Any]


# --- names ----------------------------------------------------------------------------------------
def test_fixed_names() -> None:
    assert FINALIZER == "ray.io/rayservice-finalizer"
    assert head_service_name("rs") == "rs-head-svc"
    assert gateway_name("rs") == "rs-gateway"
    assert httproute_name("rs") == "rs-httproute"
    assert cluster_serve_service_name("rs-abcde") == "rs-abcde-serve-svc"


@pytest.mark.parametrize(("template", "incremental", "want"), [
    pytest.param(None, False, "rs-serve-svc", id="default"),
    pytest.param({"metadata": {"name": "mine"}}, False, "mine", id="template-name"),
    pytest.param({"metadata": {}}, False, "rs-serve-svc", id="template-without-name"),
    pytest.param({"metadata": {"name": "mine"}}, True, "rs-abcde-serve-svc", id="incremental-ignores-template"),
])
def test_serve_service_name(template: Obj | None, incremental: bool, want: str) -> None:
    assert serve_service_name("rs", serve_service=template, incremental=incremental, cluster="rs-abcde") == want


BASE: dict[str, Any] = {"uid": "u", "generation": 3, "goal_hash": "H", "active": "", "pending": ""}


def test_cluster_name_is_deterministic_and_five_chars_of_the_alphabet() -> None:
    name = cluster_name("rs", **BASE)
    assert name == cluster_name("rs", **BASE)
    assert name.startswith("rs-") and len(name) == 8 and set(name[3:]) <= set(SUFFIX_ALPHABET)


@pytest.mark.parametrize("change", [
    pytest.param({"uid": "v"}, id="another-rayservice"),
    pytest.param({"generation": 4}, id="another-generation"),
    pytest.param({"goal_hash": "G"}, id="another-spec"),
    pytest.param({"active": "rs-xxxxx"}, id="another-active"),
    pytest.param({"pending": "rs-yyyyy"}, id="another-pending"),
])
def test_each_input_changes_the_cluster_name(change: dict[str, Any]) -> None:
    assert cluster_name("rs", **{**BASE, **change}) != cluster_name("rs", **BASE)


def test_a_reverted_spec_never_names_the_cluster_still_there() -> None:
    """The active cluster was named from this very spec; reverting to it while a pending cluster
    exists must name a third cluster, not the active one."""
    first = cluster_name("rs", **BASE)
    second = cluster_name("rs", **{**BASE, "generation": 4, "goal_hash": "G", "active": first})
    third = cluster_name("rs", **{**BASE, "generation": 5, "active": first, "pending": second})
    assert len({first, second, third}) == 3


def test_a_name_equal_to_the_active_or_pending_one_is_salted_away(monkeypatch: pytest.MonkeyPatch) -> None:
    """A derivation that lands on a name in use (vanishingly rare) is salted until it does not."""
    seen: list[tuple[object, ...]] = []

    def suffix(*parts: object) -> str:
        seen.append(parts)
        return ["taken", "again", "fresh"][len(seen) - 1]

    monkeypatch.setattr(objects, "generated_suffix", suffix)
    assert cluster_name("rs", **{**BASE, "active": "rs-taken", "pending": "rs-again"}) == "rs-fresh"
    assert [p[6:] for p in seen] == [(), (1,), (2,)]


# --- the hash -------------------------------------------------------------------------------------
def _pod(config: Obj, group: int | None = None) -> Obj:
    target = config["headGroupSpec"] if group is None else config["workerGroupSpecs"][group]
    spec: Obj = target["template"]["spec"]
    return spec


def _set(path: str, value: Any) -> Any:
    def change(config: Obj) -> None:
        *parents, last = path.split(".")
        node: Any = config
        for part in parents:
            node = node[int(part)] if part.isdigit() else node.setdefault(part, {})
        node[last] = value
    return change


IGNORED = [
    pytest.param(_set("suspend", True), id="suspend"),
    pytest.param(_set("upgradeStrategy", {"type": "Recreate"}), id="upgradeStrategy"),
    pytest.param(lambda c: _pod(c).update(tolerations=[{"key": "k", "operator": "Exists"}]), id="head-tolerations"),
    pytest.param(lambda c: _pod(c).update(schedulingGates=[{"name": "kueue.x-k8s.io/admission"}]),
                 id="head-schedulingGates"),
    pytest.param(lambda c: _pod(c, 0).update(tolerations=[{"key": "k"}]), id="worker-tolerations"),
    pytest.param(lambda c: _pod(c, 0).update(schedulingGates=[{"name": "g"}]), id="worker-schedulingGates"),
    pytest.param(_set("workerGroupSpecs.0.replicas", 3), id="replicas"),
    pytest.param(_set("workerGroupSpecs.0.minReplicas", 0), id="minReplicas"),
    pytest.param(_set("workerGroupSpecs.0.maxReplicas", 10), id="maxReplicas"),
    pytest.param(_set("workerGroupSpecs.0.scaleStrategy", {"workersToDelete": ["p1"]}), id="workersToDelete"),
]
COUNTED = [
    pytest.param(lambda c: _pod(c)["containers"][0].update(image="rayproject/ray:2.53.0"), id="head-image"),
    pytest.param(lambda c: _pod(c, 0)["containers"][0].update(image="x"), id="worker-image"),
    pytest.param(_set("headGroupSpec.rayStartParams", {"num-cpus": "0"}), id="rayStartParams"),
    pytest.param(_set("workerGroupSpecs.0.groupName", "renamed"), id="group-name"),
    pytest.param(_set("enableInTreeAutoscaling", True), id="autoscaling"),
    pytest.param(lambda c: c["workerGroupSpecs"].append(worker("big")), id="appended-group"),
    pytest.param(lambda c: c.update(workerGroupSpecs=[]), id="group-removed"),
    pytest.param(_set("futureField", {"x": 1}), id="unknown-field"),
]


@pytest.mark.parametrize("change", IGNORED)
def test_the_hash_ignores(change: Any) -> None:
    config = cluster_config()
    changed = copy.deepcopy(config)
    change(changed)
    assert changed != config
    assert hashing.spec_hash(changed) == hashing.spec_hash(config)


@pytest.mark.parametrize("change", COUNTED)
def test_the_hash_counts(change: Any) -> None:
    config = cluster_config()
    changed = copy.deepcopy(config)
    change(changed)
    assert hashing.spec_hash(changed) != hashing.spec_hash(config)


def test_the_hash_is_base32hex_of_sha1_and_does_not_touch_its_input() -> None:
    config = cluster_config(suspend=True)
    before = copy.deepcopy(config)
    value = hashing.spec_hash(config)
    assert len(value) == 32 and set(value) <= set("0123456789abcdefghijklmnopqrstuv")
    assert config == before


def test_no_worker_groups_and_an_empty_list_hash_the_same() -> None:
    """Go's `omitempty`: appending the first group is then a partial-hash match."""
    bare = cluster_config(workers=[])
    del bare["workerGroupSpecs"]
    assert hashing.spec_hash(bare) == hashing.spec_hash(cluster_config(workers=[]))
    assert hashing.partial_hash(cluster_config(workers=[worker()]), 0) == hashing.spec_hash(bare)


@pytest.mark.parametrize(("goal_groups", "count", "equal"), [
    pytest.param(["small"], 1, True, id="same-groups"),
    pytest.param(["small", "big"], 1, True, id="group-appended"),
    pytest.param(["small", "big", "huge"], 1, True, id="two-groups-appended"),
    pytest.param(["big", "small"], 1, False, id="group-prepended"),
    pytest.param([], 1, False, id="group-removed"),
])
def test_partial_hash(goal_groups: list[str], count: int, equal: bool) -> None:
    created = cluster_config(workers=[worker("small")])
    goal = cluster_config(workers=[worker(g, replicas=2) for g in goal_groups])
    partial = hashing.partial_hash(goal, count)
    assert (partial == hashing.spec_hash(created)) is equal
    if len(goal_groups) < count:
        assert partial == ""


@pytest.mark.parametrize(("annotations", "partial", "want"), [
    pytest.param({"h": "x"}, False, True, id="full-equal"),
    pytest.param({"h": "other"}, False, False, id="full-differs"),
    pytest.param({"h": "other", "n": "1"}, True, False, id="partial-differs"),
    pytest.param({"h": "x", "n": "1"}, True, True, id="partial-equal"),
    pytest.param({"h": "other"}, True, True, id="no-count-is-partially-equal"),
    pytest.param({"h": "other", "n": "one"}, True, True, id="count-not-an-integer"),
    pytest.param({"h": "other", "n": "-1"}, True, True, id="negative-count"),
    pytest.param({"h": "other", "n": " 1"}, True, True, id="count-with-a-space"),
    pytest.param({"h": "x", "n": "+1"}, True, True, id="count-with-a-sign"),
    pytest.param({"n": "5"}, True, True, id="goal-has-fewer-groups-and-no-hash"),
    pytest.param({"h": "other", "n": "5"}, True, False, id="goal-has-fewer-groups"),
])
def test_hash_equal(annotations: dict[str, str], partial: bool, want: bool) -> None:
    goal = cluster_config()
    keys = {"h": "ray.io/hash-without-replicas-and-workers-to-delete", "n": "ray.io/num-worker-groups"}
    values = {keys[k]: (hashing.spec_hash(goal) if v == "x" else v) for k, v in annotations.items()}
    assert hashing.hash_equal(goal, raycluster("rs-abcde", annotations=values), partial=partial) is want
