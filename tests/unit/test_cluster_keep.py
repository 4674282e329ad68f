"""What cluster-ctl keeps of each child in its view (`keep`, wired into its watches): reconcile
decides on the kept view exactly as on the whole one, over every fixture view; each part kept is
needed by some view; and a served pod shrinks to a fraction of its size."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from functools import cache
from types import MappingProxyType
from typing import Any

import pytest
from cluster_views import NOW, SETTINGS, views

from raybus_cluster_ctl.config import ClusterConfig
from raybus_cluster_ctl.handlers import SPEC
from raybus_cluster_ctl.keep import JOB_LABELS, POD_ANNOTATIONS, POD_LABELS, SERVICE_LABELS, keep_pod
from raybus_cluster_ctl.reconcile import reconcile
from raybus_common.controller.runtime import view_salt
from raybus_common.controller.view import Observed, RootKey
from raybus_common.decision import Decision

Obj = dict[str, Any]
KEEP = {w.kind: w.keep for w in SPEC.watches}
MAPPERS = {w.kind: w.to_roots for w in SPEC.watches}
Strip = Callable[[str, Obj], None]


def kept(observed: Observed, strip: Strip | None = None) -> Observed:
    """`observed` as the runtime holds it with cluster-ctl's watches: each child through its
    watch's `keep` (then, for the tests below, `strip`)."""
    children: dict[str, tuple[Obj, ...]] = {}
    for kind, objs in observed.children.items():
        keep = KEEP[kind]
        assert keep is not None, f"{kind}: kept whole"
        out = []
        for obj in objs:
            small = keep(obj)
            if strip is not None:
                strip(kind, small)
            out.append(small)
        children[kind] = tuple(out)
    return Observed(observed.key, observed.root, MappingProxyType(children), observed.failures)


def roots(observed: Observed) -> dict[tuple[str, str], set[RootKey]]:
    return {(kind, obj["metadata"].get("name", "")): set(MAPPERS[kind](obj))
            for kind, objs in observed.children.items() for obj in objs}


def outcome(observed: Observed, settings: ClusterConfig = SETTINGS) -> tuple[Decision | str, str, object]:
    """What the runtime takes from a view: the decision, the action ids' salt, which roots the
    children wake."""
    try:
        decision: Decision | str = reconcile(observed, now=NOW, settings=settings)
    except Exception as e:  # noqa: BLE001 - a part missing that reconcile needs: an outcome that differs
        decision = f"raised {e!r}"
    return decision, view_salt(observed), roots(observed)


@cache
def every_view() -> list[tuple[str, Observed]]:
    return views()


OTHER = ClusterConfig(enable_random_pod_delete=True, feature_gates={"RayMultiHostIndexing": False})


@pytest.mark.parametrize("settings", [SETTINGS, OTHER])
def test_reconcile_decides_alike_on_the_kept_view_over_every_fixture_view(settings: ClusterConfig) -> None:
    every = every_view() if settings is SETTINGS else views(settings)
    assert len(every) > 400
    for name, observed in every:
        assert outcome(kept(observed), settings) == outcome(observed, settings), name


def test_every_child_kind_cluster_ctl_watches_is_kept_in_part() -> None:
    assert all(w.keep is not None for w in SPEC.watches)


def _drop(path: tuple[str, ...]) -> Callable[[Any], None]:
    """Removes `path` (`*`: every element of a list) wherever it is."""
    def drop(obj: Any) -> None:
        head, rest = path[0], path[1:]
        if head == "*":
            for item in obj if isinstance(obj, list) else []:
                drop_rest(item)
        elif isinstance(obj, dict) and head in obj:
            if rest:
                drop_rest(obj[head])
            else:
                del obj[head]

    def drop_rest(obj: Any) -> None:
        if path[1:]:
            _drop(path[1:])(obj)

    return drop


def strip(kind: str, *path: str) -> Strip:
    drop = _drop(path)

    def apply(k: str, obj: Obj) -> None:
        if k == kind:
            drop(obj)

    return apply


NEEDED: dict[str, Strip] = {
    "apiVersion": strip("pod", "apiVersion"),
    "kind": strip("pod", "kind"),
    "uid": strip("pod", "metadata", "uid"),
    "resourceVersion": strip("pod", "metadata", "resourceVersion"),
    "deletionTimestamp": strip("pod", "metadata", "deletionTimestamp"),
    "a pod's owner": strip("pod", "metadata", "ownerReferences"),
    **{f"label {label}": strip("pod", "metadata", "labels", label) for label in POD_LABELS},
    **{f"annotation {a}": strip("pod", "metadata", "annotations", a) for a in POD_ANNOTATIONS},
    "restartPolicy": strip("pod", "spec", "restartPolicy"),
    "the Ray container's name": strip("pod", "spec", "containers", "*", "name"),
    "phase": strip("pod", "status", "phase"),
    "podIP": strip("pod", "status", "podIP"),
    "the Ready condition": strip("pod", "status", "conditions"),
    "its reason": strip("pod", "status", "conditions", "*", "reason"),
    "its message": strip("pod", "status", "conditions", "*", "message"),
    "a container status's name": strip("pod", "status", "containerStatuses", "*", "name"),
    "waiting": strip("pod", "status", "containerStatuses", "*", "state", "waiting"),
    "terminated": strip("pod", "status", "containerStatuses", "*", "state", "terminated"),
    "a Service's owner": strip("service", "metadata", "ownerReferences"),
    **{f"a Service's label {label}": strip("service", "metadata", "labels", label) for label in SERVICE_LABELS},
    "clusterIP": strip("service", "spec", "clusterIP"),
    "a port's name": strip("service", "spec", "ports", "*", "name"),
    "nodePort": strip("service", "spec", "ports", "*", "nodePort"),
    "targetPort": strip("service", "spec", "ports", "*", "targetPort"),
    "an Ingress's labels": strip("ingress", "metadata", "labels"),
    "an Ingress's annotations": strip("ingress", "metadata", "annotations"),
    "an Ingress's spec": strip("ingress", "spec"),
    **{f"a Job's label {label}": strip("job", "metadata", "labels", label) for label in JOB_LABELS},
    "a Job condition's status": strip("job", "status", "conditions", "*", "status"),
    "a ServiceAccount's name": strip("serviceaccount", "metadata", "name"),
    "a Secret's name": strip("secret", "metadata", "name"),
}


@cache
def kept_outcomes() -> list[tuple[str, Observed, tuple[Decision | str, str, object]]]:
    return [(name, observed, outcome(kept(observed))) for name, observed in every_view()]


@pytest.mark.parametrize("part", sorted(NEEDED))
def test_each_part_kept_is_needed_by_some_fixture_view(part: str) -> None:
    """Without it, some view decides differently: so the views exercise every part `keep`
    keeps, and the comparison above could fail."""
    assert any(outcome(kept(observed, NEEDED[part])) != want for _, observed, want in kept_outcomes()), part


def _served_pods() -> Iterator[Obj]:
    for _, observed in every_view():
        yield from observed.of("pod")


def test_a_served_pod_is_kept_in_a_fraction_of_its_size_and_shares_nothing_with_it() -> None:
    pods = list(_served_pods())
    whole = sum(len(json.dumps(p)) for p in pods)
    small = sum(len(json.dumps(keep_pod(p))) for p in pods)
    assert small * 5 < whole, (small, whole)
    pod = next(p for p in pods if p["status"]["phase"] == "Running")
    out = keep_pod(pod)
    out["metadata"]["labels"]["x"] = "y"
    out["status"]["conditions"][0]["status"] = "changed"
    assert "x" not in pod["metadata"]["labels"]
    assert all(c["status"] != "changed" for c in pod["status"]["conditions"])
    assert set(out) == {"apiVersion", "kind", "metadata", "spec", "status"}
    assert "env" not in json.dumps(out) and "volumes" not in out["spec"]


def test_a_bare_pod_keeps_what_it_has_and_adds_nothing() -> None:
    """Absent stays absent (readers tell absent from empty), odd values do not raise."""
    assert keep_pod({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}}) == {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}}
    assert keep_pod({"metadata": {"name": "p"}, "spec": {"containers": []}, "status": {"conditions": None}}) == {
        "metadata": {"name": "p"}, "spec": {"containers": []}, "status": {}}


def test_binding_a_pod_to_its_node_changes_nothing_kept() -> None:
    """The scheduler's binding (`spec.nodeName`, a `PodScheduled` condition) is read by nothing:
    the kept pod is the same but for its resourceVersion, so the view wakes no reconcile for it."""
    created = {"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": "p", "resourceVersion": "1", "labels": {"ray.io/cluster": "rc"}},
               "spec": {"containers": [{"name": "ray-head"}]}, "status": {"phase": "Pending", "qosClass": "Burstable"}}
    bound = {**created, "metadata": {**created["metadata"], "resourceVersion": "2"},
             "spec": {**created["spec"], "nodeName": "kwok-node-0"},
             "status": {**created["status"], "conditions": [{"type": "PodScheduled", "status": "True"}]}}
    before, after = keep_pod(created), keep_pod(bound)
    assert after["metadata"].pop("resourceVersion") == "2"
    assert before["metadata"].pop("resourceVersion") == "1"
    assert before == after
    ready = {**bound, "status": {**bound["status"], "conditions": [
        {"type": "PodScheduled", "status": "True"}, {"type": "Ready", "status": "False", "reason": "ContainersNotReady"}]}}
    assert keep_pod(ready)["status"]["conditions"] == [
        {"type": "Ready", "status": "False", "reason": "ContainersNotReady"}]

