"""The outcome rules every bus shares (base.dispatch), exercised through MemoryBus: no server, no sleeps."""

from __future__ import annotations

import io
import json
import logging
from datetime import UTC, datetime
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider

from raybus_common import logging as rlog
from raybus_common import tracing
from raybus_common.actions import Delete, ObjectRef
from raybus_common.bus import subjects
from raybus_common.bus.base import Message
from raybus_common.bus.envelopes import ActionEnvelope, DeadLetter, StateEnvelope, decode
from raybus_common.bus.memory import MemoryBus
from raybus_common.bus.streams import actuator_consumer
from raybus_common.errors import PermanentError, TemporaryError

NOW = datetime(2026, 1, 1, tzinfo=UTC)
ROOT = ObjectRef(api_version="ray.io/v1", kind="RayCluster", namespace="ns", name="rc", uid="u-rc")


def action(name: str) -> ActionEnvelope:
    ref = ObjectRef(api_version="v1", kind="Pod", namespace="ns", name=name, uid=f"u-{name}")
    return ActionEnvelope.build("test", ROOT, Delete(ref=ref), issued_at=NOW)


def state(name: str, rv: str, type_: Any = "MODIFIED") -> StateEnvelope:
    obj = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "ns", "uid": f"u-{name}",
                                                           "resourceVersion": rv}}
    return StateEnvelope.observed(type_, obj, observed_at=NOW)


async def publish_action(bus: MemoryBus, name: str) -> str:
    env = action(name)
    subject = subjects.act("pod", "ns", name)
    await bus.publish(subject, env, msg_id=env.action_id)
    return subject


def dead_letters(bus: MemoryBus) -> list[DeadLetter]:
    return [decode(DeadLetter, m.data) for m in bus.messages(subjects.all_of("dlq"))]


Script = list[BaseException | None]


def scripted(script: Script) -> tuple[Any, list[int]]:
    """A handler that raises the scripted errors in turn (None = succeed); records attempts."""
    attempts: list[int] = []

    async def handler(msg: Message[ActionEnvelope]) -> None:
        attempts.append(msg.attempt)
        step = script[min(len(attempts), len(script)) - 1]
        if step is not None:
            raise step

    return handler, attempts


@pytest.mark.parametrize(("script", "attempts", "naks", "outcome", "dlq_error"), [
    ([None], [1], [], "ok", None),
    ([TemporaryError("busy", delay=7.0), None], [1, 2], [7.0], "ok", None),
    ([TemporaryError("busy"), TemporaryError("busy"), None], [1, 2, 3], [0.5, 1.0], "ok", None),
    ([RuntimeError("bug"), None], [1, 2], [0.5], "ok", None),
    ([PermanentError("forbidden: no")], [1], [], "permanent", "forbidden: no"),
    ([TemporaryError("still busy")], [1, 2, 3], [0.5, 1.0], "exhausted", "gave up after 3 attempts: still busy"),
], ids=["ok", "temporary-with-delay", "temporary-backoff", "unexpected-is-temporary", "permanent-to-dlq",
        "last-delivery-to-dlq"])
async def test_outcomes(script: Script, attempts: list[int], naks: list[float], outcome: str,
                        dlq_error: str | None) -> None:
    bus = MemoryBus()
    handler, seen = scripted(script)
    await bus.consume(actuator_consumer(max_deliver=3), ActionEnvelope, handler)
    subject = await publish_action(bus, "p1")
    await bus.settle()
    assert seen == attempts
    assert [d for _, d in bus.naks] == naks
    assert bus.outcomes[-1] == (subject, outcome)
    assert bus.messages(subjects.all_of("act")) == [], "ack and term both remove from the work queue"
    letters = dead_letters(bus)
    if dlq_error is None:
        assert letters == []
    else:
        assert len(letters) == 1
        assert (letters[0].subject, letters[0].error, letters[0].attempts) == (subject, dlq_error, attempts[-1])
        assert decode(ActionEnvelope, letters[0].data) == action("p1")
        assert bus.messages(subjects.all_of("dlq"))[0].subject == subjects.dlq("pod", "ns", "p1")


async def test_malformed_message_is_dead_lettered_and_the_consumer_goes_on() -> None:
    bus = MemoryBus()
    handler, seen = scripted([None])
    await bus.consume(actuator_consumer(), ActionEnvelope, handler)
    bus.publish_raw(subjects.act("pod", "ns", "bad"), b"{definitely not json", msg_id="bad")
    await publish_action(bus, "good")
    await bus.settle()
    assert seen == [1], "the good message was handled"
    (letter,) = dead_letters(bus)
    assert letter.data == "{definitely not json" and "malformed JSON" in letter.error
    assert [o for _, o in bus.outcomes] == ["malformed", "ok"]


async def test_publish_dedupes_by_msg_id() -> None:
    bus = MemoryBus()
    env = action("p")
    assert await bus.publish(subjects.act("pod", "ns", "p"), env, msg_id=env.action_id) is True
    assert await bus.publish(subjects.act("pod", "ns", "p"), env, msg_id=env.action_id) is False
    assert len(bus.messages()) == 1


async def test_state_keeps_the_last_message_per_subject() -> None:
    bus = MemoryBus()
    for rv in ("1", "2", "3"):
        await bus.publish(subjects.state("pod", "ns", "a"), state("a", rv), msg_id=f"a-{rv}")
    (only,) = bus.messages(subjects.all_of("state"))
    assert decode(StateEnvelope, only.data).resource_version == "3"


async def test_last_per_subject_replays_then_goes_live() -> None:
    bus = MemoryBus()
    for name, rv in (("a", "1"), ("b", "1"), ("a", "2")):
        await bus.publish(subjects.state("pod", "ns", name), state(name, rv), msg_id=f"{name}-{rv}")
    await bus.publish(subjects.state("service", "ns", "s"), state("s", "1"), msg_id="svc")
    seen: list[tuple[str, str]] = []

    async def on_state(msg: Message[StateEnvelope]) -> None:
        seen.append((msg.envelope.ref.name, msg.envelope.resource_version))

    sub = await bus.last_per_subject(subjects.of_kind("state", "pod"), StateEnvelope, on_state)
    assert sub.replayed.is_set()
    assert sorted(seen) == [("a", "2"), ("b", "1")], "the last value of each pod, no services"
    await bus.publish(subjects.state("pod", "ns", "c"), state("c", "1", "ADDED"), msg_id="c-1")
    await bus.settle()
    assert seen[-1] == ("c", "1")


async def test_empty_replay_is_done_at_once() -> None:
    bus = MemoryBus()

    async def on_state(msg: Message[StateEnvelope]) -> None:
        raise AssertionError("nothing to see")

    sub = await bus.last_per_subject(subjects.of_kind("state", "raycluster"), StateEnvelope, on_state)
    assert sub.replayed.is_set()


async def test_overlapping_work_queue_consumers_are_refused() -> None:
    bus = MemoryBus()
    handler, _ = scripted([None])
    await bus.consume(actuator_consumer(), ActionEnvelope, handler)
    with pytest.raises(PermanentError, match="not unique"):
        await bus.consume(actuator_consumer(), ActionEnvelope, handler)


async def test_trace_and_log_context_flow_into_the_handler() -> None:
    bus = MemoryBus()
    tracer = TracerProvider().get_tracer("test")
    inside: dict[str, Any] = {}

    async def handler(msg: Message[ActionEnvelope]) -> None:
        inside["trace_id"] = tracing.trace_id_of()
        inside["log_trace_id"] = rlog.current_trace_id.get()
        inside["object"] = rlog.current_object.get()
        env = msg.envelope
        await bus.publish(subjects.res("pod", "ns", "p"), env, msg_id="res-" + env.action_id)

    await bus.consume(actuator_consumer(), ActionEnvelope, handler)
    with tracer.start_as_current_span("reconcile") as span:
        sent = format(span.get_span_context().trace_id, "032x")
        await publish_action(bus, "p")
    await bus.settle()
    assert inside == {"trace_id": sent, "log_trace_id": sent, "object": "pod/ns/p"}
    (res,) = bus.messages(subjects.all_of("res"))
    assert res.headers["traceparent"].split("-")[1] == sent, "what the handler publishes continues the trace"


async def test_drain_stops_delivery() -> None:
    bus = MemoryBus()
    handler, seen = scripted([None])
    await bus.consume(actuator_consumer(), ActionEnvelope, handler)
    await bus.drain()
    assert not bus.connected
    with pytest.raises(RuntimeError):
        await publish_action(bus, "p")
    assert seen == []


async def test_handler_logs_are_json_with_object_and_trace() -> None:
    bus = MemoryBus()
    stream = io.StringIO()
    handler_out = logging.StreamHandler(stream)
    handler_out.setFormatter(rlog.JsonFormatter(service="test"))
    logger = logging.getLogger("raybus.test.handler")
    logger.addHandler(handler_out)
    logger.setLevel(logging.INFO)

    async def handler(msg: Message[ActionEnvelope]) -> None:
        logger.info("deleting %s", msg.envelope.action.ref.name, extra={"attempt": msg.attempt})

    try:
        await bus.consume(actuator_consumer(), ActionEnvelope, handler)
        with TracerProvider().get_tracer("test").start_as_current_span("reconcile") as span:
            sent = format(span.get_span_context().trace_id, "032x")
            await publish_action(bus, "p.1")
        await bus.settle()
    finally:
        logger.removeHandler(handler_out)
    (line,) = stream.getvalue().splitlines()
    record = json.loads(line)
    assert {k: record[k] for k in ("level", "logger", "msg", "object", "trace_id", "service", "attempt")} == {
        "level": "info", "logger": "raybus.test.handler", "msg": "deleting p.1", "object": "pod/ns/p.1",
        "trace_id": sent, "service": "test", "attempt": 1}
    assert record["time"].endswith("Z")
