"""Bus glue of raybus-watcher: Kubernetes observations in, `raybus.state.<kind>.<ns>.<name>` out.

`BusSink` turns what one `ResourceWatch` reports into `StateEnvelope`s (one sink a watch):

| report                       | envelope                    | `Nats-Msg-Id`             | TTL           |
|------------------------------|-----------------------------|---------------------------|---------------|
| list item / ADDED / MODIFIED | SNAPSHOT / ADDED / MODIFIED | `<uid>:<resourceVersion>` | none          |
| watch DELETED                | DELETED (last state)        | `<uid>:gone`              | tombstone TTL |
| gone from a relist           | TOMBSTONE (no object)       | `<uid>:gone`              | tombstone TTL |

Observations go out through a publish window (`Bus.publisher`, `RAYBUS_PUBLISH_WINDOW`
unacknowledged at most): `observed` returns once the message is written, not once JetStream
stored it. A failed ack shows up at the next `observed`, `vanished` or `flush` as a
`TemporaryError`, and sets `failed` meanwhile, so an idle watch learns of it too; either way
the watch lists again, and the ids make what it re-publishes duplicates. Deletions are not
pipelined: `vanished` flushes the window, then publishes the tombstone and waits for its ack,
so a deletion is never reported taken before it, and everything before it, is stored.

The ids make a repeat within JetStream's 2-minute duplicate window (two watchers side by side,
a quick restart) a no-op. A relist later than that stores every object again as the newest
message of its subject; controllers ignore an object whose resourceVersion they already hold,
so it wakes nothing.

`start` wires the service: ask the API server which kinds it serves and at which versions
(`kube.discovery`), resolve what to watch (`watched`: Ray's kinds, the kinds Raybus owns and
`RAYBUS_WATCH_EXTRA` must be served, or the watcher exits saying which are missing; a
scheduler's kinds and the Gateway API's (`resources.OPTIONAL`) are watched only when served and
listable), decide where each kind is watched (`plan_watches`: cluster-wide, or once per watched
namespace; see `plan.py`), replay
`raybus.state.<kind>.>` for every watched kind to learn which objects the bus shows alive (so
a restart can tombstone what vanished while it was down), then run one `ResourceWatch` (with its own `BusSink`) per
target on a client whose connection pool has room for every watch at once.

The RayJob and RayCluster watches also tell the Ray pollers (through their `Tap` sink) what they
saw: the Ray job poller (`raypoll.py`) polls the dashboards of running RayJobs and publishes
their `RayJobInfo` on `raybus.state.rayjobinfo.<ns>.<name>`; the serve poller (`servepoll.py`)
polls the Serve applications and proxy of RayService-made RayClusters and publishes their
`RayServeApplications` on `raybus.state.rayserveapplications.<ns>.<raycluster>`. Both share one HTTP
client and `RAYBUS_RAY_POLL_CONCURRENCY` slots, and poll only the targets of the partitions this
replica holds (`pollshare.py`: leases `watcher-poll` in `raybus_leases`). `rayjobinfo` and `rayserveapplications` are no
Kubernetes kinds: they are never listed or watched, only published.

Ready once every watch is established (listed, and its watch request answered); while one is
not, `/readyz` answers 503 and names it with its last error (`403 Forbidden: ...`), and the
watch keeps retrying. The watcher only reads Kubernetes (get, list, watch); it never writes
to it.

Only the watched namespaces are reconciled against the bus: objects of a namespace dropped
from `watch_namespaces` stay on the bus as last seen.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, get_args

from prometheus_client import REGISTRY, Counter
from prometheus_client.registry import Collector

from raybus_common import metrics
from raybus_common.actions import ObjectRef
from raybus_common.bus import subjects
from raybus_common.bus.base import Bus, Handler, Message
from raybus_common.bus.envelopes import StateEnvelope, StateType
from raybus_common.controller.leases import LEASE_BUCKET, LeaseManager, replica_id
from raybus_common.kube.client import ApiError, ConfigException, KubeClient
from raybus_common.kube.discovery import Catalog, fetch
from raybus_common.kube.resources import OPTIONAL, OWNED, RAY, KindSpec, Resource
from raybus_common.kube.secrets import SecretCache
from raybus_common.ray.dashboard import new_http
from raybus_common.runner import Service

from .plan import NameKey, Target, cluster_wide, known_in, pool_size, summarize, targets
from .pollshare import POLL_LEASES, PollShare
from .raypoll import DashboardPoller, RayJobPoller, Tap
from .servepoll import ServePoller
from .settings import WatcherSettings
from .watching import Obj, ResourceWatch, Sink

if TYPE_CHECKING:
    from httpx import AsyncClient

log = logging.getLogger("raybus.watcher")

PUBLISHED = Counter("raybus_watcher_events", "State messages published, by kind and type "
                    "(ADDED, MODIFIED, DELETED, SNAPSHOT, TOMBSTONE); duplicates included.", ["kind", "type"])
LISTS = Counter("raybus_watcher_lists", "Full lists (initial and re-lists) of a watched resource.", ["kind"])
EXPIRED = Counter("raybus_watcher_watch_expired", "Watches ended by 410 Gone (too old a resourceVersion).",
                  ["kind"])

_LIVE_TYPES: frozenset[str] = frozenset(get_args(StateType)) - {"DELETED", "TOMBSTONE"}


class BusSink:
    """A `watching.Sink` that publishes one watch's observations to `raybus.state.*`."""

    def __init__(self, bus: Bus, *, tombstone_ttl: float | None = 24 * 3600.0, window: int = 256) -> None:
        self.bus = bus
        self.tombstone_ttl = tombstone_ttl or None  # 0 → no TTL
        self.publisher = bus.publisher(window)

    @property
    def failed(self) -> asyncio.Event:
        return self.publisher.failed

    async def observed(self, res: Resource, event: str, obj: Obj) -> None:
        if event not in _LIVE_TYPES:
            raise ValueError(f"{event!r} is not a live watch event")
        kind: StateType = event  # type: ignore[assignment]  # narrowed by the membership test
        meta = obj.get("metadata") or {}
        envelope = StateEnvelope.observed(kind, obj)
        subject = subjects.state(res.kind, meta.get("namespace", ""), meta["name"])
        await self.publisher.send(subject, envelope, msg_id=f"{envelope.uid}:{envelope.resource_version}")
        metrics.child(PUBLISHED, res.kind, kind).inc()

    async def vanished(self, res: Resource, namespace: str, name: str, uid: str, last: Obj | None) -> None:
        if last is not None:  # a watch DELETED event: the object's last state comes along
            envelope = StateEnvelope.observed("DELETED", last)
        else:  # a relist no longer finds it: we never saw it go
            ref = ObjectRef(api_version=res.api_version, kind=res.api_kind, namespace=namespace, name=name, uid=uid)
            envelope = StateEnvelope(type="TOMBSTONE", ref=ref, uid=uid)
        await self.publisher.flush()
        await self.bus.publish(subjects.state(res.kind, namespace, name), envelope, msg_id=f"{uid}:gone",
                               ttl=self.tombstone_ttl)
        metrics.child(PUBLISHED, res.kind, envelope.type).inc()

    async def flush(self) -> None:
        await self.publisher.flush()


def watched_specs(extra: tuple[KindSpec, ...]) -> list[KindSpec]:
    """RAY + OWNED, with extra specs added (an extra spec for a listed kind replaces it)."""
    by_kind = {s.kind: s for s in (*RAY, *OWNED)}
    for s in extra:
        by_kind[s.kind] = s
    return list(by_kind.values())


def resolve(catalog: Catalog, required: list[KindSpec], optional: tuple[KindSpec, ...]
            ) -> tuple[list[Resource], list[Resource]]:
    """The required and the optional specs at the versions the server serves. A required kind
    that is not served is an error naming it; an optional one is left out with a log line."""
    resolved = {s.kind: catalog.resolve(s) for s in required}
    missing = [s for s in required if resolved[s.kind] is None]
    if missing:
        raise LookupError("the API server does not serve " + "; ".join(
            f"{s.api_kind} of {s.group or 'the core group'} at {' or '.join(s.versions) or 'any version'} "
            f"(served: {', '.join(catalog.versions(s.group, s.api_kind)) or 'none'})" for s in missing))
    found = []
    for spec in optional:
        if spec.kind in resolved:
            continue
        res = catalog.resolve(spec)
        if res is None:
            log.info("not watching %s: %s %s is not served (CRD not installed)", spec.kind, spec.group, spec.api_kind)
            continue
        found.append(res)
    return [r for r in resolved.values() if r is not None], found


async def list_denied(kube: KubeClient, res: Resource, namespace: str | None) -> ApiError | None:
    """The API server's refusal to list `res` in `namespace` (None: in all): a 403 (no
    permission) or a 404 (the CRD went since discovery). None if it lists, or if the check
    itself failed otherwise (then the watch will find out, and say so in readiness)."""
    try:
        await kube.request("GET", res.collection(namespace), params={"limit": "1"}, timeout=10)
    except ApiError as e:
        if e.status in (403, 404):
            return e
        log.warning("checking whether %s can be listed failed (%s); watching it anyway", res.kind, e)
    return None


Planned = list[tuple[Resource, list[Target]]]


async def plan_watches(kube: KubeClient, required: list[Resource], optional: list[Resource],
                       namespaces: list[str], *, wide: bool) -> Planned:
    """Each kind to watch, with where: `plan.targets`, except that a kind this watcher may not
    list cluster-wide is watched in each namespace instead (RBAC granted per namespace, as
    KubeRay's chart does with `singleNamespaceInstall`), and an optional kind (a scheduler's, the
    Gateway API's) it may not list is not watched at all (a watch that can never list would keep
    it unready)."""
    planned: Planned = []
    optional_kinds = {r.kind for r in optional}
    per_namespace: dict[str, str] = {}  # kind → why it may not be listed cluster-wide
    for res in (*required, *optional):
        where = targets(res.namespaced, namespaces, wide=wide)
        optional_kind = res.kind in optional_kinds
        denied = await list_denied(kube, res, where[0].namespace) if where[0].filtered or optional_kind else None
        if denied is not None and denied.status == 403 and where[0].filtered:
            per_namespace[res.kind] = denied.message
            where = targets(res.namespaced, namespaces, wide=False)
            denied = await list_denied(kube, res, where[0].namespace) if optional_kind else None
        if denied is not None and optional_kind:
            log.warning("not watching %s: cannot list %s (%s)", res.kind, res.plural, denied.message)
            continue
        planned.append((res, where))
    if per_namespace:
        log.warning("may not list %s in all namespaces: watching each in every one of the %d namespaces instead, "
                    "one connection a watch (grant list/watch cluster-wide to watch each kind once); e.g. %s",
                    ", ".join(per_namespace), len(set(namespaces)), next(iter(per_namespace.values())))
    return planned


async def known_alive(bus: Bus, kinds: list[str]) -> dict[str, dict[NameKey, str]]:
    """Per kind, what the bus shows alive: (namespace, name) → uid. Gone ones are left out."""
    known: dict[str, dict[NameKey, str]] = {k: {} for k in kinds}
    done = False

    def handler_for(kind: str) -> Handler[StateEnvelope]:
        async def handle(msg: Message[StateEnvelope]) -> None:
            if done:  # live messages after the replay are our own publishes
                return
            env, key = msg.envelope, (msg.envelope.ref.namespace, msg.envelope.ref.name)
            if env.gone:
                known[kind].pop(key, None)
            else:
                known[kind][key] = env.uid
        return handle

    subs = [await bus.last_per_subject(subjects.of_kind("state", k), StateEnvelope, handler_for(k)) for k in kinds]
    await asyncio.gather(*(s.replayed.wait() for s in subs))
    done = True
    for s in subs:
        s.stop()
    return known


async def _connect(settings: WatcherSettings, pool: int) -> KubeClient:
    try:
        return await KubeClient.connect(kubeconfig=settings.kubeconfig or None, qps=settings.qps,
                                        burst=settings.burst, pool=pool)
    except ConfigException as e:  # no kubeconfig and not in a cluster: say so, exit 1
        raise ConnectionError(f"cannot configure the Kubernetes client: {e}") from e


async def start(svc: Service, settings: WatcherSettings) -> None:
    """Decide what to watch where and learn what the bus shows alive (on a small client), then
    start every watch on a client with a connection for each, and the Ray job poller."""
    namespaces = list(settings.watch_namespaces)
    wide = cluster_wide(namespaces, settings.watch_cluster_wide_above)
    probe = await _connect(settings, pool=pool_size(0))
    try:
        try:
            required, optional = resolve(await fetch(probe), watched_specs(settings.extra_resources), OPTIONAL)
        except (ApiError, LookupError) as e:  # say so and exit 1, as for a missing kubeconfig
            raise ConnectionError(f"cannot resolve the kinds to watch: {e}") from e
        planned = await plan_watches(probe, required, optional, namespaces, wide=wide)
        known = await known_alive(svc.bus, [r.kind for r, _ in planned])
    finally:
        await probe.close()
    count = sum(len(where) for _, where in planned)
    kube = await _connect(settings, pool=pool_size(count))
    stop = svc.stop_requested
    http = new_http(max_connections=settings.ray_poll_concurrency)
    share = PollShare(LeaseManager(await svc.bus.key_value(LEASE_BUCKET), POLL_LEASES, replica_id(),
                                   ttl=settings.lease_ttl))
    pollers = share.pollers = _pollers(svc.bus, http, SecretCache(kube), settings, share.owns)
    targets = share.collector()
    REGISTRY.register(targets)
    svc.after_drain(lambda: _unregister(targets))
    for poller in pollers:  # before the watches report: an object gone meanwhile has its observation deleted
        await poller.learn()
    watches = [_watch(kube, res, t, known_in(known[res.kind], t), svc.bus, settings, pollers)
               for res, where in planned for t in where]
    svc.ready_unless(lambda: summarize(w.problem for w in watches))  # Ray's dashboards play no part
    tasks = [svc.spawn(w.run(stop), name=f"watch-{w.res.kind}-{w.namespace or 'all'}") for w in watches]
    tasks.append(svc.spawn(_poll(pollers, http, stop), name="ray-pollers"))
    tasks.append(svc.spawn(share.run(stop), name="ray-poll-leases"))
    svc.spawn(_close_after(kube, stop, tasks), name="watcher-kube-close")
    log.info("watching %s in %s: %d watches, %d connections at most",
             ", ".join(f"{r.kind} ({r.api_version})" for r, _ in planned),
             ", ".join(namespaces) or "all namespaces", count, pool_size(count))


async def _unregister(collector: Collector) -> None:
    REGISTRY.unregister(collector)


Pollers = tuple[DashboardPoller[Any, Any], ...]


def _pollers(bus: Bus, http: AsyncClient, secrets: SecretCache, settings: WatcherSettings,
             owns: Callable[[NameKey], bool]) -> Pollers:
    """The Ray job poller and the serve poller, on one HTTP client and one set of poll slots,
    each polling the targets `owns` says are this replica's."""
    def options(kind: str) -> dict[str, Any]:
        return {"access": settings.ray_dashboard_access, "timeout": settings.ray_timeout_seconds,
                "interval": settings.ray_poll_seconds, "concurrency": settings.ray_poll_concurrency,
                "tombstone_ttl": settings.tombstone_ttl_seconds, "owns": owns,
                "on_published": lambda event: PUBLISHED.labels(kind, event).inc()}

    jobs = RayJobPoller(bus, http, secrets.get, **options(RayJobPoller.subject_kind))
    serve = ServePoller(bus, http, secrets.get, slots=jobs.slots, **options(ServePoller.subject_kind))
    return jobs, serve


def _watch(kube: KubeClient, res: Resource, target: Target, known: dict[NameKey, str], bus: Bus,
           settings: WatcherSettings, pollers: Pollers) -> ResourceWatch:
    async def listed() -> None:
        LISTS.labels(res.kind).inc()

    sink: Sink = BusSink(bus, tombstone_ttl=settings.tombstone_ttl_seconds, window=settings.publish_window)
    tapped = [p for p in pollers if res.kind in p.tapped]  # RayJobs and RayClusters: what the pollers poll
    if tapped:
        sink = Tap(sink, *tapped)
    return ResourceWatch(kube, res, target.namespace, sink, known, keep=target.keep,
                         watch_timeout=settings.watch_timeout_seconds, on_listed=listed,
                         on_gone=EXPIRED.labels(res.kind).inc)


async def _poll(pollers: Pollers, http: AsyncClient, stop: asyncio.Event) -> None:
    try:
        async with asyncio.TaskGroup() as group:  # one failing stops the others
            for poller in pollers:
                group.create_task(poller.run(stop), name=f"{poller.subject_kind}-poller")
    finally:
        await http.aclose()


async def _close_after(kube: KubeClient, stop: asyncio.Event, tasks: list[asyncio.Task[object]]) -> None:
    """Close the Kubernetes client once every watch has ended (they end when stop is set)."""
    await stop.wait()
    await asyncio.gather(*tasks, return_exceptions=True)
    await kube.close()
