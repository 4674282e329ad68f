"""Publishing without a round trip per message: a window of unacknowledged publishes, and a
batch published at once. Shared by every bus; each bus supplies only `Start`, which puts one
message on the wire and hands back a future of its ack.

`Publisher` (from `Bus.publisher(window)`) is for a stream of messages from one task (the
watcher's observations of one watch):

- `send` returns as soon as the message is written, without waiting for its ack, unless
  `window` acks are outstanding: then it waits for the oldest. Messages go on the wire in the
  order `send` is called.
- An ack that fails (the bus refused the message, or no ack came within the bus's deadline)
  sets `failed` at once, so a caller that is idle can learn of it, and makes the next `send`
  or `flush` raise `TemporaryError`.
- `flush` waits for every outstanding ack.
- After a `TemporaryError` from `send` or `flush`, any message sent since the previous error
  may or may not be stored: the caller must send again what it cannot afford to lose (the
  watcher lists again). The publisher then starts afresh: the acks still outstanding are no
  longer watched, so one failure is reported once.

`publish_all` (behind `Bus.publish_many`) writes a batch, then waits for every ack: a
controller's actions of one decision cost one round trip, not one each.

Neither retries anything: a failure is reported, and retrying is the caller's decision.
"""

from __future__ import annotations

import asyncio
import functools
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

from ..errors import TemporaryError
from .envelopes import Envelope


@dataclass(frozen=True)
class Outgoing:
    """One message to publish: what `Bus.publish` takes, as data."""

    subject: str
    envelope: Envelope
    msg_id: str
    headers: Mapping[str, str] | None = None
    ttl: float | None = None


# Writes one message and returns the future of its ack: True if stored, False if a duplicate
# (`Nats-Msg-Id`), a `TemporaryError` if refused or not acknowledged in time. Raises
# `TemporaryError` if the message could not even be written. Must not await before writing,
# so that messages go on the wire in the order of the calls.
Start = Callable[[Outgoing], Awaitable["asyncio.Future[bool]"]]


def _failure(fut: asyncio.Future[bool]) -> BaseException | None:
    if fut.cancelled():
        return TemporaryError("publish abandoned before its ack came")
    return fut.exception()


def _as_temporary(e: BaseException) -> TemporaryError:
    return e if isinstance(e, TemporaryError) else TemporaryError(f"publish failed: {e or type(e).__name__}")


class Publisher:
    """A window of at most `window` unacknowledged publishes (see the module's docstring)."""

    def __init__(self, start: Start, window: int) -> None:
        if window < 1:
            raise ValueError(f"window must be >= 1, not {window}")
        self._start = start
        self.window = window
        self._pending: deque[asyncio.Future[bool]] = deque()
        self._error: TemporaryError | None = None
        self._generation = 0  # bumped when a failure is raised: older acks are no longer watched
        self.failed = asyncio.Event()  # an ack failed; the next send or flush raises

    @property
    def outstanding(self) -> int:
        """Messages written whose ack has not come yet."""
        return sum(not f.done() for f in self._pending)

    async def send(self, subject: str, envelope: Envelope, *, msg_id: str,
                   headers: Mapping[str, str] | None = None, ttl: float | None = None) -> None:
        """Write the message; wait only while `window` acks are outstanding. Raises
        `TemporaryError` for any failure since the last one raised (this message's included,
        when it could not be written)."""
        self._raise_failure()
        while len(self._pending) >= self.window:
            await asyncio.wait({self._pending[0]})
            self._raise_failure()
        try:
            fut = await self._start(Outgoing(subject, envelope, msg_id, headers, ttl))
        except TemporaryError:
            self._reset()
            raise
        self._pending.append(fut)
        fut.add_done_callback(functools.partial(self._settled, self._generation))

    async def flush(self) -> None:
        """Wait until every message sent is acknowledged; `TemporaryError` as soon as one failed."""
        self._raise_failure()
        while self._pending:
            await asyncio.wait(self._pending, return_when=asyncio.FIRST_EXCEPTION)
            for fut in self._pending:
                if fut.done():
                    self._note(fut)
            self._raise_failure()

    def _settled(self, generation: int, fut: asyncio.Future[bool]) -> None:
        if generation == self._generation:
            self._note(fut)
        else:
            _failure(fut)  # take the outcome anyway, so nothing logs it as unretrieved

    def _note(self, fut: asyncio.Future[bool]) -> None:
        error = _failure(fut)
        if error is not None and self._error is None:
            self._error = _as_temporary(error)
            self.failed.set()

    def _raise_failure(self) -> None:
        while self._pending and self._pending[0].done():
            self._note(self._pending.popleft())
        if self._error is not None:
            error = self._error
            self._reset()
            raise error

    def _reset(self) -> None:
        self._generation += 1
        self._pending.clear()
        self._error = None
        self.failed.clear()


async def publish_all(start: Start, items: Sequence[Outgoing]) -> list[bool]:
    """Write every item, then wait for every ack. Returns, per item in order, True if it was
    stored and False if it was a duplicate. Raises `TemporaryError` if any was refused, not
    acknowledged in time, or could not be written; then every ack of the batch has settled
    (none is left outstanding) and each item may or may not be stored."""
    futures: list[asyncio.Future[bool]] = []
    unwritten: TemporaryError | None = None
    for item in items:
        try:
            futures.append(await start(item))
        except TemporaryError as e:
            unwritten = e
            break
    if futures:
        await asyncio.wait(futures)
    errors = [e for e in map(_failure, futures) if e is not None]
    if unwritten is not None:
        raise TemporaryError(f"{len(items) - len(futures)} of {len(items)} messages not written: {unwritten.message}")
    if errors:
        raise TemporaryError(f"{len(errors)} of {len(items)} publishes failed: {_as_temporary(errors[0]).message}")
    return [f.result() for f in futures]
