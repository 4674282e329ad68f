"""Partition hashing and rendezvous assignment."""

from __future__ import annotations

import pytest

from raybus_common.controller.partitions import Lease, assignment, can_claim, desired, partition_of


def test_partition_of_is_stable_and_in_range() -> None:
    keys = [f"raycluster/ns{i % 7}/c{i}" for i in range(1000)]
    parts = [partition_of(k, 64) for k in keys]
    assert parts == [partition_of(k, 64) for k in keys]
    assert set(parts) <= set(range(64))
    assert len(set(parts)) == 64, "1000 keys should touch every partition"
    # A fixed value guards against an accidental change of hash (which would move every object).
    assert partition_of("raycluster/default/raycluster-sample", 64) == 39


def test_every_partition_has_exactly_one_owner_and_shares_are_balanced() -> None:
    members = ["a", "b", "c"]
    owners = assignment(members, 64)
    assert sorted(owners) == list(range(64))
    shares = [sum(1 for m in owners.values() if m == x) for x in members]
    assert sum(shares) == 64
    assert min(shares) >= 10, f"unbalanced: {shares}"


def test_losing_a_member_moves_only_its_partitions() -> None:
    before = assignment(["a", "b", "c"], 64)
    after = assignment(["a", "c"], 64)
    moved = {p for p in before if before[p] != after[p]}
    assert moved == {p for p, m in before.items() if m == "b"}


def test_desired_sets_partition_the_space() -> None:
    members = ["r1", "r2", "r3", "r4"]
    sets = [desired(m, members, 32) for m in members]
    assert sorted(p for s in sets for p in s) == list(range(32))


def test_no_members_no_assignment() -> None:
    assert assignment([], 8) == {}


@pytest.mark.parametrize(("holder", "membership", "me", "now", "ok"), [
    (None, None, "a", 0.0, True),
    ("a", Lease("a", 10.0), "a", 5.0, True),
    ("a", None, "a", 5.0, True),
    ("b", Lease("b", 10.0), "a", 5.0, False),
    ("b", Lease("b", 10.0), "a", 10.0, True),
    ("b", Lease("b", 10.0), "a", 11.0, True),
    ("b", None, "a", 5.0, True),
], ids=["free", "mine", "mine-without-membership", "holder-alive", "membership-runs-out-now",
        "membership-expired", "holder-left"])
def test_can_claim(holder: str | None, membership: Lease | None, me: str, now: float, ok: bool) -> None:
    assert can_claim(holder, membership, me, now) is ok


def test_lease_round_trip_and_garbage() -> None:
    lease = Lease("replica-1", 123.5)
    assert Lease.decode(lease.encode()) == lease
    assert Lease.decode(b"not json") is None
    assert Lease.decode(b'{"holder": "x"}') is None
