"""serve-ctl's reconcile over a RayService's life on a fake clock: the first cluster, its serve
config put when Ray does not show it deployed, the Services pointed at it once its applications
run and its proxy answers, promotion, a serve config change (in place), a cluster spec change
(a pending cluster, the switch, the old cluster deleted after the delay, the timer in the
cluster's annotation), worker groups appended (in place), upgradeStrategy None, validation,
suspend and deletion."""

from __future__ import annotations

import copy
from datetime import datetime, timedelta
from typing import Any

import pytest
from serve_core_views import NOW, NS, OWNER, UID, cluster_config, rayservice, worker

from raybus_common.actions import (
    AddFinalizer,
    Apply,
    Delete,
    Patch,
    RayPutServeConfig,
    RecordEvent,
    RemoveFinalizer,
)
from raybus_common.controller.view import Observed, RootKey
from raybus_common.decision import Decision
from raybus_common.ray.serve import AppStatus, ProxyHealth, ServeApps, apps_object
from raybus_serve_ctl.config import ServeConfig
from raybus_serve_ctl.reconcile import DELETE_AFTER_ANNOTATION, reconcile

Obj = dict[str, Any]
CONFIG = ServeConfig()
SERVE_V2 = "applications:\n- name: hello\n  import_path: raybus_hello:app\n  route_prefix: /\n"
APP = {"name": "hello", "import_path": "raybus_hello:app", "route_prefix": "/"}
HEAD_READY = [{"type": "HeadPodReady", "status": "True", "reason": "HeadPodRunningAndReady"}]


def service(**spec: Any) -> Obj:
    obj = rayservice(**spec)
    obj["spec"]["serveConfigV2"] = spec.get("serveConfigV2", SERVE_V2)
    obj["metadata"]["finalizers"] = ["ray.io/rayservice-finalizer"]
    return obj


def cluster(name: str, config: Obj | None = None, *, ready: bool = True, workers: int = 1,
            annotations: dict[str, str] | None = None, of: Obj | None = None) -> Obj:
    """A cluster as cluster-ctl keeps it: made by serve-ctl's own builder from `of` (a RayService)."""
    from raybus_serve_ctl.cluster import ray_cluster_for

    rs = of or service(config=config or cluster_config())
    obj = ray_cluster_for(rs, name=name, kuberay_version=CONFIG.kuberay_version, unset_replicas=False)
    obj["metadata"]["uid"] = f"uid-{name}"
    obj["metadata"]["annotations"].update(annotations or {})
    obj["status"] = {"conditions": HEAD_READY if ready else [], "readyWorkerReplicas": workers}
    return obj


def head_pod(cluster_name: str, serve: str = "false") -> Obj:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": f"{cluster_name}-head-x", "namespace": NS, "uid": f"pod-{cluster_name}",
                         "labels": {"ray.io/cluster": cluster_name, "ray.io/node-type": "head", "ray.io/serve": serve,
                                    "ray.io/originated-from-cr-name": "rs",
                                    "ray.io/originated-from-crd": "RayService"}},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}}


def apps(of: Obj, *, status: str = "RUNNING", config: Obj | None = None, healthy: bool = True,
         none: bool = False) -> Obj:
    deployed = {"hello": AppStatus(status=status, deployed_app_config=config or APP)}
    found = ServeApps(applications={} if none else deployed,
                      proxy=ProxyHealth(pod_name=f"{of['metadata']['name']}-head-x", healthy=healthy))
    return apps_object(of, apps=found, observed_at=NOW)


def svc(name: str, selects: str) -> Obj:
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": NS, "uid": f"svc-{name}", "ownerReferences": [OWNER]},
            "spec": {"selector": {"ray.io/cluster": selects}, "clusterIP": "None"}}


def run(rs: Obj, *, clusters: list[Obj] = (), services: list[Obj] = (), observations: list[Obj] = (),  # type: ignore[assignment]
        pods: list[Obj] = (), at: datetime = NOW, settings: ServeConfig = CONFIG,  # type: ignore[assignment]
        gateways: list[Obj] = (), routes: list[Obj] = ()) -> Decision:  # type: ignore[assignment]
    observed = Observed(RootKey("rayservice", NS, "rs"), rs, {
        "raycluster": tuple(clusters), "service": tuple(services), "rayserveapplications": tuple(observations),
        "pod": tuple(pods), "gateway": tuple(gateways), "httproute": tuple(routes)})
    return reconcile(observed, now=at, settings=settings)


def of(d: Decision, kind: type) -> list[Any]:
    return [a for a in d.actions if isinstance(a, kind)]


def names(st: Obj) -> tuple[str, str]:
    return ((st.get("activeServiceStatus") or {}).get("rayClusterName", ""),
            (st.get("pendingServiceStatus") or {}).get("rayClusterName", ""))


def cond(st: Obj, kind: str) -> tuple[str, str]:
    c = next(c for c in st["conditions"] if c["type"] == kind)
    return c["status"], c["reason"]


def with_status(rs: Obj, d: Decision) -> Obj:
    out = copy.deepcopy(rs)
    out["status"] = d.status if d.status is not None else rs.get("status")
    return out


# -- the first cluster ---------------------------------------------------------------------------

def test_the_first_pass_adds_the_finalizer_names_a_pending_cluster_and_initializes() -> None:
    rs = service()
    del rs["metadata"]["finalizers"]
    d = run(rs)
    assert [a.finalizer for a in of(d, AddFinalizer)] == ["ray.io/rayservice-finalizer"]
    assert d.status is not None
    active, pending = names(d.status)
    assert active == "" and pending.startswith("rs-") and len(pending) == len("rs-") + 5
    assert cond(d.status, "Ready") == ("False", "Initializing")
    assert d.requeue_after == 2.0
    assert run(rs).status == d.status | {"lastUpdateTime": d.status["lastUpdateTime"]}, "the same name again"


def test_the_named_pending_cluster_is_created_once() -> None:
    rs = with_status(service(), run(service()))
    pending = names(rs["status"])[1]
    d = run(rs)
    created = of(d, Apply)
    assert [a.object["metadata"]["name"] for a in created] == [pending] and created[0].create_only
    assert created[0].success_event is not None and created[0].success_event.reason == "CreatedRayCluster"
    assert created[0].object["metadata"]["ownerReferences"] == [OWNER]


def test_a_cluster_whose_head_is_not_ready_gets_no_config() -> None:
    rs = with_status(service(), run(service()))
    pending = names(rs["status"])[1]
    c = cluster(pending, ready=False, of=rs)
    d = run(rs, clusters=[c])
    assert of(d, RayPutServeConfig) == [] and of(d, Apply) == []


@pytest.mark.parametrize("observation", ["none yet", "no application", "another config"])
def test_the_config_is_put_when_ray_does_not_show_it_deployed(observation: str) -> None:
    rs = with_status(service(), run(service()))
    pending = names(rs["status"])[1]
    c = cluster(pending, of=rs)
    seen = {"none yet": [], "no application": [apps(c, none=True)],
            "another config": [apps(c, config={**APP, "import_path": "other:app"})]}[observation]
    d = run(rs, clusters=[c], observations=seen, pods=[head_pod(pending)])
    puts = of(d, RayPutServeConfig)
    if observation == "none yet":
        assert puts == []  # the poller has not asked Ray yet: nothing to compare with
    else:
        assert [p.config for p in puts] == [{"applications": [APP]}]
        assert puts[0].ref.kind == "RayServeApplications" and puts[0].ref.name == pending
    assert of(d, Apply) == [], "no Service points at a cluster whose application is not deployed"


def test_running_and_healthy_the_services_point_at_it_and_the_head_is_labelled() -> None:
    rs = with_status(service(), run(service()))
    pending = names(rs["status"])[1]
    c = cluster(pending, of=rs)
    d = run(rs, clusters=[c], observations=[apps(c)], pods=[head_pod(pending)])
    assert of(d, RayPutServeConfig) == []
    made = {a.object["metadata"]["name"]: a.object for a in of(d, Apply)}
    assert set(made) == {"rs-head-svc", "rs-serve-svc"}
    assert all(s["spec"]["selector"]["ray.io/cluster"] == pending for s in made.values())
    label = of(d, Patch)
    assert [p.patch for p in label] == [{"metadata": {"labels": {"ray.io/serve": "true"}}}]


@pytest.mark.parametrize(("status", "healthy"), [("DEPLOYING", True), ("RUNNING", False)])
def test_no_service_points_at_a_cluster_not_running_or_whose_proxy_fails(status: str, healthy: bool) -> None:
    rs = with_status(service(), run(service()))
    pending = names(rs["status"])[1]
    c = cluster(pending, of=rs)
    d = run(rs, clusters=[c], observations=[apps(c, status=status, healthy=healthy)], pods=[head_pod(pending)])
    assert of(d, Apply) == []


def test_the_services_selecting_the_pending_cluster_promote_it_and_ready_follows() -> None:
    rs = with_status(service(), run(service()))
    pending = names(rs["status"])[1]
    c = cluster(pending, of=rs)
    d = run(rs, clusters=[c], observations=[apps(c)], pods=[head_pod(pending, serve="true")],
            services=[svc("rs-head-svc", pending), svc("rs-serve-svc", pending)])
    assert d.status is not None and names(d.status) == (pending, "")
    assert d.status["numServeEndpoints"] == 2  # one worker, and the head
    assert cond(d.status, "Ready") == ("True", "NonZeroServeEndpoints")
    assert cond(d.status, "UpgradeInProgress") == ("False", "NoPendingCluster")
    assert d.status["serviceStatus"] == "Running"
    assert d.status["activeServiceStatus"]["applicationStatuses"] == {"hello": {"status": "RUNNING"}}


def serving(rs: Obj) -> tuple[Obj, Obj, list[Obj]]:
    """`rs` with its first cluster active and Ready; that cluster; the Services."""
    rs = with_status(rs, run(rs))
    name = names(rs["status"])[1]
    c = cluster(name, of=rs)
    services = [svc("rs-head-svc", name), svc("rs-serve-svc", name)]
    d = run(rs, clusters=[c], observations=[apps(c)], pods=[head_pod(name, serve="true")], services=services)
    return with_status(rs, d), c, services


# -- changes ---------------------------------------------------------------------------------------

def test_a_changed_serve_config_is_put_on_the_active_cluster_in_place() -> None:
    rs, c, services = serving(service())
    rs["spec"]["serveConfigV2"] = SERVE_V2.replace("route_prefix: /", "route_prefix: /v2")
    d = run(rs, clusters=[c], observations=[apps(c)], pods=[head_pod(c["metadata"]["name"], "true")],
            services=services)
    assert [p.config["applications"][0]["route_prefix"] for p in of(d, RayPutServeConfig)] == ["/v2"]
    assert names(d.status or rs["status"])[1] == "", "no new cluster for a serve config"


def test_a_changed_cluster_spec_brings_up_a_pending_cluster_and_switches_only_once_it_runs() -> None:
    rs, old, services = serving(service())
    old_name = old["metadata"]["name"]
    rs["spec"]["rayClusterConfig"] = cluster_config(image="rayproject/ray:2.53.0")
    rs["metadata"]["generation"] = 2
    views: dict[str, Any] = {"services": services, "pods": [head_pod(old_name, "true")]}
    d = run(rs, clusters=[old], observations=[apps(old)], **views)
    active, pending = names(d.status or {})
    assert active == old_name and pending not in ("", old_name)
    assert cond(d.status or {}, "UpgradeInProgress") == ("True", "BothActivePendingClustersExist")
    rs = with_status(rs, d)
    new = cluster(pending, of=rs)
    # Deploying on the new cluster: the Services stay on the old one.
    d = run(rs, clusters=[old, new], observations=[apps(old), apps(new, status="DEPLOYING")],
            pods=[head_pod(old_name, "true"), head_pod(pending, "true")], services=services)
    assert of(d, Apply) == []
    # Running: both Services switch to it, keeping their cluster IPs.
    d = run(rs, clusters=[old, new], observations=[apps(old), apps(new)],
            pods=[head_pod(old_name, "true"), head_pod(pending, "true")], services=services)
    switched = {a.object["metadata"]["name"]: a.object for a in of(d, Apply)}
    assert set(switched) == {"rs-head-svc", "rs-serve-svc"}
    assert all(s["spec"]["selector"]["ray.io/cluster"] == pending for s in switched.values())
    assert all(s["spec"]["clusterIP"] == "None" for s in switched.values())
    # Seen switched: promoted; the old cluster gets its deletion time, 60 s on.
    services = [svc("rs-head-svc", pending), svc("rs-serve-svc", pending)]
    d = run(rs, clusters=[old, new], observations=[apps(old), apps(new)],
            pods=[head_pod(old_name, "true"), head_pod(pending, "true")], services=services)
    assert names(d.status or {}) == (pending, "")
    marks = [p for p in of(d, Patch) if p.ref.name == old_name]
    assert [m.patch["metadata"]["annotations"][DELETE_AFTER_ANNOTATION] for m in marks] == ["2026-12-01T12:01:00Z"]
    assert of(d, Delete) == [] and d.requeue_after is not None and d.requeue_after <= 60
    # Before the time the old cluster stays, after it goes (whichever replica, whenever restarted).
    rs = with_status(rs, d)
    marked = copy.deepcopy(old)
    marked["metadata"]["annotations"][DELETE_AFTER_ANNOTATION] = "2026-12-01T12:01:00Z"
    early = run(rs, clusters=[marked, new], observations=[apps(new)], services=services,
                pods=[head_pod(pending, "true")], at=NOW + timedelta(seconds=30))
    assert of(early, Delete) == [] and early.requeue_after == 30.0
    late = run(rs, clusters=[marked, new], observations=[apps(new)], services=services,
               pods=[head_pod(pending, "true")], at=NOW + timedelta(seconds=61))
    assert [x.ref.name for x in of(late, Delete)] == [old_name]


def test_appended_worker_groups_update_the_active_cluster_in_place() -> None:
    rs, c, services = serving(service())
    rs["spec"]["rayClusterConfig"] = cluster_config(workers=[worker(), worker("big")])
    d = run(rs, clusters=[c], observations=[apps(c)], pods=[head_pod(c["metadata"]["name"], "true")],
            services=services)
    updates = [a for a in of(d, Apply) if a.object["kind"] == "RayCluster"]
    assert len(updates) == 1 and not updates[0].create_only
    assert [g["groupName"] for g in updates[0].object["spec"]["workerGroupSpecs"]] == ["small", "big"]
    assert names(d.status or rs["status"])[1] == ""


def test_upgrade_strategy_none_never_brings_up_a_cluster() -> None:
    rs, c, services = serving(service(upgradeStrategy={"type": "None"}))
    rs["spec"]["rayClusterConfig"] = cluster_config(image="rayproject/ray:2.53.0")
    d = run(rs, clusters=[c], observations=[apps(c)], pods=[head_pod(c["metadata"]["name"], "true")],
            services=services)
    assert names(d.status or rs["status"])[1] == "" and of(d, Apply) == []


# -- bad input, suspend, deletion -----------------------------------------------------------------

def test_an_invalid_serve_config_is_a_condition_and_an_event_and_the_old_version_keeps_serving() -> None:
    rs, c, services = serving(service())
    rs["spec"]["serveConfigV2"] = "applications: [unclosed"
    d = run(rs, clusters=[c], observations=[apps(c)], services=services)
    assert d.status is not None and cond(d.status, "Ready") == ("False", "ValidationFailed")
    events = of(d, RecordEvent)
    assert [(e.type, e.reason) for e in events] == [("Warning", "InvalidRayServiceSpec")]
    assert "spec.serveConfigV2" in events[0].message
    assert of(d, Apply) == of(d, Delete) == of(d, RayPutServeConfig) == []
    assert of(run(with_status(rs, d), clusters=[c], services=services), RecordEvent) == [], "once per message"


def test_suspend_stages_then_deletes_everything_then_is_suspended() -> None:
    rs, c, services = serving(service())
    rs["spec"]["suspend"] = True
    d = run(rs, clusters=[c], services=services)
    assert d.status is not None and cond(d.status, "Suspending") == ("True", "SuspendRequested") and not of(d, Delete)
    rs = with_status(rs, d)
    d = run(rs, clusters=[c], services=services)
    assert sorted(x.ref.name for x in of(d, Delete)) == sorted([c["metadata"]["name"], "rs-head-svc", "rs-serve-svc"])
    d = run(with_status(rs, d))
    assert d.status is not None and cond(d.status, "Suspended") == ("True", "SuspendComplete")


def test_deleting_deletes_the_clusters_then_removes_the_finalizer() -> None:
    rs, c, _ = serving(service())
    rs["metadata"]["deletionTimestamp"] = "2026-12-01T12:00:00Z"
    d = run(rs, clusters=[c])
    assert [x.ref.name for x in of(d, Delete)] == [c["metadata"]["name"]] and of(d, RemoveFinalizer) == []
    assert [x.finalizer for x in of(run(rs), RemoveFinalizer)] == ["ray.io/rayservice-finalizer"]


def test_another_manager_means_nothing() -> None:
    assert run(service(managedBy="kueue.x-k8s.io/multikueue")).is_noop


def test_a_cluster_of_another_owner_is_not_touched() -> None:
    rs, c, services = serving(service())
    stranger = cluster("rs-zzzzz", of=rs)
    stranger["metadata"]["ownerReferences"] = [{**OWNER, "uid": "another"}]
    d = run(rs, clusters=[c, stranger], observations=[apps(c)], services=services,
            pods=[head_pod(c["metadata"]["name"], "true")])
    assert all(a.ref.name != "rs-zzzzz" for a in d.actions if hasattr(a, "ref"))
    assert UID  # the RayService's own uid owns the others


def test_kuberay_service_metrics_from_the_view() -> None:
    from raybus_serve_ctl.metrics import families

    rs, _, _ = serving(service())
    fresh = service()
    fresh["metadata"].update(name="other", uid="uid-other")
    got = {f.name: sorted((tuple(s.labels.values()), s.value) for s in f.samples) for f in families([rs, fresh])}
    assert got["kuberay_service_info"] == [(("other", NS, "uid-other"), 1), (("rs", NS, UID), 1)]
    assert got["kuberay_service_condition_ready"] == [(("other", NS, "uid-other", "false"), 1),
                                                      (("rs", NS, UID, "true"), 1)]
    assert got["kuberay_service_condition_upgrade_in_progress"] == [(("other", NS, "uid-other", "false"), 1),
                                                                    (("rs", NS, UID, "false"), 1)]


# -- NewClusterWithIncrementalUpgrade, pass after pass --------------------------------------------

INCREMENTAL = {"type": "NewClusterWithIncrementalUpgrade", "clusterUpgradeOptions": {
    "maxSurgePercent": 50, "stepSizePercent": 25, "intervalSeconds": 30, "gatewayClassName": "istio"}}
ACCEPTED = [{"type": t, "status": "True", "reason": t} for t in ("Accepted", "Programmed", "ResolvedRefs")]


class World:
    """What the API server, the watcher and Ray would show after each decision is carried out:
    objects applied and deleted, serve configs put (deployed at once), a Gateway controller that
    accepts the Gateway and the HTTPRoute."""

    def __init__(self, rs: Obj, clusters: list[Obj], services: list[Obj]) -> None:
        self.rs = rs
        self.objects: dict[tuple[str, str], Obj] = {(o["kind"], o["metadata"]["name"]): o for o in [*clusters, *services]}
        self.apps: dict[str, Obj] = {c["metadata"]["name"]: apps(c) for c in clusters}
        self.puts: list[tuple[str, Any]] = []  # (cluster, target_capacity) of every config put
        self.events: list[str] = []
        self.at = NOW

    def observed(self, kind: str) -> list[Obj]:
        return [o for (k, _), o in self.objects.items() if k == kind]

    def step(self, seconds: float = 10) -> Decision:
        clusters = self.observed("RayCluster")
        d = run(self.rs, clusters=clusters, services=self.observed("Service"),
                observations=list(self.apps.values()), at=self.at, gateways=self.observed("Gateway"),
                routes=self.observed("HTTPRoute"), pods=[head_pod(c["metadata"]["name"], "true") for c in clusters])
        self.events += [a.reason for a in d.actions if isinstance(a, RecordEvent)]
        if d.status is not None:
            self.rs = with_status(self.rs, d)
        for a in d.actions:
            if isinstance(a, Apply):
                obj = copy.deepcopy(a.object)
                obj["metadata"].setdefault("uid", f"uid-{obj['kind']}-{obj['metadata']['name']}")
                if obj["kind"] == "RayCluster" and (obj["kind"], obj["metadata"]["name"]) not in self.objects:
                    obj["metadata"]["uid"] = f"uid-{obj['metadata']['name']}"
                    obj["status"] = {"conditions": HEAD_READY, "readyWorkerReplicas": 1}
                    self.apps[obj["metadata"]["name"]] = apps(obj, none=True)  # Serve with nothing yet
                if obj["kind"] == "Gateway":
                    obj["status"] = {"conditions": ACCEPTED}
                if obj["kind"] == "HTTPRoute":
                    obj["status"] = {"parents": [{"parentRef": {"name": "rs-gateway", "namespace": NS},
                                                  "conditions": ACCEPTED}]}
                self.objects[(obj["kind"], obj["metadata"]["name"])] = obj
            elif isinstance(a, Delete):
                self.objects.pop((a.ref.kind, a.ref.name), None)
            elif isinstance(a, Patch) and (a.ref.kind, a.ref.name) in self.objects:
                meta = self.objects[(a.ref.kind, a.ref.name)]["metadata"]
                meta["annotations"] = {**(meta.get("annotations") or {}), **a.patch["metadata"].get("annotations", {})}
            elif isinstance(a, RayPutServeConfig):
                self.puts.append((a.ref.name, a.config.get("target_capacity")))
                found = ServeApps(applications={"hello": AppStatus(status="RUNNING",
                                                                  deployed_app_config=a.config["applications"][0])},
                                  target_capacity=a.config.get("target_capacity"),
                                  proxy=ProxyHealth(pod_name=f"{a.ref.name}-head-x", healthy=True))
                self.apps[a.ref.name] = apps_object(self.objects[("RayCluster", a.ref.name)], apps=found,
                                                    observed_at=self.at)
        self.at += timedelta(seconds=seconds)
        return d

    def route_weights(self) -> list[int]:
        route = self.objects.get(("HTTPRoute", "rs-httproute"))
        return [b["weight"] for b in route["spec"]["rules"][0]["backendRefs"]] if route else []


def gateway_views(world: World) -> tuple[str, str]:
    return names(world.rs["status"])


def test_the_incremental_upgrade_steps_weights_and_capacities_then_promotes() -> None:
    rs = service(upgradeStrategy=INCREMENTAL, config=cluster_config(enableInTreeAutoscaling=True))
    world = World(rs, [], [])
    for _ in range(6):  # the first cluster: created, served, the head Service on it, promoted
        world.step()
    first = names(world.rs["status"])[0]
    assert first and ("Service", "rs-head-svc") in world.objects and ("Gateway", "rs-gateway") in world.objects
    assert ("Service", f"{first}-serve-svc") in world.objects and ("Service", "rs-serve-svc") not in world.objects
    assert world.route_weights() == [100]
    world.rs["spec"]["rayClusterConfig"] = cluster_config(image="rayproject/ray:2.53.0", enableInTreeAutoscaling=True)
    world.rs["metadata"]["generation"] = 2
    before = len(world.puts)
    seen: list[tuple[int, ...]] = []
    for _ in range(60):
        world.step()
        st = world.rs["status"]
        active, pending = names(st)
        if active != first:
            break
        tcs = ((st.get("activeServiceStatus") or {}).get("targetCapacity"),
               (st.get("pendingServiceStatus") or {}).get("targetCapacity"))
        key = (*world.route_weights(), *(t if t is not None else -1 for t in tcs))
        if not seen or seen[-1] != key:
            seen.append(key)
    active, pending = names(world.rs["status"])
    assert active != first and pending == "", "promoted"
    # the weights (active, pending) as they moved: 25 at a time
    weights = [w for i, w in enumerate(s[:2] for s in seen if len(s) == 4)
               if i == 0 or w != [s[:2] for s in seen if len(s) == 4][i - 1]]
    assert weights == [(100, 0), (75, 25), (50, 50), (25, 75), (0, 100)], weights
    # KubeRay's worked example (maxSurge 50, step 25): pending 0→50, active 100→50, pending →100, active →0
    moves = [(c, tc) for c, tc in world.puts[before:] if tc is not None]
    assert moves == [(active, 50), (first, 50), (active, 100), (first, 0)], moves
    assert "ServicesDisagree" not in world.events
    world.step()
    assert world.objects[("Service", "rs-head-svc")]["spec"]["selector"]["ray.io/cluster"] == active
    assert world.route_weights() == [100]
    for _ in range(8):  # the old cluster goes after its 60 s
        world.step()
    assert ("RayCluster", first) not in world.objects


def test_a_spec_reverted_mid_upgrade_rolls_the_traffic_back_and_drops_the_pending_cluster() -> None:
    original = cluster_config(enableInTreeAutoscaling=True)
    world = World(service(upgradeStrategy=INCREMENTAL, config=copy.deepcopy(original)), [], [])
    for _ in range(6):
        world.step()
    first = names(world.rs["status"])[0]
    world.rs["spec"]["rayClusterConfig"] = cluster_config(image="rayproject/ray:2.53.0", enableInTreeAutoscaling=True)
    world.rs["metadata"]["generation"] = 2
    for _ in range(60):
        world.step()
        if world.route_weights() == [50, 50]:
            break
    assert world.route_weights() == [50, 50]
    world.rs["spec"]["rayClusterConfig"] = copy.deepcopy(original)  # reverted: roll back
    world.rs["metadata"]["generation"] = 3
    rolling: list[bool] = []
    for _ in range(60):
        world.step()
        rolling.append(cond(world.rs["status"], "RollbackInProgress")[0] == "True"
                       if any(c["type"] == "RollbackInProgress" for c in world.rs["status"]["conditions"]) else False)
        if names(world.rs["status"])[1] == "" and not rolling[-1]:
            break
    assert any(rolling), "RollbackInProgress was set"
    assert names(world.rs["status"]) == (first, ""), "the active cluster stays; the pending one is dropped"
    assert cond(world.rs["status"], "UpgradeInProgress") == ("False", "NoPendingCluster")
    world.step()
    assert world.route_weights() == [100]


def test_suspend_under_the_incremental_strategy_deletes_the_gateway_and_route_too() -> None:
    world = World(service(upgradeStrategy=INCREMENTAL, config=cluster_config(enableInTreeAutoscaling=True)), [], [])
    for _ in range(6):
        world.step()
    assert ("Gateway", "rs-gateway") in world.objects and ("HTTPRoute", "rs-httproute") in world.objects
    world.rs["spec"]["suspend"] = True
    for _ in range(4):
        world.step()
    assert not [k for k in world.objects if k[0] in ("Gateway", "HTTPRoute", "RayCluster")]
    assert cond(world.rs["status"], "Suspended") == ("True", "SuspendComplete")
