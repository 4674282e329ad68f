"""Follow bus subjects across streams, live or from a point in time (for `raybus tail`).

One ordered consumer per stream whose subjects meet the pattern (filtered to the
intersection), delivering from `since` (or only new messages). With `follow=False` it returns
once every consumer has caught up. Messages come out as `Received`; formatting is the
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


def plan(pattern: str, streams: tuple[StreamSpec, ...] | None = None) -> list[tuple[str, str]]:
    """(stream, filter) pairs to consume for `pattern`."""
    pairs = []
    for spec in streams or default_streams():
        for subject in spec.subjects:
            common = intersect(pattern, subject)
            if common is not None:
                pairs.append((spec.name, common))
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

    async def consume(stream: str, filt: str) -> None:
        nonlocal count
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
        await asyncio.gather(*(consume(s, f) for s, f in plan(pattern)))
    finally:
        await nc.close()
    return count


async def _call(handle: Callable[[Received], Awaitable[None] | None], r: Received) -> None:
    result = handle(r)
    if result is not None:
        await result
