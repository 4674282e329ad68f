"""The actuator's Event recorder: client-go's `events.k8s.io` recorder, for a replicated writer.

client-go's `EventBroadcaster` keeps each series in memory: the first Event of a series is
created, the second turns it into a series (`series.count: 2`, one patch), and later ones only
count up in memory until the series is written again. `EventRecorder` does the same, on its
own client (its own rate limit, as client-go's recorder has), so Events never spend the
budget of the writes they report, with one request fewer: the second occurrence is counted in
memory too, and the flush writes the count. A group's worker pods made in one pass (3 at once
is one Event and 3 occurrences) cost a POST and one PATCH, not a POST and two PATCHes; the
count on the server lags by `flush_seconds` at most.

| occurrence (this replica)        | requests                                                    |
|----------------------------------|-------------------------------------------------------------|
| first of its series              | POST (named by `events.event_name`)                          |
| first here, but another replica (or an earlier run) made the Event | POST (409), GET; then as below |
| second and later                 | none; `flush` (every `flush_seconds`, and at shutdown) patches `series: {count, lastObservedTime}` once |

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
        async with self._lock(name):
            known = self.series.get(name)
            if known is None:
                namespace, body = event_body(action, controller=controller, instance=self.instance, now=now,
                                             name=name)
                collection = EVENTS.format(namespace=namespace)
                path = f"{collection}/{name}"
                try:
                    _POSTS.inc()
                    await self.kube.raw("POST", collection, body=body, content_type="application/json",
                                        accept=METADATA)  # nothing of the answer is read
                except ApiError as e:
                    if e.status != 409 or e.reason != "AlreadyExists":
                        raise
                    _GETS.inc()
                    current = await self.kube.request("GET", path)
                    count = int((current.get("series") or {}).get("count") or 1)
                    known = self.series[name] = Series(path, count, count, now, _window_end(now))
                else:
                    self.series[name] = Series(path, 1, 1, now, _window_end(now))
                    return f"event {name} recorded"
            known.count += 1
            known.last = max(known.last, now)
            return f"event {name} counted (seen {known.count} times; written at the next flush)"

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
        the number of patches sent. A failed patch is logged and tried at the next flush."""
        moment = (now or datetime.now(UTC)).timestamp()
        sent = 0
        for name in list(self.series):
            async with self._lock(name):
                known = self.series.get(name)
                if known is None:
                    continue
                if known.dirty:
                    try:
                        await self._write(name, known)
                        sent += 1
                    except ApiError as e:
                        log.warning("could not write the count of event %s: %s", name, e)
                        continue
                if not known.dirty and moment >= known.window_end:
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
