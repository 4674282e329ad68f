"""The one way tests, benchmarks and the launcher wait for something: poll a check until it
holds, or fail saying what was awaited.

    wait_until(lambda: api.exists(path), timeout=30, what="the ConfigMap")          # threads
    result = await eventually(lambda: outcomes.result(aid), timeout=30, what="...")  # asyncio

Both poll `check` until it returns something truthy and return that value (so a wait can hand
back what it found); an exception from `check` means "not yet" and is named on timeout. With
`proc`, a server process that exits meanwhile fails the wait at once, with its log's tail. On
timeout both raise `TimeoutError`. The async check may return an awaitable. Both share `_Poll`
(when a wait is done, or has failed); only the sleeping differs.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeGuard, TypeVar

if TYPE_CHECKING:
    from .procs import Proc

T = TypeVar("T")


class _Poll:
    """One wait: its deadline, what it waits for, the process it watches, the last error."""

    def __init__(self, timeout: float, what: str, proc: Proc | None) -> None:
        self.deadline = time.monotonic() + timeout
        self.timeout, self.what, self.proc = timeout, what, proc
        self.last: Exception | None = None

    def failed(self, error: Exception) -> None:
        self.last = error

    def done(self, value: T | None) -> TypeGuard[T]:
        """True once a probe returned something truthy; raises when the process we wait on has
        exited or the time is up."""
        if value:
            return True
        if self.proc is not None and self.proc.popen is not None and self.proc.popen.poll() is not None:
            raise RuntimeError(f"{self.proc.name} exited with {self.proc.popen.returncode} while waiting for "
                               f"{self.what}:\n{self.proc.tail()}")
        if time.monotonic() < self.deadline:
            return False
        detail = f" (last error: {type(self.last).__name__}: {self.last})" if self.last else ""
        tail = f"\n{self.proc.tail()}" if self.proc is not None else ""
        raise TimeoutError(f"timed out after {self.timeout:g}s waiting for {self.what}{detail}{tail}") from self.last


def wait_until(check: Callable[[], T], *, what: str, timeout: float = 30.0, proc: Proc | None = None,
               interval: float = 0.1) -> T:
    """Poll `check` every `interval` seconds until it returns a truthy value; return it."""
    poll = _Poll(timeout, what, proc)
    while True:
        value: T | None = None
        try:
            value = check()
        except Exception as e:  # noqa: BLE001 - a failing probe means "not yet"; named on timeout
            poll.failed(e)
        if poll.done(value):
            return value
        time.sleep(interval)


async def eventually(check: Callable[[], T | Awaitable[T]], *, what: str, timeout: float = 30.0,
                     proc: Proc | None = None, interval: float = 0.05) -> T:
    """`wait_until` for asyncio: `check` may be a coroutine function; sleeping yields the loop."""
    poll = _Poll(timeout, what, proc)
    while True:
        value: T | None = None
        try:
            got = check()
            value = await got if inspect.isawaitable(got) else got
        except Exception as e:  # noqa: BLE001 - a failing probe means "not yet"; named on timeout
            poll.failed(e)
        if poll.done(value):
            return value
        await asyncio.sleep(interval)
