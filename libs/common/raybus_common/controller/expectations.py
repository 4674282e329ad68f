"""Expectations: what a controller has asked for and not yet seen, so a lagging view never
makes it create (or delete) twice. Modelled on controller-runtime's ControllerExpectations.

After publishing an action that creates an object, the controller expects to observe it;
after a delete, to observe it gone. Until every expectation of a root is met, failed (the
actuator reported a permanent error) or expired (`ttl`, 5 minutes like KubeRay's), the root is
not reconciled again; the runtime requeues it instead. Pure: times are passed in.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from enum import StrEnum

from .view import RootKey


class Want(StrEnum):
    PRESENT = "present"
    ABSENT = "absent"


@dataclass(frozen=True)
class Expectation:
    action_id: str
    kind: str
    namespace: str
    name: str
    want: Want
    deadline: float


class Expectations:
    def __init__(self, ttl: float = 300.0) -> None:
        self.ttl = ttl
        self._by_root: dict[RootKey, dict[str, Expectation]] = defaultdict(dict)
        self._by_target: dict[tuple[str, str, str], set[tuple[RootKey, str]]] = defaultdict(set)

    def expect(self, root: RootKey, action_id: str, kind: str, namespace: str, name: str, want: Want,
               now: float) -> None:
        exp = Expectation(action_id, kind, namespace, name, want, now + self.ttl)
        self._by_root[root][action_id] = exp
        self._by_target[(kind, namespace, name)].add((root, action_id))

    def observed(self, kind: str, namespace: str, name: str, present: bool) -> set[RootKey]:
        """Record an observation; return the roots whose expectations it met."""
        met: set[RootKey] = set()
        for root, action_id in list(self._by_target.get((kind, namespace, name), ())):
            exp = self._by_root[root].get(action_id)
            if exp is None or (exp.want is Want.PRESENT) == present:
                self._drop(root, action_id)
                met.add(root)
        return met

    def failed(self, action_id: str) -> set[RootKey]:
        """The action failed for good: stop waiting for its effect."""
        roots = {r for r, ids in self._by_root.items() if action_id in ids}
        for root in roots:
            self._drop(root, action_id)
        return roots

    def satisfied(self, root: RootKey, now: float) -> bool:
        pending = self._by_root.get(root)
        if not pending:
            return True
        for action_id, exp in list(pending.items()):
            if exp.deadline <= now:
                self._drop(root, action_id)
        return not self._by_root.get(root)

    def pending(self, root: RootKey) -> list[Expectation]:
        return list(self._by_root.get(root, {}).values())

    def forget(self, root: RootKey) -> None:
        for action_id in list(self._by_root.get(root, {})):
            self._drop(root, action_id)

    def _drop(self, root: RootKey, action_id: str) -> None:
        exp = self._by_root.get(root, {}).pop(action_id, None)
        if not self._by_root.get(root):
            self._by_root.pop(root, None)
        if exp is not None:
            target = (exp.kind, exp.namespace, exp.name)
            self._by_target[target].discard((root, action_id))
            if not self._by_target[target]:
                del self._by_target[target]
