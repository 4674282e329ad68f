"""Where the watcher's watches look, how many connections they need, and how their readiness
reads. Pure: no I/O, no clock.

Over HTTP/1.1 (what the Python client speaks) every open watch holds one TCP connection to
the API server for as long as it is open. One watch per (kind, namespace) therefore costs
kinds × namespaces connections: about 14 × 47 = 658 for 47 namespaces, where KubeRay (Go,
HTTP/2, every watch multiplexed) used 4. So:

- `RAYBUS_WATCH_NAMESPACES` empty: each kind is watched once, cluster-wide, as before.
- up to `RAYBUS_WATCH_CLUSTER_WIDE_ABOVE` namespaces (4): one watch per (kind, namespace),
  so a deployment whose RBAC covers only those namespaces works as with KubeRay;
- more namespaces: one cluster-wide watch per kind, keeping only the objects of the watched
  namespaces (`Target.keeps`): an object of another namespace is never published, never
  counted as known, and so never tombstoned. This needs list/watch on the kind in every
  namespace (a ClusterRole bound cluster-wide, `deploy/rbac/watcher.yaml`); where the
  watcher may not list a kind cluster-wide it falls back to one watch per namespace for that
  kind (`handlers.plan`), so per-namespace RBAC still works, at one connection a watch.

Either way the connection pool is sized from the number of watches (`pool_size`), so watches
never wait for each other, and lists and discovery always find a free connection.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

NameKey = tuple[str, str]  # (namespace, name)

HEADROOM = 16  # connections beyond one per watch: discovery, probes, a watch's list before it re-watches
MOST_REASONS = 10  # readiness reasons listed one by one; the rest are counted


@dataclass(frozen=True)
class Target:
    """Where one watch looks: one namespace, or every namespace (`namespace` None), keeping
    only the objects of `keep` (None: all)."""

    namespace: str | None = None
    keep: frozenset[str] | None = None

    def keeps(self, namespace: str) -> bool:
        """Whether an object in `namespace` is reported ("" = cluster-scoped: always)."""
        return self.keep is None or not namespace or namespace in self.keep

    @property
    def filtered(self) -> bool:
        """A cluster-wide watch on behalf of some namespaces only."""
        return self.namespace is None and self.keep is not None

    def where(self) -> str:
        if self.namespace is not None:
            return self.namespace
        if self.keep is None:
            return "all namespaces"
        return f"all namespaces (keeping {len(self.keep)} watched)"


def cluster_wide(namespaces: Sequence[str], above: int) -> bool:
    """Whether kinds are watched cluster-wide: every namespace is watched, or more than `above`."""
    return not namespaces or len(set(namespaces)) > above


def targets(namespaced: bool, namespaces: Sequence[str], *, wide: bool) -> list[Target]:
    """The watches of one kind: one cluster-wide (filtered to `namespaces` when some are named
    and `wide`), or one per namespace."""
    if not namespaced or not namespaces:
        return [Target()]
    if wide:
        return [Target(None, frozenset(namespaces))]
    return [Target(ns) for ns in dict.fromkeys(namespaces)]  # a name listed twice is watched once


def pool_size(watches: int) -> int:
    """Connections the client needs: one per open watch, plus headroom for everything else."""
    return max(watches, 0) + HEADROOM


def known_in(known: Mapping[NameKey, str], target: Target) -> dict[NameKey, str]:
    """Of what the bus shows alive, what one watch answers for (and may tombstone)."""
    if target.namespace is not None:
        return {k: v for k, v in known.items() if k[0] == target.namespace}
    return {k: v for k, v in known.items() if target.keeps(k[0])}


def summarize(problems: Iterable[str | None], most: int = MOST_REASONS) -> list[str]:
    """Readiness reasons from each watch's problem (None: fine): the first `most`, then a count."""
    found = [p for p in problems if p is not None]
    if len(found) <= most:
        return found
    return [*found[:most], f"and {len(found) - most} more watches not open"]
