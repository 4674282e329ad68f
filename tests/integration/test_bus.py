"""The bus against a real nats-server with JetStream: streams, dedupe, tracing, outcomes, DLQ, replay, restart.

Every test uses its own kind token (`t<hex>`), so its consumers and subjects never overlap
another test's on the shared streams (a work-queue stream allows one consumer per subject).
The module runs its own nats-server: the actuator's durable consumer (`raybus.act.>`, left by
other modules' tests) overlaps every filter, and a work-queue stream would refuse these.
"""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from nats.js.errors import NotFoundError
from opentelemetry.sdk.trace import TracerProvider

from raybus_common import tracing
from raybus_common.actions import Delete, ObjectRef
from raybus_common.bus import subjects
from raybus_common.bus.base import Message
from raybus_common.bus.envelopes import ActionEnvelope, DeadLetter, StateEnvelope, decode
from raybus_common.bus.nats import NatsBus, connect
from raybus_common.bus.streams import (
    ACT,
    DLQ,
    STATE,
    ConsumerSpec,
    StreamSpec,
    default_streams,
    ensure_streams,
)
from raybus_common.errors import PermanentError, TemporaryError
from raybus_common.settings import ServiceSettings
from raybus_testbed.nats import NatsServer
from raybus_testbed.waiting import eventually

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    server = NatsServer(tmp_path_factory.mktemp("nats-bus"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def nats_url(nats_server: NatsServer) -> str:
    return nats_server.url


NOW = datetime(2026, 1, 1, tzinfo=UTC)
ROOT = ObjectRef(api_version="ray.io/v1", kind="RayCluster", namespace="ns", name="rc", uid="u-rc")


@pytest.fixture
async def bus(nats_url: str) -> AsyncIterator[NatsBus]:
    b = await connect(ServiceSettings(nats_url=nats_url, service_name="test-bus"))
    await ensure_streams(b)
    yield b
    await b.drain(grace=5)


@pytest.fixture
def kind() -> str:
    return "t" + uuid.uuid4().hex[:10]


def action(name: str) -> ActionEnvelope:
    ref = ObjectRef(api_version="v1", kind="Pod", namespace="ns", name=name, uid=f"u-{name}")
    return ActionEnvelope.build("test", ROOT, Delete(ref=ref), issued_at=NOW)


def consumer(kind: str, *, max_deliver: int = 5) -> ConsumerSpec:
    return ConsumerSpec(stream=ACT, durable=f"test-{kind}", filter_subject=subjects.of_kind("act", kind),
                        ack_wait=5.0, max_deliver=max_deliver)


async def publish_action(bus: NatsBus, kind: str, name: str) -> str:
    subject = subjects.act(kind, "ns", name)
    env = action(name)
    assert await bus.publish(subject, env, msg_id=f"{kind}-{env.action_id}")
    return subject


async def dead_letter(bus: NatsBus, subject: str) -> DeadLetter | None:
    try:
        raw = await bus.js.get_last_msg(DLQ, subjects.dead_letter_for(subject))
    except NotFoundError:
        return None
    return decode(DeadLetter, raw.data or b"")


async def test_streams_are_created_idempotently(bus: NatsBus) -> None:
    again = await ensure_streams(bus)
    assert again == {s.name: "unchanged" for s in default_streams()}
    assert await ensure_streams(bus) == again
    state = (await bus.js.stream_info(STATE)).config
    act = (await bus.js.stream_info(ACT)).config
    assert state.max_msgs_per_subject == 1 and state.duplicate_window == 120.0
    assert act.retention == "workqueue" and act.storage == "file"
    res_spec = next(s for s in default_streams() if s.name == "RAYBUS_RES")
    shorter = StreamSpec(**{**res_spec.__dict__, "max_age": 3600.0})
    assert await bus.ensure_stream(shorter) == "updated"
    assert await bus.ensure_stream(res_spec) == "updated"
    assert await bus.ensure_stream(res_spec) == "unchanged"


async def test_publish_dedupes_by_msg_id(bus: NatsBus, kind: str) -> None:
    subject = subjects.state(kind, "ns", "a")
    env = StateEnvelope.observed("ADDED", {"apiVersion": "v1", "kind": "Pod",
                                           "metadata": {"name": "a", "namespace": "ns", "uid": "u"}})
    assert await bus.publish(subject, env, msg_id=f"{kind}-1") is True
    assert await bus.publish(subject, env, msg_id=f"{kind}-1") is False
    info = await bus.js.stream_info(STATE, subjects_filter=subject)
    assert info.state.subjects == {subject: 1}


async def test_traceparent_round_trips(bus: NatsBus, kind: str) -> None:
    got: asyncio.Future[tuple[str | None, dict[str, str]]] = asyncio.get_running_loop().create_future()

    async def handler(msg: Message[ActionEnvelope]) -> None:
        if not got.done():
            got.set_result((tracing.trace_id_of(), dict(msg.headers)))

    await bus.consume(consumer(kind), ActionEnvelope, handler)
    with TracerProvider().get_tracer("test").start_as_current_span("test") as span:
        sent = span.get_span_context()
        await publish_action(bus, kind, "p")
    trace_id, headers = await asyncio.wait_for(got, 10)
    assert trace_id == format(sent.trace_id, "032x")
    assert headers["traceparent"] == f"00-{sent.trace_id:032x}-{sent.span_id:016x}-{sent.trace_flags:02x}"


async def test_nak_redelivers_with_the_errors_delay(bus: NatsBus, kind: str) -> None:
    attempts: list[int] = []
    done = asyncio.Event()

    async def handler(msg: Message[ActionEnvelope]) -> None:
        attempts.append(msg.attempt)
        if msg.attempt == 1:
            raise TemporaryError("not yet", delay=0.2)
        done.set()

    await bus.consume(consumer(kind), ActionEnvelope, handler)
    await publish_action(bus, kind, "p")
    await asyncio.wait_for(done.wait(), 10)
    assert attempts == [1, 2]
    await eventually(lambda: _stream_empty(bus, kind), what="the acked action to leave the work queue")


async def _stream_empty(bus: NatsBus, kind: str) -> bool:
    info = await bus.js.stream_info(ACT, subjects_filter=subjects.of_kind("act", kind))
    return not info.state.subjects


async def test_permanent_error_goes_to_the_dlq(bus: NatsBus, kind: str) -> None:
    async def handler(msg: Message[ActionEnvelope]) -> None:
        raise PermanentError("403 Forbidden: pods is forbidden")

    await bus.consume(consumer(kind), ActionEnvelope, handler)
    subject = await publish_action(bus, kind, "p")
    await eventually(lambda: _has_dead_letter(bus, subject), what="a dead letter")
    letter = await dead_letter(bus, subject)
    assert letter is not None
    assert (letter.subject, letter.error, letter.attempts) == (subject, "403 Forbidden: pods is forbidden", 1)
    assert decode(ActionEnvelope, letter.data) == action("p")
    await eventually(lambda: _stream_empty(bus, kind), what="the termed action to leave the work queue")


async def _has_dead_letter(bus: NatsBus, subject: str) -> bool:
    return await dead_letter(bus, subject) is not None


async def test_failure_on_the_last_delivery_goes_to_the_dlq(bus: NatsBus, kind: str) -> None:
    attempts: list[int] = []

    async def handler(msg: Message[ActionEnvelope]) -> None:
        attempts.append(msg.attempt)
        raise TemporaryError("apiserver unavailable", delay=0.05)

    await bus.consume(consumer(kind, max_deliver=3), ActionEnvelope, handler)
    subject = await publish_action(bus, kind, "p")
    await eventually(lambda: _has_dead_letter(bus, subject), what="a dead letter after the last delivery")
    letter = await dead_letter(bus, subject)
    assert letter is not None and letter.attempts == 3
    assert letter.error == "gave up after 3 attempts: apiserver unavailable"
    assert attempts == [1, 2, 3]
    await eventually(lambda: _stream_empty(bus, kind), what="the exhausted action to leave the work queue")


async def test_a_message_whose_deliveries_all_die_unacknowledged_is_dead_lettered(bus: NatsBus, kind: str) -> None:
    # Each delivery of "poison" hangs past ack_wait (as if the process died holding it); the
    # max-deliveries advisory must move it to the dead-letter stage and out of the work queue.
    release = asyncio.Event()
    attempts: list[int] = []

    async def handler(msg: Message[ActionEnvelope]) -> None:
        attempts.append(msg.attempt)
        await release.wait()

    spec = ConsumerSpec(stream=ACT, durable=f"test-{kind}", filter_subject=subjects.of_kind("act", kind),
                        ack_wait=1.0, max_deliver=2)
    await bus.consume(spec, ActionEnvelope, handler, concurrency=3)
    subject = await publish_action(bus, kind, "poison")
    try:
        await eventually(lambda: _has_dead_letter(bus, subject), timeout=20, what="the dead letter")
        letter = await dead_letter(bus, subject)
        assert letter is not None and "no outcome after 2 deliveries" in letter.error
        assert letter.stream == ACT and letter.attempts == 2
        assert decode(ActionEnvelope, letter.data).action.ref.name == "poison"
        await eventually(lambda: _stream_empty(bus, kind), what="the poison message to leave the work queue")
        assert attempts == [1, 2]
    finally:
        release.set()


async def test_malformed_message_goes_to_the_dlq_and_the_consumer_keeps_serving(bus: NatsBus, kind: str) -> None:
    handled: list[str] = []

    async def handler(msg: Message[ActionEnvelope]) -> None:
        handled.append(msg.subject)

    await bus.consume(consumer(kind), ActionEnvelope, handler)
    bad = subjects.act(kind, "ns", "bad")
    await bus.js.publish(bad, b'{"schema_version": 1, "nonsense', headers={"Nats-Msg-Id": f"{kind}-bad"})
    good = await publish_action(bus, kind, "good")
    await eventually(lambda: handled == [good], what="the good message to be handled")
    await eventually(lambda: _has_dead_letter(bus, bad), what="the malformed message's dead letter")
    letter = await dead_letter(bus, bad)
    assert letter is not None and "malformed JSON" in letter.error
    assert letter.data == '{"schema_version": 1, "nonsense'


async def test_last_per_subject_replays_then_goes_live(bus: NatsBus, kind: str) -> None:
    def obj(name: str, rv: str) -> dict[str, Any]:
        return {"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": name, "namespace": "ns", "uid": f"u-{name}", "resourceVersion": rv}}

    for name, rv in (("a", "1"), ("b.x", "1"), ("a", "2")):
        await bus.publish(subjects.state(kind, "ns", name), StateEnvelope.observed("MODIFIED", obj(name, rv)),
                          msg_id=f"{kind}-{name}-{rv}")
    seen: list[tuple[str, str]] = []

    async def on_state(msg: Message[StateEnvelope]) -> None:
        seen.append((msg.envelope.ref.name, msg.envelope.resource_version))

    sub = await bus.last_per_subject(subjects.of_kind("state", kind), StateEnvelope, on_state)
    await asyncio.wait_for(sub.replayed.wait(), 10)
    assert sorted(seen) == [("a", "2"), ("b.x", "1")], "replay is complete when `replayed` is set"
    await bus.publish(subjects.state(kind, "ns", "c"), StateEnvelope.observed("ADDED", obj("c", "1")),
                      msg_id=f"{kind}-c-1")
    await eventually(lambda: ("c", "1") in seen, what="the live update")
    assert len(seen) == 3

    # A stopped replay takes nothing more, and the server stops sending: JetStream pushes a
    # consumer's messages only while a subscriber is bound to it, and says whether one is.
    assert await _replays_bound(bus, kind) == 1
    sub.stop()

    async def unbound() -> bool:
        return await _replays_bound(bus, kind) == 0

    await eventually(unbound, what="the server to see the replay unbound")
    control: list[str] = []

    async def on_control(msg: Message[StateEnvelope]) -> None:
        control.append(msg.envelope.ref.name)

    live = await bus.last_per_subject(subjects.of_kind("state", kind), StateEnvelope, on_control)
    await bus.publish(subjects.state(kind, "ns", "d"), StateEnvelope.observed("ADDED", obj("d", "1")),
                      msg_id=f"{kind}-d-1")
    await eventually(lambda: "d" in control, what="a live replay to receive what the stopped one must not")
    live.stop()
    assert ("d", "1") not in seen


async def _replays_bound(bus: NatsBus, kind: str) -> int:
    """Consumers on the kind's state subjects that the server has a subscriber for."""
    consumers = await bus.js.consumers_info(STATE)
    return sum(c.config.filter_subject == subjects.of_kind("state", kind) and bool(c.push_bound) for c in consumers)


async def test_replay_of_nothing_is_done_at_once(bus: NatsBus, kind: str) -> None:
    async def on_state(msg: Message[StateEnvelope]) -> None:
        raise AssertionError("nothing was published")

    sub = await bus.last_per_subject(subjects.of_kind("state", kind), StateEnvelope, on_state)
    assert sub.replayed.is_set()


async def test_drain_finishes_the_message_in_hand(nats_url: str, kind: str) -> None:
    bus = await connect(ServiceSettings(nats_url=nats_url))
    started, release = asyncio.Event(), asyncio.Event()
    finished: list[str] = []

    async def handler(msg: Message[ActionEnvelope]) -> None:
        started.set()
        await release.wait()
        finished.append(msg.subject)

    sub = await bus.consume(consumer(kind), ActionEnvelope, handler)
    subject = await publish_action(bus, kind, "slow")
    await asyncio.wait_for(started.wait(), 10)
    draining = asyncio.create_task(bus.drain(grace=10))
    await eventually(sub.stopping.is_set, what="the consumer to stop taking messages")
    assert not draining.done(), "drain waits for the handler"
    release.set()
    await asyncio.wait_for(draining, 15)
    assert finished == [subject]
    checker = await connect(ServiceSettings(nats_url=nats_url))
    try:
        assert await _stream_empty(checker, kind), "the message was acked before the connection closed"
    finally:
        await checker.drain(grace=1)


async def test_first_connect_is_bounded() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once the socket closes
    settings = ServiceSettings(nats_url=f"nats://127.0.0.1:{port}", nats_connect_attempts=2)
    with pytest.raises(ConnectionError, match="after 2 attempts"):
        await connect(settings)


async def test_consumer_survives_a_nats_restart(bus: NatsBus, kind: str, nats_server: NatsServer) -> None:
    handled: list[str] = []

    async def handler(msg: Message[ActionEnvelope]) -> None:
        handled.append(msg.envelope.action.ref.name)

    await bus.consume(consumer(kind), ActionEnvelope, handler)
    await publish_action(bus, kind, "before")
    await eventually(lambda: handled == ["before"], what="the first action")
    kept = subjects.state(kind, "ns", "kept")
    await bus.publish(kept, StateEnvelope(type="TOMBSTONE", ref=ROOT, uid="u"), msg_id=f"{kind}-kept")

    await asyncio.to_thread(nats_server.restart)
    await eventually(lambda: bus.connected, timeout=30, what="the client to reconnect")

    async def publish_after() -> bool:
        try:
            await publish_action(bus, kind, "after")
        except TemporaryError:
            return False  # JetStream may still be recovering its streams
        return True

    await eventually(publish_after, timeout=30, what="JetStream to accept a publish after the restart")
    await eventually(lambda: handled == ["before", "after"], timeout=30, what="the action after the restart")
    stored = await bus.js.get_last_msg(STATE, kept)
    assert decode(StateEnvelope, stored.data or b"").gone, "file storage kept the state across the restart"
