"""Partition leases over an in-memory KV with the same compare-and-swap rules."""

from __future__ import annotations

from raybus_common.controller.leases import LeaseManager
from raybus_common.kv import MemoryKV


class Clock:
    def __init__(self) -> None:
        self.t = 1_000_000.0

    def __call__(self) -> float:
        return self.t


def managers(kv: MemoryKV, clock: Clock, *names: str) -> list[LeaseManager]:
    return [LeaseManager(kv, "ctl", n, partitions=16, ttl=6, clock=clock) for n in names]


async def settle(ms: list[LeaseManager], rounds: int = 3) -> None:
    for _ in range(rounds):
        for m in ms:
            await m.tick()


async def test_one_replica_takes_everything() -> None:
    kv, clock = MemoryKV(), Clock()
    (a,) = managers(kv, clock, "a")
    changes = await a.tick()
    assert changes.gained == set(range(16)) and not changes.lost


async def test_three_replicas_split_without_overlap() -> None:
    kv, clock = MemoryKV(), Clock()
    ms = managers(kv, clock, "a", "b", "c")
    await settle(ms)
    held = [set(m.held) for m in ms]
    assert set().union(*held) == set(range(16))
    assert sum(len(h) for h in held) == 16, "no partition held twice"
    assert all(held), "every replica holds a share"


async def test_a_dead_replicas_share_moves_after_ttl() -> None:
    kv, clock = MemoryKV(), Clock()
    a, b, c = managers(kv, clock, "a", "b", "c")
    await settle([a, b, c])
    b_share = set(b.held)
    assert b_share
    # b dies: no more ticks. Before its records expire nobody may take its partitions.
    clock.t += 2
    await settle([a, c], rounds=1)
    assert not (set(a.held) | set(c.held)) & b_share
    clock.t += 6
    await settle([a, c], rounds=2)
    assert set(a.held) | set(c.held) == set(range(16))
    assert not set(a.held) & set(c.held)


async def test_release_all_hands_over_at_once() -> None:
    kv, clock = MemoryKV(), Clock()
    a, b = managers(kv, clock, "a", "b")
    await settle([a, b])
    released = await b.release_all()
    assert released and not b.held
    await settle([a], rounds=1)
    assert set(a.held) == set(range(16))


async def test_a_renewal_that_loses_the_race_drops_the_lease() -> None:
    kv, clock = MemoryKV(), Clock()
    (a,) = managers(kv, clock, "a")
    await a.tick()
    p = min(a.held)
    await kv.put(f"ctl.p.{p}", b'{"holder": "intruder", "expires": 9e12}')
    changes = await a.tick()
    assert p in changes.lost and p not in a.held
