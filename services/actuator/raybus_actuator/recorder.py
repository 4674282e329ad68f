"""The actuator's Event recorder: client-go's `events.k8s.io` recorder, for a replicated writer.

client-go's `EventBroadcaster` keeps each series in memory: the first Event of a series is
created, the second turns it into a series (`series.count: 2`, one patch), and later ones only
count up in memory until the series is written again. `EventRecorder` does the same, on its
own client (its own rate limit, as client-go's recorder has), so Events never spend the
budget of the writes they report:

| occurrence (this replica)        | requests                                                    |
|----------------------------------|-------------------------------------------------------------|
| first of its series              | POST (named by `events.event_name`)                          |
| first here, but another replica (or an earlier run) made the Event | POST (409), GET; then PATCH the sum |
| second                           | PATCH `series: {count: 2, lastObservedTime}`                 |
| third and later                  | none; `flush` (every `flush_seconds`, and at shutdown) patches the count once |

Writes of one series are committed as a group: occurrences that arrive while the series' first
write (its POST, or the PATCH making it a series) is in flight wait for it and are carried by
the next write together. The worker pods of one decision are created at once, so their
`CreatedWorkerPod` Events come out as a POST and one PATCH of the count, not a POST, a PATCH
and a PATCH at the next flush; a write not yet sent whose series has more than one occurrence
is POSTed as a series at once. Every occurrence that needs a write returns once a write carrying
it is done, so an action is acknowledged only after its Event is on the server.

A patch carries no resourceVersion: two replicas counting into one series may overwrite each
other's count (the series stays, its count may come out low), as two client-go recorders would
make two series. A series whose 6-minute window ended and whose count is written is forgotten.
A 404 on a patch (the Event expired) drops the series; its next occurrence starts a new one.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime

from prometheus_client import Counter

from raybus_common.actions import RecordEvent
from raybus_common.kube.client import MERGE, METADATA, ApiError, KubeClient

from .events import EVENTS, SERIES_WINDOW, event_body, event_name, micro_time

log = logging.getLogger("raybus.actuator.events")
OCCURRENCES = Counter("raybus_actuator_event_occurrences", "Event occurrences recorded (each counts in a series).")
REQUESTS = Counter("raybus_actuator_event_requests", "API requests the Event recorder sent, by verb.", ["verb"])
_POSTS, _PATCHES, _GETS = (REQUESTS.labels(verb) for verb in ("POST", "PATCH", "GET"))


@dataclass
class Series:
    path: str  # the Event's API path
    count: int  # occurrences known (counted here, or found on the server)
    written: int  # the count the API server holds
    last: datetime  # the latest occurrence
    window_end: float  # epoch seconds: when the series' window closes
    body: dict[str, object] | None = None  # the Event to POST, until it is on the server

    @property
    def dirty(self) -> bool:
        return self.count != self.written

    def patch(self) -> dict[str, object]:
        return {"series": {"count": self.count, "lastObservedTime": micro_time(self.last)}}


@dataclass
class EventRecorder:
    kube: KubeClient
    instance: str
    flush_seconds: float = 10.0
    series: dict[str, Series] = field(default_factory=dict)
    _locks: dict[str, asyncio.Lock] = field(default_factory=dict)

    def _lock(self, name: str) -> asyncio.Lock:
        lock = self._locks.get(name)
        if lock is None:
            lock = self._locks[name] = asyncio.Lock()
        return lock

    async def record(self, action: RecordEvent, *, controller: str, now: datetime) -> str:
        """Record one occurrence (see the module table); returns what was done."""
        name = event_name(action, controller=controller, now=now)
        OCCURRENCES.inc()
        known = self.series.get(name)
        if known is None:
            namespace, body = event_body(action, controller=controller, instance=self.instance, now=now, name=name)
            known = self.series[name] = Series(f"{EVENTS.format(namespace=namespace)}/{name}", 0, 0, now,
                                               _window_end(now), body)
        known.count += 1
        known.last = max(known.last, now)
        mine = known.count
        if known.written >= 2:  # already a series on the server: counted, written at the next flush
            return f"event {name} counted (seen {mine} times; written at the next flush)"
        async with self._lock(name):
            if known.written >= min(mine, 2):  # a write in flight while this one waited carried it
                return f"event {name} recorded (seen {known.count} times)"
            try:
                if known.body is not None:
                    await self._create(known)
                else:
                    await self._write(name, known)
            except ApiError:  # not recorded: the caller says so (a redelivered action counts it again)
                known.count -= 1
                if known.body is not None and known.count <= 0:
                    self.series.pop(name, None)
                raise
            return f"event {name} recorded" if known.written == 1 else f"event {name} recorded (seen {known.written} times)"

    async def _create(self, known: Series) -> None:
        """POST the series' Event with the occurrences known so far (as a series if more than
        one); if another replica or an earlier run made it, add ours to its count."""
        assert known.body is not None
        count = known.count
        body = known.body if count == 1 else {**known.body, **known.patch()}
        try:
            _POSTS.inc()
            await self.kube.raw("POST", known.path.rpartition("/")[0], body=body, content_type="application/json",
                                accept=METADATA)  # nothing of the answer is read
        except ApiError as e:
            if e.status != 409 or e.reason != "AlreadyExists":
                raise
            _GETS.inc()
            current = await self.kube.request("GET", known.path)
            there = int((current.get("series") or {}).get("count") or 1)
            known.body = None
            known.written = there
            known.count += there
            await self._write(known.path.rpartition("/")[2], known)
            return
        known.body = None
        known.written = count

    async def _write(self, name: str, known: Series) -> None:
        count = known.count
        try:
            _PATCHES.inc()
            await self.kube.raw("PATCH", known.path, body=known.patch(), content_type=MERGE, accept=METADATA)
        except ApiError as e:
            if e.status == 404:  # expired or deleted: the next occurrence starts a new Event
                self.series.pop(name, None)
                return
            raise
        known.written = count

    async def flush(self, now: datetime | None = None) -> int:
        """Write every series whose count moved; forget the ones whose window is over. Returns
        the number of patches sent. A failed patch is logged and tried at the next flush, until a window
        after the series' own has passed."""
        moment = (now or datetime.now(UTC)).timestamp()
        sent = 0
        for name in list(self.series):
            async with self._lock(name):
                known = self.series.get(name)
                if known is None or known.body is not None:  # not on the server yet: its callers write it
                    continue
                if known.dirty:
                    try:
                        await self._write(name, known)
                        sent += 1
                    except ApiError as e:
                        log.warning("could not write the count of event %s: %s", name, e)
                        continue
                if moment >= known.window_end and (not known.dirty or moment >= known.window_end + SERIES_WINDOW):
                    if known.dirty:  # a window on, its count still not written: give up on it
                        log.warning("gave up writing the count of event %s (%d, %d written)", name, known.count,
                                    known.written)
                    self.series.pop(name, None)
                    self._locks.pop(name, None)
        return sent

    async def run(self, stop: asyncio.Event) -> None:
        """Flush every `flush_seconds` until `stop` is set (the last flush is the caller's, after
        the in-flight actions have finished)."""
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), timeout=self.flush_seconds)
            except TimeoutError:
                pass
            if not stop.is_set():
                await self.flush()


def _window_end(now: datetime) -> float:
    t = (now if now.tzinfo else now.replace(tzinfo=UTC)).timestamp()
    return (t // SERIES_WINDOW + 1) * SERIES_WINDOW
