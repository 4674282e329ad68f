"""KubeRay's RayCluster metrics from the view."""

from __future__ import annotations

from typing import Any

from raybus_cluster_ctl.metrics import families


def rc(name: str, cond: str | None, *, owner: str | None = None) -> dict[str, Any]:
    labels = {"ray.io/originated-from-crd": owner} if owner else {}
    status = {"conditions": [{"type": "RayClusterProvisioned", "status": cond,
                              "lastTransitionTime": "2026-11-22T10:01:30Z"}]} if cond else {}
    return {"metadata": {"name": name, "namespace": "ns", "uid": f"u-{name}", "labels": labels,
                         "creationTimestamp": "2026-11-22T10:00:00Z"}, "status": status}


def samples(clusters: list[dict[str, Any]]) -> dict[str, list[tuple[dict[str, str], float]]]:
    return {f.name: [(s.labels, s.value) for s in f.samples] for f in families(clusters)}


def test_info_condition_and_duration_follow_kuberay() -> None:
    got = samples([rc("a", "True", owner="RayJob"), rc("b", "False"), rc("c", None)])
    assert got["kuberay_cluster_info"] == [
        ({"name": "a", "namespace": "ns", "uid": "u-a", "owner_kind": "RayJob"}, 1),
        ({"name": "b", "namespace": "ns", "uid": "u-b", "owner_kind": "None"}, 1),
        ({"name": "c", "namespace": "ns", "uid": "u-c", "owner_kind": "None"}, 1)]
    assert [(labels["name"], labels["condition"]) for labels, _ in got["kuberay_cluster_condition_provisioned"]] == [
        ("a", "true"), ("b", "false"), ("c", "false")]
    assert got["kuberay_cluster_provisioned_duration_seconds"] == [({"name": "a", "namespace": "ns", "uid": "u-a"},
                                                                    90.0)]


def test_nothing_to_report_is_empty_families() -> None:
    assert all(not f.samples for f in families([]))
