"""The `Bus` protocol services code against, and the one place a handler's outcome is judged.

A handler is `async def handle(msg: Message[E]) -> None`. What it raises decides the fate of
the message, the same way on every bus implementation (`dispatch`):

| handler                         | JetStream  | also                                       |
|---------------------------------|------------|--------------------------------------------|
| returns                         | ack        |                                            |
| `TemporaryError(delay)`         | nak(delay) | delay = the error's, else `backoff(attempt)` |
| any other exception             | nak        | logged with its traceback; counted as temporary |
| `PermanentError`                | term       | `DeadLetter` on `raybus.dlq.<same tokens>` |
| payload fails to decode         | term       | dead-lettered, original bytes kept as text |
| temporary on the last delivery  | term       | dead-lettered (`exhausted`): never a silent loss |

`dispatch` also opens a span parented by the message's `traceparent`, and sets the log
context (object key, trace id), so everything the handler logs or publishes carries them.
It does not ack or publish anything itself: it returns a `Verdict` for the bus to carry out.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Generic, Literal, Protocol, TypeVar

from .. import metrics, tracing
from ..backoff import backoff
from ..errors import PermanentError, TemporaryError
from ..kv import KV
from ..logging import log_context
from . import subjects
from .envelopes import DeadLetter, Envelope, decode
from .publisher import Outgoing, Publisher
from .streams import ConsumerSpec, StreamSpec

log = logging.getLogger("raybus.bus")

E = TypeVar("E", bound=Envelope)


@dataclass(frozen=True)
class Message(Generic[E]):
    """One delivery of one message, decoded."""

    subject: str
    envelope: E
    headers: Mapping[str, str]
    attempt: int  # 1 on first delivery
    max_attempts: int
    stream_seq: int | None = None

    @property
    def last_attempt(self) -> bool:
        return self.attempt >= self.max_attempts

    @functools.cached_property
    def parts(self) -> subjects.SubjectParts | None:
        """The subject's parts, parsed once per message (the runtime and `dispatch` both read them)."""
        try:
            return subjects.parse(self.subject)
        except ValueError:
            return None


Handler = Callable[[Message[E]], Awaitable[None]]


@dataclass
class Subscription:
    """A running consumer. `replayed` is set once the initial view has been handed to the
    handler (immediately for work-queue consumers, which have no view to replay)."""

    name: str
    replayed: asyncio.Event = field(default_factory=asyncio.Event)
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    handled: int = 0

    def stop(self) -> None:
        """Take no new messages; the message in hand is finished (see the bus's `drain`)."""
        self.stopping.set()


class Bus(Protocol):
    async def publish(self, subject: str, envelope: Envelope, *, msg_id: str,
                      headers: Mapping[str, str] | None = None, ttl: float | None = None) -> bool:
        """Publish (with `Nats-Msg-Id` = msg_id and the current traceparent); False if it was a
        duplicate. Raises TemporaryError if the bus cannot take it now."""
        ...

    def publisher(self, window: int) -> Publisher:
        """A window of at most `window` unacknowledged publishes, for one task's stream of
        messages: `send` returns before the ack, failures surface at the next `send`/`flush`
        and set `failed` (`bus/publisher.py`). Headers and metrics as in `publish`."""
        ...

    async def publish_many(self, items: Sequence[Outgoing]) -> list[bool]:
        """Publish every item in order, then wait for all their acks: per item, True if stored,
        False if a duplicate. Raises TemporaryError if any failed, once none is outstanding."""
        ...

    async def consume(self, spec: ConsumerSpec, model: type[E], handler: Handler[E], *,
                      concurrency: int = 1) -> Subscription:
        """Start a durable pull consumer feeding `handler`; outcomes as in `dispatch`."""
        ...

    async def last_per_subject(self, filter_subject: str, model: type[E], handler: Handler[E]) -> Subscription:
        """Hand the last message of every subject under `filter_subject` to `handler`, set
        `replayed`, then keep handing over live messages."""
        ...

    async def ensure_stream(self, spec: StreamSpec) -> str: ...

    async def key_value(self, bucket: str) -> KV:
        """The key-value bucket `bucket` (created if missing), e.g. for partition leases."""
        ...

    async def failed(self) -> BaseException:
        """Wait until the bus has failed for good (a consumer that kept failing while connected)
        and return the error; never returns while the bus works."""
        ...

    @property
    def connected(self) -> bool: ...

    async def drain(self, grace: float = 20.0) -> None:
        """Stop every subscription, give in-flight handlers `grace` seconds, then close."""
        ...


@dataclass(frozen=True)
class Verdict:
    ack: Literal["ack", "nak", "term"]
    outcome: str  # metrics label: ok, temporary, permanent, malformed, exhausted
    delay: float | None = None
    error: str = ""
    dead_letter: DeadLetter | None = None


def _text(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


async def dispatch(model: type[E], handler: Handler[E], *, subject: str, data: bytes,
                   headers: Mapping[str, str] | None, attempt: int, max_attempts: int,
                   stream: str = "", stream_seq: int | None = None) -> Verdict:
    """Decode, run the handler inside its trace and log context, and judge the outcome."""
    hdrs = {k: str(v) for k, v in (headers or {}).items()}
    stage = subjects.stage_of(subject)

    def dead(outcome: str, error: str) -> Verdict:
        metrics.DEAD_LETTERS.labels(stage).inc()
        letter = DeadLetter(subject=subject, data=_text(data), headers=hdrs, error=error, attempts=attempt,
                            stream=stream, stream_seq=stream_seq)
        return Verdict("term", outcome, error=error, dead_letter=letter)

    try:
        envelope = decode(model, data)
    except PermanentError as e:
        log.error("undecodable message on %s (seq %s): %s", subject, stream_seq, e.message)
        metrics.child(metrics.MESSAGES, stage, "malformed").inc()
        return dead("malformed", e.message)

    msg = Message(subject, envelope, hdrs, attempt, max_attempts, stream_seq)
    parts = msg.parts
    started = time.perf_counter()
    with tracing.message_span(f"{stage} {parts.kind if parts else subject}", hdrs, {
            "messaging.destination.name": subject, "messaging.message.delivery_attempt": attempt}) as span, \
            log_context(object_key=parts.key if parts else None, trace_id=span.trace_id):
        try:
            await handler(msg)
        except PermanentError as e:
            verdict = dead("permanent", e.message)
            log.error("permanent failure on %s: %s", subject, e.message)
        except asyncio.CancelledError:
            raise
        except Exception as e:
            error = e.message if isinstance(e, TemporaryError) else f"{type(e).__name__}: {e}"
            if not isinstance(e, TemporaryError):
                log.exception("handler failed on %s (attempt %d/%d)", subject, attempt, max_attempts)
            if attempt >= max_attempts:
                verdict = dead("exhausted", f"gave up after {attempt} attempts: {error}")
                log.error("giving up on %s after %d attempts: %s", subject, attempt, error)
            else:
                delay = e.delay if isinstance(e, TemporaryError) and e.delay is not None else backoff(attempt)
                verdict = Verdict("nak", "temporary", delay=delay, error=error)
                log.warning("temporary failure on %s (attempt %d/%d), retry in %.1fs: %s",
                            subject, attempt, max_attempts, delay, error)
        else:
            verdict = Verdict("ack", "ok")
        if verdict.ack != "ack":
            span.fail(verdict.error)
    metrics.child(metrics.HANDLER_SECONDS, stage).observe(time.perf_counter() - started)
    metrics.child(metrics.MESSAGES, stage, verdict.outcome).inc()
    return verdict


def dead_letter_id(letter: DeadLetter) -> str:
    """Msg id of a dead letter: one per original message, so a crash between dead-lettering and
    terminating does not dead-letter it twice."""
    if letter.stream and letter.stream_seq is not None:
        return f"dlq:{letter.stream}:{letter.stream_seq}"
    digest = hashlib.sha256(f"{letter.subject}\n{letter.data}".encode()).hexdigest()[:24]
    return f"dlq:{digest}"
