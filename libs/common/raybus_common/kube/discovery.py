"""Discovery: which kinds the API server serves, at which versions, under which plural, and
whether namespaced, read from the server's own discovery documents and cached.

Pure half: `Catalog.from_aggregated` parses aggregated discovery (`apidiscovery.k8s.io/v2`
or `v2beta1` `APIGroupDiscoveryList`: everything in two requests, `/api` and `/apis`);
`Catalog.from_legacy` parses the older documents (`APIVersions`, `APIGroupList` and one
`APIResourceList` per group version) for servers without it. `Catalog.resolve(spec)` picks the
version of a kind Raybus watches (the first of the spec's versions that is served, else the
server's preferred one); `Catalog.lookup(api_version, kind)` finds exactly the version an
action names (an object is written at the version its body carries, or not at all).

I/O half: `fetch` fills a `Catalog` through a `Requester` (the `KubeClient`). `Discovery` keeps
one for the actuator and, on a miss, refreshes it once before answering "not served", so a CRD
installed after start is found. A miss trusts only a refresh begun after it looked; misses
waiting together share one, and refreshes on misses are spaced by `min_interval` seconds, so
a stream of actions for a kind nobody serves costs at most one refresh per interval. Errors
are the client's `ApiError`s.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from ..ratelimit import TokenBucket
from .resources import KindSpec, Resource

log = logging.getLogger("raybus.kube")

Doc = dict[str, Any]
JSON = "application/json"
# Aggregated discovery, newest first; a server without it answers with the legacy document.
AGGREGATED = ",".join([*(f"{JSON};g=apidiscovery.k8s.io;v={v};as=APIGroupDiscoveryList" for v in ("v2", "v2beta1")),
                       JSON])


@dataclass(frozen=True)
class Served:
    """One kind served at one group version."""

    group: str
    version: str
    api_kind: str
    plural: str
    namespaced: bool

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def resource(self, kind: str, label_selector: str | None = None) -> Resource:
        return Resource(kind, self.api_kind, self.group, self.version, self.plural, self.namespaced, label_selector)


class Catalog:
    """What one discovery pass found: per (group, Kind), the versions serving it, the server's
    most preferred first."""

    def __init__(self, served: Iterable[Served] = ()) -> None:
        self._by_kind: dict[tuple[str, str], list[Served]] = {}
        for s in served:
            versions = self._by_kind.setdefault((s.group, s.api_kind), [])
            if all(v.version != s.version for v in versions):  # the first resource of a kind in a version wins
                versions.append(s)

    def __len__(self) -> int:
        return sum(len(v) for v in self._by_kind.values())

    def versions(self, group: str, api_kind: str) -> list[str]:
        return [s.version for s in self._by_kind.get((group, api_kind), [])]

    def resolve(self, spec: KindSpec) -> Resource | None:
        """The version to watch `spec` at, or None when the server serves none Raybus accepts."""
        served = self._by_kind.get((spec.group, spec.api_kind), [])
        if spec.versions:
            served = sorted((s for s in served if s.version in spec.versions), key=lambda s: spec.versions.index(s.version))
        return served[0].resource(spec.kind, spec.label_selector) if served else None

    def lookup(self, api_version: str, api_kind: str) -> Resource | None:
        """Exactly `api_version` of `api_kind`, with the lowercase kind as its token."""
        group, _, version = api_version.rpartition("/")
        found = next((s for s in self._by_kind.get((group, api_kind), []) if s.version == version), None)
        return found.resource(api_kind.lower()) if found else None

    @classmethod
    def from_aggregated(cls, *lists: Doc) -> Catalog:
        """From `APIGroupDiscoveryList`s (`/api` holds the core group, its name empty).
        Versions and groups come in the server's order of preference."""
        served = []
        for doc in lists:
            for group in doc.get("items") or []:
                name = (group.get("metadata") or {}).get("name", "")
                for version in group.get("versions") or []:
                    for r in version.get("resources") or []:
                        kind = (r.get("responseKind") or {}).get("kind")
                        if kind and r.get("resource"):
                            served.append(Served(name, version["version"], kind, r["resource"],
                                                 r.get("scope") == "Namespaced"))
        return cls(served)

    @classmethod
    def from_legacy(cls, core: Doc, groups: Doc, resource_lists: dict[str, Doc]) -> Catalog:
        """From `/api` (`APIVersions`), `/apis` (`APIGroupList`) and each group version's
        `APIResourceList`, keyed by groupVersion (a group version missing from it is skipped)."""
        order = list(core.get("versions") or [])
        for group in groups.get("groups") or []:
            preferred = (group.get("preferredVersion") or {}).get("groupVersion")
            listed = [v["groupVersion"] for v in group.get("versions") or []]
            order += ([preferred] if preferred in listed else []) + [gv for gv in listed if gv != preferred]
        served = []
        for gv in order:
            group, _, version = gv.rpartition("/")
            for r in (resource_lists.get(gv) or {}).get("resources") or []:
                if "/" not in r.get("name", "/") and r.get("kind"):  # "pods/status" is a subresource
                    served.append(Served(group, version, r["kind"], r["name"], bool(r.get("namespaced"))))
        return cls(served)


class Requester(Protocol):
    async def request(self, method: str, path: str, *, accept: str = ..., timeout: float = ...) -> Doc: ...


def legacy_paths(core: Doc, groups: Doc) -> list[tuple[str, str]]:
    """(groupVersion, path) of every APIResourceList the legacy documents point to."""
    paths = [(v, f"/api/{v}") for v in core.get("versions") or []]
    return paths + [(v["groupVersion"], f"/apis/{v['groupVersion']}")
                    for g in groups.get("groups") or [] for v in g.get("versions") or []]


async def fetch(kube: Requester, *, timeout: float = 30.0) -> Catalog:
    """One discovery pass: aggregated if the server has it, else the legacy documents. A group
    version whose list fails (an aggregated API server that is down, say) is left out."""
    core, groups = await asyncio.gather(kube.request("GET", "/api", accept=AGGREGATED, timeout=timeout),
                                        kube.request("GET", "/apis", accept=AGGREGATED, timeout=timeout))
    if core.get("kind") == groups.get("kind") == "APIGroupDiscoveryList":
        return Catalog.from_aggregated(core, groups)
    paths = legacy_paths(core, groups)
    found = await asyncio.gather(*(kube.request("GET", p, timeout=timeout) for _, p in paths), return_exceptions=True)
    lists: dict[str, Doc] = {}
    for (gv, path), doc in zip(paths, found, strict=True):
        if isinstance(doc, BaseException):
            if not isinstance(doc, Exception):
                raise doc
            log.warning("discovery of %s failed (%s); its kinds are left out", path, doc)
        else:
            lists[gv] = doc
    return Catalog.from_legacy(core, groups, lists)


class Discovery:
    """A `Catalog` kept for lookups, refreshed once on a miss (see the module docstring)."""

    def __init__(self, kube: Requester, *, min_interval: float = 1.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.kube = kube
        self.catalog = Catalog()
        self.refreshes = 0  # passes that succeeded
        self._started = 0  # passes begun, numbered from 1
        self._newest = 0  # the number of the pass `catalog` came from
        self._lock = asyncio.Lock()  # one pass at a time
        self._spacing = TokenBucket(rate=1.0 / min_interval, burst=1, clock=clock) if min_interval > 0 else None

    async def refresh(self) -> Catalog:
        async with self._lock:
            return await self._pass()

    async def lookup(self, api_version: str, api_kind: str) -> Resource | None:
        """The resource serving exactly `api_version` `api_kind`, or None if the server does not
        serve it even after a refresh."""
        looked = self._started
        found = self.catalog.lookup(api_version, api_kind)
        if found is None:
            await self._refresh_after(looked)
            found = self.catalog.lookup(api_version, api_kind)
        return found

    async def resolve(self, spec: KindSpec) -> Resource | None:
        """`spec` at the version to use, or None if not served even after a refresh."""
        looked = self._started
        found = self.catalog.resolve(spec)
        if found is None:
            await self._refresh_after(looked)
            found = self.catalog.resolve(spec)
        return found

    async def _refresh_after(self, looked: int) -> None:
        """Make `catalog` come from a pass begun after the caller looked (`looked` passes had
        begun then): one that finished meanwhile, else a new one."""
        async with self._lock:
            if self._newest > looked:
                return
            wait = self._spacing.delay() if self._spacing is not None else 0.0
            if wait > 0:
                await asyncio.sleep(wait)
            await self._pass()

    async def _pass(self) -> Catalog:
        self._started += 1
        number = self._started
        catalog = await fetch(self.kube)
        self.catalog, self._newest = catalog, number
        self.refreshes += 1
        return catalog
