"""What follows from a RayCluster's spec, worked out once per spec and reused by every pass.

A RayCluster is reconciled on every event of its pods and Services (some twenty passes while one
comes up), and its spec rarely changes between two of them. So what depends only on the spec —
with the metadata KubeRay's rules and builders read (name, namespace, uid, labels, annotations)
and the controller's settings — is computed once per cluster and kept (`Facts`): the typed spec,
the validation problems that do not read the status, the spec hash, the desired resources and the
names of the non-pod children. The status, the rest of the metadata and the children in view are
read afresh on every pass.

The results are those of a pass without the memo (`spec_memo_size` 0: every fact worked out from
the cluster as checked, `Facts.of_cluster`), always:

- an entry serves a pass only while the spec, those metadata fields and the settings are the
  ones it was computed from: the spec compared as JSON text (where `1`, `1.0` and `true` differ,
  as they do to the schema checks), the rest by value;
- the facts are computed from our own copies, into a cluster that holds nothing else
  (`Facts.base`: no status, no other metadata), so a rule or builder that started to read more
  would decide differently from a pass without the memo, which the unit tests compare over every
  fixture's views;
- the passes share the typed spec and only read it (nothing in cluster-ctl writes to a model);
  the other facts are strings, tuples or copied by their reader.

One entry per cluster (namespace/name), dropped when the cluster goes (a pass without a root)
and, least recently used first, beyond `ClusterConfig.spec_memo_size` entries (clusters another
replica now reconciles). The cache is the process's; `reconcile` stays a function of its inputs.

Not kept: the pods built for a group (about 11 KB of objects each, needed only in the pass that
creates pods); a pass builds each group's pod once and copies it per pod it creates (`plan.pods`).
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Mapping
from functools import cached_property
from typing import Any

from pydantic import ValidationError

from raybus_common import objects
from raybus_common.crds.raycluster import RayCluster

from .config import ClusterConfig
from .plan.children import planned_children
from .podtemplate import json_copy
from .status.calculate import desired_resources
from .validation.check import Checked, check, spec_rules
from .validation.problems import Problem
from .validation.schema import schema_problems
from .validation.spec import status_rules

Obj = dict[str, Any]
# The metadata the spec's facts may read: KubeRay's rules (name, labels, annotations) and the
# builders (namespace; the uid, which names GCS FT's storage namespace).
KEYED_METADATA = ("name", "namespace", "uid", "labels", "annotations")


def _text(raw: Mapping[str, Any]) -> str | None:
    """The spec as JSON text, None when it is not an object (or not JSON)."""
    spec = raw.get("spec")
    if not isinstance(spec, dict):
        return None
    try:
        return json.dumps(spec, separators=(",", ":"))
    except (TypeError, ValueError):
        return None


def _keyed(meta: Any) -> Obj:
    if not isinstance(meta, Mapping):
        return {}
    return {k: json_copy(meta[k]) for k in KEYED_METADATA if k in meta}


class Facts:
    """One cluster's spec and what follows from it alone (with `KEYED_METADATA` and `settings`).
    Each fact is computed the first time a pass asks for it."""

    def __init__(self, text: str | None, meta: Obj, settings: ClusterConfig, base: RayCluster, rules: tuple[Problem, ...]):
        self.text = text  # the spec as JSON text, what the entry is compared with (None: not kept)
        self.meta = meta  # a private copy of the metadata fields in KEYED_METADATA
        self.settings = settings
        self.base = base  # the cluster with that spec and metadata, nothing else (parsed from `text`)
        self.rules = rules  # schema problems, then `spec_rules`

    @classmethod
    def of(cls, raw: Mapping[str, Any], settings: ClusterConfig) -> Facts | None:
        """The facts of `raw` to keep, from our own copies of the inputs (nothing outside can
        change them); None when its spec is not JSON or does not parse."""
        text = _text(raw)
        if text is None:
            return None
        spec, keyed = json.loads(text), _keyed(raw.get("metadata"))
        try:
            base = RayCluster.model_validate({"apiVersion": raw.get("apiVersion"), "kind": raw.get("kind"),
                                              "metadata": keyed, "spec": spec})
        except ValidationError:
            return None
        rules = (*schema_problems({"spec": spec}), *spec_rules(base, gates=settings.gates))
        return cls(text, keyed, settings, base, rules)

    @classmethod
    def of_cluster(cls, cluster: RayCluster, settings: ClusterConfig) -> Facts:
        """The facts of a pass that keeps none (the memo is off, or the spec is not JSON): each
        worked out from the cluster as checked, as if there were no memo."""
        return cls(None, {}, settings, cluster, ())

    def holds(self, raw: Mapping[str, Any], settings: ClusterConfig) -> bool:
        """Whether these are `raw`'s facts under `settings`: the same spec, keyed metadata and settings."""
        meta = raw.get("metadata")
        return (self.text is not None and isinstance(meta, Mapping) and _text(raw) == self.text
                and all(meta.get(k) == self.meta.get(k) and (k in meta) == (k in self.meta) for k in KEYED_METADATA)
                and (settings is self.settings or settings == self.settings))

    def checked(self, raw: Mapping[str, Any]) -> Checked:
        """`validation.check(raw)`, with the kept spec: the rest of `raw` (the status) is parsed
        and the status rules run afresh. A status that does not parse: the whole check afresh."""
        try:
            cluster = RayCluster.model_validate({**raw, "spec": self.base.spec})
        except ValidationError:
            return check(raw, gates=self.settings.gates)
        return Checked(cluster, (*self.rules, *status_rules(cluster)))

    @cached_property
    def spec_hash(self) -> str:
        return self.base.spec.spec_hash()

    @cached_property
    def desired_resources(self) -> Mapping[str, str]:
        """The status's desiredCPU/Memory/GPU/TPU (`status.calculate.desired_resources`)."""
        return dict(desired_resources(self.base))

    @cached_property
    def children(self) -> tuple[tuple[str, str], ...] | None:
        """Kind and name of every non-pod child a pass keeps (`plan.children.planned_children`);
        None when these facts are not kept (the pass builds the children, as without a memo)."""
        if self.text is None:
            return None
        return tuple((c["kind"], str(c["metadata"]["name"])) for c in planned_children(self.base, self.settings))


class SpecMemo:
    """The facts of each cluster seen, by namespace and name; least recently used first out."""

    def __init__(self) -> None:
        self._entries: OrderedDict[tuple[str, str], Facts] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        self._entries.clear()

    def forget(self, namespace: str, name: str) -> None:
        self._entries.pop((namespace, name), None)

    def facts(self, raw: Mapping[str, Any], settings: ClusterConfig) -> Facts | None:
        """`raw`'s facts: the kept ones while they hold, else afresh (and kept); None when the
        memo is off or the spec is not JSON or does not parse (the pass checks `raw` afresh)."""
        size = settings.spec_memo_size
        if size <= 0:
            return None
        key = (objects.namespace(raw), objects.name(raw))
        found = self._entries.get(key)
        if found is not None and found.holds(raw, settings):
            self._entries.move_to_end(key)
            self.hits += 1
            return found
        self.misses += 1
        fresh = Facts.of(raw, settings)
        self._entries.pop(key, None)
        if fresh is not None:
            self._entries[key] = fresh
            while len(self._entries) > size:
                self._entries.popitem(last=False)
        return fresh


MEMO = SpecMemo()
