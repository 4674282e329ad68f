"""Partition leases over an in-memory KV with the same compare-and-swap rules."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import pytest

from raybus_common import metrics
from raybus_common.controller.leases import MAX_HANDOFF, Changes, LeaseManager
from raybus_common.controller.partitions import desired
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


async def test_a_replica_that_stalled_past_its_ttl_is_fenced_and_gives_up_everything() -> None:
    kv, clock = MemoryKV(), Clock()
    a, b = managers(kv, clock, "a", "b")
    await settle([a, b])
    a_share = set(a.held)
    # a stalls; b finds a's membership expired, deletes it (the fence) and takes a's share.
    clock.t += 7
    await settle([b], rounds=1)
    assert set(b.held) == set(range(16))
    assert await kv.get("ctl.members.a") is None
    assert set(a.held) == a_share, "a has not ticked yet: it still believes it holds its share"
    # a's next renewal fails: it gives up every partition, even those nobody took.
    changes = await a.tick()
    assert a_share <= changes.lost
    assert not set(a.held) & set(b.held), "no partition held twice"
    # a is a member again: b hands its share back, and a claims it.
    await settle([b, a], rounds=2)
    assert set(a.held) == a_share and not set(a.held) & set(b.held)


class RenewsBeforeTheFence(MemoryKV):
    """A KV where the holder renews between another replica's read of its membership and that
    replica's delete of it (the race the fence's compare-and-swap settles)."""

    holder: LeaseManager | None = None

    async def delete(self, key: str, last: int | None = None) -> None:
        if key == "ctl.members.a" and self.holder is not None:
            holder, self.holder = self.holder, None
            await holder.tick()
        await super().delete(key, last)


async def test_a_holder_that_renews_before_the_fence_keeps_its_partitions() -> None:
    kv, clock = RenewsBeforeTheFence(), Clock()
    (a,) = managers(kv, clock, "a")
    await a.tick()
    p = min(a.held)
    # z's clock is ahead: it reads a's membership as expired and tries to fence it, but a renews first.
    z = LeaseManager(kv, "ctl", "z", partitions=16, ttl=6, clock=lambda: clock.t + 100)
    kv.holder = a
    assert not await z._claim(p, b'{"holder": "z", "expires": 9e12}', clock.t + 100, Changes())
    assert p not in z.held and p in a.held
    assert await kv.get("ctl.members.a") is not None
    assert not (await a.tick()).lost


async def test_while_nothing_changes_a_tick_writes_only_the_membership() -> None:
    kv, clock = MemoryKV(), Clock()
    ms = managers(kv, clock, "a", "b", "c")
    await settle(ms)
    before = kv.rev
    clock.t += 2
    await settle(ms, rounds=5)
    assert kv.rev - before == 3 * 5, "one write per replica per tick"
    assert sum(len(m.held) for m in ms) == 16


def held_gauge(controller: str) -> float:
    return metrics.sample("raybus_controller_partitions_held", {"controller": controller})


async def test_a_tick_reports_what_it_holds() -> None:
    kv, clock = MemoryKV(), Clock()
    a, b = (LeaseManager(kv, "gauged", n, partitions=16, ttl=6, clock=clock) for n in ("a", "b"))
    await a.tick()
    assert held_gauge("gauged") == 16
    await settle([b, a])
    assert held_gauge("gauged") == len(a.held) < 16  # the gauge is per process: the last tick's


class Flaky:
    """A holder's tick that fails the first `failures` times, then stops the renewals."""

    def __init__(self, stop: asyncio.Event, failures: int) -> None:
        self.stop, self.failures, self.calls = stop, failures, 0

    async def __call__(self) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            raise ConnectionError("no NATS")
        self.stop.set()


@pytest.mark.parametrize("at_once", [True, False])
async def test_renew_tries_a_failed_tick_again_and_stops_when_told(at_once: bool,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    stop = asyncio.Event()
    m = LeaseManager(MemoryKV(), "renewing", "a", ttl=0.03)
    tick = Flaky(stop, failures=2)
    with caplog.at_level(logging.WARNING, "raybus.leases"):
        await asyncio.wait_for(m.renew(stop, tick, at_once=at_once), 5)
    assert tick.calls == 3
    assert [r.getMessage() for r in caplog.records] == ["renewing lease tick failed: no NATS"] * 2


async def test_renew_does_not_tick_once_stopped() -> None:
    stop = asyncio.Event()
    stop.set()
    tick = Flaky(stop, failures=0)
    await LeaseManager(MemoryKV(), "ctl", "a").renew(stop, tick, at_once=True)
    assert tick.calls == 0


async def test_give_back_releases_everything_for_the_others() -> None:
    kv, clock = MemoryKV(), Clock()
    a, b = managers(kv, clock, "a", "b")
    await settle([a, b])
    await a.give_back()
    assert not a.held and held_gauge("ctl") == 0
    await b.tick()
    assert set(b.held) == set(range(16)), "taken over at once, before any TTL"


class Unreachable(MemoryKV):
    async def delete(self, key: str, last: int | None = None) -> None:
        raise ConnectionError("no NATS")


class Hanging(MemoryKV):
    async def delete(self, key: str, last: int | None = None) -> None:
        await asyncio.Event().wait()


@pytest.mark.parametrize("kv", [Unreachable(), Hanging()], ids=["failing", "hanging"])
async def test_give_back_says_so_when_it_cannot(kv: MemoryKV, caplog: pytest.LogCaptureFixture) -> None:
    m = LeaseManager(kv, "stuck", "a", partitions=4, ttl=6, clock=Clock())
    await m.tick()
    with caplog.at_level(logging.WARNING, "raybus.leases"):
        await asyncio.wait_for(m.give_back(timeout=0.05), 5)  # bounded: it returns either way
    assert [r.getMessage().split(":")[0] for r in caplog.records] == [
        "stuck could not give its partitions back (they expire in 6s)"]
    assert kv.data, "the records stay, to expire"


@pytest.mark.parametrize(("at_once", "ticks"), [(True, 1), (False, 0)])
async def test_renew_ticks_first_at_once_only_if_asked(at_once: bool, ticks: int) -> None:
    stop = asyncio.Event()
    tick = Flaky(asyncio.Event(), failures=0)  # never stops the renewals itself
    renewing = asyncio.create_task(LeaseManager(MemoryKV(), "ctl", "a", ttl=600).renew(stop, tick, at_once=at_once))
    for _ in range(20):  # let it run up to its first pause (an interval of 200 s)
        await asyncio.sleep(0)
    stop.set()
    await asyncio.wait_for(renewing, 5)
    assert tick.calls == ticks


async def test_a_partition_given_up_leaves_its_work_to_the_next_holder() -> None:
    kv, clock = MemoryKV(), Clock()
    (a,) = managers(kv, clock, "a")
    a.handoff = lambda p: f"work of {p}".encode() if p % 2 == 0 else None
    await a.tick()
    (b,) = managers(kv, clock, "b")
    await b.tick()  # b joins: a gives b's share up at its next tick
    await a.tick()
    changes = await b.tick()
    b_share = set(desired(b.replica, ["a", "b"], 16))
    assert changes.gained == b_share and set(b.held) == b_share
    assert changes.handed == {p: f"work of {p}".encode() for p in b_share if p % 2 == 0}
    assert not (await b.tick()).handed, "taken over once"


async def test_a_partition_given_up_on_shutdown_leaves_its_work_too() -> None:
    kv, clock = MemoryKV(), Clock()
    a, b = managers(kv, clock, "a", "b")
    a.handoff = lambda p: b"creates"
    await settle([a, b])
    a_share = set(a.held)
    await a.release_all()
    changes = await b.tick()
    assert set(changes.handed) == a_share and set(b.held) == set(range(16))


class RefusesLargeValues(MemoryKV):
    async def update(self, key: str, value: bytes, last: int) -> int:
        if len(value) > 100:
            raise ValueError("maximum payload exceeded")
        return await super().update(key, value, last)


def broken(p: int) -> bytes:
    raise RuntimeError("no")


@pytest.mark.parametrize(("kv", "handoff"), [
    (MemoryKV(), broken),  # the holder cannot say: released without it
    (RefusesLargeValues(), lambda p: b"x" * 200),  # the KV refuses the record: released without it
    (MemoryKV(), lambda p: b"x" * (MAX_HANDOFF + 1)),  # too large to leave: released without it
], ids=["failing", "refused", "too-large"])
async def test_work_that_cannot_be_left_does_not_hold_the_partition(kv: MemoryKV, handoff: Callable[[int], bytes],
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    a, b = managers(kv, clock, "a", "b")
    a.handoff = handoff
    await a.tick()
    await b.tick()
    with caplog.at_level(logging.WARNING, "raybus.leases"):
        await a.tick()
    assert "released without its work under way" in caplog.text
    changes = await b.tick()
    assert set(b.held) == set(desired(b.replica, ["a", "b"], 16)) and not changes.handed
