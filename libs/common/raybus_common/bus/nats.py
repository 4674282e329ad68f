"""The `Bus` over NATS JetStream: with `nats_kv.py`, the only code that imports nats.

- `connect(settings)` retries the *first* connect a bounded number of times (nats-py does not:
  with `max_reconnect_attempts=-1` it would loop forever, with a positive value it gives up
  after one round), then switches the client to reconnect forever. Error, disconnect and
  reconnect callbacks log one line each (no traceback storms).
- `publish` sets `Nats-Msg-Id` and the current W3C `traceparent`, and waits for the ack.
  `publisher` and `publish_many` (`publisher.py`) pipeline: each message is written with a
  reply subject under one inbox of this connection (`_Acks`) and its ack settles a future,
  which fails with `TemporaryError` when JetStream refuses the message, when no stream holds
  the subject, when no ack came within `ack_timeout` (5 s, as `js.publish` waits), or when the
  connection closes. nats-py's own `publish_async` is not used: its futures have no deadline.
- `consume` runs durable pull consumers (`_Puller`): one pull request at a time asks for as
  many messages as there are free handler slots (`concurrency`), and each message is handed to
  a handler task as it arrives; `dispatch` (base.py) judges each message and this
  module acks, naks with a delay, or terminates and dead-letters. A message that fails on its
  last delivery is dead-lettered and terminated: JetStream would otherwise leave it in the
  work-queue stream, undelivered, forever. When the last delivery ends with no outcome at all
  (the process died holding it), JetStream's max-deliveries advisory triggers the same:
  dead letter, then the message is deleted from the stream.
- `last_per_subject` replays the last message per subject through an ordered consumer and
  sets `replayed` from JetStream's own counts (the consumer's `num_pending` at creation and
  each message's `num_pending`), never from a timeout.
- `drain` stops the consumers, lets in-flight handlers finish within a grace period, then
  drains the connection.

It does not decide outcomes (base.py), build subjects (subjects.py) or define streams
(streams.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import ssl
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription as NatsSubscription
from nats.js import JetStreamContext
from nats.js.api import (
    DEFAULT_PREFIX,
    ConsumerConfig,
    DeliverPolicy,
    Header,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)

from .. import metrics, tracing
from ..backoff import Bounded, backoff
from ..errors import TemporaryError
from ..kv import KV
from . import subjects
from .base import Handler, Subscription, Verdict, dead_letter_id, dispatch
from .config import NatsConfig
from .envelopes import DeadLetter, Envelope, encode
from .nats_kv import NatsKV
from .publisher import Outgoing, Publisher, publish_all
from .streams import ConsumerSpec, StreamSpec

log = logging.getLogger("raybus.bus")
E = TypeVar("E", bound=Envelope)
T = TypeVar("T")
STREAM_NAME_IN_USE = 10058  # JetStream: stream exists with a different configuration
FETCH_TIMEOUT = 5.0  # seconds one pull request waits for messages
ACK_TIMEOUT = 5.0  # seconds a pipelined publish waits for its ack (as long as `js.publish` does)
NO_RESPONDERS = "503"  # the status of a request nobody answers: no stream holds the subject
MAX_DELIVERIES_ADVISORY = "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES"
JS_NO_PEERS = 10005  # JetStream: no suitable peers for placement (a replica's node not joined yet)
JS_UNAVAILABLE = 10008  # JetStream: system temporarily unavailable (no meta leader yet)
MAX_LOOP_ERRORS = 10  # consecutive unexpected errors (while connected) before a consumer gives up


def cluster_unsettled(e: Exception) -> bool:
    """The JetStream error a forming or electing cluster answers with, which passes by itself: no
    peers to place a replica on, no meta leader, or no answer at all."""
    if isinstance(e, nats.errors.TimeoutError):
        return True
    return isinstance(e, nats.js.errors.APIError) and (e.err_code in (JS_NO_PEERS, JS_UNAVAILABLE) or e.code == 503)


def startup_policy(settings: NatsConfig) -> Bounded:
    """How long a starting service waits for NATS: the first connection, and a JetStream
    cluster still forming (RAYBUS_NATS_CONNECT_ATTEMPTS tries, 0.5 s backoff capped at 5 s)."""
    return Bounded(max_attempts=settings.nats_connect_attempts, base=0.5, cap=5.0)


async def connect(settings: NatsConfig, *, name: str | None = None) -> NatsBus:
    """Connect with bounded retries for the first connection, then reconnect forever."""
    bus = NatsBus(settings)
    policy = startup_policy(settings)
    servers = server_urls(settings)
    auth = connect_options(settings)
    for attempt in policy:
        try:
            nc = await nats.connect(
                servers, name=name or settings.service_name, connect_timeout=settings.nats_connect_timeout,
                # One round over the servers, then raise: the bounded loop here does the retrying.
                allow_reconnect=True, max_reconnect_attempts=1, reconnect_time_wait=0.1,
                error_cb=bus._on_error, disconnected_cb=bus._on_disconnected,
                reconnected_cb=bus._on_reconnected, closed_cb=bus._on_closed, **auth)
        except (OSError, TimeoutError, nats.errors.Error) as e:
            if policy.exhausted(attempt):
                raise ConnectionError(f"cannot connect to NATS at {settings.nats_url} after {attempt} "
                                      f"attempts: {e or type(e).__name__}") from e
            delay = policy.delay(attempt)
            log.warning("NATS at %s not reachable (%s); attempt %d/%d, retrying in %.1fs",
                        settings.nats_url, e or type(e).__name__, attempt, policy.max_attempts, delay)
            await asyncio.sleep(delay)
        else:
            # From now on nats-py reconnects by itself, forever (nats-py reads these live).
            nc.options["max_reconnect_attempts"] = -1
            nc.options["reconnect_time_wait"] = 2.0
            await bus._attach(nc)
            log.info("connected to NATS at %s", nc.connected_url.netloc if nc.connected_url else servers)
            return bus
    raise AssertionError("unreachable: Bounded yields at least one attempt")


def server_urls(settings: NatsConfig) -> list[str]:
    """`RAYBUS_NATS_URL` split at commas: every server of a cluster, tried in turn (and on reconnect)."""
    return [s.strip() for s in settings.nats_url.split(",") if s.strip()]


def connect_options(settings: NatsConfig) -> dict[str, Any]:
    """Credentials and TLS for `nats.connect`: user/password, token or a creds file, and a TLS
    context when a CA (and optionally a client certificate and key) is set."""
    opts: dict[str, Any] = {}
    if settings.nats_user:
        opts.update(user=settings.nats_user, password=settings.nats_password)
    if settings.nats_token:
        opts["token"] = settings.nats_token
    if settings.nats_creds_file:
        opts["user_credentials"] = settings.nats_creds_file
    if bool(settings.nats_tls_cert) != bool(settings.nats_tls_key):
        raise ValueError("RAYBUS_NATS_TLS_CERT and RAYBUS_NATS_TLS_KEY go together: set both or neither")
    if settings.nats_tls_ca or settings.nats_tls_cert:
        ctx = ssl.create_default_context(cafile=settings.nats_tls_ca or None)
        if settings.nats_tls_cert:
            ctx.load_cert_chain(settings.nats_tls_cert, settings.nats_tls_key)
        opts["tls"] = ctx
    return opts


@dataclass
class _Consumer:
    sub: Subscription
    tasks: list[asyncio.Task[None]]  # the loops feeding it
    unsubscribe: Any = None  # coroutine function: stop the server sending
    busy: int = 0  # messages taken and not finished yet
    idle: asyncio.Event = field(default_factory=asyncio.Event)
    freed: asyncio.Event = field(default_factory=asyncio.Event)  # set whenever a message is finished
    handlers: set[asyncio.Task[None]] = field(default_factory=set)  # one task a message (consume)

    def __post_init__(self) -> None:
        self.idle.set()

    def begin(self) -> None:
        self.busy += 1
        self.idle.clear()

    def end(self) -> None:
        self.busy -= 1
        self.freed.set()
        if not self.busy:
            self.idle.set()

    @contextmanager
    def working(self) -> Iterator[None]:
        self.begin()
        try:
            yield
        finally:
            self.end()


class _Acks:
    """The acks of pipelined publishes: one wildcard subscription on an inbox of this
    connection, and per message a future with a deadline. A reply that comes after the
    deadline finds nothing to settle and is dropped."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._prefix = ""
        self._count = 0
        self._waiting: dict[str, tuple[asyncio.Future[bool], asyncio.TimerHandle, str]] = {}

    async def open(self, nc: NATS) -> None:
        self._prefix = nc.new_inbox() + "."
        await nc.subscribe(self._prefix + "*", cb=self._on_reply)

    def expect(self, subject: str) -> tuple[str, asyncio.Future[bool]]:
        """A reply subject for one message to `subject`, and the future its ack settles."""
        self._count += 1
        token = format(self._count, "x")
        loop = asyncio.get_running_loop()
        ack: asyncio.Future[bool] = loop.create_future()
        ack.add_done_callback(_retrieved)
        timer = loop.call_later(self.timeout, self._fail, token, f"no ack within {self.timeout:g}s")
        self._waiting[token] = (ack, timer, subject)
        return self._prefix + token, ack

    def drop(self, reply: str) -> None:
        """The message was never written: nobody waits for its ack."""
        entry = self._waiting.pop(reply[len(self._prefix):], None)
        if entry is not None:
            entry[1].cancel()
            entry[0].cancel()

    def fail_all(self, why: str) -> None:
        for token in list(self._waiting):
            self._fail(token, why)

    def _fail(self, token: str, why: str) -> None:
        entry = self._waiting.pop(token, None)
        if entry is not None:
            ack, timer, subject = entry
            timer.cancel()
            if not ack.done():
                ack.set_exception(TemporaryError(f"publish to {subject} failed: {why}"))

    async def _on_reply(self, msg: Msg) -> None:
        token = msg.subject[len(self._prefix):]
        entry = self._waiting.get(token)
        if entry is None:
            return  # too late: its deadline passed
        if msg.headers and msg.headers.get(Header.STATUS.value) == NO_RESPONDERS:
            self._fail(token, "no stream holds the subject")
            return
        try:
            answer = json.loads(msg.data)
            error = answer.get("error")
        except (ValueError, AttributeError):
            self._fail(token, f"unreadable ack {msg.data[:200]!r}")
            return
        if error:
            self._fail(token, f"{error.get('description', error)} (JetStream error {error.get('err_code', '?')})")
            return
        ack, timer, subject = self._waiting.pop(token)
        timer.cancel()
        duplicate = bool(answer.get("duplicate"))
        metrics.child(metrics.PUBLISHED, subjects.stage_of(subject), str(duplicate).lower()).inc()
        if not ack.done():
            ack.set_result(not duplicate)


def _retrieved(ack: asyncio.Future[bool]) -> None:
    """Take the outcome, so an ack nobody waits for any more is not logged as unretrieved."""
    if not ack.cancelled():
        ack.exception()


class _Puller:
    """Feeds a durable pull consumer to at most `concurrency` handlers at once.

    One pull request is open at a time, for as many messages as there are free slots (so
    messages taken and messages asked for never exceed `concurrency`), and each message starts
    its handler task as it arrives, in the order JetStream delivered it. The request ends when
    it has delivered its batch, or with a status from the server (408 when it expired empty
    after `FETCH_TIMEOUT`); then the next one asks for the slots free by then, so under load a
    pull fetches every slot freed since the last one. A request the server never answers (the
    connection dropped) is given up after `FETCH_TIMEOUT` and a bit. Statuses other than
    404/408 (409 consumer deleted, 503 JetStream gone, ...) count as loop errors (`_loop_error`).
    A message that arrives once the subscription is stopping is nak'ed at once, for another
    replica to take.
    """

    def __init__(self, bus: NatsBus, consumer: _Consumer, spec: ConsumerSpec,
                 handle: Callable[[Msg], Awaitable[None]], concurrency: int) -> None:
        self.bus, self.consumer, self.spec, self.handle = bus, consumer, spec, handle
        self.concurrency = max(1, concurrency)
        self.slots = asyncio.Semaphore(self.concurrency)  # a stale request may deliver more than asked
        self.inbox = bus.nc.new_inbox()
        self.next_subject = f"{DEFAULT_PREFIX}.CONSUMER.MSG.NEXT.{spec.stream}.{spec.durable}"
        self.owed = 0  # messages the open request may still deliver
        self.ended = asyncio.Event()  # the open request is over
        self.refused = ""  # the status line it ended with, when that is an error

    async def run(self) -> None:
        consumer, errors = self.consumer, 0
        expires = int(FETCH_TIMEOUT * 1e9)  # nanoseconds
        while not consumer.sub.stopping.is_set():
            if not self.bus.connected:
                await self.bus.until_connected()
                continue
            while consumer.busy >= self.concurrency:
                consumer.freed.clear()
                await consumer.freed.wait()
            if consumer.sub.stopping.is_set():
                return  # ask for nothing more: a message asked for now would wait out ack_wait
            batch = self.concurrency - consumer.busy
            self.owed, self.refused = batch, ""
            self.ended.clear()
            try:
                await self.bus.nc.publish(self.next_subject, json.dumps({"batch": batch, "expires": expires}).encode(),
                                          reply=self.inbox)
                await asyncio.wait_for(self.ended.wait(), FETCH_TIMEOUT + 1.0)
            except TimeoutError:
                continue  # no answer: the request was lost with the connection; ask again
            except nats.errors.ConnectionClosedError:
                return
            except nats.errors.Error as e:
                errors = await self.bus._loop_error(consumer, errors, e)
                continue
            if self.refused:
                errors = await self.bus._loop_error(consumer, errors, RuntimeError(self.refused))
            else:
                errors = 0

    async def on_message(self, msg: Msg) -> None:
        status = msg.headers.get(Header.STATUS.value) if msg.headers else None
        if status and not msg.data:
            if status == "100":
                return  # a heartbeat
            if status not in ("404", "408"):  # 404/408: no messages (any more) for this request
                self.refused = f"{status} {msg.headers.get(Header.DESCRIPTION.value, '') if msg.headers else ''}"
            self.ended.set()
            return
        if self.consumer.sub.stopping.is_set():
            try:
                await msg.nak()
            except nats.errors.Error as e:
                log.debug("nak on stopping %s: %s", self.consumer.sub.name, e)
            return
        self.owed -= 1
        if self.owed <= 0:
            self.ended.set()
        self.consumer.begin()
        task = asyncio.create_task(self._run(msg), name=f"raybus-handle-{self.spec.durable}")
        self.consumer.handlers.add(task)
        task.add_done_callback(self._finished)

    async def _run(self, msg: Msg) -> None:
        async with self.slots:
            await self.handle(msg)
            self.consumer.sub.handled += 1

    def _finished(self, task: asyncio.Task[None]) -> None:
        self.consumer.handlers.discard(task)
        self.consumer.end()
        if not task.cancelled() and task.exception() is not None:
            log.error("consumer %s: handling a message failed: %r", self.consumer.sub.name, task.exception())


def _unsubscriber(*subs: NatsSubscription) -> Callable[[], Awaitable[None]]:
    async def unsubscribe() -> None:
        for sub in subs:
            try:
                await sub.unsubscribe()
            except nats.errors.Error as e:
                log.debug("unsubscribe %s: %s", sub.subject, e)
    return unsubscribe


class NatsBus:
    def __init__(self, settings: NatsConfig) -> None:
        self.settings = settings
        self._nc: NATS | None = None
        self._js: JetStreamContext | None = None
        self._consumers: list[_Consumer] = []
        self._connected = asyncio.Event()
        self._closing = False
        self._failed: asyncio.Future[BaseException] = asyncio.get_running_loop().create_future()
        self._buckets: dict[str, NatsKV] = {}
        self._acks = _Acks(ACK_TIMEOUT)

    async def _attach(self, nc: NATS) -> None:
        self._nc, self._js = nc, nc.jetstream()
        await self._acks.open(nc)
        self._connected.set()

    @property
    def ack_timeout(self) -> float:
        """How long a pipelined publish waits for its ack before it counts as failed."""
        return self._acks.timeout

    @ack_timeout.setter
    def ack_timeout(self, seconds: float) -> None:
        self._acks.timeout = seconds

    @property
    def nc(self) -> NATS:
        if self._nc is None:
            raise RuntimeError("NatsBus is not connected")
        return self._nc

    @property
    def js(self) -> JetStreamContext:
        if self._js is None:
            raise RuntimeError("NatsBus is not connected")
        return self._js

    @property
    def connected(self) -> bool:
        return self._nc is not None and self._nc.is_connected

    async def until_connected(self, poll: float = 0.5) -> None:
        """Return once the connection is up. nats-py marks it down before its disconnected
        callback (which clears `_connected`) has run, so the event alone can still say
        "connected": a loop that awaited only the event would spin without ever yielding, and
        neither that callback nor the reconnect would run (the actuator stalled so at 100 % CPU
        when a NATS node was killed). So the event is cleared here, and checked every `poll` s."""
        while not self.connected:
            self._connected.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._connected.wait(), poll)

    async def failed(self) -> BaseException:
        return await asyncio.shield(self._failed)

    async def key_value(self, bucket: str) -> KV:
        if bucket not in self._buckets:
            self._buckets[bucket] = await NatsKV.open(self.js, bucket, replicas=self.settings.stream_replicas)
        return self._buckets[bucket]

    # -- callbacks: one log line each ----------------------------------------------------------

    async def _on_error(self, e: Exception) -> None:
        log.warning("NATS error: %s", e or type(e).__name__)

    async def _on_disconnected(self) -> None:
        self._connected.clear()
        if self._closing:
            log.info("disconnected from NATS (closing)")
        else:
            log.warning("disconnected from NATS; reconnecting")

    async def _on_reconnected(self) -> None:
        self._connected.set()
        log.info("reconnected to NATS at %s", self._nc.connected_url.netloc if self._nc and self._nc.connected_url
                 else "?")

    async def _on_closed(self) -> None:
        self._connected.clear()
        self._acks.fail_all("the connection closed")
        log.info("NATS connection closed")

    # -- publishing ----------------------------------------------------------------------------

    async def publish(self, subject: str, envelope: Envelope, *, msg_id: str,
                      headers: Mapping[str, str] | None = None, ttl: float | None = None) -> bool:
        """One message, its ack awaited: the pipelined path with a window of one. (`js.publish`
        costs ~50 us more per message: a new Future, a timeout task and nats-py's own parsing
        of the ack; the actuator publishes a result per action.)"""
        return await (await self._start(Outgoing(subject, envelope, msg_id, headers, ttl)))

    def publisher(self, window: int) -> Publisher:
        return Publisher(self._start, window)

    async def publish_many(self, items: Sequence[Outgoing]) -> list[bool]:
        return await publish_all(self._start, items)

    async def _start(self, item: Outgoing) -> asyncio.Future[bool]:
        """Write one message with a reply subject for its ack; no await before the write, so
        messages go on the wire in the order of the calls."""
        hdrs = tracing.inject(dict(item.headers or {}))
        hdrs["Nats-Msg-Id"] = item.msg_id
        if item.ttl is not None:
            hdrs[Header.MSG_TTL.value] = str(int(item.ttl))  # whole seconds, as `js.publish` writes it
        reply, ack = self._acks.expect(item.subject)
        try:
            await self.nc.publish(item.subject, encode(item.envelope), reply=reply, headers=hdrs)
        except nats.errors.Error as e:  # closed, draining, or the reconnect buffer is full
            self._acks.drop(reply)
            raise TemporaryError(f"publish to {item.subject} failed: {e or type(e).__name__}") from e
        return ack

    # -- streams and consumers -----------------------------------------------------------------

    async def _while_cluster_settles(self, what: str, op: Callable[[], Awaitable[T]]) -> T:
        """`op()`, tried again (`startup_policy`, as the first connection) while the JetStream cluster is
        still forming or electing: a node that has not joined yet makes an R3 stream unplaceable."""
        policy = startup_policy(self.settings)
        for attempt in policy:
            try:
                return await op()
            except (nats.js.errors.APIError, nats.errors.TimeoutError) as e:
                if not cluster_unsettled(e) or policy.exhausted(attempt):
                    raise
                delay = policy.delay(attempt)
                log.warning("JetStream cannot %s yet (%s); attempt %d/%d, retrying in %.1fs",
                            what, e, attempt, policy.max_attempts, delay)
                await asyncio.sleep(delay)
        raise AssertionError("unreachable: Bounded yields at least one attempt")

    async def ensure_stream(self, spec: StreamSpec) -> str:
        return await self._while_cluster_settles(f"place stream {spec.name}", partial(self._ensure_stream, spec))

    async def _ensure_stream(self, spec: StreamSpec) -> str:
        cfg = StreamConfig(
            name=spec.name, subjects=list(spec.subjects), description=spec.description or None,
            retention=RetentionPolicy.WORK_QUEUE if spec.retention == "workqueue" else RetentionPolicy.LIMITS,
            storage=StorageType.FILE if spec.storage == "file" else StorageType.MEMORY,
            max_msgs_per_subject=spec.max_msgs_per_subject, max_age=spec.max_age,
            duplicate_window=spec.duplicate_window, num_replicas=spec.replicas,
            allow_msg_ttl=True if spec.allow_msg_ttl else None)
        try:
            info = await self.js.stream_info(spec.name)
        except nats.js.errors.NotFoundError:
            try:
                await self.js.add_stream(cfg)
                return "created"
            except nats.js.errors.APIError as e:
                if e.err_code != STREAM_NAME_IN_USE:
                    raise
                info = await self.js.stream_info(spec.name)  # another replica won the race
        have = info.config
        if have.retention != cfg.retention or have.storage != cfg.storage:
            raise RuntimeError(f"stream {spec.name} exists with retention={have.retention} storage={have.storage}; "
                               f"Raybus needs {cfg.retention}/{cfg.storage}, which JetStream cannot change in "
                               "place: delete the stream (losing its messages) and restart")
        wanted = (sorted(cfg.subjects or []), cfg.max_msgs_per_subject, cfg.max_age, cfg.duplicate_window,
                  cfg.num_replicas, bool(cfg.allow_msg_ttl) or bool(have.allow_msg_ttl), cfg.description)
        current = (sorted(have.subjects or []), have.max_msgs_per_subject, have.max_age, have.duplicate_window,
                   have.num_replicas, bool(have.allow_msg_ttl), have.description)
        if wanted == current:
            return "unchanged"
        await self.js.update_stream(cfg)
        return "updated"

    async def ensure_consumer(self, spec: ConsumerSpec) -> None:
        """Create the durable consumer or update it to `spec` (CONSUMER.CREATE is create-or-update).
        Done explicitly because `pull_subscribe` ignores the config of an existing durable."""
        config = ConsumerConfig(
            name=spec.durable, durable_name=spec.durable, description=spec.description or None,
            filter_subject=spec.filter_subject, ack_wait=spec.ack_wait, max_deliver=spec.max_deliver,
            backoff=list(spec.backoff) or None, max_ack_pending=spec.max_ack_pending)
        await self._while_cluster_settles(f"place consumer {spec.stream}/{spec.durable}",
                                          partial(self.js.add_consumer, spec.stream, config))

    async def consume(self, spec: ConsumerSpec, model: type[E], handler: Handler[E], *,
                      concurrency: int = 1) -> Subscription:
        await self.ensure_consumer(spec)
        handle = Subscription(f"{spec.stream}/{spec.durable}")
        consumer = _Consumer(handle, [])
        puller = _Puller(self, consumer, spec, lambda msg: self._handle(msg, spec, model, handler), concurrency)
        inbox = await self.nc.subscribe(puller.inbox, cb=puller.on_message)
        advisory = await self.nc.subscribe(f"{MAX_DELIVERIES_ADVISORY}.{spec.stream}.{spec.durable}",
                                           queue=spec.durable, cb=self._on_max_deliveries(spec))
        consumer.unsubscribe = _unsubscriber(inbox, advisory)
        consumer.tasks.append(asyncio.create_task(puller.run(), name=f"raybus-consume-{spec.durable}"))
        self._consumers.append(consumer)
        handle.replayed.set()  # a work queue has no view to rebuild
        return handle

    def _on_max_deliveries(self, spec: ConsumerSpec) -> Callable[[Msg], Awaitable[None]]:
        """JetStream stops delivering a message after `max_deliver` deliveries but leaves it in a
        work-queue stream for ever. When the last delivery ended without an outcome (the handler's
        process died, or it outlived ack_wait), the server says so in an advisory: the replica
        that gets it (a queue group per durable) dead-letters the message and deletes it from
        the stream. Dead-letter ids are per stream sequence, so a repeat is harmless."""

        async def handle(msg: Msg) -> None:
            try:
                advisory = json.loads(msg.data)
                seq = int(advisory["stream_seq"])
                deliveries = int(advisory.get("deliveries") or spec.max_deliver)
                stored = await self.js.get_msg(spec.stream, seq)
            except nats.js.errors.NotFoundError:
                return  # already settled (terminated and dead-lettered by dispatch)
            except (ValueError, KeyError, TypeError, nats.errors.Error, TimeoutError) as e:
                log.warning("max-deliveries advisory for %s/%s not handled: %s", spec.stream, spec.durable,
                            e or type(e).__name__)
                return
            headers = {k: str(v) for k, v in (stored.headers or {}).items()}
            letter = DeadLetter(subject=stored.subject or "", data=(stored.data or b"").decode("utf-8", "replace"),
                                headers=headers, stream=spec.stream, stream_seq=seq, attempts=max(1, deliveries),
                                error=f"no outcome after {deliveries} deliveries (each ended without an ack: a "
                                      f"crash or a handler slower than ack_wait {spec.ack_wait:g}s)")
            try:
                await self._dead_letter(letter)
                await self.js.delete_msg(spec.stream, seq)
            except (TemporaryError, nats.errors.Error, TimeoutError) as e:
                log.error("could not dead-letter %s (seq %d) after max deliveries: %s", letter.subject, seq, e)
                return
            metrics.DEAD_LETTERS.labels(subjects.stage_of(letter.subject)).inc()
            log.error("%s (seq %d) dead-lettered: %s", letter.subject, seq, letter.error)

        return handle

    async def _loop_error(self, consumer: _Consumer, errors: int, e: BaseException) -> int:
        if not self.connected:
            return errors  # a reconnect is under way; the loop waits for it
        errors += 1
        if errors >= MAX_LOOP_ERRORS:
            err = RuntimeError(f"consumer {consumer.sub.name} failed {errors} times in a row: {e}")
            if not self._failed.done():
                self._failed.set_result(err)
            raise err from e
        delay = backoff(errors, cap=10.0)
        log.warning("consumer %s: %s; retrying in %.1fs", consumer.sub.name, e or type(e).__name__, delay)
        try:
            await asyncio.wait_for(consumer.sub.stopping.wait(), timeout=delay)
        except TimeoutError:
            pass  # the delay elapsed; try again
        return errors

    async def _handle(self, msg: Msg, spec: ConsumerSpec, model: type[E], handler: Handler[E]) -> None:
        md = msg.metadata
        metrics.observe_lag(msg.subject, md.num_pending, md.timestamp)
        verdict = await dispatch(model, handler, subject=msg.subject, data=msg.data, headers=msg.headers,
                                 attempt=md.num_delivered, max_attempts=spec.max_deliver, stream=md.stream,
                                 stream_seq=md.sequence.stream)
        await self._settle(msg, verdict)

    async def _settle(self, msg: Msg | None, verdict: Verdict) -> None:
        try:
            if verdict.dead_letter is not None:
                try:
                    await self._dead_letter(verdict.dead_letter)
                except TemporaryError as e:
                    # Keep the message rather than lose it: it comes back after the delay.
                    log.error("could not dead-letter %s: %s", verdict.dead_letter.subject, e.message)
                    if msg is not None:
                        await msg.nak(delay=backoff(1))
                    return
            if msg is None:
                return
            if verdict.ack == "ack":
                await msg.ack()
            elif verdict.ack == "nak":
                await msg.nak(delay=verdict.delay)
            else:
                await msg.term()
        except (nats.errors.Error, TimeoutError) as e:
            # The server redelivers after ack_wait: at-least-once, never lost.
            log.warning("could not settle message on %s: %s", msg.subject if msg else "?", e or type(e).__name__)

    async def _dead_letter(self, letter: DeadLetter) -> None:
        headers = {k: v for k, v in letter.headers.items() if k.lower() in ("traceparent", "tracestate")}
        await self.publish(subjects.dead_letter_for(letter.subject), letter, msg_id=dead_letter_id(letter),
                           headers=headers)

    # -- last value per subject, then live -----------------------------------------------------

    async def last_per_subject(self, filter_subject: str, model: type[E], handler: Handler[E]) -> Subscription:
        stream = await self.js.find_stream_name_by_subject(filter_subject)
        last_seq = (await self.js.stream_info(stream)).state.last_seq
        psub = await self.js.subscribe(filter_subject, stream=stream, ordered_consumer=True,
                                       deliver_policy=DeliverPolicy.LAST_PER_SUBJECT)
        handle = Subscription(f"{stream}/last-per-subject:{filter_subject}")
        info = await psub.consumer_info()
        if not info.num_pending and (info.delivered is None or not info.delivered.consumer_seq):
            handle.replayed.set()  # nothing to replay
        consumer = _Consumer(handle, [], unsubscribe=psub.unsubscribe)
        replay = asyncio.create_task(self._replay_loop(consumer, psub, last_seq, model, handler),
                                     name=f"raybus-replay-{filter_subject}")
        consumer.tasks += [replay, asyncio.create_task(self._end_when_stopped(consumer, replay),
                                                       name=f"raybus-replay-stop-{filter_subject}")]
        self._consumers.append(consumer)
        return handle

    async def _end_when_stopped(self, consumer: _Consumer, replay: asyncio.Task[None]) -> None:
        """`Subscription.stop()` on a replay: unsubscribe at once (the server stops sending) and
        end the loop once the message in hand is handled, rather than on the next message."""
        await consumer.sub.stopping.wait()
        if consumer.unsubscribe is not None:
            try:
                await consumer.unsubscribe()
            except nats.errors.Error as e:
                log.debug("unsubscribe %s: %s", consumer.sub.name, e)
            consumer.unsubscribe = None
        await consumer.idle.wait()
        replay.cancel()
        if consumer in self._consumers:
            self._consumers.remove(consumer)

    async def _replay_loop(self, consumer: _Consumer, psub: JetStreamContext.PushSubscription, last_seq: int,
                           model: type[E], handler: Handler[E]) -> None:
        handle = consumer.sub
        async for msg in psub.messages:
            md = msg.metadata
            metrics.observe_lag(msg.subject, md.num_pending, md.timestamp)
            with consumer.working():
                verdict = await dispatch(model, handler, subject=msg.subject, data=msg.data, headers=msg.headers,
                                         attempt=1, max_attempts=1, stream=md.stream,
                                         stream_seq=md.sequence.stream)
                await self._settle(None, verdict)  # ordered consumers have no acks
                handle.handled += 1
            # Replay is done when JetStream says nothing is pending, or once we pass what the
            # stream held when we started (so a busy stream cannot hold readiness back).
            if not handle.replayed.is_set() and (md.num_pending == 0 or md.sequence.stream >= last_seq):
                handle.replayed.set()
            if handle.stopping.is_set():
                return

    # -- shutting down -------------------------------------------------------------------------

    async def drain(self, grace: float = 20.0) -> None:
        self._closing = True
        consumers, self._consumers = self._consumers, []
        for c in consumers:
            c.sub.stop()
        for c in consumers:
            if c.unsubscribe is not None:
                try:
                    await c.unsubscribe()
                except nats.errors.Error as e:
                    log.warning("unsubscribe %s: %s", c.sub.name, e)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        for c in consumers:
            # Loops waiting for messages are cancelled now; messages in hand finish first,
            # within the grace period; a message cut short is redelivered after ack_wait.
            try:
                await asyncio.wait_for(c.idle.wait(), timeout=max(0.0, deadline - loop.time()))
            except TimeoutError:
                log.warning("consumer %s still busy after %.0fs grace; cancelling", c.sub.name, grace)
            tasks = [*c.tasks, *c.handlers]
            for t in tasks:
                t.cancel()
            results = await asyncio.gather(*tasks, return_exceptions=True)
            for r in results:
                if isinstance(r, BaseException) and not isinstance(r, asyncio.CancelledError):
                    log.error("consumer %s ended with %r", c.sub.name, r)
        if self._nc is not None and not self._nc.is_closed:
            try:
                await self._nc.drain()
            except (nats.errors.Error, TimeoutError) as e:
                log.warning("draining NATS: %s; closing", e or type(e).__name__)
                await self._nc.close()
        self._acks.fail_all("the bus was drained")


