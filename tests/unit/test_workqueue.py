"""The work queue's rules, on a fake clock: dedupe, dirty re-queue, timers, backoff, bucket."""

from __future__ import annotations

import pytest

from raybus_common.controller.workqueue import ItemBackoff, WorkQueue
from raybus_common.ratelimit import TokenBucket


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def drain(q: WorkQueue[str]) -> list[str]:
    out = []
    while (k := q.get_nowait()) is not None:
        out.append(k)
    return out


def test_a_key_is_queued_once() -> None:
    q: WorkQueue[str] = WorkQueue(clock=FakeClock())
    for k in ["a", "b", "a", "a", "c", "b"]:
        q.add(k)
    assert drain(q) == ["a", "b", "c"]


def test_adding_a_key_in_processing_requeues_it_after_done() -> None:
    q: WorkQueue[str] = WorkQueue(clock=FakeClock())
    q.add("a")
    assert q.get_nowait() == "a"
    q.add("a")
    assert q.get_nowait() is None, "never handed out twice at once"
    q.done("a")
    assert drain(q) == ["a"]


def test_done_without_new_add_does_not_requeue() -> None:
    q: WorkQueue[str] = WorkQueue(clock=FakeClock())
    q.add("a")
    q.get_nowait()
    q.done("a")
    assert drain(q) == []


def test_add_after_fires_when_due_and_the_earliest_timer_wins() -> None:
    clock = FakeClock()
    q: WorkQueue[str] = WorkQueue(clock=clock)
    q.add_after("a", 10)
    q.add_after("a", 5)
    q.add_after("a", 20)
    assert drain(q) == []
    clock.t += 4.9
    assert drain(q) == []
    clock.t += 0.2
    assert drain(q) == ["a"]
    clock.t += 30
    assert drain(q) == [], "superseded timers do not fire again"


@pytest.mark.parametrize(("failures", "expected"), [(0, 0.005), (1, 0.01), (3, 0.04), (30, 1000.0)],
                         ids=["first", "second", "fourth", "capped"])
def test_item_backoff_doubles_and_caps(failures: int, expected: float) -> None:
    b: ItemBackoff[str] = ItemBackoff()
    for _ in range(failures):
        b.when("k")
    assert b.when("k") == pytest.approx(expected)


def test_forget_resets_backoff() -> None:
    b: ItemBackoff[str] = ItemBackoff()
    for _ in range(5):
        b.when("k")
    b.forget("k")
    assert b.when("k") == pytest.approx(0.005)
    assert b.retries("other") == 0


def test_token_bucket_allows_a_burst_then_paces() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=10, burst=3, clock=clock)
    assert [bucket.delay() for _ in range(3)] == [0, 0, 0]
    assert bucket.delay() == pytest.approx(0.1)
    assert bucket.delay() == pytest.approx(0.2)
    clock.t += 10
    assert bucket.delay() == 0


def test_rate_limited_uses_the_larger_delay() -> None:
    clock = FakeClock()
    q: WorkQueue[str] = WorkQueue(clock=clock, backoff=ItemBackoff(base=1.0), bucket=TokenBucket(clock=clock))
    q.add_rate_limited("a")
    clock.t += 0.5
    assert drain(q) == []
    clock.t += 0.6
    assert drain(q) == ["a"]


async def test_get_waits_for_a_timer_and_shutdown_wakes_waiters() -> None:
    import asyncio

    from raybus_common.controller.workqueue import ShutDown

    q: WorkQueue[str] = WorkQueue()
    q.add_after("later", 0.05)
    assert await asyncio.wait_for(q.get(), 5) == "later"
    waiter = asyncio.create_task(q.get())
    await asyncio.sleep(0)
    q.shutdown()
    with pytest.raises(ShutDown):
        await asyncio.wait_for(waiter, 5)


class SteppingClock:
    """A clock that moves on by `step` at every look: a timer can come due between two looks
    that one pass of `get` takes, as it does on a real clock (uvloop's timers fire up to a
    millisecond before their deadline, so the first look is often just short of it)."""

    def __init__(self, start: float, step: float) -> None:
        self.t, self.step = start, step

    def __call__(self) -> float:
        now = self.t
        self.t += self.step
        return now


async def test_a_timer_that_comes_due_while_get_looks_is_taken_not_slept_through() -> None:
    import asyncio

    clock = SteppingClock(1000.0, 0.4)
    q: WorkQueue[str] = WorkQueue(clock=clock)
    q.add_after("due-between-looks", 0.5)  # due at 1000.5; get looks at 1000.4, then 1000.8
    assert await asyncio.wait_for(q.get(), 2) == "due-between-looks"
