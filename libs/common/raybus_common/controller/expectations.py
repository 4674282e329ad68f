"""Expectations: what a controller has asked for and not yet seen, so a lagging view never
makes it create (or delete) twice. Modelled on controller-runtime's ControllerExpectations.

After publishing an action that creates an object, the controller expects to observe it;
after a delete, to observe it gone. Until every expectation of a root is met, failed (the
actuator reported a permanent error, or that the write changed nothing) or expired, the root is
not reconciled again; the runtime requeues it instead. An expectation expires `ttl` (5 minutes,
like KubeRay's) after the actuator carried its action out (`executed`), or `pending_ttl` (30
minutes) after it was published if no result came: KubeRay's clock starts at its own API call,
and an action can wait in the actuator's queue for minutes at scale (at 3,000 clusters, a
5-minute clock started at publishing ran out before the creates were made, and the same pods
were created again). Pure: times are passed in.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
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
    def __init__(self, ttl: float = 300.0, pending_ttl: float = 1800.0) -> None:
        self.ttl = ttl
        self.pending_ttl = pending_ttl
        self._by_root: dict[RootKey, dict[str, Expectation]] = defaultdict(dict)
        self._root_of: dict[str, RootKey] = {}  # action id → the root waiting for it
        self._by_target: dict[tuple[str, str, str], set[tuple[RootKey, str]]] = defaultdict(set)

    def expect(self, root: RootKey, action_id: str, kind: str, namespace: str, name: str, want: Want,
               now: float) -> None:
        self._add(root, Expectation(action_id, kind, namespace, name, want, now + self.pending_ttl))

    def _add(self, root: RootKey, exp: Expectation) -> None:
        self._by_root[root][exp.action_id] = exp
        self._root_of[exp.action_id] = root
        self._by_target[(exp.kind, exp.namespace, exp.name)].add((root, exp.action_id))

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
        """The action failed for good (or changed nothing): stop waiting for its effect."""
        root = self._root_of.get(action_id)
        if root is None:
            return set()
        self._drop(root, action_id)
        return {root}

    def executed(self, action_id: str, now: float) -> RootKey | None:
        """The actuator carried the action out: its effect is due in view within `ttl`. Returns
        the root waiting for it (whose next deadline may now be sooner), if any."""
        root = self._root_of.get(action_id)
        exp = self._by_root.get(root, {}).get(action_id) if root is not None else None
        if root is not None and exp is not None:
            self._by_root[root][action_id] = replace(exp, deadline=min(exp.deadline, now + self.ttl))
            return root
        return None

    def next_deadline(self, root: RootKey) -> float | None:
        """When the root's earliest pending expectation runs out (None if it waits for none)."""
        pending = self._by_root.get(root)
        return min(e.deadline for e in pending.values()) if pending else None

    def satisfied(self, root: RootKey, now: float) -> bool:
        pending = self._by_root.get(root)
        if not pending:
            return True
        for action_id, exp in list(pending.items()):
            if exp.deadline <= now:
                self._drop(root, action_id)
        return not self._by_root.get(root)

    def export(self, select: Callable[[RootKey], bool], now: float) -> bytes | None:
        """The expectations not run out of the roots `select` picks, for another replica taking
        those roots over (`adopt`); None if there are none."""
        items = [{"root": asdict(root), **asdict(exp)} for root, pending in self._by_root.items() if select(root)
                 for exp in pending.values() if exp.deadline > now]
        return json.dumps(items).encode() if items else None

    def adopt(self, data: bytes, now: float, shows: Callable[[Expectation], bool]) -> set[RootKey]:
        """Take over what `export` wrote: each expectation not run out and whose effect does not
        show already (`shows`) is awaited here, for at most `ttl` more (its action's result may
        have come before it, and nothing else would end a wait for a create that failed). Returns
        the roots now waiting; malformed entries are skipped."""
        try:
            items = json.loads(data)
        except ValueError:
            return set()
        waiting: set[RootKey] = set()
        for item in items if isinstance(items, list) else ():
            try:
                root = RootKey(**item.pop("root"))
                exp = Expectation(**{**item, "want": Want(item["want"]), "deadline": float(item["deadline"])})
            except (AttributeError, KeyError, TypeError, ValueError):
                continue
            if exp.deadline <= now or shows(exp) or exp.action_id in self._root_of:
                continue
            self._add(root, replace(exp, deadline=min(exp.deadline, now + self.ttl)))
            waiting.add(root)
        return waiting

    def pending(self, root: RootKey) -> list[Expectation]:
        return list(self._by_root.get(root, {}).values())

    def forget(self, root: RootKey) -> None:
        for action_id in list(self._by_root.get(root, {})):
            self._drop(root, action_id)

    def _drop(self, root: RootKey, action_id: str) -> None:
        exp = self._by_root.get(root, {}).pop(action_id, None)
        if self._root_of.get(action_id) == root:
            del self._root_of[action_id]
        if not self._by_root.get(root):
            self._by_root.pop(root, None)
        if exp is not None:
            target = (exp.kind, exp.namespace, exp.name)
            self._by_target[target].discard((root, action_id))
            if not self._by_target[target]:
                del self._by_target[target]
