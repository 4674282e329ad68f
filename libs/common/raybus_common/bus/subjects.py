"""Every NATS subject Raybus uses is built and parsed here, and nowhere else.

Shape: `raybus.<stage>.<kind>.<namespace>.<name>`

- `stage` is one of `state` (objects as last observed), `act` (actions for the actuator),
  `res` (the outcome of each action), `dlq` (messages that failed for good) and `shadow`
  (actions from a controller in dry-run mode; nobody applies them).
- `kind` is the lowercase Kubernetes kind as listed in `kube/resources.py` (`raycluster`,
  `pod`, `schedulingpodgroup`): lowercase letters, digits and `-`.
- `namespace` is the object's namespace; cluster-scoped objects use the token `_`. Namespace
  names are DNS labels (`[a-z0-9-]`), so `_` can never be a real namespace.
- `name` is the object's name with every `.` written as `_`. Kubernetes names are DNS
  subdomains (`[a-z0-9.-]`) and never contain `_`, so the encoding is reversible; a name that
  already holds `_` is refused rather than silently mangled.

Tokens are validated: empty tokens, NATS wildcards (`*`, `>`), whitespace and (after encoding)
dots are refused with `ValueError`. Wildcard builders for consumers are at the bottom; they
are the only place a `*` or `>` enters a subject.

This module is pure: it knows nothing about streams, envelopes or the NATS client.
"""

from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import dataclass
from typing import Literal, get_args

PREFIX = "raybus"
Stage = Literal["state", "act", "res", "dlq", "shadow"]
STAGES: tuple[Stage, ...] = get_args(Stage)
_STAGE_SET = frozenset(STAGES)
CLUSTER_SCOPED = "_"  # namespace token of cluster-scoped objects

_KIND = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_FORBIDDEN = re.compile(r"[\s*>.]")


@dataclass(frozen=True)
class SubjectParts:
    stage: Stage
    kind: str
    namespace: str  # "" for cluster-scoped objects
    name: str  # decoded: dots restored

    @property
    def subject(self) -> str:
        return subject(self.stage, self.kind, self.namespace, self.name)

    @property
    def key(self) -> str:
        """`kind/namespace/name`, the object key used in logs (same form as `RootKey`)."""
        return f"{self.kind}/{self.namespace}/{self.name}"


def _check_stage(stage: str) -> Stage:
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; expected one of {', '.join(STAGES)}")
    return stage  # narrowed to Stage by the membership test


def _check_token(what: str, token: str) -> str:
    if not token:
        raise ValueError(f"{what} must not be empty")
    bad = _FORBIDDEN.search(token)
    if bad:
        raise ValueError(f"{what} {token!r} contains {bad.group()!r}, which is not allowed in a subject token")
    return token


def kind_token(kind: str) -> str:
    if not _KIND.match(kind):
        raise ValueError(f"kind token {kind!r} must be lowercase letters, digits and '-' (e.g. 'raycluster')")
    return kind


def namespace_token(namespace: str) -> str:
    """The namespace as a token: `_` for cluster-scoped objects (empty namespace)."""
    if namespace == "":
        return CLUSTER_SCOPED
    if namespace == CLUSTER_SCOPED or "_" in namespace:
        raise ValueError(f"namespace {namespace!r} is not a Kubernetes namespace name")
    return _check_token("namespace", namespace)


def name_token(name: str) -> str:
    """Encode an object name: `.` becomes `_` (Kubernetes names never contain `_`)."""
    if "_" in name:
        raise ValueError(f"name {name!r} contains '_', which Kubernetes names never do")
    return _check_token("name", name.replace(".", "_"))


def decode_namespace(token: str) -> str:
    return "" if token == CLUSTER_SCOPED else token


def decode_name(token: str) -> str:
    return token.replace("_", ".")


def subject(stage: str, kind: str, namespace: str, name: str) -> str:
    """`raybus.<stage>.<kind>.<namespace>.<name>` for one object (namespace "" = cluster-scoped)."""
    return ".".join((PREFIX, _check_stage(stage), kind_token(kind), namespace_token(namespace), name_token(name)))


def state(kind: str, namespace: str, name: str) -> str:
    return subject("state", kind, namespace, name)


def act(kind: str, namespace: str, name: str) -> str:
    return subject("act", kind, namespace, name)


def res(kind: str, namespace: str, name: str) -> str:
    return subject("res", kind, namespace, name)


def dlq(kind: str, namespace: str, name: str) -> str:
    return subject("dlq", kind, namespace, name)


def shadow(kind: str, namespace: str, name: str) -> str:
    return subject("shadow", kind, namespace, name)


def action(kind: str, namespace: str, name: str, *, dry_run: bool) -> str:
    """Where a controller sends an action: the actuator's queue, or the shadow stage in dry-run."""
    return subject("shadow" if dry_run else "act", kind, namespace, name)


@functools.lru_cache(maxsize=4096)
def parse(text: str) -> SubjectParts:
    """Split a concrete subject into its parts, decoding namespace and name. ValueError if malformed.
    Cached: a message's subject is read at each step of its handling (its stage for the metrics,
    its object for the handler), and the parts are immutable."""
    tokens = text.split(".")
    if len(tokens) != 5 or tokens[0] != PREFIX:
        raise ValueError(f"{text!r} is not a Raybus subject (raybus.<stage>.<kind>.<namespace>.<name>)")
    _, stage, kind, ns, name = tokens
    for what, token in (("kind", kind), ("namespace", ns), ("name", name)):
        _check_token(what, token)
    kind_token(kind)
    return SubjectParts(_check_stage(stage), kind, decode_namespace(ns), decode_name(name))


def stage_of(text: str) -> str:
    """A subject's stage (`raybus.<stage>.…`), or "unknown" for a subject not Raybus's. Its
    first two tokens only (a metric's label): every message and every publish's ack asks, and
    parsing the whole subject each time cost more than the cache of `parse` saved (at 1,000
    clusters it holds a fraction of the subjects in use)."""
    prefix, _, rest = text.partition(".")
    stage = rest.partition(".")[0]
    return stage if prefix == PREFIX and stage in _STAGE_SET else "unknown"


def restage(text: str, stage: str) -> str:
    """The same object's subject in another stage, e.g. a failed action's dead-letter subject."""
    p = parse(text)
    return subject(stage, p.kind, p.namespace, p.name)


def dead_letter_for(text: str) -> str:
    """`raybus.dlq.<same tokens>` for a Raybus subject; anything else lands in `raybus.dlq.unknown._.<hash>`."""
    try:
        return restage(text, "dlq")
    except ValueError:
        # Not one of ours (a hand-published message, say): keep it findable, never lose it.
        digest = hashlib.sha256(text.encode()).hexdigest()[:16]
        return subject("dlq", "unknown", "", digest)


# -- wildcards, for consumers -----------------------------------------------------------------


def all_of(stage: str) -> str:
    """Everything in one stage: `raybus.<stage>.>`."""
    return f"{PREFIX}.{_check_stage(stage)}.>"


def of_kind(stage: str, kind: str) -> str:
    """All objects of one kind in one stage: `raybus.<stage>.<kind>.>`."""
    return f"{PREFIX}.{_check_stage(stage)}.{kind_token(kind)}.>"


def in_namespace(stage: str, kind: str, namespace: str) -> str:
    """All objects of one kind in one namespace: `raybus.<stage>.<kind>.<ns>.*`."""
    return f"{PREFIX}.{_check_stage(stage)}.{kind_token(kind)}.{namespace_token(namespace)}.*"


def about(kind: str, namespace: str, name: str) -> str:
    """Everything about one object, in every stage: `raybus.*.<kind>.<ns>.<name>`."""
    return f"{PREFIX}.*.{kind_token(kind)}.{namespace_token(namespace)}.{name_token(name)}"


EVERYTHING = f"{PREFIX}.>"


def matches(pattern: str, text: str) -> bool:
    """NATS subject matching: `*` matches one token, a final `>` one or more."""
    pt, st = pattern.split("."), text.split(".")
    for i, p in enumerate(pt):
        if p == ">":
            return i == len(pt) - 1 and len(st) > i
        if i >= len(st) or (p != "*" and p != st[i]):
            return False
    return len(pt) == len(st)
