"""Pure retry delays, so every retry in Raybus is bounded and computed the same way.

`backoff(attempt)` is exponential: `base * factor**(attempt-1)`, capped. controller-runtime's
per-item failure limiter uses base 5 ms and cap 1000 s, tuned for cheap in-memory requeues;
Raybus retries *messages* (an API write, a dashboard call), where a half-second first retry
and a five-minute cap are kinder to the API server and still quick after a blip:
0.5, 1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, ... seconds.

Jitter is optional and deterministic: pass `jitter` (fraction of the delay that may be taken
off) and a `seed` (the message id, say); the same inputs always give the same delay, and no
global random state is touched, so tests stay exact and replicas still spread out.

`Bounded` bundles a maximum number of attempts with the delay policy. No I/O, no sleeping.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass

BASE = 0.5  # seconds before the first retry
FACTOR = 2.0
CAP = 300.0  # never wait longer than five minutes between attempts
MAX_ATTEMPTS = 10  # deliveries of one message, first included (255.5 s of backoff in all)


def _fraction(seed: str | int, attempt: int) -> float:
    """A stable number in [0, 1) from the seed and the attempt."""
    digest = hashlib.blake2b(f"{seed}:{attempt}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def backoff(attempt: int, *, base: float = BASE, factor: float = FACTOR, cap: float = CAP,
            jitter: float = 0.0, seed: str | int | None = None) -> float:
    """Delay in seconds before retry number `attempt` (1 = the first retry, after one failure)."""
    if attempt < 1:
        raise ValueError(f"attempt counts from 1, not {attempt}")
    if base < 0 or factor < 1 or cap < 0:
        raise ValueError("backoff needs base >= 0, factor >= 1, cap >= 0")
    if not 0.0 <= jitter <= 1.0:
        raise ValueError(f"jitter is a fraction in [0, 1], not {jitter}")
    # Clamp the exponent so huge attempt numbers cannot overflow a float.
    delay = min(cap, base * factor ** min(attempt - 1, 1000 if factor == 1 else 64))
    if jitter and seed is not None:
        delay -= delay * jitter * _fraction(seed, attempt)
    return delay


@dataclass(frozen=True)
class Bounded:
    """A retry policy with a hard ceiling: `max_attempts` tries in all, `delay(n)` between them.

        policy = Bounded(max_attempts=5)
        for attempt in policy:            # 1, 2, ..., 5
            try: return await op()
            except Transient:
                if policy.exhausted(attempt): raise
                await asyncio.sleep(policy.delay(attempt))
    """

    max_attempts: int = MAX_ATTEMPTS
    base: float = BASE
    factor: float = FACTOR
    cap: float = CAP
    jitter: float = 0.0
    seed: str | int | None = None

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, not {self.max_attempts}")
        backoff(1, base=self.base, factor=self.factor, cap=self.cap, jitter=self.jitter)  # validate

    def __iter__(self) -> Iterator[int]:
        return iter(range(1, self.max_attempts + 1))

    def exhausted(self, attempt: int) -> bool:
        """True when `attempt` was the last one allowed."""
        return attempt >= self.max_attempts

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt `attempt` before the next one."""
        return backoff(attempt, base=self.base, factor=self.factor, cap=self.cap,
                       jitter=self.jitter, seed=self.seed)

    def schedule(self) -> list[float]:
        """Every delay between attempts (`max_attempts - 1` of them), e.g. for a consumer's
        `backoff` list."""
        return [self.delay(n) for n in range(1, self.max_attempts)]

    def total(self) -> float:
        """The longest a message can spend waiting between attempts before giving up."""
        return sum(self.schedule())
