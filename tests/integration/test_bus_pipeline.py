"""Fewer round trips against a real nats-server: the publish window, batch publishing, and the
batched pull consumer (settling, its bound on handlers, drain).

The module runs its own nats-server (`module_nats`, see conftest.py), and every test uses its
own kind token.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable

import nats
import pytest
from nats.js.errors import NotFoundError
from opentelemetry.sdk.trace import TracerProvider

from raybus_common.actions import Delete, ObjectRef
from raybus_common.bus import subjects
from raybus_common.bus.base import Message
from raybus_common.bus.envelopes import ActionEnvelope, DeadLetter, StateEnvelope, decode
from raybus_common.bus.nats import NatsBus
from raybus_common.bus.publisher import Outgoing
from raybus_common.bus.streams import ACT, DLQ, STATE, ConsumerSpec
from raybus_common.errors import PermanentError, TemporaryError
from raybus_testbed.nats import NatsServer
from raybus_testbed.waiting import eventually

pytestmark = pytest.mark.integration

BusOpener = Callable[[], Awaitable[NatsBus]]  # the `open_module_bus` fixture (conftest.py)
ROOT = ObjectRef(api_version="ray.io/v1", kind="RayCluster", namespace="ns", name="rc", uid="u-rc")


@pytest.fixture
def bus(module_bus: NatsBus) -> NatsBus:
    return module_bus


@pytest.fixture
def kind() -> str:
    return "t" + uuid.uuid4().hex[:10]


def tombstone(uid: str) -> StateEnvelope:
    return StateEnvelope(type="TOMBSTONE", ref=ROOT, uid=uid)


def action(kind: str, name: str) -> Outgoing:
    ref = ObjectRef(api_version="v1", kind="Pod", namespace="ns", name=name, uid=f"u-{name}")
    env = ActionEnvelope.build("test", ROOT, Delete(ref=ref))
    return Outgoing(subjects.act(kind, "ns", name), env, f"{kind}-{env.action_id}")


async def last(bus: NatsBus, subject: str) -> StateEnvelope | None:
    try:
        return decode(StateEnvelope, (await bus.js.get_last_msg(STATE, subject)).data or b"")
    except NotFoundError:
        return None


async def work_queue_empty(bus: NatsBus, kind: str) -> bool:
    info = await bus.js.stream_info(ACT, subjects_filter=subjects.of_kind("act", kind))
    return not info.state.subjects


# -- the publish window ------------------------------------------------------------------------

async def test_window_keeps_order_so_each_subject_ends_with_the_last_sent(bus: NatsBus, kind: str) -> None:
    pub = bus.publisher(8)
    names = [f"o{i}" for i in range(30)]
    for version in range(5):
        for name in names:
            await pub.send(subjects.state(kind, "ns", name), tombstone(f"{name}-v{version}"),
                           msg_id=f"{kind}-{name}-{version}")
            assert pub.outstanding <= 8
    await pub.flush()
    assert pub.outstanding == 0
    for name in names:
        stored = await last(bus, subjects.state(kind, "ns", name))
        assert stored is not None and stored.uid == f"{name}-v4"


async def test_window_sets_the_message_id_traceparent_and_ttl(bus: NatsBus, kind: str) -> None:
    pub = bus.publisher(4)
    subject = subjects.state(kind, "ns", "a")
    with TracerProvider().get_tracer("test").start_as_current_span("test") as span:
        await pub.send(subject, tombstone("a"), msg_id=f"{kind}-a", ttl=3600)
    await pub.flush()
    raw = await bus.js.get_last_msg(STATE, subject)
    headers = raw.headers or {}
    assert headers["Nats-Msg-Id"] == f"{kind}-a" and headers["Nats-TTL"] == "3600"
    assert headers["traceparent"].split("-")[1] == format(span.get_span_context().trace_id, "032x")


async def test_a_refused_publish_sets_failed_and_the_next_send_raises(bus: NatsBus, kind: str) -> None:
    pub = bus.publisher(16)
    await pub.send(f"nostream.{kind}.x", tombstone("x"), msg_id=f"{kind}-x")
    await asyncio.wait_for(pub.failed.wait(), 10)
    with pytest.raises(TemporaryError, match="no stream holds the subject"):
        await pub.send(subjects.state(kind, "ns", "y"), tombstone("y"), msg_id=f"{kind}-y")
    await pub.send(subjects.state(kind, "ns", "z"), tombstone("z"), msg_id=f"{kind}-z")
    await pub.flush()
    assert await last(bus, subjects.state(kind, "ns", "y")) is None, "the send that raised wrote nothing"
    assert await last(bus, subjects.state(kind, "ns", "z")) is not None


async def test_an_ack_that_never_comes_fails_at_its_deadline(bus: NatsBus, kind: str) -> None:
    # Someone listens on the subject (so no "no responders"), but it is no stream: no ack comes.
    silent = await bus.nc.subscribe(f"{kind}.silent")
    bus.ack_timeout = 0.5
    pub = bus.publisher(16)
    await pub.send(f"{kind}.silent", tombstone("s"), msg_id=f"{kind}-s")
    await asyncio.wait_for(pub.failed.wait(), 10)
    with pytest.raises(TemporaryError, match=r"no ack within 0\.5s"):
        await pub.flush()
    await silent.unsubscribe()


async def test_drain_fails_outstanding_acks_at_once(module_nats: NatsServer, open_module_bus: BusOpener,
                                                    kind: str) -> None:
    listener = await nats.connect(module_nats.url)
    try:
        silent = await listener.subscribe(f"{kind}.silent")
        await listener.flush()
        b = await open_module_bus()
        b.ack_timeout = 120.0
        pub = b.publisher(16)
        await pub.send(f"{kind}.silent", tombstone("s"), msg_id=f"{kind}-s")
        await silent.next_msg(timeout=10)  # it was written, and nobody will ack it
        await asyncio.wait_for(b.drain(grace=1), 10)
        with pytest.raises(TemporaryError, match="drained|connection closed"):
            await asyncio.wait_for(pub.flush(), 10)
    finally:
        await listener.close()


async def test_publish_many_reports_duplicates_and_raises_after_every_ack(bus: NatsBus, kind: str) -> None:
    a, b = subjects.state(kind, "ns", "a"), subjects.state(kind, "ns", "b")
    got = await bus.publish_many([Outgoing(a, tombstone("a1"), f"{kind}-a1"), Outgoing(b, tombstone("b1"), f"{kind}-b1"),
                                  Outgoing(a, tombstone("a1"), f"{kind}-a1")])
    assert got == [True, True, False]
    with pytest.raises(TemporaryError, match="1 of 2 publishes failed: .*no stream holds the subject"):
        await bus.publish_many([Outgoing(f"nostream.{kind}", tombstone("n"), f"{kind}-n"),
                                Outgoing(b, tombstone("b2"), f"{kind}-b2")])
    stored = await last(bus, b)
    assert stored is not None and stored.uid == "b2", "the rest of a failed batch is still published"


# -- batched pulls -----------------------------------------------------------------------------

def consumer(kind: str, *, ack_wait: float = 5.0) -> ConsumerSpec:
    return ConsumerSpec(stream=ACT, durable=f"test-{kind}", filter_subject=subjects.of_kind("act", kind),
                        ack_wait=ack_wait, max_deliver=3)


async def has_dead_letter(bus: NatsBus, subject: str) -> bool:
    try:
        raw = await bus.js.get_last_msg(DLQ, subjects.dead_letter_for(subject))
    except NotFoundError:
        return False
    return decode(DeadLetter, raw.data or b"").error == "no"


async def test_batched_consume_settles_every_message_with_at_most_concurrency_handlers(
        bus: NatsBus, kind: str) -> None:
    running, peak = 0, 0
    release = asyncio.Event()
    done: list[tuple[str, int]] = []

    async def handler(msg: Message[ActionEnvelope]) -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        try:
            await release.wait()
            name = msg.envelope.action.ref.name
            if name.startswith("retry") and msg.attempt == 1:
                raise TemporaryError("not yet", delay=0.05)
            if name.startswith("bad"):
                raise PermanentError("no")
            done.append((name, msg.attempt))
        finally:
            running -= 1

    names = [f"ok{i}" for i in range(12)] + [f"retry{i}" for i in range(4)] + [f"bad{i}" for i in range(4)]
    items = [action(kind, n) for n in names]
    await bus.publish_many(items)
    await bus.consume(consumer(kind), ActionEnvelope, handler, concurrency=4)
    await eventually(lambda: running == 4, what="four handlers at once, from one puller")
    release.set()
    expected = sorted([(f"ok{i}", 1) for i in range(12)] + [(f"retry{i}", 2) for i in range(4)])
    await eventually(lambda: sorted(done) == expected, what="every message handled, the retried ones twice")
    for item in items[-4:]:
        await eventually(lambda s=item.subject: has_dead_letter(bus, s), what=f"the dead letter of {item.subject}")
    await eventually(lambda: work_queue_empty(bus, kind), what="every message acked or terminated")
    assert peak == 4


async def test_drain_finishes_the_messages_in_hand_and_leaves_the_rest_to_others_at_once(
        open_module_bus: BusOpener, kind: str) -> None:
    b = await open_module_bus()
    started: list[str] = []
    release = asyncio.Event()

    async def slow(msg: Message[ActionEnvelope]) -> None:
        started.append(msg.envelope.action.ref.name)
        await release.wait()

    items = [action(kind, f"a{i}") for i in range(5)]
    await b.publish_many(items)
    spec = consumer(kind, ack_wait=60.0)  # a message stuck in a dead request would wait a minute
    sub = await b.consume(spec, ActionEnvelope, slow, concurrency=3)
    await eventually(lambda: len(started) == 3, what="three messages in hand")
    draining = asyncio.create_task(b.drain(grace=10))
    await eventually(sub.stopping.is_set, what="the consumer to stop taking messages")
    assert not draining.done(), "drain waits for the handlers in hand"
    release.set()
    await asyncio.wait_for(draining, 15)
    assert len(started) == 3

    other = await open_module_bus()
    rest: list[str] = []

    async def quick(msg: Message[ActionEnvelope]) -> None:
        rest.append(msg.envelope.action.ref.name)

    await other.consume(spec, ActionEnvelope, quick, concurrency=3)
    await eventually(lambda: len(rest) == 2, timeout=15, what="the two messages never taken, at once")
    assert sorted(started + rest) == [f"a{i}" for i in range(5)]
    await eventually(lambda: work_queue_empty(other, kind), what="all five acked")
