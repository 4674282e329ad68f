"""The Ray job poller: what each running RayJob's Ray job is doing, as `RayJobInfo` observations
on `raybus.state.rayjobinfo.<ns>.<rayjob>`.

The watcher's watches of RayJobs and RayClusters hand it every observation (`observed`,
`vanished`: the `Tap` sink wraps their bus sinks); which RayJobs to poll, where their dashboards
are and when each is due is `raypoll_plan.PollPlan`. A RayJob in `Running` with a job id and a
known RayCluster is polled at once, then every `RAYBUS_RAY_POLL_SECONDS` (3 s, KubeRay's
requeue; ±10% so a thousand jobs that started together spread out):

- `GET /api/jobs/<status.jobId>` on the cluster's dashboard (`ray.dashboard.DashboardClient`,
  reached as `RAYBUS_RAY_DASHBOARD_ACCESS` says), with the token of the cluster's auth Secret
  when it has token auth (`kube.secrets.SecretCache`);
- at most `RAYBUS_RAY_POLL_CONCURRENCY` polls at once, each bounded by
  `RAYBUS_RAY_TIMEOUT_SECONDS` (2 s), each job on its own schedule: a dead dashboard delays
  only its own jobs (KubeRay's one reconcile loop waits for it: kuberay#4087);
- the answer becomes a `JobInfo`: found, not found (404), or `error` when the dashboard could
  not be asked (no answer, 5xx, no address yet, no token Secret yet). An error keeps what the
  last answer said (its status, message, times) beside the error, so a dashboard that stops
  answering does not read as a job that vanished;
- `ray.jobs.info_object` makes it an observation, published only when `same_observation` says
  it differs from what this watcher last saw on the bus (learnt from the bus at start, then its
  own publishes), with `Nats-Msg-Id` `<uid>:<resourceVersion>`. The resourceVersion is the
  observation's time in ms, kept rising per subject so a controller never takes a newer
  observation for a stale one.

A RayJob that leaves `Running` (or loses its job id or cluster) is no longer polled; its last
observation stays on the bus. A RayJob deleted gets its `RayJobInfo` deleted too: a DELETED
message with the last observation (`<uid>:gone`, the tombstone TTL), published before the
RayJob's own tombstone, so a crash in between leaves it to the next relist. An answer that
arrives after its RayJob moved on (another job id, another dashboard, gone) is dropped.

Readiness does not depend on Ray: a dashboard that never answers is the job's problem, shown
in its `RayJobInfo`, not the watcher's. Metrics: `raybus_watcher_ray_polls` by outcome,
`raybus_watcher_ray_poll_seconds`.

The watcher's replicas share the targets out (`pollshare.PollShare`): a RayJob is polled only by
the replica holding its partition (`owns`); a target of another replica's is looked at again an
interval later, and a partition gained makes its targets due at once (`gained`). What the bus
shows is followed live, the other replicas' publishes included, so the replica that takes a
target over publishes only what changed.

What every Ray poller shares is `DashboardPoller`: learning what the bus shows, the run loop
over its `raypoll_plan.Schedule` (at most `RAYBUS_RAY_POLL_CONCURRENCY` polls at once, shared
by the pollers of one watcher), asking a dashboard with its token within the timeout (`ask`),
publishing only changes with rising resourceVersions, and the tombstone of an observation whose
object went. `RayJobPoller` (here) and `servepoll.ServePoller` say what they poll and what an
answer makes; `Tap` tells them all what the watches saw.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from prometheus_client import Counter, Histogram

from raybus_common import objects
from raybus_common.bus import subjects
from raybus_common.bus.base import Bus, Message, Subscription
from raybus_common.bus.envelopes import StateEnvelope
from raybus_common.errors import TemporaryError
from raybus_common.kube.client import ApiError
from raybus_common.kube.resources import Resource
from raybus_common.ray.address import Access, base_url
from raybus_common.ray.dashboard import DashboardClient, DashboardError, JobNotFound, read_token
from raybus_common.ray.jobs import SUBJECT_KIND, Dashboard, JobInfo, info_object, info_of, same_observation

from .plan import NameKey
from .raypoll_plan import PollPlan, PollTarget, Schedule, Target
from .watching import Obj, Sink

if TYPE_CHECKING:
    import httpx

log = logging.getLogger("raybus.watcher.ray")

POLLS = Counter("raybus_watcher_ray_polls", "Polls of a Ray job's status, by outcome (found, not_found, error).",
                ["outcome"])
POLL_SECONDS = Histogram("raybus_watcher_ray_poll_seconds", "How long one poll of a Ray dashboard took.",
                         buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0))
_OUTCOMES = {o: POLLS.labels(o) for o in ("found", "not_found", "error")}

GetSecret = Callable[[str, str], Awaitable[dict[str, Any] | None]]
TAPPED = frozenset({"rayjob", "raycluster"})  # the watches the Ray job poller learns from
NO_ADDRESS = "the head's address is not known yet"

T = TypeVar("T", bound=Target)
R = TypeVar("R")  # what one poll found
A = TypeVar("A")  # a dashboard's answer


class Unasked(Exception):
    """The dashboard could not be asked, or answered with an error: why, in one line."""


class DashboardPoller(ABC, Generic[T, R]):
    """Polls the targets of `plan` on their dashboards and publishes what each poll found as an
    observation of kind `subject_kind`, only when it changed. Subclasses say what the watches'
    observations make of the plan (`observed`, `vanished`), what one poll finds (`poll`) and
    what observation that is (`observation`)."""

    subject_kind: ClassVar[str]
    tapped: ClassVar[frozenset[str]]  # the watched kinds it learns from

    def __init__(self, bus: Bus, http: httpx.AsyncClient, get_secret: GetSecret, *, access: Access,
                 timeout: float, interval: float, concurrency: int, slots: asyncio.Semaphore | None = None,
                 tombstone_ttl: float | None = None, clock: Callable[[], float] = time.monotonic,
                 spread: Callable[[], float] = lambda: random.uniform(-1.0, 1.0),
                 on_published: Callable[[str], None] | None = None,
                 owns: Callable[[NameKey], bool] | None = None) -> None:
        self.bus, self.http, self.get_secret = bus, http, get_secret
        self.owns = owns or (lambda key: True)  # which targets this replica polls (its partitions)
        self.plan = self.new_plan(interval)
        self.access, self.timeout = access, timeout
        self.tombstone_ttl = tombstone_ttl or None
        self.clock, self.spread, self.on_published = clock, spread, on_published
        self.shown: dict[NameKey, Obj] = {}  # the observation the bus shows, per object
        self.slots = slots or asyncio.Semaphore(concurrency)  # polls under way (another poller's: shared)
        self._locks: dict[NameKey, asyncio.Lock] = {}  # one publisher at a time per subject
        self._wake = asyncio.Event()
        self._polls: set[asyncio.Task[None]] = set()
        self._follow: Subscription | None = None

    # -- what the subclass says ---------------------------------------------------------------
    @abstractmethod
    def new_plan(self, interval: float) -> Schedule[T]:
        """Its plan: which targets the watched objects make, each due every `interval`."""

    @abstractmethod
    def observed(self, kind: str, obj: Obj) -> None:
        """A watch saw `obj` (of `kind`); the plan learns what it means."""

    @abstractmethod
    async def vanished(self, kind: str, namespace: str, name: str, uid: str) -> None:
        """A watched object went; its observation too, if it had one (`delete_shown`)."""

    @abstractmethod
    async def poll(self, target: T) -> R:
        """Ask about `target`: never raises for what a dashboard (or a token's Secret) does."""

    @abstractmethod
    def observation(self, target: T, found: R, observed_at: datetime) -> Obj:
        """The observation `found` makes of `target`."""

    # -- what the bus shows -----------------------------------------------------------------
    async def learn(self) -> None:
        """What the bus shows of every observation of this kind (the last message per subject),
        so a restarted watcher publishes only what changed and tombstones what it did not publish;
        then what the bus takes from now on, this replica's and the others' (each polls the
        targets of its own partitions), until `run` ends. An observation replaces the one held
        only if its resourceVersion is higher (this replica's own publishes come back too); a
        deletion removes only the observation of the same uid."""
        async def handle(msg: Message[StateEnvelope]) -> None:
            env = msg.envelope
            key = (env.ref.namespace, env.ref.name)
            last = self.shown.get(key)
            if env.gone or env.object is None:
                if last is not None and objects.uid(last) == env.uid:
                    del self.shown[key]
            elif last is None or _version(env.object) > _version(last):
                self.shown[key] = env.object

        sub = await self.bus.last_per_subject(subjects.of_kind("state", self.subject_kind), StateEnvelope, handle)
        await sub.replayed.wait()
        if self._follow is not None:
            self._follow.stop()
        self._follow = sub

    async def delete_shown(self, namespace: str, name: str, belongs: Callable[[Obj], bool]) -> None:
        """Delete the observation the bus shows of `namespace/name` if `belongs` says it is of
        the object that went (not of another one of that name): a DELETED message with the last
        observation, msg id `<uid>:gone`, the tombstone TTL. Raises `TemporaryError` if the bus
        did not take it (the watch then lists again and reports the object gone again)."""
        key = (namespace, name)
        async with self._lock(key):
            last = self.shown.get(key)
            if last is None or not belongs(last):
                return
            env = StateEnvelope.observed("DELETED", last)
            await self.bus.publish(subjects.state(self.subject_kind, namespace, name), env, msg_id=f"{env.uid}:gone",
                                   ttl=self.tombstone_ttl)
            del self.shown[key]
            self._count("DELETED")
        if self.plan.target(key) is None:
            self._locks.pop(key, None)

    # -- the schedule -----------------------------------------------------------------------
    def wake(self) -> None:
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Start every poll as it falls due, until `stop`; then cancel those in flight."""
        stopper = asyncio.ensure_future(self._wake_on(stop))
        try:
            while not stop.is_set():
                self._wake.clear()
                now = self.clock()
                for target in self.plan.due(now):
                    if not self.owns(target.key):  # another replica's: looked at again an interval on
                        self.plan.polled(target.key, now, self.spread())
                        continue
                    self.plan.start(target.key)
                    task = asyncio.create_task(self._poll_and_publish(target),
                                               name=f"{self.subject_kind}-poll-{target.namespace}/{target.name}")
                    self._polls.add(task)
                    task.add_done_callback(self._polls.discard)
                nxt = self.plan.next_due()
                try:
                    await asyncio.wait_for(self._wake.wait(),
                                           timeout=None if nxt is None else max(0.0, nxt - self.clock()))
                except TimeoutError:
                    pass
        finally:
            stopper.cancel()
            for task in list(self._polls):
                task.cancel()
            await asyncio.gather(stopper, *self._polls, return_exceptions=True)
            if self._follow is not None:
                self._follow.stop()
                self._follow = None

    def gained(self) -> None:
        """This replica gained partitions: the targets it now owns are due at once."""
        self.plan.hurry(self.owns, self.clock())
        self.wake()

    async def _wake_on(self, stop: asyncio.Event) -> None:
        await stop.wait()
        self._wake.set()

    async def _poll_and_publish(self, target: T) -> None:
        try:
            async with self.slots:
                started = self.clock()
                found = await self.poll(target)
                POLL_SECONDS.observe(self.clock() - started)
            await self.publish(target, found)
        except TemporaryError as e:  # the next poll publishes it: `shown` did not change
            log.warning("could not publish the %s of %s/%s: %s", self.subject_kind, target.namespace, target.name, e)
        finally:
            self.plan.polled(target.key, self.clock(), self.spread())
            self._wake.set()

    # -- one poll ---------------------------------------------------------------------------
    async def ask(self, namespace: str, dashboard: Dashboard, call: Callable[[DashboardClient], Awaitable[A]]) -> A:
        """`call`'s answer from `dashboard` (reached as `access` says, with the token of its auth
        Secret in `namespace` when it has one), the Secret and the request within twice the
        timeout. Raises `Unasked` saying why there is none."""
        base = base_url(dashboard, self.access)
        if base is None:
            raise Unasked(f"{NO_ADDRESS} (dashboard access {self.access!r})")
        try:
            async with asyncio.timeout(2 * self.timeout):
                token = ""
                if dashboard.auth_secret:
                    token = await read_token(self.get_secret, namespace, dashboard.auth_secret)
                return await call(DashboardClient(self.http, base, token=token, timeout=self.timeout))
        except DashboardError as e:
            raise Unasked(str(e)) from e
        except ApiError as e:
            raise Unasked(f"reading the auth Secret {namespace}/{dashboard.auth_secret}: {e}") from e
        except TimeoutError as e:
            raise Unasked(f"no answer within {2 * self.timeout:g}s") from e

    async def publish(self, target: T, found: R) -> bool:
        """Publish what `found` makes of `target` if it differs from what the bus shows and
        `target` is still what the plan polls; True if it was published."""
        key = target.key
        async with self._lock(key):
            if self.plan.target(key) != target:
                return False  # the object moved on while its dashboard was asked
            last = self.shown.get(key)
            now = _after(datetime.now(UTC), last)
            obj = self.observation(target, found, now)
            if same_observation(last, obj):
                return False
            env = StateEnvelope.observed("ADDED" if last is None else "MODIFIED", obj, observed_at=now)
            await self.bus.publish(subjects.state(self.subject_kind, target.namespace, target.name), env,
                                   msg_id=f"{env.uid}:{env.resource_version}")
            self.shown[key] = obj
            self._count(env.type)
            return True

    def _lock(self, key: NameKey) -> asyncio.Lock:
        return self._locks.setdefault(key, asyncio.Lock())

    def _count(self, kind: str) -> None:
        if self.on_published is not None:
            self.on_published(kind)


class RayJobPoller(DashboardPoller[PollTarget, JobInfo]):
    """The Ray jobs of running RayJobs, as `RayJobInfo` (see the module's docstring)."""

    subject_kind = SUBJECT_KIND
    tapped = TAPPED
    plan: PollPlan

    def new_plan(self, interval: float) -> PollPlan:
        return PollPlan(interval)

    def observed(self, kind: str, obj: Obj) -> None:
        if kind == "rayjob":
            self.plan.rayjob(obj, self.clock())
        elif kind == "raycluster":
            self.plan.cluster(obj, self.clock())
        else:
            return
        self.wake()

    async def vanished(self, kind: str, namespace: str, name: str, uid: str) -> None:
        """A RayCluster gone: its jobs are not polled. A RayJob gone: its `RayJobInfo` is deleted
        (when the bus shows one of that RayJob)."""
        key = (namespace, name)
        if kind == "raycluster":
            self.plan.cluster_gone(key, self.clock())
            self.wake()
        elif kind == "rayjob":
            self.plan.rayjob_gone(key)
            await self.delete_shown(namespace, name, lambda last: _owner_uid(last) in ("", uid) or not uid)

    async def poll(self, target: PollTarget) -> JobInfo:
        """Ask `target`'s dashboard about its job: found, not found, or an error."""
        async def job(client: DashboardClient) -> dict[str, Any] | None:
            try:
                return await client.job_info(target.submission_id)
            except JobNotFound:
                return None

        try:
            answer = await self.ask(target.namespace, target.dashboard, job)
        except Unasked as e:
            return self._failed(target, str(e))
        if answer is None:
            _OUTCOMES["not_found"].inc()
            return JobInfo(found=False)
        _OUTCOMES["found"].inc()
        return JobInfo.from_dashboard(answer)

    def _failed(self, target: PollTarget, error: str) -> JobInfo:
        """An error, with what the last answer about the same job said."""
        _OUTCOMES["error"].inc()
        last = info_of(self.shown.get(target.key))
        if last is not None and (last[0], last[1]) == (target.submission_id, target.cluster) \
                and _owner_uid(self.shown[target.key]) == target.uid:
            return last[2].model_copy(update={"error": error})
        return JobInfo(error=error)

    def observation(self, target: PollTarget, found: JobInfo, observed_at: datetime) -> Obj:
        return info_object(target.rayjob, submission_id=target.submission_id, cluster=target.cluster, info=found,
                           observed_at=observed_at)


def _owner_uid(info: Mapping[str, Any]) -> str:
    owners = (info.get("metadata") or {}).get("ownerReferences") or []
    return str(owners[0].get("uid") or "") if owners else ""


def _version(obj: Mapping[str, Any]) -> int:
    """An observation's resourceVersion (its time in ms), 0 if it has none."""
    try:
        return int(objects.resource_version(obj) or 0)
    except ValueError:
        return 0


def _after(now: datetime, last: Mapping[str, Any] | None) -> datetime:
    """`now`, or 1 ms after `last`'s observation if the clock has not moved past it: a
    controller ignores an observation whose resourceVersion is not above the one it holds."""
    last_ms = _version(last or {})
    if int(now.timestamp() * 1000) > last_ms:
        return now
    return datetime.fromtimestamp((last_ms + 1) / 1000, UTC) + timedelta(microseconds=100)


class Tap:
    """A watch's sink that also tells the pollers what the watch saw: observations after the bus
    took them; deletions before (the `RayJobInfo` goes before its RayJob, the
    `RayServeApplications` before its RayCluster)."""

    def __init__(self, inner: Sink, *pollers: DashboardPoller[Any, Any]) -> None:
        self.inner, self.pollers = inner, pollers

    @property
    def failed(self) -> asyncio.Event:
        return self.inner.failed

    async def observed(self, res: Resource, event: str, obj: Obj) -> None:
        await self.inner.observed(res, event, obj)
        for poller in self.pollers:
            poller.observed(res.kind, obj)

    async def vanished(self, res: Resource, namespace: str, name: str, uid: str, last: Obj | None) -> None:
        for poller in self.pollers:
            await poller.vanished(res.kind, namespace, name, uid)
        await self.inner.vanished(res, namespace, name, uid, last)

    async def flush(self) -> None:
        await self.inner.flush()
