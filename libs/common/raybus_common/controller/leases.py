"""Partition leases: which replica of a controller may reconcile which partition.

Each replica, every `ttl/3` seconds (`tick`):
1. heartbeats its membership record `<controller>.members.<replica>` (expires after `ttl`);
2. reads the live members and computes its desired partitions (rendezvous hashing);
3. releases the partitions it holds but should not, renews those it keeps (compare-and-swap
   on the KV revision: a lost race means the lease is lost), and claims desired partitions
   that are free or expired.

So a partition has at most one holder at a time (the KV's compare-and-swap decides), and a
dead replica's leases expire within `ttl` and are claimed at the next tick of a live replica:
with ttl 6 s and a tick every 2 s, within 8 s. Times are wall-clock (`time.time`) because the
records are compared across processes; the clock is injectable for tests.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ..kv import KV, Conflict
from .partitions import DEFAULT_PARTITIONS, Lease, can_claim, desired


@dataclass
class Changes:
    gained: set[int] = field(default_factory=set)
    lost: set[int] = field(default_factory=set)


class LeaseManager:
    def __init__(self, kv: KV, controller: str, replica: str, *, partitions: int = DEFAULT_PARTITIONS,
                 ttl: float = 6.0, clock: Callable[[], float] = time.time) -> None:
        self.kv = kv
        self.controller = controller
        self.replica = replica
        self.partitions = partitions
        self.ttl = ttl
        self.clock = clock
        self.held: dict[int, int] = {}  # partition → KV revision of our lease record
        self.wanted: frozenset[int] = frozenset()  # the partitions the last tick said should be ours

    @property
    def interval(self) -> float:
        return self.ttl / 3

    def _member_key(self, replica: str) -> str:
        return f"{self.controller}.members.{replica}"

    def _lease_key(self, partition: int) -> str:
        return f"{self.controller}.p.{partition}"

    async def members(self) -> list[str]:
        now = self.clock()
        alive = []
        for key in await self.kv.keys(f"{self.controller}.members."):
            got = await self.kv.get(key)
            lease = Lease.decode(got[0]) if got else None
            if lease is not None and lease.expires > now:
                alive.append(lease.holder)
        return sorted(alive)

    async def tick(self) -> Changes:
        now = self.clock()
        record = Lease(self.replica, now + self.ttl).encode()
        await self.kv.put(self._member_key(self.replica), record)
        want = desired(self.replica, await self.members(), self.partitions)
        self.wanted = want
        changes = Changes()
        for p in sorted(set(self.held) - want):
            await self._release(p)
            changes.lost.add(p)
        for p in sorted(set(self.held) & want):
            try:
                self.held[p] = await self.kv.update(self._lease_key(p), record, last=self.held[p])
            except Conflict:
                del self.held[p]
                changes.lost.add(p)
        for p in sorted(want - set(self.held)):
            if await self._claim(p, record, now):
                changes.gained.add(p)
        return changes

    async def _claim(self, p: int, record: bytes, now: float) -> bool:
        key = self._lease_key(p)
        got = await self.kv.get(key)
        try:
            if got is None:
                self.held[p] = await self.kv.create(key, record)
            elif can_claim(Lease.decode(got[0]), self.replica, now):
                self.held[p] = await self.kv.update(key, record, last=got[1])
            else:
                return False
        except Conflict:
            return False
        return True

    async def _release(self, p: int) -> None:
        rev = self.held.pop(p)
        try:
            await self.kv.delete(self._lease_key(p), last=rev)
        except Conflict:
            pass  # already taken over: nothing of ours to release

    async def release_all(self) -> set[int]:
        """On shutdown: give every partition back at once, and leave the member list."""
        released = set(self.held)
        self.wanted = frozenset()
        for p in sorted(released):
            await self._release(p)
        try:
            await self.kv.delete(self._member_key(self.replica))
        except Conflict:
            pass
        return released

    def owns(self, partition: int) -> bool:
        return partition in self.held
