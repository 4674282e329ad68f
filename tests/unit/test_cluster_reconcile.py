"""cluster-ctl's reconcile, pure: an observed snapshot in, the Decision out."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest
import yaml

from raybus_cluster_ctl.config import ClusterConfig
from raybus_cluster_ctl.constants import FT_FINALIZER
from raybus_cluster_ctl.constants import RECREATE_HASH_ANNOTATION as RECREATE_HASH
from raybus_cluster_ctl.plan.collector import failure_reason
from raybus_cluster_ctl.plan.podnames import head_prefix, pod_names, worker_prefix
from raybus_cluster_ctl.plan.pods import should_delete_pod
from raybus_cluster_ctl.reconcile import reconcile
from raybus_common.actions import AddFinalizer, Apply, Delete, Patch, RecordEvent, RemoveFinalizer
from raybus_common.controller.view import Failure, Observed, RootKey
from raybus_common.crds.raycluster import RayCluster
from raybus_common.decision import Decision

SAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "samples" / "raycluster-sample.yaml"
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
SETTINGS = ClusterConfig()
UID = "11111111-2222-3333-4444-555555555555"
Obj = dict[str, Any]


def cluster(**spec: Any) -> Obj:
    obj: Obj = copy.deepcopy(yaml.safe_load(SAMPLE.read_text()))
    obj["metadata"].update(uid=UID, generation=1, resourceVersion="10")
    obj["spec"].update(spec)
    return obj


def spec_hash(c: Obj) -> str:
    return RayCluster.model_validate(c).spec.spec_hash()


def pod(name: str, node_type: str, group: str = "headgroup", *, phase: str = "Running", ready: bool = True,
        **labels: str) -> Obj:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}", "resourceVersion": "5",
                         "labels": {"ray.io/cluster": "raycluster-sample", "ray.io/node-type": node_type,
                                    "ray.io/group": group, **labels}},
            "spec": {"containers": [{"name": "ray"}], "restartPolicy": "Always"},
            "status": {"phase": phase, "podIP": "10.0.0.1",
                       "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}


def observe(root: Obj | None, *pods: Obj, services: tuple[Obj, ...] = ()) -> Observed:
    return Observed(RootKey("raycluster", "default", "raycluster-sample"), root,
                    MappingProxyType({"pod": tuple(pods), "service": services}))


def run(root: Obj | None, *pods: Obj, settings: ClusterConfig = SETTINGS, now: datetime = NOW,
        services: tuple[Obj, ...] = ()) -> Decision:
    return reconcile(observe(root, *pods, services=services), now=now, settings=settings)


def applied(d: Decision, kind: str) -> list[Obj]:
    return [a.object for a in d.actions if isinstance(a, Apply) and a.object["kind"] == kind]


def deleted(d: Decision) -> list[str]:
    return sorted(a.ref.name for a in d.actions if isinstance(a, Delete))


def reasons(d: Decision) -> list[str]:
    """The Events the pass asks for: Events of their own, and each write's success Event."""
    return [a.reason if isinstance(a, RecordEvent) else a.success_event.reason for a in d.actions
            if isinstance(a, RecordEvent) or a.success_event is not None]


def head_and_workers(c: Obj, workers: int) -> list[Obj]:
    seed = f"{UID}:{spec_hash(c)}"
    names = pod_names(worker_prefix("raycluster-sample", "cpu"), seed, "cpu", set(), workers)
    head = pod(pod_names(head_prefix("raycluster-sample"), seed, "headgroup", set(), 1)[0], "head")
    head["metadata"]["annotations"] = {RECREATE_HASH: spec_hash(c)}
    return [head, *(pod(n, "worker", "cpu") for n in names)]


def test_a_new_cluster_gets_its_service_head_and_workers_owned_and_announced() -> None:
    d = run(cluster())
    (svc,) = applied(d, "Service")
    assert svc["metadata"]["name"] == "raycluster-sample-head-svc"
    pods = applied(d, "Pod")
    heads = [p for p in pods if p["metadata"]["labels"]["ray.io/node-type"] == "head"]
    workers = [p for p in pods if p["metadata"]["labels"]["ray.io/node-type"] == "worker"]
    assert len(heads) == 1 and len(workers) == 2
    assert heads[0]["metadata"]["name"].startswith("raycluster-sample-head-")
    assert all(w["metadata"]["name"].startswith("raycluster-sample-cpu-worker-") for w in workers)
    assert heads[0]["metadata"]["annotations"][RECREATE_HASH] == spec_hash(cluster())
    for obj in (svc, *pods):
        (owner,) = obj["metadata"]["ownerReferences"]
        assert owner["uid"] == UID and owner["kind"] == "RayCluster" and owner["controller"] is True
    assert sorted(reasons(d)) == ["CreatedHeadPod", "CreatedService", "CreatedWorkerPod", "CreatedWorkerPod"]
    assert sorted(w["metadata"]["labels"]["ray.io/worker-group-replica-index"] for w in workers) == ["0", "1"]
    assert d.status is not None and d.requeue_after == 2.0


def test_names_are_deterministic_so_a_repeated_decision_creates_nothing_new() -> None:
    first, again = run(cluster()), run(cluster())
    assert [a.model_dump() for a in first.actions] == [a.model_dump() for a in again.actions]
    assert len({p["metadata"]["name"] for p in applied(first, "Pod")}) == 3


def test_a_converged_cluster_needs_no_action() -> None:
    c = cluster()
    d = run(c, *head_and_workers(c, 2), services=({"kind": "Service", "metadata": {"name": "raycluster-sample-head-svc",
                                                                                   "labels": {}}},))
    assert not [a for a in d.actions if not isinstance(a, RecordEvent)]
    assert d.requeue_after in (2.0, SETTINGS.requeue_seconds)


def test_a_status_change_alone_sets_no_short_timer() -> None:
    """The runtime wakes the root when its status write lands, fails or is held back; a 2 s
    timer here re-ran the reconcile every 2 s while the write waited in the actuator's queue."""
    c = cluster()
    svc = {"kind": "Service", "metadata": {"name": "raycluster-sample-head-svc", "labels": {}}}
    d = run(c, *head_and_workers(c, 2), services=(svc,))
    assert d.status is not None and c.get("status") != d.status
    assert not [a for a in d.actions if not isinstance(a, RecordEvent)]
    assert d.requeue_after == SETTINGS.requeue_seconds


@pytest.mark.parametrize(("replicas", "autoscale", "expect_deleted"), [(1, False, 2), (1, True, 0), (3, False, 0)])
def test_scale_down_is_raybus_s_only_without_the_autoscaler(replicas: int, autoscale: bool,
                                                          expect_deleted: int) -> None:
    c = cluster(enableInTreeAutoscaling=autoscale)
    c["spec"]["workerGroupSpecs"][0]["replicas"] = replicas
    d = run(c, *head_and_workers(c, 3))
    assert len(deleted(d)) == expect_deleted
    assert not applied(d, "Pod")


def test_workers_to_delete_removes_exactly_those_pods_and_leaves_the_field() -> None:
    c = cluster(enableInTreeAutoscaling=True)
    pods = head_and_workers(c, 3)
    victim = pods[2]["metadata"]["name"]
    c["spec"]["workerGroupSpecs"][0].update(replicas=2, scaleStrategy={"workersToDelete": [victim, "not-a-pod"]})
    d = run(c, *pods)
    assert deleted(d) == [victim]
    assert not applied(d, "Pod")
    (dl,) = [a for a in d.actions if isinstance(a, Delete)]
    assert dl.ref.uid == f"uid-{victim}"


def test_an_unhealthy_worker_is_replaced_over_two_passes() -> None:
    c = cluster()
    pods = head_and_workers(c, 2)
    pods[1]["status"]["phase"] = "Failed"
    d = run(c, *pods)
    assert deleted(d) == [pods[1]["metadata"]["name"]] and not applied(d, "Pod")
    d2 = run(c, pods[0], pods[2])
    assert len(applied(d2, "Pod")) == 1


@pytest.mark.parametrize(("phase", "restart", "terminated", "gone"), [
    ("Failed", "Always", False, True), ("Succeeded", "Always", False, True), ("Running", "Never", True, True),
    ("Running", "Always", True, False), ("Running", "Never", False, False), ("Pending", "Never", False, False)])
def test_should_delete_pod(phase: str, restart: str, terminated: bool, gone: bool) -> None:
    p = pod("p", "worker", phase=phase)
    p["spec"]["restartPolicy"] = restart
    if terminated:
        p["status"]["containerStatuses"] = [{"name": "ray", "state": {"terminated": {"exitCode": 1}}}]
    assert should_delete_pod(p) is gone


def test_suspend_deletes_every_pod_and_a_suspended_group_only_its_own() -> None:
    c = cluster(suspend=True)
    pods = head_and_workers(c, 2)
    assert len(deleted(run(c, *pods))) == 3
    g = cluster()
    g["spec"]["workerGroupSpecs"][0]["suspend"] = True
    d = run(g, *head_and_workers(g, 2))
    assert len(deleted(d)) == 2 and all("worker" in n for n in deleted(d))


def test_recreate_deletes_every_pod_when_the_spec_hash_moves_but_not_on_scaling() -> None:
    c = cluster(upgradeStrategy={"type": "Recreate"})
    pods = head_and_workers(c, 2)
    scaled = copy.deepcopy(c)
    scaled["spec"]["workerGroupSpecs"][0]["replicas"] = 3
    assert spec_hash(scaled) == spec_hash(c)
    assert not deleted(run(scaled, *pods))
    changed = copy.deepcopy(c)
    changed["spec"]["workerGroupSpecs"][0]["template"]["spec"]["containers"][0]["image"] = "rayproject/ray:2.53.0"
    assert spec_hash(changed) != spec_hash(c)
    assert len(deleted(run(changed, *pods))) == 3
    assert not deleted(run(copy.deepcopy(changed) | {"spec": {**changed["spec"], "upgradeStrategy": None}}, *pods))


def test_multi_host_groups_are_created_as_whole_replicas() -> None:
    c = cluster()
    c["spec"]["workerGroupSpecs"][0].update(replicas=2, numOfHosts=2, maxReplicas=4)
    workers = [p for p in applied(run(c), "Pod") if p["metadata"]["labels"]["ray.io/node-type"] == "worker"]
    assert len(workers) == 4
    replicas: dict[str, list[str]] = {}
    for w in workers:
        labels = w["metadata"]["labels"]
        replicas.setdefault(labels["ray.io/worker-group-replica-name"], []).append(labels["ray.io/replica-host-index"])
    assert len(replicas) == 2 and all(sorted(v) == ["0", "1"] for v in replicas.values())


def test_an_invalid_cluster_gets_a_warning_and_a_condition_naming_the_field_and_nothing_else() -> None:
    c = cluster()
    c["spec"]["workerGroupSpecs"][0].update(minReplicas=5, maxReplicas=1)
    d = run(c)
    assert reasons(d) == ["InvalidRayClusterSpec"]
    assert not [a for a in d.actions if not isinstance(a, RecordEvent)]
    assert d.status is not None
    (valid,) = [x for x in d.status["conditions"] if x["type"] == "RayClusterValid"]
    assert valid["status"] == "False" and "workerGroupSpecs[0]" in valid["message"]
    # Once the condition says so, the Event is not repeated on every pass.
    c["status"] = d.status
    assert reasons(run(c)) == []


def test_another_manager_means_hands_off() -> None:
    assert run(cluster(managedBy="kueue.x-k8s.io/multikueue")).is_noop
    assert not run(cluster(managedBy="ray.io/kuberay-operator")).is_noop


def test_gcs_ft_redis_adds_the_finalizer_first() -> None:
    d = run(cluster(gcsFaultToleranceOptions={"redisAddress": "redis:6379"}))
    assert [type(a) for a in d.actions] == [AddFinalizer]
    assert d.actions[0].finalizer == FT_FINALIZER  # type: ignore[union-attr]


def deleting(seconds_ago: float, **spec: Any) -> Obj:
    c = cluster(gcsFaultToleranceOptions={"redisAddress": "redis:6379"}, **spec)
    c["metadata"].update(finalizers=[FT_FINALIZER],
                         deletionTimestamp=(NOW - timedelta(seconds=seconds_ago)).strftime("%Y-%m-%dT%H:%M:%SZ"))
    return c


def job(done: bool) -> Obj:
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": "raycluster-sample-redis-cleanup", "namespace": "default", "uid": "j",
                         "labels": {"ray.io/node-type": "redis-cleanup", "ray.io/cluster": "raycluster-sample"}},
            "status": {"conditions": [{"type": "Complete", "status": "True"}] if done else []}}


def test_gcs_ft_deletion_deletes_pods_runs_the_cleanup_job_then_lets_go() -> None:
    c = deleting(5)
    d = run(c, *head_and_workers(c, 2))
    assert len(deleted(d)) == 3 and not applied(d, "Job")
    d = run(c)
    (j,) = applied(d, "Job")
    assert j["metadata"]["labels"]["ray.io/node-type"] == "redis-cleanup"

    def with_job(done: bool) -> Decision:
        obs = Observed(RootKey("raycluster", "default", "raycluster-sample"), c,
                       MappingProxyType({"pod": (), "job": (job(done),)}))
        return reconcile(obs, now=NOW, settings=SETTINGS)

    assert not any(isinstance(a, RemoveFinalizer) for a in with_job(False).actions)
    assert any(isinstance(a, RemoveFinalizer) for a in with_job(True).actions)


def test_a_stuck_deletion_is_forced_after_the_timeout() -> None:
    c = deleting(301)
    d = run(c, *head_and_workers(c, 1))
    assert any(isinstance(a, RemoveFinalizer) for a in d.actions)
    (forced,) = [a for a in d.actions if isinstance(a, RemoveFinalizer)]
    assert forced.success_event is not None and forced.success_event.reason == "ForceDeletedStuckCluster"
    assert forced.success_event.action == "Cleanup"
    assert forced.success_event.message == ("Force-removed GCS FT finalizer after 5m1s due to Redis cleanup timeout; "
                                            "Redis storage namespace \"\" may need manual cleanup")
    assert not [a for a in d.actions if isinstance(a, RecordEvent)], "recorded only once the finalizer is gone"
    c["metadata"]["annotations"] = {"ray.io/gcs-ft-deletion-timeout": "600"}
    assert not any(isinstance(a, RemoveFinalizer) for a in run(c, *head_and_workers(c, 1)).actions)


def test_a_head_stamped_by_another_operator_is_re_stamped_not_recreated() -> None:
    c = cluster(upgradeStrategy={"type": "Recreate"})
    pods = head_and_workers(c, 2)
    pods[0]["metadata"]["annotations"] = {RECREATE_HASH: "kuberays", "ray.io/kuberay-version": "v1.7.0"}
    d = run(c, *pods)
    assert not deleted(d) and not applied(d, "Pod")
    (patch,) = [a for a in d.actions if isinstance(a, Patch)]
    assert patch.ref.name == pods[0]["metadata"]["name"] and patch.ref.uid == pods[0]["metadata"]["uid"]
    assert patch.patch == {"metadata": {"annotations": {RECREATE_HASH: spec_hash(c),
                                                        "ray.io/kuberay-version": SETTINGS.kuberay_version}}}


def test_the_ingress_is_created_then_kept_in_line_but_server_defaults_do_not_count() -> None:
    c = cluster()
    c["spec"]["headGroupSpec"]["enableIngress"] = True
    (ing,) = applied(run(c), "Ingress")
    served = copy.deepcopy(ing)
    served["metadata"].update(uid="ing-uid", resourceVersion="3", generation=1)
    served["status"] = {"loadBalancer": {}}
    served["metadata"]["annotations"] = {**(served["metadata"].get("annotations") or {}), "added-by": "someone"}

    def with_ingress(obj: Obj) -> Decision:
        obs = Observed(RootKey("raycluster", "default", "raycluster-sample"), c,
                       MappingProxyType({"pod": tuple(head_and_workers(c, 2)), "ingress": (obj,)}))
        return reconcile(obs, now=NOW, settings=SETTINGS)

    assert not applied(with_ingress(served), "Ingress")
    drifted = copy.deepcopy(served)
    drifted["spec"]["rules"][0]["http"]["paths"][0]["path"] = "/elsewhere"
    d = with_ingress(drifted)
    assert applied(d, "Ingress") == [ing | {"metadata": {**ing["metadata"], "namespace": "default",
                                                         "ownerReferences": applied(d, "Ingress")[0]["metadata"]
                                                         ["ownerReferences"]}}]
    assert "UpdatedIngress" in reasons(d)


@pytest.mark.parametrize(("done", "failed"), [
    ("CreatedHeadPod", "FailedToCreateHeadPod"), ("CreatedWorkerPod", "FailedToCreateWorkerPod"),
    ("CreatedService", "FailedToCreateService"), ("DeletedWorkerPod", "FailedToDeleteWorkerPod"),
    ("DeletedHeadPod", "FailedToDeleteHeadPod"), ("DeletedPod", "FailedToDeletePodCollection"),
    ("UpdatedIngress", "FailedToUpdateIngress"), ("CreatedRedisCleanupJob", "FailedToCreateRedisCleanupJob"),
    ("Whatever", "")])
def test_failed_writes_carry_kuberays_warning_reason(done: str, failed: str) -> None:
    assert failure_reason(done) == failed


def test_every_write_of_a_new_cluster_names_its_failure_reason() -> None:
    writes = [a for a in run(cluster()).actions if not isinstance(a, RecordEvent)]
    assert {a.failure_reason for a in writes} == {"FailedToCreateService", "FailedToCreateHeadPod",  # type: ignore[union-attr]
                                                  "FailedToCreateWorkerPod"}


def test_a_deterministic_head_name_is_kuberays_fixed_one() -> None:
    fixed = ClusterConfig(enable_deterministic_head_pod_name=True)
    heads = [p for p in applied(run(cluster(), settings=fixed), "Pod")
             if p["metadata"]["labels"]["ray.io/node-type"] == "head"]
    assert [h["metadata"]["name"] for h in heads] == ["raycluster-sample-head"]
    # The old head still terminating under that name: no second create until it is gone.
    old = pod("raycluster-sample-head", "head", phase="Failed")
    old["metadata"]["deletionTimestamp"] = "2026-11-22T11:59:00Z"
    d = run(cluster(), old, settings=fixed)
    assert not [p for p in applied(d, "Pod") if p["metadata"]["labels"]["ray.io/node-type"] == "head"]


UNPARSABLE = [
    ("text-for-a-boolean", lambda c: c["spec"].update(enableInTreeAutoscaling="maybe"), "spec.enableInTreeAutoscaling"),
    ("number-for-a-start-param", lambda c: c["spec"]["workerGroupSpecs"][0]["rayStartParams"].update({"num-cpus": 1}),
     "spec.workerGroupSpecs[0].rayStartParams.num-cpus"),
    ("map-for-the-group-list", lambda c: c["spec"].update(workerGroupSpecs={"cpu": {}}), "spec.workerGroupSpecs"),
    ("unknown-ingress-path-type", lambda c: c["spec"]["headGroupSpec"].update(
        enableIngress=True, ingressOptions={"pathType": "Everything"}), "spec.headGroupSpec.ingressOptions.pathType"),
]


@pytest.mark.parametrize(("mutate", "field"), [u[1:] for u in UNPARSABLE], ids=[u[0] for u in UNPARSABLE])
def test_an_object_the_model_cannot_hold_is_an_invalid_cluster_not_an_exception(mutate: Any, field: str) -> None:
    c = cluster()
    mutate(c)
    d = run(c, *head_and_workers(cluster(), 2))
    assert reasons(d) == ["InvalidRayClusterSpec"]
    (event,) = d.actions
    assert isinstance(event, RecordEvent) and event.type == "Warning" and field in event.message
    assert d.status is not None and d.requeue_after is None
    (valid,) = [x for x in d.status["conditions"] if x["type"] == "RayClusterValid"]
    assert (valid["status"], valid["reason"]) == ("False", "InvalidRayClusterSpec")
    assert valid["message"].startswith(f"{field}: ")
    c["status"] = d.status  # written: the next pass neither repeats the Event nor rewrites the status
    assert run(c).is_noop


def test_an_unparsable_cluster_being_deleted_lets_go_of_its_finalizer() -> None:
    c = deleting(5)
    pods = head_and_workers(c, 1)
    c["spec"]["suspend"] = "soon"
    d = run(c, *pods)
    assert [type(a) for a in d.actions] == [RemoveFinalizer]
    assert reasons(d) == ["ForceDeletedStuckCluster"]
    c["metadata"]["finalizers"] = []
    assert run(c).is_noop


def test_an_unparsable_cluster_another_manager_owns_is_left_alone() -> None:
    c = cluster(managedBy="kueue.x-k8s.io/multikueue", enableInTreeAutoscaling="maybe")
    assert run(c).is_noop


# --- Events ride on the writes, in KubeRay's words ------------------------------------------------


def writes(d: Decision) -> list[Apply | Delete]:
    return [a for a in d.actions if isinstance(a, (Apply, Delete))]


def texts(action: Apply | Delete) -> tuple[str, str, str, str]:
    ok = action.success_event
    assert ok is not None
    return ok.reason, ok.message, action.failure_reason, action.failure_message


def test_a_new_cluster_records_no_event_of_its_own_each_write_carries_kuberays_pair() -> None:
    d = run(cluster())
    assert not [a for a in d.actions if isinstance(a, RecordEvent)], "no success Event before the write succeeded"
    (svc,) = [a for a in writes(d) if a.ref.kind == "Service"]
    assert texts(svc) == ("CreatedService", "Created service default/raycluster-sample-head-svc",
                          "FailedToCreateService", "Failed creating service default/raycluster-sample-head-svc")
    pods = {a.object["metadata"]["labels"]["ray.io/node-type"]: a for a in writes(d) if a.ref.kind == "Pod"}
    head, worker = pods["head"], pods["worker"]
    assert texts(head) == ("CreatedHeadPod", f"Created head Pod default/{head.ref.name}",
                           "FailedToCreateHeadPod", f"Failed to create head Pod default/{head.ref.name}")
    assert texts(worker) == ("CreatedWorkerPod", f"Created worker Pod default/{worker.ref.name}",
                             "FailedToCreateWorkerPod", ("Failed to create worker Pod for the cluster "
                                                         "default/raycluster-sample"))
    assert {a.success_event.action for a in writes(d) if a.success_event} == {"Create"}


def test_the_autoscaler_rbac_and_ingress_texts_and_the_serve_service_has_none() -> None:
    c = cluster(enableInTreeAutoscaling=True)
    c["spec"]["headGroupSpec"]["enableIngress"] = True
    c["metadata"]["annotations"] = {"ray.io/enable-serve-service": "true"}
    c["spec"]["headGroupSpec"]["template"]["spec"]["containers"][0].setdefault("ports", []).append(
        {"name": "serve", "containerPort": 8000})
    got = {(a.ref.kind, a.ref.name): a for a in writes(run(c)) if a.ref.kind != "Pod"}
    assert texts(got[("ServiceAccount", "raycluster-sample")])[1:] == (
        "Created service account default/raycluster-sample", "FailedToCreateServiceAccount",
        "Failed creating service account default/raycluster-sample")
    assert texts(got[("Role", "raycluster-sample")])[1] == "Created role default/raycluster-sample"
    # The binding waits for its Role in view: the API server admits it only once the Role exists
    # (the actuator may not `bind` any Role).
    assert ("RoleBinding", "raycluster-sample") not in got
    role = {**got[("Role", "raycluster-sample")].object, "metadata": {
        **got[("Role", "raycluster-sample")].object["metadata"], "uid": "role-uid", "resourceVersion": "3"}}
    later = reconcile(Observed(RootKey("raycluster", "default", "raycluster-sample"), c,
                               MappingProxyType({"role": (role,)})), now=NOW, settings=SETTINGS)
    bound = {(a.ref.kind, a.ref.name): a for a in writes(later) if a.ref.kind != "Pod"}
    assert texts(bound[("RoleBinding", "raycluster-sample")])[1] == "Created role binding default/raycluster-sample"
    assert texts(got[("Ingress", "raycluster-sample-head-ingress")])[1] == \
        "Created ingress default/raycluster-sample-head-ingress"
    serve = got[("Service", "raycluster-sample-serve-svc")]
    assert serve.success_event is None and not serve.failure_reason, "KubeRay creates the serve Service silently"


def test_the_head_waits_for_the_service_account_created_in_the_same_pass() -> None:
    # The API server refuses a pod whose ServiceAccount does not exist yet, and the actuator
    # carries a pass's writes out in no set order: the autoscaler's ServiceAccount first, the
    # head once it is seen.
    c = cluster(enableInTreeAutoscaling=True)
    first = run(c)
    assert [o["metadata"]["name"] for o in applied(first, "ServiceAccount")] == ["raycluster-sample"]
    heads = [o for o in applied(first, "Pod") if o["metadata"]["labels"]["ray.io/node-type"] == "head"]
    assert heads == [] and first.requeue_after is not None
    account = {**applied(first, "ServiceAccount")[0], "metadata": {
        **applied(first, "ServiceAccount")[0]["metadata"], "uid": "sa-uid", "resourceVersion": "7"}}
    seen = Observed(RootKey("raycluster", "default", "raycluster-sample"), c,
                    MappingProxyType({"pod": (), "service": (), "serviceaccount": (account,)}))
    second = reconcile(seen, now=NOW, settings=SETTINGS)
    (head,) = [o for o in applied(second, "Pod") if o["metadata"]["labels"]["ray.io/node-type"] == "head"]
    assert head["spec"]["serviceAccountName"] == "raycluster-sample"
    assert applied(second, "ServiceAccount") == []


FAILED_STATE = "Pod status: Failed; Pod restart policy: Always; Ray container terminated status: nil"


@pytest.mark.parametrize(("case", "reason", "message", "failed", "failure"), [
    ("workers-to-delete", "DeletedWorkerPod", "Deleted pod default/{name}", "FailedToDeleteWorkerPod",
     "Failed deleting pod default/{name}"),
    ("random-scale-down", "DeletedWorkerPod", "Deleted Pod default/{name}", "FailedToDeleteWorkerPod",
     "Failed deleting Pod default/{name}"),
    ("unhealthy", "DeletedWorkerPod", "Deleted worker Pod default/{name}; " + FAILED_STATE, "FailedToDeleteWorkerPod",
     "Failed deleting worker Pod default/{name}; " + FAILED_STATE),
    ("suspension", "DeletedPod", "Deleted Pods for RayCluster default/raycluster-sample due to suspension",
     "FailedToDeletePodCollection", "Failed deleting Pods due to suspension for RayCluster default/raycluster-sample"),
    ("suspended-group", "DeletedWorkerPod",
     "Deleted all pods for suspended worker group cpu in RayCluster default/raycluster-sample",
     "FailedToDeleteWorkerPodCollection",
     "Failed deleting worker Pods for suspended group cpu in RayCluster default/raycluster-sample"),
    ("recreate", "DeletedPod",
     "Deleted all Pods for RayCluster default/raycluster-sample due to spec change with Recreate upgradeStrategy",
     "FailedToDeletePodCollection",
     "Failed deleting Pods due to spec change with Recreate upgradeStrategy for RayCluster default/raycluster-sample"),
], ids=["workers-to-delete", "random-scale-down", "unhealthy", "suspension", "suspended-group", "recreate"])
def test_each_delete_carries_the_texts_of_its_kuberay_call_site(case: str, reason: str, message: str, failed: str,
                                                              failure: str) -> None:
    c = cluster()
    pods = head_and_workers(c, 2)
    victim = pods[2]["metadata"]["name"]
    if case == "workers-to-delete":
        c = cluster(enableInTreeAutoscaling=True)
        c["spec"]["workerGroupSpecs"][0]["scaleStrategy"] = {"workersToDelete": [victim]}
    elif case == "random-scale-down":
        c["spec"]["workerGroupSpecs"][0]["replicas"] = 1
    elif case == "unhealthy":
        pods[2]["status"]["phase"] = "Failed"
    elif case == "suspension":
        c = cluster(suspend=True)
    elif case == "suspended-group":
        c["spec"]["workerGroupSpecs"][0]["suspend"] = True
    else:
        c = cluster(upgradeStrategy={"type": "Recreate"})
        pods[0]["metadata"]["annotations"] = {RECREATE_HASH: "an-older-spec"}
    deletes = [a for a in run(c, *pods).actions if isinstance(a, Delete)]
    target = next(a for a in deletes if a.ref.name == victim) if case in ("workers-to-delete", "unhealthy") \
        else deletes[0]
    assert texts(target) == (reason, message.format(name=target.ref.name), failed, failure.format(name=target.ref.name))
    assert target.success_event is not None and target.success_event.action == "Delete"


def test_an_unhealthy_head_is_deleted_with_its_state_in_the_note() -> None:
    c = cluster()
    pods = head_and_workers(c, 2)
    head = pods[0]
    head["spec"]["restartPolicy"] = "Never"
    head["status"]["containerStatuses"] = [{"name": "ray", "state": {"terminated": {
        "exitCode": 137, "reason": "OOMKilled", "startedAt": "2026-11-22T11:00:00Z",
        "finishedAt": "2026-11-22T11:59:30Z", "containerID": "containerd://abc"}}}]
    (dl,) = [a for a in run(c, *pods).actions if isinstance(a, Delete)]
    state = ("Pod status: Running; Pod restart policy: Never; Ray container terminated status: "
             "&ContainerStateTerminated{ExitCode:137,Signal:0,Reason:OOMKilled,Message:,"
             "StartedAt:2026-11-22 11:00:00 +0000 UTC,FinishedAt:2026-11-22 11:59:30 +0000 UTC,"
             "ContainerID:containerd://abc,}")
    name = head["metadata"]["name"]
    assert texts(dl) == ("DeletedHeadPod", f"Deleted head Pod default/{name}; {state}", "FailedToDeleteHeadPod",
                         f"Failed deleting head Pod default/{name}; {state}")


def test_a_broken_multi_host_replica_is_deleted_whole_with_kuberays_reason() -> None:
    c = cluster()
    c["spec"]["workerGroupSpecs"][0].update(replicas=1, numOfHosts=2, maxReplicas=2)
    built = [p for p in applied(run(c), "Pod") if p["metadata"]["labels"]["ray.io/node-type"] == "worker"]
    (host,) = [pod(p["metadata"]["name"], "worker", "cpu", **p["metadata"]["labels"]) for p in built[:1]]
    (dl,) = [a for a in run(c, *head_and_workers(c, 0), host).actions if isinstance(a, Delete)]
    name = host["metadata"]["name"]
    state = "Pod status: Running; Pod restart policy: Always; Ray container terminated status: nil"
    assert texts(dl) == ("DeletedWorkerPod",
                         f"Deleted worker Pod default/{name} for group cpu: cleanup of incomplete multi-host group",
                         "FailedToDeleteWorkerPod", f"Failed deleting worker Pod default/{name} for group cpu; {state}")


def test_gcs_ft_deletion_deletes_pods_silently_as_kuberays_delete_all_of() -> None:
    c = deleting(5)
    d = run(c, *head_and_workers(c, 2))
    assert len(deleted(d)) == 3 and reasons(d) == []
    assert not any(a.failure_reason for a in writes(d))
    (j,) = [a for a in run(c).actions if isinstance(a, Apply)]
    assert texts(j) == ("CreatedRedisCleanupJob", f"Created Redis cleanup Job default/{j.ref.name}",
                        "FailedToCreateRedisCleanupJob", f"Failed to create Redis cleanup Job default/{j.ref.name}")


# --- the auth token Secret --------------------------------------------------------------------------


def test_token_auth_creates_its_secret_once_with_a_token_the_actuator_makes() -> None:
    c = cluster(rayVersion="2.53.0", authOptions={"mode": "token"})
    d = run(c)
    kinds = [a.ref.kind for a in writes(d)]
    assert kinds.index("Secret") < kinds.index("Service") < kinds.index("Pod"), kinds
    (secret,) = [a for a in writes(d) if a.ref.kind == "Secret"]
    assert isinstance(secret, Apply) and secret.create_only and secret.generate == {"auth_token": 32}
    assert "stringData" not in secret.object and "data" not in secret.object, "no token on the bus"
    assert secret.object["metadata"]["name"] == "raycluster-sample"
    assert secret.object["metadata"]["labels"]["ray.io/cluster"] == "raycluster-sample"
    (owner,) = secret.object["metadata"]["ownerReferences"]
    assert owner["uid"] == UID and owner["controller"] is True
    assert secret.success_event is None and not secret.failure_reason, "KubeRay records no Event for it"
    present = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "raycluster-sample", "namespace": "default",
                                                                   "uid": "s", "resourceVersion": "1"}}
    obs = Observed(RootKey("raycluster", "default", "raycluster-sample"), c,
                   MappingProxyType({"pod": (), "secret": (present,)}))
    again = reconcile(obs, now=NOW, settings=SETTINGS)
    assert not [a for a in writes(again) if a.ref.kind == "Secret"], "never re-created, never rotated"


@pytest.mark.parametrize("auth", [None, {"mode": "disabled"}, {"mode": "token", "secretName": "mine"}],
                         ids=["none", "disabled", "own-secret"])
def test_no_secret_without_token_auth_or_with_the_users_own(auth: dict[str, str] | None) -> None:
    c = cluster(rayVersion="2.53.0", **({"authOptions": auth} if auth else {}))
    assert not [a for a in writes(run(c)) if a.ref.kind == "Secret"]


# --- ReplicaFailure from the failed writes in view ---------------------------------------------------


def failed(target: Apply | Delete, reason: str, message: str) -> Failure:
    ref = target.ref
    return Failure("a1", target.op, ref.kind.lower(), ref.namespace, ref.name, reason=reason, message=message,
                   at=NOW, root_uid=UID)


def with_failures(c: Obj, *failures: Failure, pods: tuple[Obj, ...] = ()) -> Decision:
    obs = Observed(RootKey("raycluster", "default", "raycluster-sample"), c,
                   MappingProxyType({"pod": pods}), failures)
    return reconcile(obs, now=NOW, settings=SETTINGS)


def condition(d: Decision, kind: str, before: Obj | None = None) -> Obj | None:
    """The condition in the status decided (or, unchanged, the status `before`)."""
    status = d.status if d.status is not None else (before or {}).get("status")
    assert status is not None
    return next((x for x in status.get("conditions") or [] if x["type"] == kind), None)


FORBIDDEN = ('pods "raycluster-sample-head-x" is forbidden: error looking up service account default/missing: '
             'serviceaccount "missing" not found')


def test_a_failed_head_create_is_retried_and_reported_as_kuberays_replica_failure() -> None:
    c = cluster()
    (head,) = [a for a in writes(run(c)) if a.ref.kind == "Pod" and "head" in a.ref.name]
    d = with_failures(c, failed(head, "FailedToCreateHeadPod", FORBIDDEN))
    assert head.ref.name in [a.ref.name for a in writes(d)], "the create is made again"
    rf = condition(d, "ReplicaFailure")
    assert rf is not None and (rf["status"], rf["reason"]) == ("True", "FailedCreateHeadPod")
    assert rf["message"] == f"FailedCreateHeadPod\n{FORBIDDEN}"
    assert d.status is not None and d.status.get("state") != "ready"


def test_the_first_failed_pod_write_in_the_pass_order_names_the_condition() -> None:
    c = cluster()
    made = [a for a in writes(run(c)) if a.ref.kind == "Pod"]
    head = next(a for a in made if "head" in a.ref.name)
    worker = next(a for a in made if "worker" in a.ref.name)
    d = with_failures(c, failed(worker, "FailedToCreateWorkerPod", "quota"), failed(head, "FailedToCreateHeadPod", "sa"))
    rf = condition(d, "ReplicaFailure")
    assert rf is not None and rf["reason"] == "FailedCreateHeadPod"


def test_replica_failure_goes_once_no_failed_write_is_made_again() -> None:
    c = cluster()
    worker = next(a for a in writes(run(c)) if a.ref.kind == "Pod" and "worker" in a.ref.name)
    c["status"] = with_failures(c, failed(worker, "FailedToCreateWorkerPod", "quota")).status
    assert condition(with_failures(c, failed(worker, "FailedToCreateWorkerPod", "quota")), "ReplicaFailure", c)
    scaled = copy.deepcopy(c)
    scaled["spec"]["workerGroupSpecs"][0].update(replicas=0, minReplicas=0)
    assert condition(with_failures(scaled, failed(worker, "FailedToCreateWorkerPod", "quota")), "ReplicaFailure",
                     scaled) is None, "the failed write is no longer wanted: no error in this pass"
    assert condition(with_failures(c), "ReplicaFailure", c) is None, "the failure left the view (the pod was created)"
    service = next(a for a in writes(run(c)) if a.ref.kind == "Service")
    assert condition(with_failures(c, failed(service, "FailedToCreateService", "x")), "ReplicaFailure", c) is None, \
        "only pod writes carry KubeRay's ReplicaFailure markers"
