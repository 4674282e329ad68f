"""An in-memory `Bus` for unit tests of handlers: deterministic, no server, no sleeping.

It keeps the parts of JetStream's behaviour a handler can observe: streams chosen by subject
(`default_streams()`), `Nats-Msg-Id` dedupe, one message per subject in RAYBUS_STATE, work-
queue removal on ack/term, bounded redelivery, the same outcome rules (`base.dispatch`), dead
letters on `raybus.dlq.…`, and last-per-subject replay then live updates.

Delivery is explicit: `publish` only stores (`publisher` and `publish_many` store at once, so
their acks are ready when `send` returns); `await bus.settle()` runs every consumer until
nothing is pending (naks are redelivered at once; their requested delays are recorded in
`naks`, not slept). Dedupe never expires here (no clock), which is stricter than JetStream's
two-minute window. Not for production, and not a model of JetStream's timing.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from .. import tracing
from ..errors import PermanentError
from ..kv import KV, MemoryKV
from . import subjects
from .base import Handler, Subscription, Verdict, dead_letter_id, dispatch
from .envelopes import Envelope, encode
from .publisher import Outgoing, Publisher, publish_all
from .streams import ConsumerSpec, StreamSpec, default_streams

E = TypeVar("E", bound=Envelope)


@dataclass
class Stored:
    seq: int
    subject: str
    data: bytes
    headers: dict[str, str]

    def json(self) -> Any:
        return json.loads(self.data)


@dataclass
class _Stream:
    spec: StreamSpec
    messages: dict[int, Stored] = field(default_factory=dict)  # by seq, in order


@dataclass
class _Consumer:
    sub: Subscription
    stream: _Stream
    filter_subject: str
    run: Any  # async (Stored, attempt) -> Verdict
    max_deliver: int
    ack: bool  # False for last-per-subject watchers (no acks, never redelivered)
    queue: deque[tuple[Stored, int]] = field(default_factory=deque)  # (message, delivery attempt)
    cursor: int = 0  # highest seq already queued


class MemoryBus:
    def __init__(self, streams: tuple[StreamSpec, ...] | None = None) -> None:
        self._streams: dict[str, _Stream] = {}
        for spec in streams if streams is not None else default_streams():
            self._streams[spec.name] = _Stream(spec)
        self._seq = 0
        self._msg_ids: set[str] = set()
        self._consumers: list[_Consumer] = []
        self.naks: list[tuple[str, float | None]] = []  # (subject, requested delay)
        self.outcomes: list[tuple[str, str]] = []  # (subject, outcome)
        self.buckets: dict[str, MemoryKV] = {}
        self.closed = False

    # -- Bus -------------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return not self.closed

    async def ensure_stream(self, spec: StreamSpec) -> str:
        if spec.name not in self._streams:
            self._streams[spec.name] = _Stream(spec)
            return "created"
        if self._streams[spec.name].spec == spec:
            return "unchanged"
        self._streams[spec.name].spec = spec
        return "updated"

    async def key_value(self, bucket: str) -> KV:
        return self.buckets.setdefault(bucket, MemoryKV())

    async def failed(self) -> BaseException:
        """A memory bus never fails on its own: wait until cancelled."""
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    async def publish(self, subject: str, envelope: Envelope, *, msg_id: str,
                      headers: Mapping[str, str] | None = None, ttl: float | None = None) -> bool:
        return self.publish_raw(subject, encode(envelope), msg_id=msg_id, headers=tracing.inject(dict(headers or {})))

    def publisher(self, window: int) -> Publisher:
        return Publisher(self._start, window)

    async def publish_many(self, items: Sequence[Outgoing]) -> list[bool]:
        return await publish_all(self._start, items)

    async def _start(self, item: Outgoing) -> asyncio.Future[bool]:
        """Publish at once (through `publish`, so a subclass's hooks apply): the ack is ready."""
        ack: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        ack.set_result(await self.publish(item.subject, item.envelope, msg_id=item.msg_id, headers=item.headers,
                                          ttl=item.ttl))
        return ack

    def publish_raw(self, subject: str, data: bytes, *, msg_id: str | None = None,
                    headers: Mapping[str, str] | None = None) -> bool:
        """Store bytes as they are (tests use it to publish malformed messages)."""
        if self.closed:
            raise RuntimeError("MemoryBus is drained")
        stream = self._stream_for(subject)
        if msg_id is not None:
            if msg_id in self._msg_ids:
                return False
            self._msg_ids.add(msg_id)
        self._seq += 1
        hdrs = dict(headers or {})
        if msg_id is not None:
            hdrs["Nats-Msg-Id"] = msg_id
        stored = Stored(self._seq, subject, data, hdrs)
        if stream.spec.max_msgs_per_subject == 1:
            for seq in [s for s, m in stream.messages.items() if m.subject == subject]:
                del stream.messages[seq]
        stream.messages[stored.seq] = stored
        return True

    async def consume(self, spec: ConsumerSpec, model: type[E], handler: Handler[E], *,
                      concurrency: int = 1) -> Subscription:
        stream = self._streams[spec.stream]
        if stream.spec.retention == "workqueue":
            for c in self._consumers:
                if c.stream is stream and c.ack and not c.sub.stopping.is_set() and (
                        subjects.matches(c.filter_subject, spec.filter_subject)
                        or subjects.matches(spec.filter_subject, c.filter_subject)):
                    raise PermanentError(f"filtered consumer not unique on workqueue stream {spec.stream}")
        sub = Subscription(f"{spec.stream}/{spec.durable}")
        sub.replayed.set()

        async def run(m: Stored, attempt: int) -> Verdict:
            return await dispatch(model, handler, subject=m.subject, data=m.data, headers=m.headers,
                                  attempt=attempt, max_attempts=spec.max_deliver, stream=spec.stream,
                                  stream_seq=m.seq)

        self._consumers.append(_Consumer(sub, stream, spec.filter_subject, run, spec.max_deliver, ack=True))
        return sub

    async def last_per_subject(self, filter_subject: str, model: type[E], handler: Handler[E]) -> Subscription:
        stream = next((s for s in self._streams.values()
                       if any(subjects.matches(p, filter_subject) or p == filter_subject for p in s.spec.subjects)),
                      None)
        if stream is None:
            raise PermanentError(f"no stream holds {filter_subject}")
        sub = Subscription(f"{stream.spec.name}/last-per-subject:{filter_subject}")

        async def run(m: Stored, attempt: int) -> Verdict:
            return await dispatch(model, handler, subject=m.subject, data=m.data, headers=m.headers,
                                  attempt=1, max_attempts=1, stream=stream.spec.name, stream_seq=m.seq)

        consumer = _Consumer(sub, stream, filter_subject, run, 1, ack=False)
        last: dict[str, Stored] = {}
        for m in stream.messages.values():
            if subjects.matches(filter_subject, m.subject):
                last[m.subject] = m
        for m in sorted(last.values(), key=lambda m: m.seq):
            await self._apply(consumer, m, await run(m, 1))
        consumer.cursor = self._seq
        sub.replayed.set()
        self._consumers.append(consumer)
        return sub

    async def drain(self, grace: float = 20.0) -> None:
        for c in self._consumers:
            c.sub.stop()
        self._consumers.clear()
        self.closed = True

    # -- test helpers ----------------------------------------------------------------------

    async def settle(self, max_rounds: int = 10_000) -> int:
        """Deliver until no consumer has anything pending; returns the number of deliveries."""
        delivered = 0
        for _ in range(max_rounds):
            progressed = False
            for c in list(self._consumers):
                if c.sub.stopping.is_set():
                    continue
                self._fill(c)
                if not c.queue:
                    continue
                m, attempt = c.queue.popleft()
                if c.ack and m.seq not in c.stream.messages:
                    continue  # removed meanwhile (another work-queue consumer, or purged)
                verdict = await c.run(m, attempt)
                await self._apply(c, m, verdict, attempt)
                c.sub.handled += 1
                delivered += 1
                progressed = True
            if not progressed:
                return delivered
        raise RuntimeError(f"MemoryBus.settle: still busy after {max_rounds} rounds (a publish loop?)")

    def messages(self, pattern: str = subjects.EVERYTHING) -> list[Stored]:
        """Every stored message whose subject matches, in publish order."""
        found = [m for s in self._streams.values() for m in s.messages.values()
                 if subjects.matches(pattern, m.subject)]
        return sorted(found, key=lambda m: m.seq)

    # -- internals -------------------------------------------------------------------------

    def _stream_for(self, subject: str) -> _Stream:
        for stream in self._streams.values():
            if any(subjects.matches(p, subject) for p in stream.spec.subjects):
                return stream
        raise PermanentError(f"no stream holds subject {subject}")  # JetStream: no responders

    def _fill(self, c: _Consumer) -> None:
        for seq, m in c.stream.messages.items():
            if seq > c.cursor and subjects.matches(c.filter_subject, m.subject):
                c.queue.append((m, 1))
        c.cursor = self._seq

    async def _apply(self, c: _Consumer, m: Stored, verdict: Verdict, attempt: int = 1) -> None:
        self.outcomes.append((m.subject, verdict.outcome))
        if verdict.dead_letter is not None:
            letter = verdict.dead_letter
            self.publish_raw(subjects.dead_letter_for(m.subject), encode(letter), msg_id=dead_letter_id(letter),
                             headers={k: v for k, v in m.headers.items() if k in ("traceparent", "tracestate")})
        if not c.ack:
            return
        if verdict.ack == "nak" and attempt < c.max_deliver:
            self.naks.append((m.subject, verdict.delay))
            c.queue.append((m, attempt + 1))
        elif c.stream.spec.retention == "workqueue":
            c.stream.messages.pop(m.seq, None)  # ack and term both remove it from a work queue
