"""The small error tree every handler speaks, and the one translation of Kubernetes API errors.

- `TemporaryError(message, delay)`: try again later; `delay` (seconds) overrides the backoff,
  e.g. from a `Retry-After` header. The bus naks the message; retries are bounded by the
  consumer's `max_deliver`, after which the message is dead-lettered.
- `PermanentError(message)`: trying again cannot help (bad input, forbidden, gone). The bus
  terminates the message and dead-letters it with this message.

`translate_api_exception` is pure: it looks only at the exception object (status, headers,
body). It accepts kubernetes_asyncio's `ApiException`, `raybus_common.kube.client.ApiError`
(anything with an integer `status`), and timeouts / connection errors. It does not import
kubernetes_asyncio, so reconcile code may import this module without pulling the client in.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

# Statuses worth retrying: conflicts (optimistic concurrency), throttling, server trouble.
TEMPORARY_STATUSES = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
# 409 on a *create* is AlreadyExists, which callers using server-side apply never see; for the
# rest, a conflict resolves itself on the next attempt with a fresh view.


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


def _header(headers: Any, name: str) -> str | None:
    if not headers:
        return None
    if isinstance(headers, Mapping):
        for k, v in headers.items():
            if str(k).lower() == name.lower():
                return str(v)
        return None
    getter = getattr(headers, "get", None)  # CIMultiDict / HTTPHeaderDict
    value = getter(name) if callable(getter) else None
    return None if value is None else str(value)


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


def _message(exc: Any, status: int) -> str:
    msg = getattr(exc, "message", None)
    if isinstance(msg, str) and msg:
        return f"{status}: {msg}"
    body = getattr(exc, "body", None)
    if isinstance(body, (str, bytes)) and body:
        try:
            decoded = json.loads(body)
        except ValueError:
            decoded = None
        if isinstance(decoded, dict) and decoded.get("message"):
            return f"{status} {decoded.get('reason', '')}: {decoded['message']}".replace(" :", ":")
    reason = getattr(exc, "reason", None)
    return f"{status} {reason}" if reason else f"HTTP {status}"


def translate_api_exception(exc: BaseException) -> TemporaryError | PermanentError:
    """Map a Kubernetes client error to Temporary or Permanent. Unknown errors are temporary
    (bounded by the consumer's max_deliver), because a transient fault misread as permanent
    loses work, while the reverse only costs a few bounded retries."""
    if isinstance(exc, (TemporaryError, PermanentError)):
        return exc
    if isinstance(exc, TimeoutError):  # asyncio.TimeoutError is TimeoutError on 3.11
        return TemporaryError(f"timeout talking to the API server: {exc or type(exc).__name__}")
    status = getattr(exc, "status", None)
    if not isinstance(status, int) or isinstance(status, bool) or status == 0:
        return TemporaryError(f"{type(exc).__name__}: {exc}")
    message = _message(exc, status)
    retry_after = getattr(exc, "retry_after", None)
    if not isinstance(retry_after, (int, float)):
        retry_after = parse_retry_after(_header(getattr(exc, "headers", None), "Retry-After"))
    if status in TEMPORARY_STATUSES:
        return TemporaryError(message, delay=float(retry_after) if retry_after is not None else None)
    if 400 <= status < 500:  # 400 Bad Request, 403, 404, 410, 422 Invalid, ...
        return PermanentError(message)
    return TemporaryError(message, delay=float(retry_after) if retry_after is not None else None)
