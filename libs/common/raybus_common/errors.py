"""The small error tree every handler speaks.

- `TemporaryError(message, delay)`: try again later; `delay` (seconds) overrides the backoff,
  e.g. from a `Retry-After` header. The bus naks the message; retries are bounded by the
  consumer's `max_deliver`, after which the message is dead-lettered.
- `PermanentError(message)`: trying again cannot help (bad input, forbidden, gone). The bus
  terminates the message and dead-letters it with this message.

Which HTTP answers are worth retrying is `retryable(status)`; `parse_retry_after` reads a
`Retry-After` header. The one table that turns a Kubernetes API answer into an outcome is the
actuator's `judge` (`raybus_actuator/actions.py`), the only place API writes are judged; the
Kubernetes client edge parses `Retry-After` once into `ApiError.retry_after`. Pure.
"""

from __future__ import annotations

# Statuses worth retrying: conflicts (optimistic concurrency), throttling, server trouble.
TEMPORARY_STATUSES = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
TRANSPORT = 0  # the status of an answer that never came (timeout, connection refused or reset)


class RaybusError(Exception):
    """Base of Raybus's own errors."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class TemporaryError(RaybusError):
    def __init__(self, message: str, delay: float | None = None) -> None:
        super().__init__(message)
        if delay is not None and delay < 0:
            raise ValueError(f"delay must be >= 0, not {delay}")
        self.delay = delay

    def __repr__(self) -> str:
        return f"TemporaryError({self.message!r}, delay={self.delay!r})"


class PermanentError(RaybusError):
    def __repr__(self) -> str:
        return f"PermanentError({self.message!r})"


def retryable(status: int) -> bool:
    """Transport failures, 408/409/425/429 and every 5xx; the rest of 4xx are the caller's fault.
    (409 on a *create* is AlreadyExists, which server-side apply never answers; other conflicts
    resolve themselves on the next attempt.)"""
    return status == TRANSPORT or status in TEMPORARY_STATUSES or status >= 500


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header in delta-seconds form. The HTTP-date form would need a
    clock (this module is pure), so it yields None and the caller falls back to backoff."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return seconds if seconds >= 0 else None
