"""The one way a controller runs: a `ControllerSpec` (a pure `reconcile` plus what it watches)
turned into a live service by `Controller`.

- The view is rebuilt from the bus (`raybus.state.<kind>.>`, last value per subject, then
  live), never by listing the API server; the controller is ready once every replay is done
  and it has taken its first share of partitions.
- Every state message updates the view and wakes the roots it concerns (child → root through
  the spec's mappers); a root is reconciled only by the replica holding its partition's lease.
- A worker takes a key from the work queue, skips it while expectations are pending, calls
  `reconcile(observed, now=, settings=)` with the controller's own config (a `ControllerConfig`
  subclass, passed in explicitly), publishes the actions (to `raybus.shadow.*` in dry-run) with
  deterministic ids, turns a changed desired status into `ApplyStatus` (at most one per root per
  `status_interval`: a change within it is coalesced into the write at its end; and one in flight
  per root: the next waits until the view shows the last, see `WrittenStatus`; the last landing,
  with nothing else of the root changed, wakes no reconcile when one has seen it already), records expectations
  for creates of watched kinds (a `create_only` that finds the object says so in its result) and deletes, and
  requeues as asked (or with backoff on failure).
- A replica that loses a partition's lease while publishing stops publishing for its roots at
  once: the new holder reconciles them from the view. A replica giving a partition up (one
  joined, or on shutdown) leaves the expectations of its roots in the lease record; the next
  holder awaits those not yet in its view (`LeaseManager.handoff`), so it does not create twice.
- Objects in namespaces outside `watch_namespaces` are ignored: they never enter the view.
- Results from the actuator (`raybus.res.>`, replayed at start: the last per object) release
  the expectations of failed actions and keep each root's failed writes in its view
  (`Observed.failures`, until moot), so reconcile can report them as KubeRay reports its own
  API errors. A failed write wakes its root at once, and each further failure in a row after the
  per-key backoff (controller-runtime's, 5 ms doubling to 1000 s, which KubeRay gets by returning
  the error); while a root's view holds failures, its requeue is never sooner than that backoff,
  and the backoff is reset only by a reconcile whose view holds none. The failures are part of
  the view's salt, so the retried write has a new action id and is not swallowed by JetStream's
  duplicate window.
- One injectable clock (`clock`, wall-clock seconds) drives leases, expectations, `now` and
  the work queue's timers, so the timing rules are tested without sleeping.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, Protocol, TypeVar

from .. import metrics
from ..actions import Action, Apply, ApplyStatus, Delete, ObjectRef, target_of
from ..backoff import backoff
from ..bus import subjects
from ..bus.base import Bus, Message, Subscription
from ..bus.envelopes import ActionEnvelope, ResultEnvelope, StateEnvelope
from ..decision import Decision
from ..errors import TemporaryError
from ..kv import KV, MemoryKV
from ..runner import Service
from .config import ControllerConfig, RuntimeConfig
from .expectations import Expectation, Expectations, Want
from .leases import LEASE_BUCKET, LeaseManager, replica_id
from .partitions import DEFAULT_PARTITIONS, partition_of
from .view import Failure, NamedBy, Observed, RootKey, ToRoots, View, moved_only
from .workqueue import ShutDown, WorkQueue

log = logging.getLogger("raybus.controller")
WRITTEN_STATUS_TTL = 60.0  # after a status write's result: how long the view may lag behind it
WRITTEN_STATUS_PENDING_TTL = 1800.0  # without a result: as long as an action's expectation waits
LAG_WEIGHT = 0.2  # of each status write's time to its result in `status_write_lag` (an EWMA)
PROGRESS_HOLD_CAP = 60.0  # seconds: the longest the write lag holds a root's progress back
EXPECTATION_RECHECK = 0.05  # a root waiting for expectations is looked at again no sooner than this

C = TypeVar("C", bound=ControllerConfig)
C_contra = TypeVar("C_contra", bound=ControllerConfig, contravariant=True)
Clock = Callable[[], float]
# Following the state again after gaining partitions: attempts (with backoff, capped at 10 s),
# and how long one attempt's replay may take. A replica that cannot follow the state any more
# stops with an error (and is restarted), rather than run on a view nothing updates.
REPLAY_ATTEMPTS = 8
REPLAY_TIMEOUT = 60.0


class Reconcile(Protocol[C_contra]):
    def __call__(self, observed: Observed, *, now: datetime, settings: C_contra) -> Decision: ...


@dataclass(frozen=True)
class Watch:
    """A child kind the controller reads, how a child names its root(s), and optionally the
    part of each child it keeps in its view (`keep`: a pure function of the object that drops
    what `reconcile` never reads, so a replica holds less; None keeps the object whole)."""

    kind: str
    to_roots: ToRoots
    keep: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    # The names of objects of this kind a root refers to without owning them (a RayJob's
    # clusterSelector): they join that root's view and wake it. A partitioned replica keeps
    # every such object that no root owns, since a root may name it later.
    named_by: NamedBy | None = None


@dataclass(frozen=True)
class ControllerSpec(Generic[C]):
    """A controller: its name (the field in every action, the lease prefix), the subject kind of
    its root objects, its pure `reconcile` over the controller's own config type `C`, the child
    kinds it watches, and which status changes are transitions (`status_transition`)."""

    name: str
    root: str
    reconcile: Reconcile[C]
    watches: tuple[Watch, ...] = ()
    partitions: int = DEFAULT_PARTITIONS
    # Whether a status change is a transition (written after `status_interval`) rather than
    # progress (after `status_progress_interval`); None: every change is a transition.
    status_transition: Callable[[dict[str, Any], dict[str, Any]], bool] | None = None


@functools.lru_cache(maxsize=1 << 16)
def _partition_of(key: str, count: int) -> int:
    return partition_of(key, count)


def view_salt(observed: Observed) -> str:
    """Identifies the view a decision was taken on: same view, same action ids (deduplicated).
    The failed writes in view are part of it: a write retried after a failure is a new action."""
    parts = []
    objs = [observed.root] if observed.root else []
    for kind in sorted(observed.children):
        objs.extend(observed.children[kind])
    for obj in objs:
        meta = obj.get("metadata") or {}
        parts.append(f"{meta.get('uid')}:{meta.get('resourceVersion')}")
    parts.extend(f"failed:{f.action_id}" for f in observed.failures)
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


@dataclass
class WrittenStatus:
    """A status this controller sent for a root, shown to its reconciles in place of the
    observed one until the view has caught up with the write: the observed status equals it
    or did when the write landed (`seen`: a later, stale status is not shown over), or the
    view's resourceVersion reached the one the write landed at (`landed_rv`, from its
    result), or the write's result came WRITTEN_STATUS_TTL ago (another writer moved the
    status on), or no result came within WRITTEN_STATUS_PENDING_TTL (lost). Until then the
    write is in flight, and the root's next status waits for it (one status write in flight
    per root): a status sent while the actuator's queue is minutes deep would otherwise be
    followed by another every time the overlay ran out, each a write the queue must carry."""

    status: dict[str, Any]
    action_id: str
    sent: float
    landed_rv: str | None = None
    result_at: float | None = None  # when its (successful) result came
    shown: bool = False  # a reconcile has seen it (the overlay), after the one that wrote it
    superseded: bool = False  # a reconcile since wanted another status, which waits for this one
    seen: bool = False  # the view showed it landing, and woke nobody for it (`_own_status_landed`)

    def expires(self) -> float:
        """When the overlay gives up waiting for the view (the clock's seconds)."""
        if self.result_at is None:
            return self.sent + WRITTEN_STATUS_PENDING_TTL
        return self.result_at + WRITTEN_STATUS_TTL

    def caught_up(self, root: dict[str, Any], now: float) -> bool:
        if self.seen or root.get("status") == self.status or now > self.expires():
            return True
        if self.landed_rv is None:
            return False
        try:
            return int(str((root.get("metadata") or {}).get("resourceVersion", ""))) >= int(self.landed_rv)
        except ValueError:
            return True


class Controller(Generic[C]):
    """`settings` are the runtime's knobs (concurrency, dry run, namespaces, lease TTL);
    `config` is what `reconcile` receives (in a service, the same object: its settings class
    inherits both)."""

    def __init__(self, spec: ControllerSpec[C], bus: Bus, settings: RuntimeConfig, config: C, kv: KV, *,
                 replica: str | None = None, clock: Clock = time.time) -> None:
        self.spec = spec
        self.bus = bus
        self.settings = settings
        self.config = config
        self.clock = clock
        self.view = View(spec.root, {w.kind: w.to_roots for w in spec.watches},
                         {w.kind: w.named_by for w in spec.watches if w.named_by is not None})
        self._keep = {w.kind: w.keep for w in spec.watches if w.keep is not None}
        self._watched = frozenset(self.view.kinds())  # kinds whose creates can be seen: expectations
        self.queue: WorkQueue[RootKey] = WorkQueue(clock=clock)
        self.expectations = Expectations()
        self.leases = LeaseManager(kv, spec.name, replica or replica_id(), partitions=spec.partitions,
                                   ttl=settings.lease_ttl, clock=clock, handoff=self._handoff)
        self.ready = asyncio.Event()
        # Status written but not yet seen back: root key → (root resourceVersion it was computed
        # on, the status, its action id). Reconciles see it in place of the observed status until
        # the root's resourceVersion moves, so a lagging view does not re-send the same status
        # on every child event (a status flood the actuator would have to work through).
        self._written_status: dict[RootKey, WrittenStatus] = {}
        self._status_at: dict[RootKey, float] = {}  # when each root's status was last sent
        self._progress_since: dict[RootKey, float] = {}  # since when a root's progress is held back
        # How long status writes take to be carried out (sent → result), smoothed over the last
        # ones: the depth of the actuator's queue, which progress writes wait at least as long as.
        self.status_write_lag = 0.0
        self.reconciles = 0
        self._keep_parts: frozenset[int] | None = None  # partitions whose objects the view keeps; None: all
        self._state_subs: list[Subscription] = []
        self._replaying: set[int] = set()  # partitions whose state is being replayed
        self._replay_wanted = False
        self._replay_task: asyncio.Task[None] | None = None
        self._broken: BaseException | None = None  # why this replica cannot go on (a replay gave up)
        self._broken_event = asyncio.Event()
        self._tasks: list[asyncio.Task[Any]] = []
        self._stopping = asyncio.Event()

    # -- lifecycle ----------------------------------------------------------------------
    async def subscribe(self) -> None:
        """Rebuild the view from the bus, then the failed writes from the actuator's last result
        per object (returns once both replays are complete), and follow both live. Results come
        second so a failure about a root that is gone finds no root and is not kept."""
        await self._subscribe_state()
        results = await self.bus.last_per_subject(subjects.all_of("res"), ResultEnvelope, self._on_result)
        await results.replayed.wait()

    async def _subscribe_state(self) -> None:
        """Follow every watched kind's state (last value per subject, then live); returns once
        the replay is complete. Objects outside the partitions kept (`_keep_parts`) are dropped
        as they come (`_on_state`)."""
        self._state_subs = []  # filled as they are made, so a failure part-way stops what was made
        for kind in self.view.kinds():
            self._state_subs.append(
                await self.bus.last_per_subject(subjects.of_kind("state", kind), StateEnvelope, self._on_state))
        await asyncio.gather(*(s.replayed.wait() for s in self._state_subs))

    async def _replay_gained(self) -> None:
        """Partitions newly kept: follow the state again from the last value per subject (the
        objects of those partitions were dropped as they came), holding their roots back until
        the replay is complete (a root reconciled before its children are in view would create
        them again), then queue them. The old subscriptions stop first, so no late message of
        theirs can undo a newer one of the replay. A failed attempt (NATS electing a stream
        leader, say) is retried with backoff; when every attempt failed, the replica stops with
        the error (`run` raises it)."""
        try:
            while self._replay_wanted:
                self._replay_wanted = False
                await self._follow_again()
                self._replayed_gained()
        except Exception as e:
            log.error("%s cannot follow the state again after gaining partitions: %r; stopping", self.spec.name, e)
            self._broken = e
            self._broken_event.set()
            raise

    async def _follow_again(self) -> None:
        for attempt in range(1, REPLAY_ATTEMPTS + 1):
            for sub in self._state_subs:
                sub.stop()
            try:
                await asyncio.wait_for(self._subscribe_state(), timeout=REPLAY_TIMEOUT)
                return
            except Exception as e:
                if attempt == REPLAY_ATTEMPTS:
                    raise
                delay = backoff(attempt, cap=10.0)
                log.warning("%s: following the state again failed (%r, attempt %d of %d); retrying in %.1fs",
                            self.spec.name, e, attempt, REPLAY_ATTEMPTS, delay)
                await asyncio.sleep(delay)

    def _replayed_gained(self) -> None:
        """The replay is complete: queue the roots of the partitions it was for."""
        replayed, self._replaying = self._replaying, set()
        woken = [key for key in self.view.roots() if self._partition(key) in replayed and self.owns(key)]
        for key in woken:
            self.queue.add(key)
        log.info("%s: replayed the state of %d gained partitions: %d roots in view", self.spec.name,
                 len(replayed), self.view.count(self.spec.root))

    async def caught_up(self) -> None:
        """Wait until the replay of newly kept partitions, if one is under way, is complete."""
        while self._replay_task is not None and not self._replay_task.done():
            await asyncio.shield(self._replay_task)

    async def start(self) -> None:
        # Leases first, so the replay keeps only this replica's partitions (`_keep_parts`).
        await self.tick_leases()
        await self.subscribe()
        self._tasks.append(asyncio.create_task(self.leases.renew(self._stopping, self.tick_leases),
                                               name=f"{self.spec.name}-leases"))
        for i in range(self.settings.reconcile_concurrency):
            self._tasks.append(asyncio.create_task(self._worker(), name=f"{self.spec.name}-worker-{i}"))
        self.ready.set()
        log.info("%s ready: %d roots in view, %d/%d partitions held", self.spec.name,
                 self.view.count(self.spec.root), len(self.leases.held), self.spec.partitions)

    async def run(self, stop: asyncio.Event) -> None:
        """Start, reconcile until `stop` is set (or the replica cannot go on: then raise why),
        then stop."""
        await self.start()
        try:
            waits = [asyncio.create_task(stop.wait()), asyncio.create_task(self._broken_event.wait())]
            try:
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for w in waits:
                    w.cancel()
            if self._broken is not None and not stop.is_set():
                raise RuntimeError(f"{self.spec.name} stopped following the bus") from self._broken
        finally:
            await self.stop()

    async def stop(self) -> None:
        """Stop reconciling and hand every partition back at once, so others take over now."""
        self._stopping.set()
        self.queue.shutdown()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        await self.leases.give_back()

    # -- inputs -------------------------------------------------------------------------
    def _handoff(self, partition: int) -> bytes | None:
        """What the next holder of `partition` takes over: the creates and deletes its roots still
        wait to see (their expectations), so it does not decide them again."""
        return self.expectations.export(lambda root: self._partition(root) == partition, self.clock())

    def _take_over(self, handed: dict[int, bytes]) -> None:
        """Await what the gained partitions' last holders were waiting for, unless the view shows it."""
        def shows(exp: Expectation) -> bool:
            return (self.view.get(exp.kind, exp.namespace, exp.name) is not None) == (exp.want is Want.PRESENT)

        now = self.clock()
        waiting = set().union(*(self.expectations.adopt(work, now, shows) for work in handed.values()))
        if waiting:
            log.info("%s took over the creates and deletes still to show of %d roots in %d partitions",
                     self.spec.name, len(waiting), len(handed))

    def _partition(self, key: RootKey) -> int:
        return _partition_of(str(key), self.spec.partitions)

    def owns(self, key: RootKey) -> bool:
        return self.leases.owns(self._partition(key))

    def _kept(self, kind: str, obj: dict[str, Any] | None) -> bool:
        """Whether the view keeps this object: one of its roots is in a partition this replica
        holds or is about to hold (all of them until the first lease tick)."""
        if self._keep_parts is None or obj is None:
            return True
        roots = self.view.roots_of(kind, obj)
        if not roots and kind in self.view.named_by:
            return True  # a root may name it later
        return any(self._partition(r) in self._keep_parts for r in roots)

    async def _on_state(self, msg: Message[StateEnvelope]) -> None:
        env = msg.envelope
        kind, ns, name = env.ref.kind.lower(), env.ref.namespace, env.ref.name
        parts = msg.parts
        if parts is not None:
            kind = parts.kind
        if not self.settings.watches(ns):
            return  # outside the watched namespaces: never in the view, never reconciled
        if env.gone:
            woken = self.view.remove(kind, ns, name)
            woken |= self.expectations.observed(kind, ns, name, present=False)
            if kind == self.spec.root:
                # The root is gone: what it was waiting for no longer matters (KubeRay drops a
                # deleted cluster's expectations too); without this a create decided on a stale
                # view would hold the root's last reconcile back for the expectation TTL.
                root_key = RootKey(kind, ns, name)
                self.expectations.forget(root_key)
                self._written_status.pop(root_key, None)
                self._status_at.pop(root_key, None)
                self._progress_since.pop(root_key, None)
        elif not self._kept(kind, env.object):
            # Not this replica's partitions (any more): out of the view; its old roots are woken.
            woken = self.view.remove(kind, ns, name)
        else:
            assert env.object is not None
            keep = self._keep.get(kind)
            obj = keep(env.object) if keep is not None else env.object
            landed = kind == self.spec.root and self._own_status_landed(RootKey(kind, ns, name), obj)
            woken = self.view.upsert(kind, obj)
            woken |= self.expectations.observed(kind, ns, name, present=True)
            if landed:
                woken.discard(RootKey(kind, ns, name))
        owned = [key for key in woken if self.owns(key)]
        for key in owned:
            if kind == self.spec.root or not self.settings.coalesce:
                self.queue.add(key)
            else:  # a child's event: fold the burst it is part of into one reconcile
                self.queue.add_soon(key, self.settings.coalesce)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s %s/%s/%s: woke %s", env.type, kind, ns, name, ", ".join(map(str, owned)) or "nothing")

    def _own_status_landed(self, key: RootKey, root: dict[str, Any]) -> bool:
        """Whether this state of a root is its own status write landing and nothing else, with
        a reconcile since having seen that status: the status this replica sent, shown to a
        reconcile after the one that wrote it (`_with_written_status`) and no other wanted since,
        the rest as the view holds it but for the resourceVersion. That reconcile decided on
        this very view, so another would decide nothing new: the root is not woken for it. The
        reconcile that wrote the status did not see it, and a reconcile may act on its own
        status (suspending a cluster, a RayJob's deployment): a write no reconcile has seen
        yet wakes its root as any change does."""
        written = self._written_status.get(key)
        if (written is None or not written.shown or written.superseded
                or root.get("status") != written.status):
            return False
        held = self.view.get(key.kind, key.namespace, key.name)
        if held is None or not moved_only(held, root, besides="status"):
            return False
        written.seen = True  # (kept until its result, which times the write, or the next reconcile)
        return True

    async def _on_result(self, msg: Message[ResultEnvelope]) -> None:
        res = msg.envelope
        if res.controller != self.spec.name:
            return
        woken: set[RootKey] = set()
        failed = res.outcome != "ok"
        if res.op == "apply_status" and res.root is not None:
            key = RootKey(res.root.kind.lower(), res.root.namespace, res.root.name)
            written = self._written_status.get(key)
            if written is not None and written.action_id == res.action_id:
                if failed:  # the status was not written: compare with the real one again
                    del self._written_status[key]
                    woken.add(key)
                else:  # it landed at this resourceVersion: the view holds it once it gets there
                    written.landed_rv = res.resource_version or None
                    written.result_at = self.clock()
                    took = max(0.0, written.result_at - written.sent)
                    self.status_write_lag += LAG_WEIGHT * (took - self.status_write_lag)
                    metrics.child(metrics.STATUS_WRITE_LAG, self.spec.name).set(self.status_write_lag)
                    seen = self.view.get(key.kind, key.namespace, key.name)
                    if written.seen:  # the view showed it first, and nothing waits for it
                        del self._written_status[key]
                    elif seen is not None and written.caught_up(seen, written.result_at) and self.owns(key):
                        # The view got there before this result (its publishing was retried
                        # while a NATS node was down, say), and a status that the API server
                        # stored in another form than it was sent did not count as the write:
                        # the root waits on nothing now. Without this it slept until its
                        # requeue (300 s). (Queued as is: `woken` is for failures, with backoff.)
                        self.queue.add(key)
        if failed or not res.changed:  # nothing will be observed of it: wait for it no more
            woken |= self.expectations.failed(res.action_id)
        else:  # done: its effect is due in view, within the expectations' TTL from now
            waiting = self.expectations.executed(res.action_id, self.clock())
            if waiting is not None:  # its timer moves up to the sooner deadline
                self.queue.add_after(waiting, self.expectations.ttl)
        root, target = self._result_keys(msg)
        if root is not None and target is not None and res.op not in ("record_event", "apply_status"):
            if failed and self.view.get(root.kind, root.namespace, root.name) is not None:
                failure = Failure(res.action_id, res.op, *target, reason=res.failure_reason,
                                  message=res.error or res.message, at=res.finished_at,
                                  root_uid=res.root.uid if res.root is not None else None)
                if self.view.failed(root, failure):
                    woken.add(root)
            elif not failed and self.view.succeeded(root, target) and self.owns(root):
                self.queue.add(root)  # the failure is moot: reconcile without it now
        for key in woken:
            if self.owns(key):
                self._retry(key)

    def _retry(self, key: RootKey) -> None:
        """Wake `key` after a write of its failed: at once the first time in a row, then after the
        per-key backoff, as controller-runtime requeues a reconcile that keeps returning an error."""
        if self.queue.retries(key):
            self.queue.add_rate_limited(key)
        else:
            self.queue.backoff.when(key)  # counted, so the next failure in a row waits
            self.queue.add(key)

    def _result_keys(self, msg: Message[ResultEnvelope]) -> tuple[RootKey | None, tuple[str, str, str] | None]:
        """The root a result is about (within the watched namespaces) and the object written."""
        res = msg.envelope
        root = None
        if res.root is not None and res.root.name and self.settings.watches(res.root.namespace):
            root = RootKey(res.root.kind.lower(), res.root.namespace, res.root.name)
        if res.target is not None:
            return root, (res.target.kind.lower(), res.target.namespace, res.target.name)
        parts = msg.parts  # a result from before `target` was carried: its subject names the object
        return root, (parts.kind, parts.namespace, parts.name) if parts is not None else None

    async def tick_leases(self) -> None:
        """Heartbeat, then claim and release partitions; roots of a gained partition are queued.

        The view keeps the partitions held or wanted (`_keep_parts`), so with N replicas each holds
        about 1/N of the objects: partitions that leave the set are dropped from the view at once;
        partitions that join it are replayed from the bus (`_replay_gained`) in the background."""
        changes = await self.leases.tick()
        self._take_over(changes.handed)
        keep = frozenset(self.leases.held) | self.leases.wanted
        if keep != self._keep_parts:
            before, self._keep_parts = self._keep_parts, keep
            if before is None or before - keep:
                self.view.retain(lambda key: self._partition(key) in keep)
            added = keep - before if before is not None else frozenset()
            if added and self._state_subs:
                self._replaying |= added
                self._replay_wanted = True
                if self._replay_task is None or self._replay_task.done():
                    self._replay_task = asyncio.create_task(self._replay_gained(), name=f"{self.spec.name}-replay")
                    self._tasks.append(self._replay_task)
        if changes.gained:
            for key in self.view.roots():
                if self._partition(key) in changes.gained:
                    self.queue.add(key)

    # -- work ---------------------------------------------------------------------------
    async def _worker(self) -> None:
        while True:
            try:
                key = await self.queue.get()
            except ShutDown:
                return
            await self.work(key)

    async def work(self, key: RootKey) -> None:
        """Reconcile one key taken from the queue; a failure comes back with per-key backoff."""
        try:
            await self.process(key)
        except asyncio.CancelledError:
            raise
        except Exception as e:
            retries = self.queue.retries(key)
            log.warning("reconcile of %s failed (retry %d): %s", key, retries + 1, e,
                        exc_info=not isinstance(e, TemporaryError))
            self.queue.add_rate_limited(key)
        finally:
            self.queue.done(key)

    async def step(self) -> RootKey | None:
        """Work on the next key that is due now, if any, and return it. The workers loop over
        this; tests call it directly to drive the controller on a fake clock."""
        key = self.queue.get_nowait()
        if key is not None:
            await self.work(key)
        return key

    async def process(self, key: RootKey) -> None:
        if not self.owns(key) or self._partition(key) in self._replaying:
            return  # not ours; or its partition's objects are being replayed (queued once done)
        now = self.clock()
        if self.view.get(key.kind, key.namespace, key.name) is None:
            # A gone root waits for nothing: an expectation recorded by a reconcile that was
            # still running when the root's tombstone came in must not hold this one back.
            self.expectations.forget(key)
        if not self.expectations.satisfied(key, now):
            # What meets an expectation wakes the root (its object observed, its action failed
            # or changed nothing); only the deadline needs a timer. Polling instead (every
            # second) cost 10,000 wake-ups a second at 10,000 clusters while the actuator's
            # queue was minutes deep.
            deadline = self.expectations.next_deadline(key)
            self.queue.add_after(key, max(EXPECTATION_RECHECK, (deadline or now) - now))
            return
        observed = self._with_written_status(self.view.observe(key))
        started = time.perf_counter()
        decision = self.spec.reconcile(observed, now=datetime.fromtimestamp(now, UTC), settings=self.config)
        metrics.child(metrics.RECONCILE_SECONDS, self.spec.name).observe(time.perf_counter() - started)
        self.reconciles += 1
        metrics.child(metrics.RECONCILES, self.spec.name).inc()
        log.debug("reconciled %s: %d actions, status %s, requeue %s", key, len(decision.actions),
                  "set" if decision.status is not None else "unchanged", decision.requeue_after)
        await self.publish(observed, decision)
        requeue = decision.requeue_after
        if observed.failures:  # KubeRay returned an error: no sooner than the backoff allows
            retries, limiter = self.queue.retries(key), self.queue.backoff
            backoff = min(limiter.cap, limiter.base * 2.0 ** min(retries - 1, 60)) if retries else 0.0
            requeue = None if requeue is None else max(requeue, backoff)
        else:
            self.queue.forget(key)
        if requeue is not None:
            self.queue.add_after(key, requeue)

    def _with_written_status(self, observed: Observed) -> Observed:
        written = self._written_status.get(observed.key)
        root = observed.root
        if written is None:
            return observed
        if root is None or written.caught_up(root, self.clock()):
            del self._written_status[observed.key]
            return observed
        written.shown = True
        return Observed(observed.key, {**root, "status": written.status}, observed.children, observed.failures)

    async def publish(self, observed: Observed, decision: Decision) -> None:
        key, root = observed.key, observed.root
        actions: list[Action] = list(decision.actions)
        dry = self.settings.dry_run
        written = self._written_status.get(key)  # (never set in dry-run)
        changed = decision.status is not None and root is not None and decision.status != root.get("status")
        if changed and written is not None:
            # The previous status write is in flight: this one waits until the view shows that
            # one (its root's state wakes the root) or it expires (the timer below).
            written.superseded = True
            self.queue.add_after(key, max(0.0, written.expires() - self.clock()))
        elif changed and decision.status is not None and root is not None:
            transition = self.spec.status_transition is None or self.spec.status_transition(
                root.get("status") or {}, decision.status)
            now = self.clock()
            due = self._status_at.get(key, -1e18) + self.settings.status_interval
            if not transition:  # progress waits from when it was first held back: it rides along
                since = self._progress_since.setdefault(key, now)  # with a transition, or goes alone
                # ... and, while the actuator's queue is deep, as long as a write waits there: a
                # progress write of its own would only take a slot from the writes that make progress.
                hold = max(self.settings.status_progress_interval, min(self.status_write_lag, PROGRESS_HOLD_CAP))
                due = max(due, since + hold)
            wait = due - now
            if wait > 0:  # the latest status goes out when it is due
                self.queue.add_after(key, wait)
            else:
                actions.append(ApplyStatus(ref=ObjectRef.of(root), status=decision.status))
        if not actions:
            return
        root_ref = ObjectRef.of(root) if root is not None else ObjectRef(api_version="", kind=key.kind,
                                                                         namespace=key.namespace, name=key.name)
        salt = view_salt(observed)
        # One decision's actions go out back to back and their acks are awaited together (one
        # round trip, not one per action); the lease is still checked before each one.
        publisher = self.bus.publisher(window=max(1, len(actions)))
        sent: list[str] = []
        for i, action in enumerate(actions):
            if not self.owns(key):
                # The lease went while we were publishing: the new holder decides from here on.
                log.info("%s: partition lost while publishing; %d of %d actions left unpublished",
                         key, len(actions) - i, len(actions))
                break
            target = target_of(action)
            env = ActionEnvelope.build(self.spec.name, root_ref, action, salt=salt, dry_run=dry)
            aid = env.action_id
            subject = subjects.action(target.kind.lower(), target.namespace, target.name, dry_run=dry)
            try:
                await publisher.send(subject, env, msg_id=aid)
            except TemporaryError:
                self._unsent(key, sent)
                raise
            sent.append(aid)
            metrics.child(metrics.ACTIONS_ISSUED, self.spec.name, action.op).inc()
            if isinstance(action, ApplyStatus) and not dry and root is not None:
                self._written_status[key] = WrittenStatus(action.status, aid, self.clock())
                self._status_at[key] = self.clock()
                self._progress_since.pop(key, None)
            if dry:
                continue
            if (isinstance(action, Apply) and target.kind.lower() in self._watched
                    # (a create_only that finds the object there says so: `changed` in its result)
                    and self.view.get(target.kind.lower(), target.namespace, target.name) is None):
                self.expectations.expect(key, aid, target.kind.lower(), target.namespace, target.name,
                                         Want.PRESENT, self.clock())
            elif isinstance(action, Delete) and (target.kind.lower(), target.namespace, target.name) != (
                    key.kind, key.namespace, key.name):
                # (a root deleting itself waits for nothing: its finalizer's work comes next)
                self.expectations.expect(key, aid, target.kind.lower(), target.namespace, target.name,
                                         Want.ABSENT, self.clock())
        try:
            await publisher.flush()
        except TemporaryError:
            self._unsent(key, sent)
            raise

    def _unsent(self, key: RootKey, action_ids: list[str]) -> None:
        """Actions whose publishing failed (perhaps stored, perhaps not): wait for none of them,
        and compare the status with the real one again; the reconcile is retried with backoff."""
        for aid in action_ids:
            self.expectations.failed(aid)
        written = self._written_status.get(key)
        if written is not None and written.action_id in action_ids:
            del self._written_status[key]


def serve(svc: Service, spec: ControllerSpec[C], settings: RuntimeConfig, config: C) -> Controller[C]:
    """Run `spec` inside a started service: leases in the bus's key-value store, ready after
    the replay. `config` is what `reconcile` receives; usually `settings` itself."""

    async def run() -> None:
        ctl.leases.kv = await svc.bus.key_value(LEASE_BUCKET)
        await ctl.run(svc.stop_requested)

    ctl = Controller(spec, svc.bus, settings, config, MemoryKV())
    svc.ready_when(ctl.ready, what=f"{spec.name}: the initial replay of the view (state and results)")
    svc.spawn(run(), name=spec.name)
    return ctl


def starter(spec: ControllerSpec[C]) -> Callable[[Service, C], Awaitable[Controller[C]]]:
    """The `handlers.start` of a controller that needs nothing but its spec: its settings are its
    runtime's (`RuntimeConfig`) and its reconcile's config at once, as every controller's
    settings class inherits both."""

    async def start(svc: Service, settings: C) -> Controller[C]:
        if not isinstance(settings, RuntimeConfig):
            raise TypeError(f"{type(settings).__name__} must inherit RuntimeConfig (use ControllerSettings)")
        return serve(svc, spec, settings, settings)

    return start
