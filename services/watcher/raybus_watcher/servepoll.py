"""The serve poller: what each RayService's RayCluster serves, as `RayServeApplications`
observations on `raybus.state.rayserveapplications.<ns>.<raycluster>`.

The watcher's RayCluster watch hands it every observation (through `raypoll.Tap`); which
clusters to poll, where their dashboards and proxies are and when each is due is
`servepoll_plan.ServePlan`. A RayCluster made by a RayService whose head is ready is polled at
once, then every `RAYBUS_RAY_POLL_SECONDS` (±10%), by the same machinery as the Ray job poller
(`raypoll.DashboardPoller`: the same access, token, timeout and slots, shared with it):

- `GET http://<head pod IP>:<serve port>/-/healthz`, the head's Serve proxy (KubeRay's
  `updateHeadPodServeLabel` check: 200 is healthy, anything else or no answer is not, with why);
- `GET /api/serve/applications/?api_type=declarative` on the cluster's dashboard (KubeRay's
  `getAndCheckServeStatus`), made a `ray.serve.ServeApps`: per application (`""` as `"default"`)
  its status, message, deployments and deployed config, or `error` when the dashboard could not
  be asked. An error keeps the applications of the last answer beside it, as a `RayJobInfo`
  keeps its job's status;
- `ray.serve.apps_object` makes it an observation (named after the RayCluster, owned by its
  RayService), published only when it changed.

A RayCluster that is no longer a target (its head not ready) is not polled; its last
observation stays on the bus, and serve-ctl reads `HeadPodReady` from the RayCluster first, as
KubeRay does. A RayCluster deleted gets its `RayServeApplications` deleted too, before the
RayCluster's own tombstone. Metrics: `raybus_watcher_serve_polls` by outcome (answered, error),
`raybus_watcher_ray_poll_seconds`.
"""

from __future__ import annotations

from datetime import datetime

from prometheus_client import Counter

from raybus_common.ray.dashboard import proxy_health
from raybus_common.ray.serve import SUBJECT_KIND, ProxyHealth, ServeApps, apps_object, apps_of, of_cluster

from .raypoll import DashboardPoller, Unasked
from .servepoll_plan import ServePlan, ServeTarget
from .watching import Obj

POLLS = Counter("raybus_watcher_serve_polls", "Polls of a RayService cluster's Serve applications, by outcome "
                "(answered, error).", ["outcome"])
_OUTCOMES = {o: POLLS.labels(o) for o in ("answered", "error")}


class ServePoller(DashboardPoller[ServeTarget, ServeApps]):
    subject_kind = SUBJECT_KIND
    tapped = frozenset({"raycluster"})
    plan: ServePlan

    def new_plan(self, interval: float) -> ServePlan:
        return ServePlan(interval)

    def observed(self, kind: str, obj: Obj) -> None:
        if kind == "raycluster":
            self.plan.cluster(obj, self.clock())
            self.wake()

    async def vanished(self, kind: str, namespace: str, name: str, uid: str) -> None:
        """A RayCluster gone: not polled, and its `RayServeApplications` deleted (when the bus
        shows one of that RayCluster)."""
        if kind == "raycluster":
            self.plan.cluster_gone((namespace, name))
            await self.delete_shown(namespace, name, lambda last: not uid or of_cluster(last, uid))

    async def poll(self, target: ServeTarget) -> ServeApps:
        """The head's proxy health, then the cluster's Serve applications, or the error."""
        error = await proxy_health(self.http, target.proxy_url, timeout=self.timeout)
        proxy = ProxyHealth(pod_name=target.head_pod, healthy=not error, error=error)
        try:
            answer = await self.ask(target.namespace, target.dashboard, lambda client: client.serve_applications())
        except Unasked as e:
            _OUTCOMES["error"].inc()
            last = apps_of(self.shown.get(target.key))
            kept = last[1] if last is not None and of_cluster(self.shown[target.key], target.uid) else ServeApps()
            return kept.model_copy(update={"proxy": proxy, "error": str(e)})
        _OUTCOMES["answered"].inc()
        return ServeApps.from_dashboard(answer, proxy)

    def observation(self, target: ServeTarget, found: ServeApps, observed_at: datetime) -> Obj:
        return apps_object(target.cluster, apps=found, observed_at=observed_at)
