"""A token bucket: at most `rate` per second on average, `burst` at once. Pure: the clock is a
parameter (monotonic by default) and `delay()` only says how long to wait, it never sleeps.

Used by the Kubernetes client edge (client-side QPS/burst, KubeRay's defaults 100/200) and by
the controller work queue (how fast failed keys come back, controller-runtime's 10/s, 100).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

Clock = Callable[[], float]


@dataclass
class TokenBucket:
    rate: float = 10.0
    burst: int = 100
    clock: Clock = time.monotonic
    _tokens: float | None = None
    _last: float = 0.0

    def delay(self) -> float:
        """Reserve one token; return how long the caller must wait for it."""
        now = self.clock()
        if self._tokens is None:
            self._tokens, self._last = float(self.burst), now
        self._tokens = min(float(self.burst), self._tokens + (now - self._last) * self.rate)
        self._last = now
        self._tokens -= 1.0
        return 0.0 if self._tokens >= 0 else -self._tokens / self.rate
