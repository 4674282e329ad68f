"""A work queue of root-object keys, modelled on controller-runtime's workqueue.

Semantics:
- a key is queued at most once; adding a key that is being processed marks it dirty, and it
  is queued again when processing is `done` (so one key is never reconciled twice at once);
- `add_after(key, delay)` schedules a key (requeue-after timers); the earliest wins;
- `add_rate_limited(key)` delays by the larger of a per-key exponential backoff (5 ms doubling
  to 1000 s, reset by `forget`) and a global token bucket (10/s, burst 100);
- `get()` waits for the next key; `shutdown()` wakes every waiter with `ShutDown`.

The clock is injectable, so the timing rules are unit-tested without sleeping.
"""

from __future__ import annotations

import asyncio
import heapq
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from ..ratelimit import TokenBucket

K = TypeVar("K", bound=Hashable)
Clock = Callable[[], float]


class ShutDown(Exception):
    """The queue was shut down while waiting."""


@dataclass
class ItemBackoff(Generic[K]):
    """Per-key exponential backoff: base * 2**failures, capped."""

    base: float = 0.005
    cap: float = 1000.0
    failures: dict[K, int] = field(default_factory=dict)

    def when(self, key: K) -> float:
        n = self.failures.get(key, 0)
        self.failures[key] = n + 1
        return float(min(self.cap, self.base * (2.0 ** min(n, 60))))

    def forget(self, key: K) -> None:
        self.failures.pop(key, None)

    def retries(self, key: K) -> int:
        return self.failures.get(key, 0)


class WorkQueue(Generic[K]):
    def __init__(self, *, clock: Clock = time.monotonic, backoff: ItemBackoff[K] | None = None,
                 bucket: TokenBucket | None = None) -> None:
        self.clock = clock
        self.backoff: ItemBackoff[K] = backoff or ItemBackoff()
        self.bucket = bucket or TokenBucket(clock=clock)
        self._queue: list[K] = []
        self._dirty: set[K] = set()
        self._processing: set[K] = set()
        self._timers: list[tuple[float, int, K]] = []
        self._due: dict[K, float] = {}
        self._seq = 0
        self._wake = asyncio.Event()
        self._shutdown = False

    # -- adding -------------------------------------------------------------------------
    def add(self, key: K) -> None:
        if self._shutdown or key in self._dirty:
            return
        self._dirty.add(key)
        if key not in self._processing:
            self._queue.append(key)
            self._wake.set()

    def add_after(self, key: K, delay: float) -> None:
        if self._shutdown:
            return
        if delay <= 0:
            self.add(key)
            return
        at = self.clock() + delay
        if key in self._due and self._due[key] <= at:
            return  # an earlier timer for this key already exists
        self._due[key] = at
        self._seq += 1
        heapq.heappush(self._timers, (at, self._seq, key))
        self._wake.set()

    def add_soon(self, key: K, delay: float) -> None:
        """Add `key` after `delay`, unless it is queued already (it will be processed anyway):
        events within the delay fold into one."""
        if key in self._dirty:  # queued, or to be queued again once its processing is done
            return
        self.add_after(key, delay)

    def add_rate_limited(self, key: K) -> None:
        self.add_after(key, max(self.backoff.when(key), self.bucket.delay()))

    def forget(self, key: K) -> None:
        self.backoff.forget(key)

    def retries(self, key: K) -> int:
        return self.backoff.retries(key)

    # -- taking -------------------------------------------------------------------------
    def promote_due(self) -> float | None:
        """Move due timers into the queue; return seconds until the next timer (None: none)."""
        now = self.clock()
        while self._timers:
            at, _, key = self._timers[0]
            if self._due.get(key) != at:
                heapq.heappop(self._timers)  # superseded by an earlier timer
                continue
            if at > now:
                return at - now
            heapq.heappop(self._timers)
            del self._due[key]
            self.add(key)
        return None

    def _take(self) -> tuple[K | None, float | None]:
        """The next key due now; else None and the seconds until the next timer (None: none).
        One look at the clock for both: looking twice let a timer come due between the looks,
        its key queued by the second with no wait left to find it (the worker slept until
        something else woke the queue)."""
        wait = self.promote_due()
        if not self._queue:
            return None, wait
        key = self._queue.pop(0)
        self._dirty.discard(key)
        self._processing.add(key)
        return key, None

    def get_nowait(self) -> K | None:
        return self._take()[0]

    async def get(self) -> K:
        while True:
            if self._shutdown:
                raise ShutDown()
            key, wait = self._take()
            if key is not None:
                return key
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=wait)
            except TimeoutError:
                pass

    def done(self, key: K) -> None:
        self._processing.discard(key)
        if key in self._dirty:
            self._queue.append(key)
            self._wake.set()

    # -- state --------------------------------------------------------------------------
    def shutdown(self) -> None:
        self._shutdown = True
        self._wake.set()

    def __len__(self) -> int:
        return len(self._queue)

    @property
    def pending_timers(self) -> int:
        return len(self._due)

    def processing(self) -> frozenset[K]:
        return frozenset(self._processing)
