"""The controller's picture of the world, rebuilt from the bus: objects by kind, children
indexed by their root, and the frozen snapshot handed to `reconcile`.

Pure data structures: the runtime feeds it state messages; nothing here does I/O. Updates
not newer than what is held (same uid, same or lower resourceVersion) are ignored: a late
duplicate from a second watcher never rolls the picture back, and a relist that republishes
unchanged objects wakes nothing.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

Obj = dict[str, Any]


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
class Observed:
    """What `reconcile` sees: the root object (None once it is gone) and its children by kind."""

    key: RootKey
    root: Obj | None
    children: Mapping[str, tuple[Obj, ...]] = field(default_factory=lambda: MappingProxyType({}))

    def of(self, kind: str) -> tuple[Obj, ...]:
        return self.children.get(kind, ())


def _rv(obj: Obj) -> int | None:
    try:
        return int((obj.get("metadata") or {}).get("resourceVersion", ""))
    except ValueError:
        return None


class View:
    def __init__(self, root_kind: str, child_mappers: Mapping[str, ToRoots]) -> None:
        self.root_kind = root_kind
        self.mappers = dict(child_mappers)
        self._objs: dict[str, dict[tuple[str, str], Obj]] = defaultdict(dict)
        self._roots_of: dict[tuple[str, str, str], frozenset[RootKey]] = {}
        self._children: dict[RootKey, dict[str, set[tuple[str, str]]]] = defaultdict(lambda: defaultdict(set))

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
        return self._reindex(kind, ns, name, obj)

    def remove(self, kind: str, namespace: str, name: str) -> set[RootKey]:
        if self._objs[kind].pop((namespace, name), None) is None:
            return set()
        return self._reindex(kind, namespace, name, None)

    def _reindex(self, kind: str, ns: str, name: str, obj: Obj | None) -> set[RootKey]:
        if kind == self.root_kind:
            return {RootKey(kind, ns, name)}
        mapper = self.mappers.get(kind)
        if mapper is None:
            return set()
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
        return set(before | after)

    def observe(self, key: RootKey) -> Observed:
        root = self._objs[self.root_kind].get((key.namespace, key.name))
        children: dict[str, tuple[Obj, ...]] = {}
        for kind, names in self._children.get(key, {}).items():
            objs = [self._objs[kind][n] for n in sorted(names) if n in self._objs[kind]]
            if objs:
                children[kind] = tuple(objs)
        return Observed(key, root, MappingProxyType(children))
