"""Follow bus subjects across streams, live or from a point in time (for `raybus tail`).

One ordered consumer per stream whose subjects meet the pattern (filtered to the
intersection), delivering from `since` (or only new messages). With `follow=False` it returns
once every consumer has caught up. A work-queue stream (`RAYBUS_ACT`) takes no second
consumer on the subjects the actuator's consumer holds, and keeps an action only until it is
carried out, so it is never replayed: live, its subjects are read as they are published (a
plain subscription, which takes nothing off the queue). Messages come out as `Received`; formatting is the
caller's business. Talks to nats, hence it lives in the bus package.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

import nats
from nats.aio.msg import Msg
from nats.js.api import ConsumerConfig, DeliverPolicy

from .streams import StreamSpec, default_streams


@dataclass(frozen=True)
class Received:
    subject: str
    data: bytes
    headers: dict[str, str]
    time: datetime | None
    stream: str
    seq: int | None


def intersect(a: str, b: str) -> str | None:
    """The subject pattern matching exactly what both `a` and `b` match, or None."""
    ta, tb = a.split("."), b.split(".")
    out: list[str] = []
    for i in range(max(len(ta), len(tb))):
        x = ta[i] if i < len(ta) else None
        y = tb[i] if i < len(tb) else None
        if x == ">":
            return ".".join(out + tb[i:]) if y is not None else None
        if y == ">":
            return ".".join(out + ta[i:]) if x is not None else None
        if x is None or y is None:
            return None
        if x == "*":
            out.append(y)
        elif y == "*" or x == y:
            out.append(x)
        else:
            return None
    return ".".join(out)


def plan(pattern: str, streams: tuple[StreamSpec, ...] | None = None) -> list[tuple[str, str, bool]]:
    """(stream, filter, work queue?) to consume for `pattern`."""
    pairs = []
    for spec in streams or default_streams():
        for subject in spec.subjects:
            common = intersect(pattern, subject)
            if common is not None:
                pairs.append((spec.name, common, spec.retention == "workqueue"))
    return pairs


async def follow(url: str, pattern: str, handle: Callable[[Received], Awaitable[None] | None], *,
                 since: datetime | None = None, follow: bool = True, stop: asyncio.Event | None = None,
                 from_start: bool = False) -> int:
    """Hand every message under `pattern` to `handle`; return how many were handled."""
    nc = await nats.connect(url, max_reconnect_attempts=3, connect_timeout=5)
    js = nc.jetstream()
    count = 0
    caught_up: dict[str, asyncio.Event] = {}
    stop = stop or asyncio.Event()

    async def live(stream: str, filt: str) -> None:
        """A work queue's subjects as they are published (nothing taken off the queue)."""
        nonlocal count
        if not follow:
            return  # nothing of a work queue is replayed: a carried-out action is gone
        sub = await nc.subscribe(filt)
        try:
            while not stop.is_set():
                try:
                    msg: Msg = await sub.next_msg(timeout=1.0)
                except nats.errors.TimeoutError:
                    continue
                await _call(handle, Received(msg.subject, msg.data, dict(msg.headers or {}), None, stream, None))
                count += 1
        finally:
            await sub.unsubscribe()

    async def consume(stream: str, filt: str, queue: bool) -> None:
        nonlocal count
        if queue:
            await live(stream, filt)
            return
        done = caught_up.setdefault(f"{stream}:{filt}", asyncio.Event())
        info = await js.stream_info(stream)
        if info.state.messages == 0 and not follow:
            done.set()
            return
        if since is not None:
            policy, cfg = DeliverPolicy.BY_START_TIME, ConsumerConfig(opt_start_time=since)
        else:
            policy, cfg = (DeliverPolicy.ALL if from_start or not follow else DeliverPolicy.NEW), ConsumerConfig()
        sub = await js.subscribe(filt, stream=stream, ordered_consumer=True, deliver_policy=policy, config=cfg)
        try:
            while not stop.is_set():
                try:
                    msg: Msg = await sub.next_msg(timeout=1.0)
                except nats.errors.TimeoutError:
                    done.set()  # nothing pending now
                    if not follow:
                        return
                    continue
                meta = msg.metadata
                await _call(handle, Received(msg.subject, msg.data, dict(msg.headers or {}), meta.timestamp,
                                             stream, meta.sequence.stream))
                count += 1
                if meta.num_pending == 0:
                    done.set()
                    if not follow:
                        return
        finally:
            await sub.unsubscribe()

    try:
        await asyncio.gather(*(consume(s, f, q) for s, f, q in plan(pattern)))
    finally:
        await nc.close()
    return count


async def _call(handle: Callable[[Received], Awaitable[None] | None], r: Received) -> None:
    result = handle(r)
    if result is not None:
        await result
