"""Partition leases: which replica of a controller may reconcile which partition.

Two kinds of record in the KV bucket:
- `<controller>.members.<replica>`: a replica's membership, `Lease(replica, expires)`, renewed
  by compare-and-swap every `ttl/3` seconds. It is the only record written while nothing
  changes: one write per replica per tick, however many partitions it holds.
- `<controller>.p.<partition>`: the partition's holder, written when it is claimed or released.
  A partition is held for as long as its holder's membership is alive.

Each tick (`tick`), a replica:
1. renews its membership with compare-and-swap on the revision it last wrote; a lost race
   means another replica found it expired and fenced it (below), so it gives up every partition
   at once and joins again;
2. reads the live members and computes its desired partitions (rendezvous hashing);
3. releases the partitions it holds but should not, and claims desired partitions that are free,
   already its own, or whose holder's membership is gone or expired. Taking over from an expired
   holder first deletes that holder's membership record by compare-and-swap (the fence): from
   then on the holder's next renewal fails, so it cannot go on believing it holds anything.

A replica giving a partition up (to a replica that joined, or on shutdown) with work under way
writes the partition's record as `Released(work)` rather than deleting it: `handoff(partition)`
says what (the controller's expectations of creates and deletes not seen yet), and whoever
claims the partition next finds it in `Changes.handed` and takes it over, so it does not decide
the same creates again. Before, when a second replica joined while clusters were being created,
some of the pods of the partitions it took over were created twice (4 `409`s in ~11,000
requests at 1,000 clusters). A fenced replica writes nothing: its successor decides afresh.

So a partition has at most one holder at a time (compare-and-swap on the partition's record
decides), a dead replica's partitions move within `ttl` plus one tick (8 s with ttl 6 s), and a
replica that stalled past `ttl` learns at its next tick that it was taken over, as it did when
every partition was renewed on its own. Times are wall-clock (`time.time`) because the records
are compared across processes; the clock is injectable for tests.

What every holder of leases does with them (the controllers' runtime and the watcher's Ray
pollers alike): `tick` also sets `raybus_controller_partitions_held{controller}` and logs what
moved; `renew` ticks every `ttl/3` seconds until told to stop, a failed tick logged and tried
again at the next (a replica that cannot renew loses its partitions to the others within `ttl`);
`give_back` hands every partition back on shutdown, within a bound, so the others take over at
once rather than after the TTL.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from .. import metrics
from ..kv import KV, Conflict
from .partitions import DEFAULT_PARTITIONS, Lease, Released, can_claim, desired

log = logging.getLogger("raybus.leases")

LEASE_BUCKET = "raybus_leases"  # every service's leases, each under its own prefix (`controller`)
RELEASE_TIMEOUT = 5.0  # seconds to give the partitions back on shutdown (else they expire)
MAX_HANDOFF = 256 * 1024  # bytes of work left in a partition's record (NATS takes 1 MiB a message)


def replica_id() -> str:
    """This process's name among its service's replicas: host (the pod's name) and pid."""
    return f"{socket.gethostname()}-{os.getpid()}"


@dataclass
class Changes:
    gained: set[int] = field(default_factory=set)
    lost: set[int] = field(default_factory=set)
    handed: dict[int, bytes] = field(default_factory=dict)  # gained partition → the work its last holder left


class LeaseManager:
    def __init__(self, kv: KV, controller: str, replica: str, *, partitions: int = DEFAULT_PARTITIONS,
                 ttl: float = 6.0, clock: Callable[[], float] = time.time,
                 handoff: Callable[[int], bytes | None] | None = None) -> None:
        self.kv = kv
        self.controller = controller
        self.replica = replica
        self.partitions = partitions
        self.ttl = ttl
        self.clock = clock
        self.handoff = handoff  # partition → the work under way to leave to its next holder, if any
        self.held: dict[int, int] = {}  # partition → KV revision of our lease record
        self.wanted: frozenset[int] = frozenset()  # the partitions the last tick said should be ours
        self.member_rev: int | None = None  # KV revision of our membership record, once written

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
        changes = Changes()
        if not await self._heartbeat(record):
            changes.lost |= set(self.held)  # fenced: another replica may be taking these over
            self.held.clear()
        want = desired(self.replica, await self.members(), self.partitions)
        self.wanted = want
        for p in sorted(set(self.held) - want):
            await self._release(p)
            changes.lost.add(p)
        for p in sorted(want - set(self.held)):
            if await self._claim(p, record, now, changes):
                changes.gained.add(p)
        metrics.PARTITIONS_HELD.labels(self.controller).set(len(self.held))
        if changes.gained or changes.lost:
            log.info("%s partitions: +%d -%d, holding %d of %d", self.controller, len(changes.gained),
                     len(changes.lost), len(self.held), self.partitions)
        return changes

    async def renew(self, stop: asyncio.Event, tick: Callable[[], Awaitable[object]], *, at_once: bool = False) -> None:
        """Call `tick` (the holder's: this manager's `tick` and what follows from its changes)
        every `interval` seconds until `stop` is set, the first time at once if `at_once`. A failed
        tick is logged and tried again at the next one."""
        if not at_once:
            await self._pause(stop)
        while not stop.is_set():
            try:
                await tick()
            except Exception as e:  # noqa: BLE001 - a missed tick is retried at the next one
                log.warning("%s lease tick failed: %s", self.controller, e)
            await self._pause(stop)

    async def _pause(self, stop: asyncio.Event) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), self.interval)

    async def give_back(self, timeout: float = RELEASE_TIMEOUT) -> None:
        """On shutdown: `release_all` within `timeout` seconds, so the others take over now; if that
        fails, say so and go (the leases expire within `ttl`)."""
        try:
            async with asyncio.timeout(timeout):
                await self.release_all()
        except Exception as e:  # noqa: BLE001 - they expire on their own
            log.warning("%s could not give its partitions back (they expire in %.0fs): %s",
                        self.controller, self.ttl, e)
        metrics.PARTITIONS_HELD.labels(self.controller).set(len(self.held))

    async def _heartbeat(self, record: bytes) -> bool:
        """Renew the membership; False when it was fenced (deleted or rewritten by another), and
        then join again: the caller gives up what it held."""
        key = self._member_key(self.replica)
        if self.member_rev is None:  # starting: nothing held, whatever a predecessor left is ours
            self.member_rev = await self.kv.put(key, record)
            return True
        try:
            self.member_rev = await self.kv.update(key, record, last=self.member_rev)
        except Conflict:
            self.member_rev = await self.kv.put(key, record)
            return False
        return True

    async def _claim(self, p: int, record: bytes, now: float, changes: Changes) -> bool:
        key = self._lease_key(p)
        got = await self.kv.get(key)
        try:
            if got is None:
                self.held[p] = await self.kv.create(key, record)
                return True
            current = Lease.decode(got[0])
            holder = current.holder if current is not None else None
            if holder is not None and holder != self.replica and not await self._fence(holder, now):
                return False
            self.held[p] = await self.kv.update(key, record, last=got[1])
        except Conflict:
            return False
        released = Released.decode(got[0]) if current is None else None
        if released is not None:
            changes.handed[p] = released.work
        return True

    async def _fence(self, holder: str, now: float) -> bool:
        """May `holder`'s partitions be taken? Only if its membership is gone, or has run out and
        is deleted here first (compare-and-swap), so the holder's next renewal fails."""
        member_key = self._member_key(holder)
        got = await self.kv.get(member_key)
        membership = Lease.decode(got[0]) if got is not None else None
        if not can_claim(holder, membership, self.replica, now):
            return False
        if got is not None:
            await self.kv.delete(member_key, last=got[1])  # Conflict: it renewed meanwhile
        return True

    async def _release(self, p: int) -> None:
        rev = self.held.pop(p)
        key = self._lease_key(p)
        if (work := self._work_of(p)) is not None:
            try:
                await self.kv.update(key, Released(work).encode(), last=rev)
                return
            except Conflict:
                return  # already taken over: nothing of ours to release
            except Exception as e:  # noqa: BLE001 - released all the same, below
                log.warning("%s partition %d: released without its work under way: %r", self.controller, p, e)
        try:
            await self.kv.delete(key, last=rev)
        except Conflict:
            pass  # already taken over: nothing of ours to release

    def _work_of(self, p: int) -> bytes | None:
        """What to leave to the partition's next holder; nothing if there is none, if it is
        larger than `MAX_HANDOFF`, or if the holder cannot say (the partition is released all the
        same: the next holder then decides afresh)."""
        if self.handoff is None:
            return None
        try:
            work = self.handoff(p)
        except Exception as e:  # noqa: BLE001 - a release never fails for want of a handoff
            log.warning("%s partition %d: released without its work under way: %r", self.controller, p, e)
            return None
        if work is not None and len(work) > MAX_HANDOFF:
            log.warning("%s partition %d: released without its work under way (%d bytes, more than %d)",
                        self.controller, p, len(work), MAX_HANDOFF)
            return None
        return work or None

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
        self.member_rev = None
        return released

    def owns(self, partition: int) -> bool:
        return partition in self.held
