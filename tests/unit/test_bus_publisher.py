"""The publish window and batch publishing (`bus/publisher.py`), over a transport whose acks the
test settles by hand, and over the in-memory bus; and the watcher's sink on top of a window
whose acks are still out."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

import pytest

from raybus_common.actions import ObjectRef
from raybus_common.bus import subjects
from raybus_common.bus.envelopes import StateEnvelope, decode
from raybus_common.bus.memory import MemoryBus
from raybus_common.bus.publisher import Outgoing, Publisher, publish_all
from raybus_common.errors import TemporaryError
from raybus_common.kube.resources import Resource
from raybus_watcher.handlers import BusSink

REF = ObjectRef(api_version="v1", kind="Pod", namespace="ns", name="p", uid="u")
POD = Resource("pod", "Pod", "", "v1", "pods")


def env(n: int) -> StateEnvelope:
    return StateEnvelope(type="TOMBSTONE", ref=REF, uid=f"u{n}")


class Wire:
    """A transport that records what was written, in order, and leaves each ack to the test."""

    def __init__(self) -> None:
        self.written: list[Outgoing] = []
        self.acks: list[asyncio.Future[bool]] = []
        self.refuse: str | None = None  # the next write raises TemporaryError with this

    async def start(self, item: Outgoing) -> asyncio.Future[bool]:
        if self.refuse is not None:
            raise TemporaryError(self.refuse)
        self.written.append(item)
        ack: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self.acks.append(ack)
        return ack

    def ack(self, i: int, new: bool = True) -> None:
        self.acks[i].set_result(new)

    def fail(self, i: int, why: str = "no ack within 5s") -> None:
        self.acks[i].set_exception(TemporaryError(why))


async def sent(count: int, *, window: int = 10) -> tuple[Wire, Publisher]:
    """A publisher that has sent `count` messages (msg ids "0", "1", ...), none acknowledged."""
    wire = Wire()
    pub = Publisher(wire.start, window=window)
    for i in range(count):
        await pub.send(f"s.{i}", env(i), msg_id=str(i))
    return wire, pub


async def finishes(aw: Awaitable[Any]) -> bool:
    """Whether `aw` completes once everything runnable has run (it must not need a timer)."""
    task = asyncio.ensure_future(aw)
    for _ in range(10):
        await asyncio.sleep(0)
    if task.done():
        task.result()
        return True
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    return False


async def test_send_returns_before_the_ack_until_the_window_is_full() -> None:
    wire, pub = await sent(3, window=3)
    assert [w.msg_id for w in wire.written] == ["0", "1", "2"] and pub.outstanding == 3
    fourth = asyncio.ensure_future(pub.send("s.3", env(3), msg_id="3"))
    assert not await finishes(asyncio.shield(fourth)), "a full window waits"
    wire.ack(1)  # a younger ack does not make room: the oldest is waited for
    assert not await finishes(asyncio.shield(fourth))
    wire.ack(0)
    await asyncio.wait_for(fourth, 1)
    assert [w.msg_id for w in wire.written] == ["0", "1", "2", "3"]
    assert pub.outstanding == 2


async def test_flush_waits_for_every_ack() -> None:
    wire, pub = await sent(3)
    flushing = asyncio.ensure_future(pub.flush())
    wire.ack(0)
    wire.ack(2)
    assert not await finishes(asyncio.shield(flushing))
    wire.ack(1, new=False)  # a duplicate is a success
    await asyncio.wait_for(flushing, 1)
    assert pub.outstanding == 0


async def test_a_failed_ack_sets_failed_and_the_next_send_raises_once() -> None:
    wire, pub = await sent(3)
    wire.fail(1, "publish to s failed: no stream holds the subject")
    await asyncio.sleep(0)
    assert pub.failed.is_set(), "an idle sender learns of the failure"
    with pytest.raises(TemporaryError, match="no stream holds the subject"):
        await pub.send("s", env(3), msg_id="3")
    assert len(wire.written) == 3, "the message that met the failure was not written"
    assert not pub.failed.is_set()
    # The failure was reported; acks still out from before it are no longer watched.
    wire.fail(2)
    await asyncio.sleep(0)
    assert not pub.failed.is_set()
    await pub.send("s", env(4), msg_id="4")
    wire.ack(3)
    await asyncio.wait_for(pub.flush(), 1)


async def test_flush_raises_a_failure_while_waiting() -> None:
    wire, pub = await sent(2)
    flushing = asyncio.ensure_future(pub.flush())
    wire.fail(0)
    with pytest.raises(TemporaryError, match="no ack within"):
        await asyncio.wait_for(flushing, 1)
    assert pub.outstanding == 0 and not pub.failed.is_set()


async def test_a_write_that_fails_raises_at_once_and_starts_afresh() -> None:
    wire, pub = await sent(1)
    wire.refuse = "publish to s failed: connection closed"
    with pytest.raises(TemporaryError, match="connection closed"):
        await pub.send("s", env(1), msg_id="1")
    wire.fail(0)  # from before the failure the caller was told of
    await asyncio.sleep(0)
    assert not pub.failed.is_set()
    wire.refuse = None
    await pub.send("s", env(2), msg_id="2")
    assert [w.msg_id for w in wire.written] == ["0", "2"]


def test_a_window_holds_at_least_one() -> None:
    with pytest.raises(ValueError, match="window must be >= 1"):
        Publisher(Wire().start, window=0)


async def test_publish_all_writes_everything_before_waiting_and_reports_duplicates() -> None:
    wire = Wire()
    items = [Outgoing(f"s.{i}", env(i), str(i)) for i in range(3)]
    batch = asyncio.ensure_future(publish_all(wire.start, items))
    await asyncio.sleep(0)
    assert [w.msg_id for w in wire.written] == ["0", "1", "2"], "every item is written before any ack"
    wire.ack(2)
    wire.ack(0)
    wire.ack(1, new=False)
    assert await asyncio.wait_for(batch, 1) == [True, False, True]


async def test_publish_all_raises_once_every_ack_has_settled() -> None:
    wire = Wire()
    batch = asyncio.ensure_future(publish_all(wire.start, [Outgoing("s", env(i), str(i)) for i in range(3)]))
    await asyncio.sleep(0)
    wire.fail(0)
    assert not await finishes(asyncio.shield(batch)), "still waiting for the other acks"
    wire.ack(1)
    wire.ack(2)
    with pytest.raises(TemporaryError, match="1 of 3 publishes failed: no ack within"):
        await asyncio.wait_for(batch, 1)


async def test_publish_all_stops_writing_at_a_write_that_fails() -> None:
    wire = Wire()

    async def start(item: Outgoing) -> asyncio.Future[bool]:
        wire.refuse = "connection closed" if item.msg_id == "1" else None
        return await wire.start(item)

    batch = asyncio.ensure_future(publish_all(start, [Outgoing("s", env(i), str(i)) for i in range(3)]))
    await asyncio.sleep(0)
    wire.ack(0)
    with pytest.raises(TemporaryError, match="2 of 3 messages not written: connection closed"):
        await asyncio.wait_for(batch, 1)
    assert [w.msg_id for w in wire.written] == ["0"]


async def test_memory_bus_window_keeps_order_and_the_last_per_subject() -> None:
    bus = MemoryBus()
    pub = bus.publisher(4)
    sent: dict[str, str] = {}
    for version in range(5):
        for name in ("a", "b.c", "d"):
            subject = subjects.state("pod", "ns", name)
            await pub.send(subject, env(version), msg_id=f"{name}:{version}")
            sent[subject] = f"u{version}"
    await pub.flush()
    last = {m.subject: decode(StateEnvelope, m.data).uid for m in bus.messages("raybus.state.pod.>")}
    assert last == sent


async def test_memory_bus_publish_many_reports_duplicates_in_order() -> None:
    bus = MemoryBus()
    s = subjects.state("pod", "ns", "a")
    assert await bus.publish_many([Outgoing(s, env(0), "x"), Outgoing(s, env(1), "y"), Outgoing(s, env(2), "x")]) \
        == [True, True, False]
    assert [decode(StateEnvelope, m.data).uid for m in bus.messages(s)] == ["u1"]


class WindowedBus(MemoryBus):
    """A memory bus whose windows write to a hand-settled `Wire`; `publish` stores at once."""

    def __init__(self) -> None:
        super().__init__()
        self.wire = Wire()

    def publisher(self, window: int) -> Publisher:
        return Publisher(self.wire.start, window)


def pod(name: str, rv: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "ns", "uid": f"u-{name}", "resourceVersion": rv}}


async def test_a_deletion_waits_for_the_observations_before_it() -> None:
    bus = WindowedBus()
    sink = BusSink(bus)
    await sink.observed(POD, "MODIFIED", pod("a", "5"))
    assert bus.wire.written[0].msg_id == "u-a:5" and not bus.messages("raybus.state.>")
    deleting = asyncio.ensure_future(sink.vanished(POD, "ns", "b", "u-b", None))
    assert not await finishes(asyncio.shield(deleting))
    assert not bus.messages("raybus.state.>"), "the tombstone waits for the observation's ack"
    bus.wire.ack(0)
    await asyncio.wait_for(deleting, 1)
    [stored] = bus.messages("raybus.state.>")
    assert decode(StateEnvelope, stored.data).type == "TOMBSTONE"


async def test_a_deletion_after_a_failed_observation_raises_and_publishes_nothing() -> None:
    bus = WindowedBus()
    sink = BusSink(bus)
    await sink.observed(POD, "ADDED", pod("a", "5"))
    bus.wire.fail(0)
    await asyncio.sleep(0)
    assert sink.failed.is_set()
    with pytest.raises(TemporaryError):
        await sink.vanished(POD, "ns", "a", "u-a", pod("a", "6"))
    assert not bus.messages("raybus.state.>")
