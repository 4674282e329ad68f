"""The controller's picture of the world, rebuilt from the bus: objects by kind, children
indexed by their root, the root's writes that failed, and the frozen snapshot handed to
`reconcile`.

Pure data structures: the runtime feeds it state messages and the actuator's results; nothing
here does I/O. Updates not newer than what is held (same uid, same or lower resourceVersion)
are ignored: a late duplicate from a second watcher never rolls the picture back, and a relist
that republishes unchanged objects wakes nothing. A child whose newer state differs in its
resourceVersion alone (what a controller keeps of a pod does not change when the pod is bound
to its node) is stored and wakes nothing either: no reconcile would read anything new.

Failed writes (`Failure`) are part of the picture because KubeRay's reconcile knows the error
of its own API calls (its `ReplicaFailure` condition) and Raybus's reconcile only issues them:
a failure is kept per root and target until it is moot — a later write to the same target
succeeded, the target was observed changed (a failed create or update) or gone (a failed
delete), or the root went. A failure about a root of another uid (a deleted and re-created
cluster) is not shown.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any

Obj = dict[str, Any]
Target = tuple[str, str, str]  # lowercase kind, namespace, name


@dataclass(frozen=True, order=True)
class RootKey:
    kind: str  # lowercase kind, as in subjects: "raycluster"
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind}/{self.namespace}/{self.name}"

    @classmethod
    def parse(cls, text: str) -> RootKey:
        kind, namespace, name = text.split("/", 2)
        return cls(kind, namespace, name)


ToRoots = Callable[[Obj], Iterable[RootKey]]
NamedBy = Callable[[Obj], Iterable[str]]  # a root → names of objects of one kind it refers to (its namespace)


def owned_by(root_kind: str, owner_kind: str) -> ToRoots:
    """Map a child to the root named by its controller ownerReference of `owner_kind`."""

    def to_roots(obj: Obj) -> Iterable[RootKey]:
        meta = obj.get("metadata") or {}
        for ref in meta.get("ownerReferences") or []:
            if ref.get("kind") == owner_kind and ref.get("controller"):
                yield RootKey(root_kind, meta.get("namespace", ""), ref["name"])

    return to_roots


def labelled(root_kind: str, label: str) -> ToRoots:
    """Map a child to the root named by one of its labels (e.g. `ray.io/cluster`)."""

    def to_roots(obj: Obj) -> Iterable[RootKey]:
        meta = obj.get("metadata") or {}
        value = (meta.get("labels") or {}).get(label)
        if value:
            yield RootKey(root_kind, meta.get("namespace", ""), value)

    return to_roots


def either(*mappers: ToRoots) -> ToRoots:
    def to_roots(obj: Obj) -> Iterable[RootKey]:
        seen: set[RootKey] = set()
        for m in mappers:
            for key in m(obj):
                if key not in seen:
                    seen.add(key)
                    yield key

    return to_roots


@dataclass(frozen=True)
class Failure:
    """A write of a root's that failed for good, as the actuator reported it (`raybus.res`):
    the action's op and target, the write's `failure_reason` (KubeRay's Warning reason) and the
    API's own message."""

    action_id: str
    op: str  # "apply", "delete", ...
    kind: str  # the target, lowercase as in subjects
    namespace: str
    name: str
    reason: str = ""
    message: str = ""
    at: datetime | None = None
    root_uid: str | None = None

    @property
    def target(self) -> Target:
        return (self.kind, self.namespace, self.name)


@dataclass(frozen=True)
class Observed:
    """What `reconcile` sees: the root object (None once it is gone), its children by kind, and
    its writes that failed and are not yet moot (oldest first)."""

    key: RootKey
    root: Obj | None
    children: Mapping[str, tuple[Obj, ...]] = field(default_factory=lambda: MappingProxyType({}))
    failures: tuple[Failure, ...] = ()

    def of(self, kind: str) -> tuple[Obj, ...]:
        return self.children.get(kind, ())

    def failure_of(self, kind: str, namespace: str, name: str) -> Failure | None:
        """The failed write to that object, if one is in view."""
        return next((f for f in self.failures if f.target == (kind, namespace, name)), None)


def _rv(obj: Obj) -> int | None:
    try:
        return int((obj.get("metadata") or {}).get("resourceVersion", ""))
    except ValueError:
        return None


def moved_only(old: Obj, new: Obj, *, besides: str = "") -> bool:
    """Whether two states of one object differ in `metadata.resourceVersion` alone (and in the
    top-level field `besides`, if one is named: a root's `status`)."""
    old_meta, new_meta = old.get("metadata"), new.get("metadata")
    if not isinstance(old_meta, dict) or not isinstance(new_meta, dict) or len(old_meta) != len(new_meta):
        return False
    if {k for k in old if k != besides} != {k for k in new if k != besides}:
        return False
    return (all(k in ("metadata", besides) or old[k] == v for k, v in new.items())
            and all(k == "resourceVersion" or (k in old_meta and old_meta[k] == v) for k, v in new_meta.items()))


class View:
    """Objects by kind and name, each child indexed under its roots. A child belongs to a root
    two ways: its mapper names the root (an ownerReference, a label), or the root names it
    (`named_by`: a RayJob's `clusterSelector` picks a RayCluster it does not own). A referenced
    child wakes and is shown to the roots that name it, like an owned one."""

    def __init__(self, root_kind: str, child_mappers: Mapping[str, ToRoots],
                 named_by: Mapping[str, NamedBy] | None = None) -> None:
        self.root_kind = root_kind
        self.mappers = dict(child_mappers)
        self.named_by = dict(named_by or {})
        self._referenced: dict[RootKey, frozenset[Target]] = {}
        self._referrers: dict[Target, set[RootKey]] = defaultdict(set)
        self._objs: dict[str, dict[tuple[str, str], Obj]] = defaultdict(dict)
        self._roots_of: dict[tuple[str, str, str], frozenset[RootKey]] = {}
        self._children: dict[RootKey, dict[str, set[tuple[str, str]]]] = defaultdict(lambda: defaultdict(set))
        self._failures: dict[RootKey, dict[Target, Failure]] = {}
        self._failed_roots: dict[Target, set[RootKey]] = defaultdict(set)

    def kinds(self) -> list[str]:
        return [self.root_kind, *self.mappers]

    def get(self, kind: str, namespace: str, name: str) -> Obj | None:
        return self._objs[kind].get((namespace, name))

    def count(self, kind: str) -> int:
        return len(self._objs[kind])

    def roots(self) -> list[RootKey]:
        return [RootKey(self.root_kind, ns, n) for ns, n in self._objs[self.root_kind]]

    def upsert(self, kind: str, obj: Obj) -> set[RootKey]:
        """Store `obj`; return the root keys to reconcile (old and new parents). Stale or unchanged: none."""
        meta = obj.get("metadata") or {}
        ns, name = meta.get("namespace", ""), meta["name"]
        old = self._objs[kind].get((ns, name))
        if old is not None:
            old_meta = old.get("metadata") or {}
            new_rv, old_rv = _rv(obj), _rv(old)
            if old_meta.get("uid") == meta.get("uid") and new_rv is not None and old_rv is not None and new_rv <= old_rv:
                return set()
        self._objs[kind][(ns, name)] = obj
        cleared = self._clear((kind, ns, name), lambda f: f.op != "delete")  # a failed create/update is moot
        if old is not None and not cleared and kind != self.root_kind and moved_only(old, obj):
            # Nothing a reconcile reads of it changed (a pod bound to its node, once a controller's
            # `keep` has left `spec.nodeName` out): the index stands, and no root is woken. A root
            # is always woken: a status write landing is seen by its resourceVersion.
            return set()
        return self._reindex(kind, ns, name, obj)

    def remove(self, kind: str, namespace: str, name: str) -> set[RootKey]:
        if kind == self.root_kind:
            for target in list(self._failures.get(RootKey(kind, namespace, name), {})):
                self._drop(RootKey(kind, namespace, name), target)
        if self._objs[kind].pop((namespace, name), None) is None:
            return set()
        self._clear((kind, namespace, name), lambda f: f.op == "delete")  # a failed delete is moot
        return self._reindex(kind, namespace, name, None)

    # -- failed writes ----------------------------------------------------------------------
    def failed(self, root: RootKey, failure: Failure) -> bool:
        """Keep `failure` (replacing an older one for the same target); False when it is moot
        already: a delete whose target is not in view."""
        if failure.op == "delete" and self.get(*failure.target) is None:
            return False
        held = self._failures.get(root, {}).get(failure.target)
        if held is not None and held.at is not None and failure.at is not None and held.at > failure.at:
            return False  # a late replay of an older failure
        self._failures.setdefault(root, {})[failure.target] = failure
        self._failed_roots[failure.target].add(root)
        return True

    def succeeded(self, root: RootKey, target: Target) -> bool:
        """A later write to `target` succeeded: its failure is moot. True if one was held."""
        return self._drop(root, target)

    def failures(self, root: RootKey) -> tuple[Failure, ...]:
        held = self._failures.get(root, {}).values()
        return tuple(sorted(held, key=lambda f: (f.at is not None, f.at or datetime.min, f.action_id)))

    def _clear(self, target: Target, moot: Callable[[Failure], bool]) -> bool:
        """Drop the failures of writes to `target` that `moot` says are moot; True if any was."""
        cleared = False
        for root in list(self._failed_roots.get(target, ())):
            failure = self._failures.get(root, {}).get(target)
            if failure is not None and moot(failure):
                cleared |= self._drop(root, target)
        return cleared

    def _drop(self, root: RootKey, target: Target) -> bool:
        held = self._failures.get(root, {}).pop(target, None)
        if not self._failures.get(root):
            self._failures.pop(root, None)
        roots = self._failed_roots.get(target)
        if roots is not None:
            roots.discard(root)
            if not roots:
                del self._failed_roots[target]
        return held is not None

    def _reindex(self, kind: str, ns: str, name: str, obj: Obj | None) -> set[RootKey]:
        if kind == self.root_kind:
            self._refer(RootKey(kind, ns, name), obj)
            return {RootKey(kind, ns, name)}
        referrers = set(self._referrers.get((kind, ns, name), ()))
        mapper = self.mappers.get(kind)
        if mapper is None:
            return referrers
        ident = (kind, ns, name)
        before = self._roots_of.get(ident, frozenset())
        after = frozenset(mapper(obj)) if obj is not None else frozenset()
        for root in before - after:
            self._children[root][kind].discard((ns, name))
        for root in after:
            self._children[root][kind].add((ns, name))
        if after:
            self._roots_of[ident] = after
        else:
            self._roots_of.pop(ident, None)
        return set(before | after) | referrers

    def _refer(self, root: RootKey, obj: Obj | None) -> None:
        """Index what `root` names (`named_by`) under it: gone roots name nothing."""
        if not self.named_by:
            return
        after = frozenset((kind, root.namespace, n) for kind, fn in self.named_by.items()
                          for n in (fn(obj) if obj is not None else ()) if n)
        before = self._referenced.get(root, frozenset())
        for target in before - after:
            holders = self._referrers.get(target)
            if holders is not None:
                holders.discard(root)
                if not holders:
                    del self._referrers[target]
        for target in after:
            self._referrers[target].add(root)
        if after:
            self._referenced[root] = after
        else:
            self._referenced.pop(root, None)

    def referenced(self, kind: str, obj: Obj) -> bool:
        """Whether `obj` is of a kind roots name, and belongs to no root by its mapper: an object
        a root may name later (an unowned RayCluster), which a partitioned view still keeps."""
        return kind in self.named_by and not self.roots_of(kind, obj)

    def roots_of(self, kind: str, obj: Obj) -> frozenset[RootKey]:
        """The roots an object of `kind` belongs to: itself if it is a root, else its mapper's."""
        meta = obj.get("metadata") or {}
        if kind == self.root_kind:
            return frozenset({RootKey(kind, meta.get("namespace", ""), meta.get("name", ""))})
        mapper = self.mappers.get(kind)
        mapped = frozenset(mapper(obj)) if mapper is not None else frozenset()
        referrers = self._referrers.get((kind, meta.get("namespace", ""), meta.get("name", "")))
        return mapped | referrers if referrers else mapped

    def retain(self, keep: Callable[[RootKey], bool]) -> int:
        """Forget every root `keep` refuses, every child none of whose roots it keeps (orphans
        too) and their failed writes: what a replica drops when partitions are no longer its
        own. Returns how many objects went."""
        gone = 0
        for kind, objs in self._objs.items():
            for ns, name in list(objs):
                if kind == self.root_kind:
                    drop = not keep(RootKey(kind, ns, name))
                else:
                    roots = {*self._roots_of.get((kind, ns, name), ()), *self._referrers.get((kind, ns, name), ())}
                    drop = not any(keep(r) for r in roots) and not (kind in self.named_by and not roots)
                if drop:
                    del objs[(ns, name)]
                    self._reindex(kind, ns, name, None)
                    gone += 1
        for root in [r for r in self._failures if not keep(r)]:
            for target in list(self._failures.get(root, {})):
                self._drop(root, target)
        for root in [r for r in self._children if not keep(r)]:
            del self._children[root]
        for root in [r for r in self._referenced if not keep(r)]:
            self._refer(root, None)
        return gone

    def observe(self, key: RootKey) -> Observed:
        root = self._objs[self.root_kind].get((key.namespace, key.name))
        named: dict[str, set[tuple[str, str]]] = defaultdict(set)
        for kind, names in self._children.get(key, {}).items():
            named[kind] |= names
        for kind, ns, name in self._referenced.get(key, ()):
            named[kind].add((ns, name))
        children: dict[str, tuple[Obj, ...]] = {}
        for kind, names in named.items():
            objs = [self._objs[kind][n] for n in sorted(names) if n in self._objs[kind]]
            if objs:
                children[kind] = tuple(objs)
        uid = (root.get("metadata") or {}).get("uid") if root is not None else None
        failures = tuple(f for f in self.failures(key) if f.root_uid is None or f.root_uid == uid)
        return Observed(key, root, MappingProxyType(children), failures)
