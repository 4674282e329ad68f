"""When each target of a Ray poller is due (`Schedule`, shared by the Ray job poller and the serve
poller), and which RayJobs the Ray job poller polls and where each one's dashboard is
(`PollPlan`). Pure: no I/O, no clock and no randomness (times and the jitter are passed in).

A RayJob is a *poll target* while, as last observed,

- `status.jobDeploymentStatus` is `Running`,
- `status.jobId` (the submission id) and `status.rayClusterName` are set, and
- that RayCluster (same namespace) is known.

Its dashboard is `ray.jobs.dashboard_of(cluster, url=status.dashboardURL)`; how it is reached
is the poller's setting, not the plan's. What makes a target is read from the RayJob and its
RayCluster each time either is observed (`rayjob`, `cluster`, and their `*_gone`):

| change | schedule |
|---|---|
| a RayJob becomes a target, or its submission id, cluster, uid or dashboard changes | due at once (after the poll in flight, if one is) |
| the target stays the same (a status write that moves nothing the poll reads) | unchanged |
| a poll finished (`polled`) | due `interval` later, spread by up to ±`jitter` of it |
| no longer a target (another deployment status, the RayJob or its cluster gone) | dropped; a poll in flight finishes, its answer unwanted |

A target has at most one poll in flight (`start` … `polled`): `due` never offers it again
before its answer is in. The schedule's rules (the rows but the first two's reading of a
RayJob) are `Schedule`'s, whatever a target is: a plan says what its targets are now
(`put`, `drop`), the schedule when each is due.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from raybus_common.ray.jobs import Dashboard, dashboard_of

from .plan import NameKey

Obj = Mapping[str, Any]
RUNNING = "Running"  # the jobDeploymentStatus in which KubeRay polls the Ray job


@dataclass(frozen=True)
class Target:
    """What a poller polls: the object (namespace, name, uid) whose observation it publishes.
    Equal targets poll the same thing."""

    namespace: str
    name: str
    uid: str

    @property
    def key(self) -> NameKey:
        return self.namespace, self.name


@dataclass(frozen=True)
class PollTarget(Target):
    """One RayJob to poll: `GET /api/jobs/<submission_id>` on `dashboard`. Equal targets poll
    the same thing (what the plan keeps of the RayJob, `kept`, rides along uncompared)."""

    submission_id: str
    cluster: str
    dashboard: Dashboard
    rayjob: Obj = field(compare=False, repr=False)


def _key(obj: Obj) -> NameKey:
    meta = obj.get("metadata") or {}
    return str(meta.get("namespace") or ""), str(meta.get("name") or "")


def poll_target(rayjob: Obj, cluster: Obj | None) -> PollTarget | None:
    """What polling `rayjob` means now, with `cluster` its `status.rayClusterName` as observed
    (None: not known); None when it is not to be polled (see the module's rules)."""
    if cluster is not None and _key(cluster) != (_key(rayjob)[0], (rayjob.get("status") or {}).get("rayClusterName")):
        return None
    return _target(rayjob, dashboard_of(cluster) if cluster is not None else None)


def _target(rayjob: Obj, cluster: Dashboard | None) -> PollTarget | None:
    """`poll_target` with the cluster's dashboard as `dashboard_of` gave it without a URL: the
    RayJob's `status.dashboardURL` is the only part of a `Dashboard` the RayJob decides."""
    status = rayjob.get("status") or {}
    submission_id, cluster_name = status.get("jobId"), status.get("rayClusterName")
    if status.get("jobDeploymentStatus") != RUNNING or not submission_id or not cluster_name or cluster is None:
        return None
    namespace, name = _key(rayjob)
    return PollTarget(namespace=namespace, name=name, uid=str((rayjob.get("metadata") or {}).get("uid") or ""),
                      submission_id=str(submission_id), cluster=str(cluster_name),
                      dashboard=cluster.model_copy(update={"url": str(status.get("dashboardURL") or "")}),
                      rayjob=rayjob)


def kept(rayjob: Obj) -> dict[str, Any]:
    """What the plan keeps of a RayJob: what makes it a target and what its `RayJobInfo` is
    named after (`ray.jobs.info_object`), so thousands of RayJobs cost little memory."""
    meta = rayjob.get("metadata") or {}
    status = rayjob.get("status") or {}
    return {"apiVersion": rayjob.get("apiVersion", "ray.io/v1"), "kind": rayjob.get("kind", "RayJob"),
            "metadata": {k: meta[k] for k in ("name", "namespace", "uid") if k in meta},
            "status": {k: status[k] for k in ("jobDeploymentStatus", "jobId", "rayClusterName", "dashboardURL")
                       if k in status}}


T = TypeVar("T", bound=Target)


class Schedule(Generic[T]):
    """The targets of a poller and when each is due, by key."""

    def __init__(self, interval: float, jitter: float = 0.1) -> None:
        if interval <= 0 or not 0 <= jitter < 1:
            raise ValueError("a poll interval above 0 and a jitter in [0, 1) are needed")
        self.interval = interval
        self.jitter = jitter
        self._targets: dict[NameKey, T] = {}
        self._due: dict[NameKey, float] = {}  # targets not in flight → when they are due
        self._in_flight: set[NameKey] = set()
        self._again: set[NameKey] = set()  # in flight, but the target changed: due as soon as it is back

    def target(self, key: NameKey) -> T | None:
        return self._targets.get(key)

    def targets(self) -> dict[NameKey, T]:
        return dict(self._targets)

    def due(self, now: float) -> list[T]:
        """The targets due by `now` and not in flight, the most overdue first."""
        ready = sorted((when, key) for key, when in self._due.items() if when <= now)
        return [self._targets[key] for _, key in ready]

    def next_due(self) -> float | None:
        """When the next target not in flight is due (None: none is scheduled)."""
        return min(self._due.values(), default=None)

    def start(self, key: NameKey) -> None:
        """A poll of `key` is under way: not due again until `polled`."""
        if key in self._targets:
            self._due.pop(key, None)
            self._in_flight.add(key)

    def polled(self, key: NameKey, now: float, spread: float = 0.0) -> None:
        """The poll of `key` finished at `now`: due again `interval` later, moved by
        `spread` (in [-1, 1]) times the jitter, or at once if the target changed meanwhile."""
        self._in_flight.discard(key)
        again = key in self._again
        self._again.discard(key)
        if key not in self._targets:
            return
        spread = max(-1.0, min(1.0, spread))
        self._due[key] = now if again else now + self.interval * (1.0 + self.jitter * spread)

    def in_flight(self, key: NameKey) -> bool:
        return key in self._in_flight

    def hurry(self, which: Callable[[NameKey], bool], now: float) -> None:
        """Every target that `which` picks and that is not in flight is due at `now` (those of
        partitions this replica just gained)."""
        for key in self._targets:
            if key not in self._in_flight and which(key):
                self._due[key] = now

    def put(self, key: NameKey, target: T | None, now: float) -> None:
        """`key`'s target is now `target` (None: it is none): a new or changed target is due at
        once (after the poll in flight), the same one keeps its schedule (the newest object rides
        along), none is dropped."""
        if target is None:
            self.drop(key)
            return
        before = self._targets.get(key)
        self._targets[key] = target
        if before == target:
            return
        if key in self._in_flight:
            self._again.add(key)
        else:
            self._due[key] = now

    def drop(self, key: NameKey) -> None:
        """`key` is no longer polled; a poll in flight finishes, its answer unwanted."""
        self._targets.pop(key, None)
        self._due.pop(key, None)
        self._again.discard(key)


class PollPlan(Schedule[PollTarget]):
    """The RayJobs and RayClusters as last observed, the targets they make, and when each is due."""

    def __init__(self, interval: float, jitter: float = 0.1) -> None:
        super().__init__(interval, jitter)
        self._rayjobs: dict[NameKey, Obj] = {}
        self._clusters: dict[NameKey, Dashboard] = {}  # `dashboard_of` each RayCluster (without a URL)
        self._jobs_of: defaultdict[NameKey, set[NameKey]] = defaultdict(set)  # cluster → RayJobs naming it

    # -- what was observed ----------------------------------------------------------------------
    def rayjob(self, obj: Obj, now: float) -> None:
        key = _key(obj)
        self._unindex(key)
        self._rayjobs[key] = kept(obj)
        cluster = (obj.get("status") or {}).get("rayClusterName")
        if cluster:
            self._jobs_of[(key[0], str(cluster))].add(key)
        self._refresh(key, now)

    def rayjob_gone(self, key: NameKey) -> None:
        self._unindex(key)
        self._rayjobs.pop(key, None)
        self.drop(key)

    def cluster(self, obj: Obj, now: float) -> None:
        key, dashboard = _key(obj), dashboard_of(obj)
        if self._clusters.get(key) == dashboard:
            return  # a status write that moves nothing of the dashboard's (most of them)
        self._clusters[key] = dashboard
        for job in sorted(self._jobs_of.get(key, ())):
            self._refresh(job, now)

    def cluster_gone(self, key: NameKey, now: float) -> None:
        self._clusters.pop(key, None)
        for job in sorted(self._jobs_of.get(key, ())):
            self._refresh(job, now)

    def _refresh(self, key: NameKey, now: float) -> None:
        rayjob = self._rayjobs.get(key)
        cluster_name = ((rayjob or {}).get("status") or {}).get("rayClusterName")
        cluster = self._clusters.get((key[0], str(cluster_name))) if cluster_name else None
        self.put(key, _target(rayjob, cluster) if rayjob is not None else None, now)

    def _unindex(self, key: NameKey) -> None:
        old = self._rayjobs.get(key)
        cluster = ((old or {}).get("status") or {}).get("rayClusterName")
        if not cluster:
            return
        jobs = self._jobs_of.get((key[0], str(cluster)))
        if jobs is not None:
            jobs.discard(key)
            if not jobs:
                del self._jobs_of[(key[0], str(cluster))]
