"""Discovery without a server: parsing the API server's discovery documents (aggregated and
legacy) into a catalog, choosing the version of a watched kind, the exact lookup an action
needs, and the cache that refreshes once on a miss."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from raybus_common.kube.client import ApiError
from raybus_common.kube.discovery import AGGREGATED, Catalog, Discovery, fetch
from raybus_common.kube.resources import SPECS, KindSpec, Resource

Doc = dict[str, Any]
# What a cluster serves: group → versions in the server's order of preference → resources
# (plural, Kind, namespaced, subresources). Kueue serves Workload at two versions, preferring
# the newer; an old Gateway API install prefers v1beta1.
SERVED: dict[str, list[tuple[str, list[tuple[str, str, bool, list[str]]]]]] = {
    "": [("v1", [("pods", "Pod", True, ["status", "log"]), ("namespaces", "Namespace", False, ["status"]),
                 ("configmaps", "ConfigMap", True, [])])],
    "ray.io": [("v1", [("rayclusters", "RayCluster", True, ["status"])])],
    "kueue.x-k8s.io": [("v1beta2", [("workloads", "Workload", True, ["status"])]),
                       ("v1beta1", [("workloads", "Workload", True, ["status"])])],
    "gateway.networking.k8s.io": [("v1beta1", [("httproutes", "HTTPRoute", True, ["status"])]),
                                  ("v1", [("httproutes", "HTTPRoute", True, ["status"])])],
}


def aggregated(served: dict[str, Any]) -> tuple[Doc, Doc]:
    """`/api` and `/apis` as apidiscovery.k8s.io/v2 writes them (responseKind's group and version
    are empty for built-in kinds, as a real server sends them)."""
    def group(name: str) -> Doc:
        return {"metadata": {"name": name} if name else {}, "versions": [
            {"version": v, "freshness": "Current", "resources": [
                {"resource": plural, "scope": "Namespaced" if namespaced else "Cluster",
                 "responseKind": {"group": "", "version": "", "kind": kind}, "verbs": ["get", "list"],
                 "subresources": [{"subresource": s, "responseKind": {"kind": kind}} for s in subs]}
                for plural, kind, namespaced, subs in resources]} for v, resources in served[name]]}

    def doc(names: list[str]) -> Doc:
        return {"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2",
                "items": [group(n) for n in names]}

    return doc([""]), doc([n for n in served if n])


def legacy(served: dict[str, Any]) -> tuple[Doc, Doc, dict[str, Doc]]:
    """`/api` (APIVersions), `/apis` (APIGroupList, versions listed oldest first, the preferred
    one named apart) and each group version's APIResourceList."""
    core = {"kind": "APIVersions", "versions": [v for v, _ in served[""]]}
    groups = {"kind": "APIGroupList", "groups": [
        {"name": n, "versions": [{"groupVersion": f"{n}/{v}", "version": v} for v, _ in reversed(served[n])],
         "preferredVersion": {"groupVersion": f"{n}/{served[n][0][0]}", "version": served[n][0][0]}}
        for n in served if n]}
    lists = {}
    for name, versions in served.items():
        for v, resources in versions:
            gv = f"{name}/{v}" if name else v
            lists[gv] = {"kind": "APIResourceList", "groupVersion": gv, "resources": [
                r for plural, kind, namespaced, subs in resources
                for r in [{"name": plural, "kind": kind, "namespaced": namespaced, "verbs": ["get"]},
                          *({"name": f"{plural}/{s}", "kind": kind, "namespaced": namespaced} for s in subs)]]}
    return core, groups, lists


def catalogs() -> list[Catalog]:
    return [Catalog.from_aggregated(*aggregated(SERVED)), Catalog.from_legacy(*legacy(SERVED))]


BOTH = pytest.mark.parametrize("catalog", catalogs(), ids=["aggregated", "legacy"])


@BOTH
@pytest.mark.parametrize(("api_version", "kind", "expected"), [
    ("v1", "Pod", Resource("pod", "Pod", "", "v1", "pods")),
    ("v1", "Namespace", Resource("namespace", "Namespace", "", "v1", "namespaces", namespaced=False)),
    ("ray.io/v1", "RayCluster", Resource("raycluster", "RayCluster", "ray.io", "v1", "rayclusters")),
    ("kueue.x-k8s.io/v1beta1", "Workload", Resource("workload", "Workload", "kueue.x-k8s.io", "v1beta1", "workloads")),
    ("kueue.x-k8s.io/v1beta2", "Workload", Resource("workload", "Workload", "kueue.x-k8s.io", "v1beta2", "workloads")),
    ("ray.io/v1alpha1", "RayCluster", None),
    ("example.io/v1", "Widget", None),
    ("v1", "Widget", None),
], ids=["core", "cluster-scoped", "crd", "older-of-two", "newer-of-two", "version-not-served", "group-not-served",
        "kind-not-served"])
def test_lookup_finds_exactly_the_version_named(catalog: Catalog, api_version: str, kind: str,
                                                expected: Resource | None) -> None:
    assert catalog.lookup(api_version, kind) == expected


@BOTH
@pytest.mark.parametrize(("spec", "version"), [
    (SPECS["workload"], "v1beta2"),
    (SPECS["httproute"], "v1"),
    (KindSpec("httproute", "gateway.networking.k8s.io", "HTTPRoute", versions=("v1beta1", "v1")), "v1beta1"),
    (SPECS["raycluster"], "v1"),
    (KindSpec("raycluster", "ray.io", "RayCluster", versions=("v2",)), None),
    (SPECS["podgroup"], None),
], ids=["no-preference-takes-the-servers", "ours-over-the-servers", "ours-in-our-order", "pinned",
        "pinned-not-served", "group-not-served"])
def test_resolve_picks_the_version_to_watch(catalog: Catalog, spec: KindSpec, version: str | None) -> None:
    got = catalog.resolve(spec)
    assert (got.version if got else None) == version
    if got is not None:
        assert (got.kind, got.label_selector) == (spec.kind, spec.label_selector)


@BOTH
def test_each_served_kind_and_version_once_and_subresources_not_at_all(catalog: Catalog) -> None:
    assert len(catalog) == 8  # 3 core kinds, RayCluster, Workload twice, HTTPRoute twice
    assert catalog.versions("", "Pod") == ["v1"]
    assert catalog.versions("kueue.x-k8s.io", "Workload") == ["v1beta2", "v1beta1"]


class FakeServer:
    """Answers discovery requests from documents; counts them; can fail a path."""

    def __init__(self, served: dict[str, Any], *, aggregate: bool = True, broken: tuple[str, ...] = ()) -> None:
        self.served, self.aggregate, self.broken = served, aggregate, broken
        self.requests: list[str] = []

    async def request(self, method: str, path: str, *, accept: str = "application/json", timeout: float = 30.0) -> Doc:
        self.requests.append(path)
        await asyncio.sleep(0)  # let concurrent callers interleave, as over a network
        if path in self.broken:
            raise ApiError(503, "the aggregated API server is down", "ServiceUnavailable")
        if self.aggregate and accept == AGGREGATED and path in ("/api", "/apis"):
            core, groups = aggregated(self.served)
            return core if path == "/api" else groups
        core, groups, lists = legacy(self.served)
        found: dict[str, Doc] = {"/api": core, "/apis": groups,
                                 **{(f"/apis/{gv}" if "/" in gv else f"/api/{gv}"): d for gv, d in lists.items()}}
        if path not in found:
            raise ApiError(404, "the server could not find the requested resource", "NotFound")
        return found[path]


async def test_fetch_uses_aggregated_discovery_in_two_requests() -> None:
    server = FakeServer(SERVED)
    catalog = await fetch(server)
    assert sorted(server.requests) == ["/api", "/apis"]
    assert catalog.lookup("kueue.x-k8s.io/v1beta2", "Workload") is not None


async def test_fetch_falls_back_to_legacy_and_leaves_out_a_broken_group_version() -> None:
    server = FakeServer(SERVED, aggregate=False, broken=("/apis/kueue.x-k8s.io/v1beta2",))
    catalog = await fetch(server)
    assert "/apis/ray.io/v1" in server.requests and "/api/v1" in server.requests
    assert catalog.lookup("ray.io/v1", "RayCluster") is not None
    assert catalog.versions("kueue.x-k8s.io", "Workload") == ["v1beta1"]


async def test_a_kind_added_after_the_cache_was_filled_is_found_by_the_next_miss() -> None:
    served = {g: list(v) for g, v in SERVED.items()}
    server = FakeServer(served)
    discovery = Discovery(server, min_interval=0)
    await discovery.refresh()
    assert await discovery.lookup("ray.io/v1", "RayCluster") is not None
    assert discovery.refreshes == 1, "a hit does not refresh"
    served["example.io"] = [("v1beta2", [("widgets", "Widget", True, [])])]  # a CRD installed meanwhile
    found = await discovery.lookup("example.io/v1beta2", "Widget")
    assert found == Resource("widget", "Widget", "example.io", "v1beta2", "widgets")
    assert discovery.refreshes == 2
    spec = KindSpec("widget", "example.io", "Widget")
    assert await discovery.resolve(spec) == Resource("widget", "Widget", "example.io", "v1beta2", "widgets")
    assert discovery.refreshes == 2


async def test_a_kind_never_served_costs_a_refresh_per_miss_and_waiting_misses_share_one() -> None:
    server = FakeServer(SERVED)
    discovery = Discovery(server, min_interval=0)
    await discovery.refresh()
    assert await discovery.lookup("example.io/v1", "Widget") is None
    assert discovery.refreshes == 2
    got = await asyncio.gather(*(discovery.lookup("example.io/v1", "Widget") for _ in range(5)))
    assert got == [None] * 5
    # The first miss starts a refresh; the four that look while it runs cannot trust it (it began
    # before they looked), so they wait for one more, and share it.
    assert discovery.refreshes == 4


async def test_a_failed_refresh_is_the_clients_error_and_the_next_miss_tries_again() -> None:
    server = FakeServer(SERVED, broken=("/apis",))
    discovery = Discovery(server, min_interval=0)
    with pytest.raises(ApiError) as err:
        await discovery.lookup("ray.io/v1", "RayCluster")
    assert err.value.status == 503
    server.broken = ()
    assert await discovery.lookup("ray.io/v1", "RayCluster") is not None
