"""Partition leases against a real NATS KV: compare-and-swap holds across replicas."""

from __future__ import annotations

import asyncio

import nats
import pytest

from raybus_common.bus.nats_kv import NatsKV
from raybus_common.controller.leases import LeaseManager
from raybus_common.kv import Conflict

pytestmark = pytest.mark.integration


async def test_keys_lists_every_key_under_a_prefix_even_while_others_write(nats_url: str) -> None:
    # nats-py's KeyValue.keys() can stop before it has seen every key; a lease manager that
    # misses its own membership record gives up all its partitions.
    nc = await nats.connect(nats_url)
    writer = await nats.connect(nats_url)
    try:
        kv = await NatsKV.open(nc.jetstream(), "test_keys")
        other = await NatsKV.open(writer.jetstream(), "test_keys")
        for i in range(300):
            await kv.put(f"ctl.p.{i}", b"x")
        for i in range(5):
            await kv.put(f"ctl.members.r{i}", b"m")
        await kv.put("ctlx.members.nope", b"m")
        for _ in range(20):
            busy = [asyncio.create_task(other.put(f"ctl.p.{i}", b"y")) for i in range(0, 300, 7)]
            got = await kv.keys("ctl.members.")
            await asyncio.gather(*busy)
            assert got == [f"ctl.members.r{i}" for i in range(5)]
        assert len(await kv.keys("ctl.p.")) == 300
    finally:
        await nc.close()
        await writer.close()


class Clock:
    def __init__(self) -> None:
        self.t = 2_000_000.0

    def __call__(self) -> float:
        return self.t


async def test_nats_kv_compare_and_swap(nats_url: str) -> None:
    nc = await nats.connect(nats_url)
    try:
        kv = await NatsKV.open(nc.jetstream(), "test_cas")
        rev = await kv.create("a.b", b"1")
        with pytest.raises(Conflict):
            await kv.create("a.b", b"2")
        rev2 = await kv.update("a.b", b"3", last=rev)
        with pytest.raises(Conflict):
            await kv.update("a.b", b"4", last=rev)
        assert await kv.get("a.b") == (b"3", rev2)
        with pytest.raises(Conflict):
            await kv.delete("a.b", last=rev)
        await kv.delete("a.b", last=rev2)
        assert await kv.get("a.b") is None
        assert await kv.keys("zzz.") == []
    finally:
        await nc.close()


async def test_replicas_split_partitions_and_take_over_from_a_dead_one(nats_url: str) -> None:
    nc = await nats.connect(nats_url)
    try:
        kv = await NatsKV.open(nc.jetstream(), "test_leases")
        clock = Clock()
        ms = [LeaseManager(kv, "ctl", n, partitions=12, ttl=6, clock=clock) for n in ("r1", "r2", "r3")]
        for _ in range(3):
            for m in ms:
                await m.tick()
        held = [set(m.held) for m in ms]
        assert sum(len(h) for h in held) == 12 and set().union(*held) == set(range(12))
        dead = ms.pop(1)
        clock.t += 7
        for _ in range(2):
            for m in ms:
                await m.tick()
        assert set(ms[0].held) | set(ms[1].held) == set(range(12))
        assert not set(ms[0].held) & set(ms[1].held)
        assert dead.held, "the dead replica never learned (it stopped ticking)"
        # It comes back: its renewal meets the fence (a tombstone), so it gives everything up
        # and joins again; the others hand it its share.
        stale = set(dead.held)
        changes = await dead.tick()
        assert stale <= changes.lost
        assert not set(dead.held) & (set(ms[0].held) | set(ms[1].held))
        ms.insert(1, dead)
        for _ in range(3):
            for m in ms:
                await m.tick()
        held = [set(m.held) for m in ms]
        assert sum(len(h) for h in held) == 12 and set().union(*held) == set(range(12))
        assert all(held)
    finally:
        await nc.close()
