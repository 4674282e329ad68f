"""The Ray pollers' targets shared out among watcher replicas (`raybus_watcher.pollshare`), over
the in-memory KV with the leases' compare-and-swap rules: each target is one replica's, a
replica's share is polled at once by the others when it leaves, and before its first tick a
replica polls nothing. The poller's side (`owns`, `gained`) is tests/unit/test_raypoll.py."""

from __future__ import annotations

import asyncio

from raybus_common.controller.leases import LeaseManager
from raybus_common.kv import MemoryKV
from raybus_watcher.pollshare import POLL_LEASES, PollShare

KEYS = [(f"team-{i % 3}", f"job-{i}") for i in range(200)]


class Clock:
    def __init__(self) -> None:
        self.t = 1_000_000.0

    def __call__(self) -> float:
        return self.t


class Poller:
    """What a share asks of a poller (its kind and its targets) and tells it (that it gained
    partitions)."""

    subject_kind = "rayjobinfo"

    def __init__(self) -> None:
        self.gains = 0
        self.plan = self

    def targets(self) -> dict[tuple[str, str], object]:
        return dict.fromkeys(KEYS)

    def gained(self) -> None:
        self.gains += 1


def targets_polled(s: PollShare) -> float:
    [family] = s.collector().collect()
    [sample] = family.samples
    assert sample.labels == {"kind": "rayjobinfo"}
    return sample.value


def share(kv: MemoryKV, clock: Clock, replica: str) -> tuple[PollShare, Poller]:
    s = PollShare(LeaseManager(kv, POLL_LEASES, replica, ttl=6, clock=clock))
    poller = Poller()
    s.pollers = (poller,)  # type: ignore[assignment]
    return s, poller


async def test_each_target_is_polled_by_one_replica_and_a_leavers_share_moves_at_once() -> None:
    kv, clock = MemoryKV(), Clock()
    (a, pa), (b, pb) = share(kv, clock, "a"), share(kv, clock, "b")
    assert not any(a.owns(k) for k in KEYS), "before its first tick a replica polls nothing"
    for s in (a, b, a, b):
        await s.tick()
    owners = [[s.owns(k) for s in (a, b)] for k in KEYS]
    assert all(sum(o) == 1 for o in owners), "every target is exactly one replica's"
    assert any(o[0] for o in owners) and any(o[1] for o in owners), "both replicas poll a share"
    assert pa.gains >= 1 and pb.gains >= 1
    assert 0 < targets_polled(a) < len(KEYS) and targets_polled(a) + targets_polled(b) == len(KEYS)

    stop = asyncio.Event()
    stop.set()
    await b.run(stop)  # b shuts down: it gives its partitions back
    assert not any(b.owns(k) for k in KEYS)
    gains = pa.gains
    await a.tick()
    assert all(a.owns(k) for k in KEYS) and targets_polled(a) == len(KEYS)
    assert pa.gains == gains + 1, "a's pollers are told, so b's targets are polled at once"
    assert await kv.keys(f"{POLL_LEASES}.members.") == [f"{POLL_LEASES}.members.a"]
