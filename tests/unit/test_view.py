"""The controller view: child→root indexing, stale and unchanged updates, removal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from raybus_common.controller.view import Failure, RootKey, View, either, labelled, owned_by


def obj(name: str, ns: str = "default", uid: str = "u", rv: str = "1", labels: dict[str, str] | None = None,
        owner: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": ns, "uid": uid, "resourceVersion": rv}
    if labels:
        meta["labels"] = labels
    if owner:
        meta["ownerReferences"] = [{"kind": "RayCluster", "name": owner, "controller": True, "uid": "x"}]
    return {"metadata": meta}


def view() -> View:
    return View("raycluster", {
        "pod": labelled("raycluster", "ray.io/cluster"),
        "service": either(owned_by("raycluster", "RayCluster"), labelled("raycluster", "ray.io/cluster")),
    })


RC = RootKey("raycluster", "default", "rc")


def test_children_are_indexed_under_their_root() -> None:
    v = view()
    assert v.upsert("raycluster", obj("rc")) == {RC}
    assert v.upsert("pod", obj("rc-head", labels={"ray.io/cluster": "rc"})) == {RC}
    assert v.upsert("service", obj("rc-head-svc", owner="rc", labels={"ray.io/cluster": "rc"})) == {RC}
    seen = v.observe(RC)
    assert seen.root is not None and seen.root["metadata"]["name"] == "rc"
    assert [p["metadata"]["name"] for p in seen.of("pod")] == ["rc-head"]
    assert [s["metadata"]["name"] for s in seen.of("service")] == ["rc-head-svc"]


def test_relabelling_a_child_moves_it_and_wakes_both_roots() -> None:
    v = view()
    v.upsert("pod", obj("p", labels={"ray.io/cluster": "a"}))
    woken = v.upsert("pod", obj("p", rv="2", labels={"ray.io/cluster": "b"}))
    assert woken == {RootKey("raycluster", "default", "a"), RootKey("raycluster", "default", "b")}
    assert v.observe(RootKey("raycluster", "default", "a")).of("pod") == ()
    assert len(v.observe(RootKey("raycluster", "default", "b")).of("pod")) == 1


def test_an_older_resource_version_of_the_same_object_is_ignored() -> None:
    v = view()
    v.upsert("pod", obj("p", rv="10", labels={"ray.io/cluster": "rc", "v": "new"}))
    assert v.upsert("pod", obj("p", rv="9", labels={"ray.io/cluster": "rc", "v": "old"})) == set()
    assert v.get("pod", "default", "p")["metadata"]["labels"]["v"] == "new"  # type: ignore[index]


def test_the_same_resource_version_again_wakes_nothing() -> None:
    # A relist after a restart republishes every object unchanged: no root needs reconciling.
    v = view()
    v.upsert("raycluster", obj("rc", rv="5"))
    v.upsert("pod", obj("p", rv="10", labels={"ray.io/cluster": "rc"}))
    assert v.upsert("pod", obj("p", rv="10", labels={"ray.io/cluster": "rc"})) == set()
    assert v.upsert("raycluster", obj("rc", rv="5")) == set()
    assert v.upsert("pod", obj("p", rv="11", labels={"ray.io/cluster": "rc", "v": "2"})) == {RC}


def test_a_child_whose_resource_version_alone_moved_is_stored_and_wakes_nothing() -> None:
    # A pod bound to its node: what cluster-ctl keeps of it is the same but for its resourceVersion.
    v = view()
    v.upsert("raycluster", obj("rc", rv="5"))
    v.upsert("pod", obj("p", rv="10", labels={"ray.io/cluster": "rc"}))
    assert v.upsert("pod", obj("p", rv="11", labels={"ray.io/cluster": "rc"})) == set()
    assert v.get("pod", "default", "p")["metadata"]["resourceVersion"] == "11"  # type: ignore[index]
    assert v.upsert("pod", obj("p", rv="10", labels={"ray.io/cluster": "rc"})) == set(), "older: ignored"
    assert v.get("pod", "default", "p")["metadata"]["resourceVersion"] == "11"  # type: ignore[index]
    assert [p["metadata"]["resourceVersion"] for p in v.observe(RC).of("pod")] == ["11"]
    # Anything else that changes wakes the root, in the metadata or beside it.
    assert v.upsert("pod", obj("p", rv="12", labels={"ray.io/cluster": "rc", "v": "2"})) == {RC}
    assert v.upsert("pod", {**obj("p", rv="13", labels={"ray.io/cluster": "rc", "v": "2"}),
                            "status": {"phase": "Running"}}) == {RC}
    assert v.upsert("pod", obj("p", rv="14", labels={"ray.io/cluster": "rc", "v": "2"})) == {RC}, \
        "a field gone is a change too"
    # The root itself is always woken: a status write that landed is seen by its resourceVersion.
    assert v.upsert("raycluster", obj("rc", rv="6")) == {RC}


def test_a_failed_write_made_moot_by_a_moved_child_wakes_its_root() -> None:
    v = view()
    v.upsert("raycluster", obj("rc"))
    v.upsert("pod", obj("rc-w1", uid="p", rv="10", labels={"ray.io/cluster": "rc"}))
    assert v.failed(RC, failure("apply", "rc-w1"))
    assert v.upsert("pod", obj("rc-w1", uid="p", rv="11", labels={"ray.io/cluster": "rc"})) == {RC}
    assert v.observe(RC).failures == ()


def test_a_recreated_object_with_a_new_uid_replaces_the_old_even_with_lower_rv() -> None:
    v = view()
    v.upsert("pod", obj("p", uid="old", rv="10"))
    v.upsert("pod", obj("p", uid="new", rv="3"))
    assert v.get("pod", "default", "p")["metadata"]["uid"] == "new"  # type: ignore[index]


def test_removal_unindexes_and_wakes_the_root() -> None:
    v = view()
    v.upsert("raycluster", obj("rc"))
    v.upsert("pod", obj("p", labels={"ray.io/cluster": "rc"}))
    assert v.remove("pod", "default", "p") == {RC}
    assert v.observe(RC).of("pod") == ()
    assert v.remove("pod", "default", "p") == set()
    assert v.remove("raycluster", "default", "rc") == {RC}
    assert v.observe(RC).root is None


def test_unknown_kinds_and_unowned_children_wake_nothing() -> None:
    v = view()
    assert v.upsert("configmap", obj("cm")) == set()
    assert v.upsert("pod", obj("orphan")) == set()


def test_root_key_round_trip() -> None:
    assert RootKey.parse(str(RC)) == RC
    assert RootKey.parse("raycluster/ns/name.with.dots").name == "name.with.dots"


# --- failed writes -------------------------------------------------------------------------------

T = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def failure(op: str, name: str, *, at: datetime = T, uid: str | None = "u", aid: str = "a1") -> Failure:
    return Failure(aid, op, "pod", "default", name, reason="FailedToCreateWorkerPod", message="quota", at=at,
                   root_uid=uid)


def with_root() -> View:
    v = view()
    v.upsert("raycluster", obj("rc"))
    return v


def test_a_failed_create_is_in_view_until_its_object_is_observed() -> None:
    v = with_root()
    assert v.failed(RC, failure("apply", "rc-w1"))
    assert [f.name for f in v.observe(RC).failures] == ["rc-w1"]
    assert v.observe(RC).failure_of("pod", "default", "rc-w1") is not None
    v.upsert("pod", obj("rc-w1", uid="p", labels={"ray.io/cluster": "rc"}))
    assert v.observe(RC).failures == ()


def test_a_failed_delete_is_in_view_until_its_object_is_gone() -> None:
    v = with_root()
    assert not v.failed(RC, failure("delete", "rc-w1")), "nothing in view to delete: moot already"
    v.upsert("pod", obj("rc-w1", uid="p", labels={"ray.io/cluster": "rc"}))
    assert v.failed(RC, failure("delete", "rc-w1"))
    v.upsert("pod", obj("rc-w1", uid="p", rv="2", labels={"ray.io/cluster": "rc"}))
    assert len(v.observe(RC).failures) == 1, "still there: the delete failed"
    v.remove("pod", "default", "rc-w1")
    assert v.observe(RC).failures == ()


def test_a_later_success_clears_a_failure_and_an_older_failure_never_replaces_a_newer_one() -> None:
    v = with_root()
    v.failed(RC, failure("apply", "rc-w1", at=T + timedelta(seconds=5), aid="new"))
    assert not v.failed(RC, failure("apply", "rc-w1", at=T, aid="old")), "a late replay"
    assert [f.action_id for f in v.observe(RC).failures] == ["new"]
    assert v.succeeded(RC, ("pod", "default", "rc-w1"))
    assert not v.succeeded(RC, ("pod", "default", "rc-w1"))
    assert v.observe(RC).failures == ()


def test_failures_go_with_their_root_and_a_new_root_of_the_name_does_not_see_them() -> None:
    v = with_root()
    v.failed(RC, failure("apply", "rc-w2", at=T + timedelta(seconds=1)))
    v.failed(RC, failure("apply", "rc-w1"))
    assert [f.name for f in v.observe(RC).failures] == ["rc-w1", "rc-w2"], "oldest first"
    v.failed(RC, failure("apply", "rc-w3", uid="an-older-uid"))
    assert "rc-w3" not in [f.name for f in v.observe(RC).failures], "about another cluster of that name"
    v.remove("raycluster", "default", "rc")
    assert v.failures(RC) == ()


# -- objects a root names without owning them (a RayJob's clusterSelector) ---------------------


def job_view() -> View:
    def selected(root: dict[str, Any]) -> list[str]:
        return [((root.get("spec") or {}).get("clusterSelector") or {}).get("ray.io/cluster", "")]
    return View("rayjob", {"raycluster": owned_by("rayjob", "RayJob")}, {"raycluster": selected})


def job(name: str, cluster: str, rv: str = "1") -> dict[str, Any]:
    return {**obj(name, rv=rv), "spec": {"clusterSelector": {"ray.io/cluster": cluster}}}


JOB = RootKey("rayjob", "default", "j")


def test_a_named_object_joins_the_view_of_the_root_that_names_it_whichever_comes_first() -> None:
    v = job_view()
    assert v.upsert("raycluster", obj("shared")) == set()  # nobody names it yet: wakes nothing
    assert v.referenced("raycluster", obj("shared"))  # ...but a partitioned view keeps it
    assert v.upsert("rayjob", job("j", "shared")) == {JOB}
    assert [c["metadata"]["name"] for c in v.observe(JOB).of("raycluster")] == ["shared"]
    assert v.upsert("raycluster", obj("shared", rv="2", labels={"v": "2"})) == {JOB}  # a change wakes the root naming it
    assert v.roots_of("raycluster", obj("shared")) == {JOB}
    assert not v.referenced("raycluster", obj("shared"))


def test_a_root_that_names_another_object_no_longer_sees_or_is_woken_by_the_first() -> None:
    v = job_view()
    v.upsert("raycluster", obj("a"))
    v.upsert("raycluster", obj("b"))
    v.upsert("rayjob", job("j", "a"))
    v.upsert("rayjob", job("j", "b", rv="2"))
    assert [c["metadata"]["name"] for c in v.observe(JOB).of("raycluster")] == ["b"]
    assert v.upsert("raycluster", obj("a", rv="2", labels={"v": "2"})) == set()
    v.remove("rayjob", "default", "j")
    assert v.upsert("raycluster", obj("b", rv="3", labels={"v": "3"})) == set()


def test_an_owned_and_named_object_is_shown_once_and_retain_keeps_unowned_named_kinds() -> None:
    v = job_view()
    owned = obj("c", owner=None)
    owned["metadata"]["ownerReferences"] = [{"kind": "RayJob", "name": "j", "controller": True, "uid": "x"}]
    v.upsert("raycluster", owned)
    v.upsert("rayjob", job("j", "c"))
    assert len(v.observe(JOB).of("raycluster")) == 1
    v.upsert("raycluster", obj("loose"))
    v.retain(lambda r: False)  # every root goes; an object nobody owns may still be named later
    assert v.get("raycluster", "default", "loose") is not None
    assert v.get("raycluster", "default", "c") is None
