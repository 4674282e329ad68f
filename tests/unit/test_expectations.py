"""Expectations gate a root until the effect of its actions is seen, fails, or expires."""

from __future__ import annotations

import json

from raybus_common.controller.expectations import Expectations, Want
from raybus_common.controller.view import RootKey

R = RootKey("raycluster", "ns", "rc")


def test_a_create_is_awaited_until_observed() -> None:
    e = Expectations()
    e.expect(R, "a1", "pod", "ns", "rc-head", Want.PRESENT, now=0)
    assert not e.satisfied(R, now=1)
    assert e.observed("pod", "ns", "other", present=True) == set()
    assert not e.satisfied(R, now=1)
    assert e.observed("pod", "ns", "rc-head", present=True) == {R}
    assert e.satisfied(R, now=1)


def test_a_delete_is_met_only_by_absence() -> None:
    e = Expectations()
    e.expect(R, "d1", "pod", "ns", "w1", Want.ABSENT, now=0)
    assert e.observed("pod", "ns", "w1", present=True) == set()
    assert not e.satisfied(R, now=1)
    assert e.observed("pod", "ns", "w1", present=False) == {R}
    assert e.satisfied(R, now=1)


def test_expectations_expire_ttl_after_the_action_was_carried_out() -> None:
    e = Expectations(ttl=300, pending_ttl=1800)
    e.expect(R, "a1", "pod", "ns", "p", Want.PRESENT, now=0)
    assert not e.satisfied(R, now=600), "still in the actuator's queue: its clock has not started"
    assert e.next_deadline(R) == 1800
    assert e.executed("a1", now=600) == R and e.executed("unknown", now=600) is None
    assert e.next_deadline(R) == 900
    assert not e.satisfied(R, now=899.9)
    assert e.satisfied(R, now=900)
    assert e.pending(R) == [] and e.next_deadline(R) is None


def test_an_action_never_carried_out_expires_after_the_longer_ttl() -> None:
    e = Expectations(ttl=300, pending_ttl=1800)
    e.expect(R, "a1", "pod", "ns", "p", Want.PRESENT, now=0)
    assert not e.satisfied(R, now=1799.9)
    assert e.satisfied(R, now=1800)


def test_a_failed_action_stops_the_wait() -> None:
    e = Expectations()
    e.expect(R, "a1", "pod", "ns", "p", Want.PRESENT, now=0)
    e.expect(R, "a2", "pod", "ns", "q", Want.PRESENT, now=0)
    assert e.failed("a1") == {R}
    assert not e.satisfied(R, now=1)
    assert [x.action_id for x in e.pending(R)] == ["a2"]
    assert e.failed("unknown") == set()


def test_forget_clears_a_root() -> None:
    e = Expectations()
    e.expect(R, "a1", "pod", "ns", "p", Want.PRESENT, now=0)
    e.forget(R)
    assert e.satisfied(R, now=0)
    assert e.observed("pod", "ns", "p", present=True) == set()


def test_expectations_handed_to_another_replica_are_awaited_there_unless_they_show() -> None:
    mine, gone = RootKey("raycluster", "ns", "a"), RootKey("raycluster", "ns", "b")
    e = Expectations(ttl=300, pending_ttl=1800)
    e.expect(mine, "a1", "pod", "ns", "a-head", Want.PRESENT, now=0)
    e.expect(mine, "a2", "pod", "ns", "a-worker", Want.ABSENT, now=0)
    e.expect(mine, "a3", "pod", "ns", "a-seen", Want.PRESENT, now=0)
    e.expect(gone, "b1", "pod", "ns", "b-head", Want.PRESENT, now=0)
    e.executed("b1", now=0)  # runs out at 300
    assert e.export(lambda r: r.name == "zzz", now=1) is None
    work = e.export(lambda r: True, now=400)
    assert work is not None
    other = Expectations(ttl=300, pending_ttl=1800)
    waiting = other.adopt(work, now=400, shows=lambda x: x.name == "a-seen")
    assert waiting == {mine}
    assert sorted(x.action_id for x in other.pending(mine)) == ["a1", "a2"] and not other.pending(gone)
    assert other.next_deadline(mine) == 700, "awaited ttl at most: its result may have come before it"
    assert other.observed("pod", "ns", "a-head", present=True) == {mine}
    assert other.failed("a2") == {mine} and other.satisfied(mine, now=401)
    assert other.adopt(work, now=400, shows=lambda x: False) == {mine}
    assert other.adopt(work, now=400, shows=lambda x: False) == set(), "an action awaited already is not doubled"
    soon = Expectations(ttl=300)
    soon.adopt(handed_off(450), now=400, shows=lambda x: False)
    assert soon.next_deadline(R) == 450, "a sooner deadline is kept"


def test_a_malformed_handoff_takes_over_nothing_and_breaks_nothing() -> None:
    e = Expectations()
    good = {"root": {"kind": "raycluster", "namespace": "ns", "name": "a"}, "action_id": "a1", "kind": "pod",
            "namespace": "ns", "name": "p", "want": "present", "deadline": 100.0}
    assert e.adopt(b"not json", now=0, shows=lambda x: False) == set()
    assert e.adopt(b'{"a": 1}', now=0, shows=lambda x: False) == set()
    data = json.dumps([{"root": "x"}, {**good, "want": "maybe"}, 3, good]).encode()
    assert e.adopt(data, now=0, shows=lambda x: False) == {R.__class__("raycluster", "ns", "a")}


def handed_off(deadline: float) -> bytes:
    """What a replica hands over for one create of R, whose deadline is `deadline`."""
    e = Expectations(ttl=deadline, pending_ttl=deadline)
    e.expect(R, "x1", "pod", "ns", "p", Want.PRESENT, now=0)
    work = e.export(lambda r: True, now=0)
    assert work is not None
    return work
