"""List+watch one resource (in one namespace or cluster-wide) and report every observation.

The loop: list (paginated) → report each object → report a tombstone for every object the
bus still shows but the list no longer has → watch from the list's resourceVersion with
bookmarks and a server-side timeout (plus a client read timeout, so a dead connection cannot
hang it, and a bound on the wait for a connection) → when the server ends the watch, watch
again from the last resourceVersion → on `410 Gone` list again. Errors back off (0.5 s
doubling to at most `RETRY_CAP`) and try again, forever: the watcher must outlive any
API-server outage, and an RBAC fix must take effect within half a minute.

A cluster-wide watch may keep only some namespaces (`keep`): objects of other namespaces are
neither reported nor remembered, so they are never tombstoned either.

Health, for readiness: a watch is *established* once a list completed and a watch request
after it got its response headers (the stream is open); `problem` says what keeps it from
being established, or the last error since it was last open (None: healthy).

What to do with an observation is the sink's business (`handlers.py` publishes to the bus);
this module only talks to Kubernetes through `raybus_common.kube`. A sink may take an
observation before it is safely stored (the bus's publish window): it raises `TemporaryError`
later, from a report or `flush`, and sets `failed` meanwhile. Either way the watch lists again
(which reports every object again and tombstones whatever it remembered that is gone), so an
observation that did not make it is sent again, never lost. A relist flushes the sink before it
counts as done; a deletion is only forgotten once the sink took it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from raybus_common.backoff import backoff
from raybus_common.errors import TemporaryError
from raybus_common.kube.client import ApiError, KubeClient
from raybus_common.kube.resources import Resource

from .plan import NameKey, Target

log = logging.getLogger("raybus.watcher")

Obj = dict[str, Any]
RETRY_CAP = 30.0  # seconds: the longest wait between two attempts of one watch


class Sink(Protocol):
    async def observed(self, res: Resource, event: str, obj: Obj) -> None:
        """Take an observation; may return before it is stored (then a failure surfaces later)."""
        ...

    async def vanished(self, res: Resource, namespace: str, name: str, uid: str, last: Obj | None) -> None:
        """Take a deletion; returns once it, and every observation before it, is stored."""
        ...

    async def flush(self) -> None:
        """Return once every observation taken is stored; TemporaryError if one may be lost."""
        ...

    @property
    def failed(self) -> asyncio.Event:
        """Set when an observation taken may be lost; the next report or flush raises."""
        ...


def strip(res: Resource, obj: Obj) -> Obj:
    """What controllers need: no managedFields; apiVersion/kind filled in (lists omit them)."""
    meta = dict(obj.get("metadata") or {})
    meta.pop("managedFields", None)
    return {**obj, "apiVersion": obj.get("apiVersion") or res.api_version,
            "kind": obj.get("kind") or res.api_kind, "metadata": meta}


def name_key(obj: Obj) -> NameKey:
    meta = obj.get("metadata") or {}
    return meta.get("namespace", ""), meta["name"]


class Gone(Exception):
    """The resourceVersion we watch from is too old: list again."""


@dataclass
class ResourceWatch:
    kube: KubeClient
    res: Resource
    namespace: str | None
    sink: Sink
    known: dict[NameKey, str] = field(default_factory=dict)  # what the bus shows as alive: key → uid
    watch_timeout: int = 300
    page_size: int = 500
    on_listed: Callable[[], Awaitable[None]] | None = None
    on_gone: Callable[[], None] | None = None  # called on every 410 Gone (for metrics)
    keep: frozenset[str] | None = None  # of a cluster-wide watch, the namespaces reported; None: all
    connect_timeout: float = 60.0  # the longest a watch request waits for a connection
    lists: int = 0
    rv: str | None = None
    established: bool = False  # listed, and a watch request after it was answered
    error: str | None = None  # the last failure since the watch was last open

    @property
    def target(self) -> Target:
        return Target(self.namespace, self.keep)

    @property
    def problem(self) -> str | None:
        """Why this watch does not count as established now, or None."""
        where = f"watch of {self.res.kind} in {self.target.where()}"
        if self.error is not None:
            return f"{where}: {self.error}"
        if not self.established:
            return f"{where}: {'not open yet' if self.lists else 'not listed yet'}"
        return None

    def _opened(self) -> None:
        self.established, self.error = True, None

    def _params(self) -> dict[str, str]:
        return {"labelSelector": self.res.label_selector} if self.res.label_selector else {}

    async def relist(self) -> None:
        """List, report every object, tombstone what is remembered but no longer listed, and
        flush. `known` grows as objects are reported and shrinks only as tombstones are taken,
        so a relist cut short by a failure leaves it covering everything the bus may show."""
        path = self.res.collection(self.namespace)
        seen: set[NameKey] = set()
        cont: str | None = None
        while True:
            params = {**self._params(), "limit": str(self.page_size)}
            if cont:
                params["continue"] = cont
            page = await self.kube.request("GET", path, params=params, timeout=120)
            for item in page.get("items") or []:
                if not self.target.keeps((item.get("metadata") or {}).get("namespace", "")):
                    continue
                obj = strip(self.res, item)
                key = name_key(obj)
                self.known[key] = obj["metadata"].get("uid", "")
                seen.add(key)
                await self.sink.observed(self.res, "SNAPSHOT", obj)
            cont = (page.get("metadata") or {}).get("continue")
            if not cont:
                rv = (page.get("metadata") or {}).get("resourceVersion")
                break
        for key in sorted(self.known.keys() - seen):
            await self.sink.vanished(self.res, key[0], key[1], self.known[key], None)
            del self.known[key]
        await self.sink.flush()
        self.rv = rv
        self.lists += 1
        if self.on_listed is not None:
            await self.on_listed()

    async def watch_once(self) -> None:
        """One watch request, from `self.rv` until the server closes it."""
        params = {**self._params(), "watch": "true", "allowWatchBookmarks": "true",
                  "timeoutSeconds": str(self.watch_timeout)}
        if self.rv:
            params["resourceVersion"] = self.rv
        try:
            async for event in self.kube.stream(self.res.collection(self.namespace), params,
                                                read_timeout=self.watch_timeout + 30,
                                                connect_timeout=self.connect_timeout, on_open=self._opened):
                await self._event(event)
        except ApiError as e:
            if e.status == 410:
                raise Gone() from e
            raise

    async def _event(self, event: dict[str, Any]) -> None:
        kind, raw = event.get("type"), event.get("object") or {}
        if kind == "ERROR":
            if raw.get("code") == 410:
                raise Gone()
            raise ApiError(int(raw.get("code") or 0), str(raw.get("message", "watch error")), str(raw.get("reason", "")))
        rv = (raw.get("metadata") or {}).get("resourceVersion")
        if rv:
            self.rv = rv
        if kind == "BOOKMARK" or not self.target.keeps((raw.get("metadata") or {}).get("namespace", "")):
            return
        obj = strip(self.res, raw)
        key, uid = name_key(obj), obj["metadata"].get("uid", "")
        if kind == "DELETED":
            # Forget the object only once the sink took the news: if publishing fails, the
            # relist that follows still knows it and reports it again (as a tombstone).
            await self.sink.vanished(self.res, key[0], key[1], uid, obj)
            self.known.pop(key, None)
        else:
            self.known[key] = uid
            await self.sink.observed(self.res, str(kind), obj)

    async def run(self, stop: asyncio.Event) -> None:
        """List and watch until `stop` is set; survive every error.

        Starts with a list, unless `rv` is already set: then it resumes watching from there
        (`known` must match that resourceVersion). A list or watch in progress is abandoned
        as soon as `stop` is set (a watch may otherwise sit idle for `watch_timeout` seconds).
        A sink that cannot publish (`TemporaryError`, from a report or, while the watch is
        idle, through `sink.failed`) means an observation may be lost: back off, then list
        again. When stopped, what the sink took is flushed (bounded by the bus's ack deadline).
        """
        failures = 0
        need_list = self.rv is None
        where = f"{self.res.kind} in {self.target.where()}"
        while not stop.is_set():
            try:
                if need_list:
                    if not await self._unless_stopped(self.relist(), stop):
                        break
                    need_list = False
                if not await self._unless_stopped(self.watch_once(), stop):
                    break
                failures = 0
            except Gone:
                log.info("watch of %s expired (410 Gone): listing again", where)
                if self.on_gone is not None:
                    self.on_gone()
                need_list = True
            except (ApiError, ValueError, TemporaryError) as e:
                failures += 1
                delay = backoff(failures, cap=RETRY_CAP)
                self.error = str(e) or type(e).__name__
                log.warning("watch of %s failed (%s); retrying in %.1fs", where, e, delay)
                if isinstance(e, TemporaryError) or (isinstance(e, ApiError) and e.status in (403, 404)):
                    # RBAC or CRD changes, or an observation the bus did not take: start over.
                    need_list = True
                try:
                    await asyncio.wait_for(stop.wait(), timeout=delay)
                except TimeoutError:
                    pass
        try:
            await self.sink.flush()
        except TemporaryError as e:  # the next start lists again and re-publishes
            log.info("watch of %s stopped; not everything observed was stored: %s", where, e)

    async def _unless_stopped(self, work: Awaitable[None], stop: asyncio.Event) -> bool:
        """Run `work` unless `stop` is set first (then cancel it); True if `work` finished.
        If the sink fails first, cancel the work and raise the sink's `TemporaryError`."""
        task = asyncio.ensure_future(work)
        stopper = asyncio.ensure_future(stop.wait())
        failer = asyncio.ensure_future(self.sink.failed.wait())
        try:
            await asyncio.wait({task, stopper, failer}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in (task, stopper, failer):
                if not t.done():
                    t.cancel()
            await asyncio.gather(task, stopper, failer, return_exceptions=True)
        if not task.cancelled():
            task.result()  # re-raise what the work raised
            return True
        if stop.is_set():
            return False
        await self.sink.flush()  # the sink failed: this raises its TemporaryError
        raise TemporaryError("the bus did not take an observation")  # flush found none after all
