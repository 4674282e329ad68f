"""Partition leases against a real NATS KV: compare-and-swap holds across replicas."""

from __future__ import annotations

import nats
import pytest

from raybus_common.bus.kv import NatsKV
from raybus_common.controller.leases import Conflict, LeaseManager

pytestmark = pytest.mark.integration


class Clock:
    def __init__(self) -> None:
        self.t = 2_000_000.0

    def __call__(self) -> float:
        return self.t


async def test_nats_kv_compare_and_swap(nats_url: str) -> None:
    nc = await nats.connect(nats_url)
    try:
        kv = await NatsKV.open(nc.jetstream(), bucket="test_cas")
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
        kv = await NatsKV.open(nc.jetstream(), bucket="test_leases")
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
    finally:
        await nc.close()
