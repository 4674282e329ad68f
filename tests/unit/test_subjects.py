"""Subjects: building, parsing, encoding of dotted names, validation and wildcard matching."""

from __future__ import annotations

import pytest

from raybus_common.bus import subjects
from raybus_common.bus.subjects import SubjectParts


@pytest.mark.parametrize(("stage", "kind", "ns", "name", "expected"), [
    ("state", "raycluster", "default", "my-cluster", "raybus.state.raycluster.default.my-cluster"),
    ("act", "pod", "team-a", "a.b.c", "raybus.act.pod.team-a.a_b_c"),
    ("res", "service", "ns", "svc", "raybus.res.service.ns.svc"),
    ("dlq", "job", "ns", "j", "raybus.dlq.job.ns.j"),
    ("shadow", "rayjob", "ns", "j.1", "raybus.shadow.rayjob.ns.j_1"),
    ("state", "namespace", "", "kube-system", "raybus.state.namespace._.kube-system"),
    ("state", "schedulingpodgroup", "ns", "pg", "raybus.state.schedulingpodgroup.ns.pg"),
], ids=["state", "dotted-name", "res", "dlq", "shadow-dotted", "cluster-scoped", "long-kind"])
def test_build_and_parse_round_trip(stage: str, kind: str, ns: str, name: str, expected: str) -> None:
    built = subjects.subject(stage, kind, ns, name)
    assert built == expected
    parts = subjects.parse(built)
    assert parts == SubjectParts(stage, kind, ns, name)  # type: ignore[arg-type]
    assert parts.subject == built


def test_stage_shortcuts_agree_with_subject() -> None:
    args = ("raycluster", "ns", "a.b")
    assert subjects.state(*args) == subjects.subject("state", *args)
    assert subjects.act(*args) == subjects.subject("act", *args)
    assert subjects.res(*args) == subjects.subject("res", *args)
    assert subjects.dlq(*args) == subjects.subject("dlq", *args)
    assert subjects.shadow(*args) == subjects.subject("shadow", *args)
    assert subjects.action(*args, dry_run=False) == subjects.act(*args)
    assert subjects.action(*args, dry_run=True) == subjects.shadow(*args)


def test_key_matches_root_key_form() -> None:
    assert subjects.parse("raybus.state.raycluster.ns.a_b").key == "raycluster/ns/a.b"


@pytest.mark.parametrize(("stage", "kind", "ns", "name"), [
    ("state", "raycluster", "ns", ""),
    ("state", "raycluster", "ns", "a*"),
    ("state", "raycluster", "ns", ">"),
    ("state", "raycluster", "ns", "a b"),
    ("state", "raycluster", "ns", "a\tb"),
    ("state", "raycluster", "ns", "has_underscore"),
    ("state", "raycluster", "n s", "x"),
    ("state", "raycluster", "*", "x"),
    ("state", "raycluster", "_", "x"),
    ("state", "raycluster", "a.b", "x"),
    ("state", "RayCluster", "ns", "x"),
    ("state", "", "ns", "x"),
    ("state", "ray.cluster", "ns", "x"),
    ("evt", "raycluster", "ns", "x"),
    ("", "raycluster", "ns", "x"),
], ids=["empty-name", "star", "gt", "space", "tab", "underscore-name", "space-ns", "star-ns",
        "underscore-ns", "dotted-ns", "uppercase-kind", "empty-kind", "dotted-kind", "unknown-stage",
        "empty-stage"])
def test_invalid_tokens_are_refused(stage: str, kind: str, ns: str, name: str) -> None:
    with pytest.raises(ValueError):
        subjects.subject(stage, kind, ns, name)


@pytest.mark.parametrize("text", [
    "raybus.state.raycluster.ns",
    "raybus.state.raycluster.ns.a.b",
    "other.state.raycluster.ns.a",
    "raybus.nope.raycluster.ns.a",
    "raybus.state.raycluster.ns.*",
    "raybus.state.raycluster.ns.>",
    "raybus.state.raycluster..a",
    "",
], ids=["too-short", "too-long", "wrong-prefix", "bad-stage", "wildcard-star", "wildcard-gt", "empty-token",
        "empty"])
def test_parse_refuses_malformed(text: str) -> None:
    with pytest.raises(ValueError):
        subjects.parse(text)


@pytest.mark.parametrize(("builder", "expected"), [
    (lambda: subjects.all_of("state"), "raybus.state.>"),
    (lambda: subjects.of_kind("state", "pod"), "raybus.state.pod.>"),
    (lambda: subjects.in_namespace("act", "pod", "ns"), "raybus.act.pod.ns.*"),
    (lambda: subjects.in_namespace("act", "namespace", ""), "raybus.act.namespace._.*"),
    (lambda: subjects.about("raycluster", "ns", "a.b"), "raybus.*.raycluster.ns.a_b"),
], ids=["all-of-stage", "of-kind", "in-namespace", "cluster-scoped", "about-object"])
def test_wildcards(builder: object, expected: str) -> None:
    assert builder() == expected  # type: ignore[operator]


@pytest.mark.parametrize(("pattern", "subject", "matches"), [
    ("raybus.state.>", "raybus.state.pod.ns.p", True),
    ("raybus.state.>", "raybus.act.pod.ns.p", False),
    ("raybus.state.>", "raybus.state", False),
    ("raybus.*.pod.ns.p", "raybus.res.pod.ns.p", True),
    ("raybus.*.pod.ns.p", "raybus.res.pod.ns.q", False),
    ("raybus.state.pod.ns.*", "raybus.state.pod.ns.p", True),
    ("raybus.state.pod.ns.*", "raybus.state.pod.ns.p.x", False),
    ("raybus.state.pod.ns.p", "raybus.state.pod.ns.p", True),
    (">", "raybus.state.pod.ns.p", True),
], ids=["gt-matches", "gt-other-stage", "gt-needs-a-token", "star-stage", "star-other-name", "star-name",
        "star-one-token-only", "literal", "gt-all"])
def test_matches(pattern: str, subject: str, matches: bool) -> None:
    assert subjects.matches(pattern, subject) is matches


@pytest.mark.parametrize(("original", "expected"), [
    ("raybus.act.pod.ns.a_b", "raybus.dlq.pod.ns.a_b"),
    ("raybus.state.namespace._.x", "raybus.dlq.namespace._.x"),
], ids=["action", "cluster-scoped"])
def test_dead_letter_subject_keeps_tokens(original: str, expected: str) -> None:
    assert subjects.dead_letter_for(original) == expected


def test_dead_letter_subject_for_a_foreign_subject_is_stable() -> None:
    first = subjects.dead_letter_for("somebody.else")
    assert first == subjects.dead_letter_for("somebody.else")
    assert subjects.parse(first).kind == "unknown"


@pytest.mark.parametrize(("subject", "stage"), [
    ("raybus.state.pod.ns.p", "state"), ("raybus.res.raycluster.ns.rc_v1", "res"), ("raybus.act.pod._.n", "act"),
    ("raybus.elsewhere.pod.ns.p", "unknown"), ("other.state.pod.ns.p", "unknown"), ("_INBOX.abc.1", "unknown"),
    ("raybus", "unknown"), ("", "unknown"),
], ids=["state", "res", "cluster-scoped", "unknown-stage", "other-prefix", "inbox", "prefix-only", "empty"])
def test_stage_of(subject: str, stage: str) -> None:
    assert subjects.stage_of(subject) == stage
