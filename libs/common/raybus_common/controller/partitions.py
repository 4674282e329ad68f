"""Which replica owns which root object: pure rules, no I/O.

Root keys hash (stably, not with Python's salted `hash`) onto `count` partitions. Live
replicas split the partitions by rendezvous hashing, so a replica joining or leaving moves
only its own share. A partition is reconciled only by the replica holding its lease (see
`leases.py`); the assignment here says which leases a replica should try to hold.

Records are `Lease(holder, expires)`: a replica's membership record says how long it is alive;
a partition's record names its holder, or (`Released`) what its last holder left to the next.
`can_claim` decides from a partition's holder, that holder's membership record and the time
whether a replica may take the partition. The clock is passed in.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass

DEFAULT_PARTITIONS = 64


def _h(*parts: str) -> int:
    return int.from_bytes(hashlib.blake2b("\x00".join(parts).encode(), digest_size=8).digest(), "big")


def partition_of(key: str, count: int = DEFAULT_PARTITIONS) -> int:
    return _h(key) % count


def assignment(members: Iterable[str], count: int = DEFAULT_PARTITIONS) -> dict[int, str]:
    """Partition → member, by highest rendezvous weight. Empty when there are no members."""
    live = sorted(set(members))
    if not live:
        return {}
    def owner(p: int) -> str:
        return max(live, key=lambda m: (_h(m, str(p)), m))

    return {p: owner(p) for p in range(count)}


def desired(member: str, members: Iterable[str], count: int = DEFAULT_PARTITIONS) -> frozenset[int]:
    return frozenset(p for p, m in assignment(members, count).items() if m == member)


@dataclass(frozen=True)
class Lease:
    holder: str
    expires: float

    def encode(self) -> bytes:
        return json.dumps({"holder": self.holder, "expires": self.expires}).encode()

    @classmethod
    def decode(cls, data: bytes) -> Lease | None:
        try:
            raw = json.loads(data)
            return cls(str(raw["holder"]), float(raw["expires"]))
        except (ValueError, KeyError, TypeError):
            return None


@dataclass(frozen=True)
class Released:
    """A partition's record once its holder gave it up with work under way: no holder, and what
    the next holder takes over (`work`, opaque here: the controller's expectations). To
    `Lease.decode` it is unreadable, so free."""

    work: bytes

    def encode(self) -> bytes:
        return json.dumps({"released": self.work.decode()}).encode()

    @classmethod
    def decode(cls, data: bytes) -> Released | None:
        try:
            work = json.loads(data)["released"]
        except (ValueError, KeyError, TypeError):
            return None
        return cls(work.encode()) if isinstance(work, str) else None


def can_claim(holder: str | None, membership: Lease | None, me: str, now: float) -> bool:
    """Free (no holder, or an unreadable record), already mine, or its holder's membership is
    gone or has run out. A live holder's partitions are never taken: it gives them up itself."""
    return holder is None or holder == me or membership is None or membership.expires <= now
