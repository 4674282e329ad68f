"""Batch schedulers: the shared rules (`raybus_common.crds.batch`), scheduler-bridge's group
objects, and what cluster-ctl and job-ctl stamp on pods — KubeRay v1.5.0's `batchscheduler`
plugins, case by case, plus Raybus's per-object choice and its no-pod-before-the-group rule."""

from __future__ import annotations

import copy
import json
from types import MappingProxyType
from typing import Any

import pytest
import yaml
from cluster_views import NOW, REPO
from job_views import CLUSTER, NAME, NS, UID, cluster, head_service, rayjob, run, status

from raybus_cluster_ctl.config import ClusterConfig
from raybus_cluster_ctl.handlers import GROUPS
from raybus_cluster_ctl.reconcile import reconcile as cluster_reconcile
from raybus_common.actions import Apply, Patch, RecordEvent
from raybus_common.controller.view import Observed, RootKey
from raybus_common.crds import batch
from raybus_common.crds.raycluster import RayClusterSpec
from raybus_common.quantity import Quantity
from raybus_job_ctl.config import JobConfig
from raybus_scheduler_bridge.config import SchedulerConfig
from raybus_scheduler_bridge.handlers import job_to_cluster
from raybus_scheduler_bridge.reconcile import reconcile as bridge_reconcile

Obj = dict[str, Any]
SAMPLE = yaml.safe_load((REPO / "deploy" / "samples" / "raycluster-sample.yaml").read_text())


def spec(**changes: Any) -> RayClusterSpec:
    raw = copy.deepcopy(SAMPLE["spec"])
    raw.update(changes)
    return RayClusterSpec.model_validate(raw)


def raycluster(name: str = "rc", *, labels: dict[str, str] | None = None, job: bool = False, **changes: Any) -> Obj:
    raw = copy.deepcopy(SAMPLE)
    raw["spec"].update(changes)
    meta: Obj = {"name": name, "namespace": NS, "uid": f"uid-{name}", "resourceVersion": "5", "generation": 1,
                 "labels": dict(labels or {})}
    if job:
        meta["labels"].update({"ray.io/originated-from-crd": "RayJob", "ray.io/originated-from-cr-name": NAME})
        meta["ownerReferences"] = [{"apiVersion": "ray.io/v1", "kind": "RayJob", "name": NAME, "uid": UID,
                                    "controller": True, "blockOwnerDeletion": True}]
    raw["metadata"] = meta
    return raw


def observe(root: Obj | None, *children: Obj, key: str = "rc") -> Observed:
    grouped: dict[str, list[Obj]] = {}
    for child in children:
        kind = child["kind"].lower()
        if kind == "podgroup" and child["apiVersion"].startswith("scheduling.x-k8s.io"):
            kind = "schedulingpodgroup"
        grouped.setdefault(kind, []).append(child)
    return Observed(RootKey("raycluster", NS, key), root, MappingProxyType({k: tuple(v) for k, v in grouped.items()}))


def bridge(root: Obj | None, *children: Obj, scheduler: str = "volcano", key: str = "rc") -> list[Any]:
    d = bridge_reconcile(observe(root, *children, key=key), now=NOW, settings=SchedulerConfig(batch_scheduler=scheduler))
    return list(d.actions)


def served(obj: Obj, rv: str = "9") -> Obj:
    """What the API server serves back for an applied object."""
    out = copy.deepcopy(obj)
    out["metadata"].update(uid=f"uid-{out['metadata']['name']}", resourceVersion=rv)
    return out


# -- selection -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("labels", "default", "expected"), [
    ({}, "", ""),
    ({}, "volcano", "volcano"),
    ({batch.SCHEDULER_LABEL: "yunikorn"}, "volcano", "yunikorn"),
    ({batch.SCHEDULER_LABEL: "yunikorn"}, "", "yunikorn"),
    ({batch.SCHEDULER_LABEL: "default"}, "volcano", ""),
    ({batch.SCHEDULER_LABEL: "slurm"}, "volcano", ""),
    ({batch.SCHEDULER_LABEL: ""}, "kai-scheduler", "kai-scheduler"),
])
def test_scheduler_per_object_over_the_operators(labels: dict[str, str], default: str, expected: str) -> None:
    assert batch.scheduler_of(labels, default) == expected


def test_an_unknown_scheduler_label_is_a_problem_and_cluster_ctl_says_so() -> None:
    assert batch.scheduler_problem({batch.SCHEDULER_LABEL: "volcano"}) is None
    assert batch.scheduler_problem({batch.SCHEDULER_LABEL: "default"}) is None
    text = batch.scheduler_problem({batch.SCHEDULER_LABEL: "slurm"})
    assert text is not None and "'slurm'" in text and "volcano" in text
    d = cluster_reconcile(observe(raycluster(labels={batch.SCHEDULER_LABEL: "slurm"})), now=NOW,
                          settings=ClusterConfig())
    warnings = [a for a in d.actions if isinstance(a, RecordEvent)]
    assert [w.reason for w in warnings] == ["InvalidRayClusterSpec"] and "slurm" in warnings[0].message
    assert not [a for a in d.actions if isinstance(a, Apply) and a.object["kind"] == "Pod"]


# -- sizes -----------------------------------------------------------------------------------------


def test_gang_size_counts_desired_pods_or_the_autoscalers_minimum() -> None:
    members, resources = batch.gang_size(spec())
    assert members == 3 and batch.resource_list(resources) == {"cpu": "3", "memory": "6Gi"}
    members, resources = batch.gang_size(spec(enableInTreeAutoscaling=True))
    assert members == 2 and batch.resource_list(resources) == {"cpu": "2", "memory": "4Gi"}
    suspended = copy.deepcopy(SAMPLE["spec"])
    suspended["workerGroupSpecs"][0]["suspend"] = True
    members, resources = batch.gang_size(RayClusterSpec.model_validate(suspended))
    assert members == 1 and batch.resource_list(resources) == {"cpu": "1", "memory": "2Gi"}


def test_submitter_resources_by_mode() -> None:
    default = {"cpu": "500m", "memory": "200Mi"}
    assert batch.resource_list(batch.submitter_resources("K8sJobMode", None)) == default
    assert batch.resource_list(batch.submitter_resources("SidecarMode", None)) == default
    assert batch.submitter_resources("HTTPMode", None) == {}
    template = {"spec": {"containers": [{"resources": {"requests": {"cpu": "2"}, "limits": {"memory": "1Gi"}}}]}}
    assert batch.resource_list(batch.submitter_resources("K8sJobMode", template)) == {"cpu": "2", "memory": "1Gi"}


# -- pod metadata (AddMetadataToChildResource) ----------------------------------------------------


def meta(scheduler: str, labels: dict[str, str], group: str = "cpu", name: str = "rc", **kw: Any) -> batch.ChildMeta:
    return batch.child_meta(scheduler, labels=labels, annotations={}, name=name, group=group, **kw)


def test_volcano_pod_metadata() -> None:
    m = meta("volcano", {batch.VOLCANO_QUEUE_LABEL: "q1", batch.PRIORITY_CLASS_LABEL: "high", "team": "x"})
    assert m.scheduler_name == "volcano"
    assert dict(m.labels) == {batch.VOLCANO_QUEUE_LABEL: "q1", batch.PRIORITY_CLASS_LABEL: "high"}
    assert dict(m.annotations) == {"scheduling.k8s.io/group-name": "ray-rc-pg", "volcano.sh/task-spec": "cpu"}
    job_cluster = meta("volcano", {"ray.io/originated-from-crd": "RayJob", "ray.io/originated-from-cr-name": "rj"},
                       group="headgroup", name="rj-abcde")
    assert job_cluster.annotations["scheduling.k8s.io/group-name"] == "ray-rj-pg"
    assert not job_cluster.labels, "empty parent labels are not copied"


def test_yunikorn_pod_metadata_and_task_groups() -> None:
    labels = {batch.YUNIKORN_APP_ID_LABEL: "app-1", batch.YUNIKORN_QUEUE_LABEL: "root.ml"}
    plain = meta("yunikorn", labels)
    assert plain.scheduler_name == "yunikorn"
    assert dict(plain.labels) == {"applicationId": "app-1", "queue": "root.ml"} and not plain.annotations
    groups = batch.cluster_task_groups(spec())
    # Go's json.Marshal of KubeRay's TaskGroup structs: field order, empty optionals left out.
    assert groups == ('[{"minResource":{"cpu":"1","memory":"2Gi"},"name":"headgroup","minMember":1},'
                      '{"minResource":{"cpu":"1","memory":"2Gi"},"name":"cpu","minMember":1}]')
    gang = meta("yunikorn", {**labels, batch.GANG_LABEL: ""}, task_groups=groups)
    assert gang.annotations == {batch.YUNIKORN_TASK_GROUPS_ANNOTATION: groups,
                                batch.YUNIKORN_TASK_GROUP_NAME_ANNOTATION: "cpu"}
    given = batch.child_meta("yunikorn", labels={batch.GANG_LABEL: "true"},
                             annotations={batch.YUNIKORN_TASK_GROUPS_ANNOTATION: "[mine]"}, name="rc", group="",
                             task_groups=groups, pod=False)
    assert given.annotations == {batch.YUNIKORN_TASK_GROUPS_ANNOTATION: "[mine]"} and given.scheduler_name is None
    jobs = json.loads(batch.job_task_groups(spec(), {"spec": {"containers": [{"resources": batch.SUBMITTER_RESOURCES}],
                                                              "tolerations": [{"key": "k", "operator": "Exists"}]}}))
    assert [g["name"] for g in jobs] == ["headgroup", "cpu", "submittergroup"]
    assert jobs[-1] == {"minResource": {"cpu": "500m", "memory": "200Mi"}, "name": "submittergroup",
                        "tolerations": [{"key": "k", "operator": "Exists"}], "minMember": 1}


def test_scheduler_plugins_and_kai_pod_metadata() -> None:
    assert meta("scheduler-plugins", {}).scheduler_name == "scheduler-plugins-scheduler"
    assert not meta("scheduler-plugins", {}).labels
    assert dict(meta("scheduler-plugins", {batch.GANG_LABEL: "x"}).labels) == {batch.POD_GROUP_LABEL: "rc"}
    kai = meta("kai-scheduler", {batch.KAI_QUEUE_LABEL: "team-a"})
    assert kai.scheduler_name == "kai-scheduler" and dict(kai.labels) == {batch.KAI_QUEUE_LABEL: "team-a"}
    assert meta("", {batch.VOLCANO_QUEUE_LABEL: "q"}) == batch.NO_META


# -- scheduler-bridge: the group objects -----------------------------------------------------------


def test_volcano_pod_group_of_a_raycluster() -> None:
    root = raycluster(labels={batch.VOLCANO_QUEUE_LABEL: "q1", batch.PRIORITY_CLASS_LABEL: "high",
                              batch.VOLCANO_TOPOLOGY_MODE_LABEL: "hard", batch.VOLCANO_TOPOLOGY_TIER_LABEL: "2"})
    (action,) = bridge(root)
    assert isinstance(action, Apply) and not action.create_only
    group = action.object
    assert (group["apiVersion"], group["kind"], group["metadata"]["name"]) == (
        "scheduling.volcano.sh/v1beta1", "PodGroup", "ray-rc-pg")
    assert group["metadata"]["ownerReferences"] == [{"apiVersion": "ray.io/v1", "kind": "RayCluster", "name": "rc",
                                                     "uid": "uid-rc", "controller": True, "blockOwnerDeletion": True}]
    assert group["spec"] == {"minMember": 3, "minResources": {"cpu": "3", "memory": "6Gi"}, "queue": "q1",
                             "priorityClassName": "high",
                             "networkTopology": {"mode": "hard", "highestTierAllowed": 2}}
    assert bridge(root, served(group)) == [], "in view and the same: nothing to write"
    scaled = copy.deepcopy(root)
    scaled["spec"]["workerGroupSpecs"][0]["replicas"] = 4
    (update,) = bridge(scaled, served(group))
    assert update.object["spec"]["minMember"] == 5 and update.object["spec"]["minResources"] == {
        "cpu": "5", "memory": "10Gi"}


def test_a_suspended_clusters_volcano_group_reserves_nothing() -> None:
    root = raycluster()
    group = served(bridge(root)[0].object)
    suspended = raycluster(suspend=True)
    (action,) = bridge(suspended, group)
    assert action.object["spec"]["minMember"] == 0 and "minResources" not in action.object["spec"]
    assert bridge(root, served(action.object))[0].object["spec"]["minMember"] == 3, "resumed: reserved again"


def test_volcano_tier_label_that_is_no_number_is_a_warning_and_no_group() -> None:
    root = raycluster(labels={batch.VOLCANO_TOPOLOGY_MODE_LABEL: "soft", batch.VOLCANO_TOPOLOGY_TIER_LABEL: "two"})
    (event,) = bridge(root)
    assert isinstance(event, RecordEvent) and (event.type, event.reason) == ("Warning", "FailedToCreatePodGroup")
    assert event.message == ('failed to convert volcano.sh/network-topology-highest-tier-allowed label to int: '
                             'strconv.Atoi: parsing "two": invalid syntax for podgroup ray-rc-pg in namespace default')


def test_no_group_without_a_scheduler_that_needs_one_or_for_another_manager() -> None:
    assert bridge(raycluster(), scheduler="") == []
    assert bridge(raycluster(), scheduler="yunikorn") == []
    assert bridge(raycluster(), scheduler="kai-scheduler") == []
    assert bridge(raycluster(), scheduler="scheduler-plugins") == [], "scheduler-plugins: only with the gang label"
    assert bridge(raycluster(managedBy="kueue.x-k8s.io/multikueue")) == []
    assert bridge(raycluster(labels={batch.SCHEDULER_LABEL: "default"})) == []
    assert [a.object["metadata"]["name"] for a in bridge(raycluster(labels={batch.SCHEDULER_LABEL: "volcano"}),
                                                         scheduler="")] == ["ray-rc-pg"]


def test_scheduler_plugins_pod_group_created_once() -> None:
    root = raycluster(labels={batch.GANG_LABEL: "true"})
    (action,) = bridge(root, scheduler="scheduler-plugins")
    assert action.create_only
    group = action.object
    assert (group["apiVersion"], group["metadata"]["name"]) == ("scheduling.x-k8s.io/v1alpha1", "rc")
    assert group["spec"] == {"minMember": 3, "minResources": {"cpu": "3", "memory": "6Gi"}}
    assert group["metadata"]["ownerReferences"][0]["uid"] == "uid-rc"
    scaled = copy.deepcopy(root)
    scaled["spec"]["workerGroupSpecs"][0]["replicas"] = 4
    assert bridge(scaled, served(group), scheduler="scheduler-plugins") == [], "never updated (KubeRay)"


def test_volcano_pod_group_of_a_rayjobs_cluster_is_the_rayjobs() -> None:
    root = raycluster(CLUSTER, job=True)
    assert bridge(root, key=CLUSTER) == [], "waits for its RayJob (the submitter's resources)"
    job = rayjob(status("Initializing"))
    (action,) = bridge(root, job, key=CLUSTER)
    group = action.object
    assert group["metadata"]["name"] == f"ray-{NAME}-pg"
    assert group["metadata"]["labels"] == {"ray.io/cluster": CLUSTER}
    owner = group["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["name"], owner["uid"], owner["controller"]) == ("RayJob", NAME, UID, True)
    # The submitter is not a member (it waits for the cluster) but its resources are reserved.
    assert group["spec"]["minMember"] == 3
    assert group["spec"]["minResources"] == {"cpu": "3500m", "memory": "6344Mi"}
    http = rayjob(status("Initializing"), submissionMode="HTTPMode")
    assert bridge(root, http, key=CLUSTER)[0].object["spec"]["minResources"] == {"cpu": "3", "memory": "6Gi"}
    # The RayJob's next cluster (a retry): the same group, moved to it.
    moved = bridge(raycluster("rj-fghij", job=True), job, served(group), key="rj-fghij")
    assert [a.object["metadata"]["labels"] for a in moved] == [{"ray.io/cluster": "rj-fghij"}]


def test_a_rayjobs_group_reserves_nothing_once_its_cluster_goes() -> None:
    group = served(bridge(raycluster(CLUSTER, job=True), rayjob(status("Initializing")), key=CLUSTER)[0].object)
    (patch,) = bridge(None, group, key=CLUSTER)
    assert isinstance(patch, Patch) and patch.ref.name == f"ray-{NAME}-pg"
    assert patch.patch == {"spec": {"minMember": 0, "minResources": None}}
    released = copy.deepcopy(group)
    released["spec"].update(minMember=0)
    del released["spec"]["minResources"]
    assert bridge(None, released, key=CLUSTER) == [], "released already"
    terminating = raycluster(CLUSTER, job=True)
    terminating["metadata"]["deletionTimestamp"] = "2026-12-02T02:59:00Z"
    assert [type(a) for a in bridge(terminating, group, key=CLUSTER)] == [Patch]


def test_a_rayjob_wakes_the_cluster_its_status_names() -> None:
    assert [str(k) for k in job_to_cluster(rayjob(status("Initializing")))] == [f"raycluster/{NS}/{CLUSTER}"]
    assert list(job_to_cluster(rayjob())) == []


def test_quantities_compare_by_value_not_text() -> None:
    root = raycluster()
    (action,) = bridge(root)
    group = served(action.object)
    group["spec"]["minResources"] = {"cpu": "3000m", "memory": str(Quantity.parse("6Gi").value)}
    assert bridge(root, group) == []


# -- cluster-ctl: no pod before the group; pods stamped -------------------------------------------


def pods_of(d: Any) -> list[Obj]:
    return [a.object for a in d.actions if isinstance(a, Apply) and a.object["kind"] == "Pod"]


def test_cluster_ctl_creates_no_pod_before_its_volcano_pod_group_is_observed() -> None:
    settings = ClusterConfig(batch_scheduler="volcano")
    root = raycluster(labels={batch.VOLCANO_QUEUE_LABEL: "q1"})
    first = cluster_reconcile(observe(root), now=NOW, settings=settings)
    assert pods_of(first) == []
    group = served(bridge(root)[0].object)
    d = cluster_reconcile(observe(root, group), now=NOW, settings=settings)
    pods = pods_of(d)
    assert len(pods) == 3
    for pod in pods:
        assert pod["spec"]["schedulerName"] == "volcano"
        assert pod["metadata"]["labels"][batch.VOLCANO_QUEUE_LABEL] == "q1"
        assert pod["metadata"]["annotations"]["scheduling.k8s.io/group-name"] == "ray-rc-pg"
    assert sorted(p["metadata"]["annotations"]["volcano.sh/task-spec"] for p in pods) == ["cpu", "cpu", "headgroup"]


def test_cluster_ctl_keeps_what_maps_a_rayjobs_group_to_its_cluster() -> None:
    group = served(bridge(raycluster(CLUSTER, job=True), rayjob(status("Initializing")), key=CLUSTER)[0].object)
    for watch in GROUPS:
        if watch.kind == "podgroup":
            kept = watch.keep(group) if watch.keep else group
            assert [str(k) for k in watch.to_roots(kept)] == [f"raycluster/{NS}/{CLUSTER}"]
            assert kept["metadata"]["name"] == f"ray-{NAME}-pg"


def test_cluster_ctl_without_a_scheduler_stamps_nothing_and_does_not_wait() -> None:
    d = cluster_reconcile(observe(raycluster()), now=NOW, settings=ClusterConfig())
    assert len(pods_of(d)) == 3
    assert all("schedulerName" not in p["spec"] for p in pods_of(d))


def test_cluster_ctl_scheduler_plugins_waits_only_with_the_gang_label() -> None:
    settings = ClusterConfig(batch_scheduler="scheduler-plugins")
    plain = pods_of(cluster_reconcile(observe(raycluster()), now=NOW, settings=settings))
    assert len(plain) == 3 and {p["spec"]["schedulerName"] for p in plain} == {"scheduler-plugins-scheduler"}
    gang = raycluster(labels={batch.GANG_LABEL: "true"})
    assert pods_of(cluster_reconcile(observe(gang), now=NOW, settings=settings)) == []
    group = served(bridge(gang, scheduler="scheduler-plugins")[0].object)
    pods = pods_of(cluster_reconcile(observe(gang, group), now=NOW, settings=settings))
    assert len(pods) == 3 and all(p["metadata"]["labels"][batch.POD_GROUP_LABEL] == "rc" for p in pods)


def test_cluster_ctl_yunikorn_gang_annotations() -> None:
    root = raycluster(labels={batch.SCHEDULER_LABEL: "yunikorn", batch.GANG_LABEL: "", batch.YUNIKORN_QUEUE_LABEL: "q"})
    pods = pods_of(cluster_reconcile(observe(root), now=NOW, settings=ClusterConfig()))
    assert len(pods) == 3, "YuniKorn has no group object to wait for"
    for pod in pods:
        assert pod["spec"]["schedulerName"] == "yunikorn" and pod["metadata"]["labels"]["queue"] == "q"
        assert json.loads(pod["metadata"]["annotations"][batch.YUNIKORN_TASK_GROUPS_ANNOTATION])[0]["name"] == "headgroup"


# -- job-ctl: the RayCluster and the submitter -----------------------------------------------------


def test_job_ctl_stamps_its_cluster_and_submitter_for_volcano() -> None:
    labels = {batch.VOLCANO_QUEUE_LABEL: "q1"}
    job = rayjob(status("Initializing"))
    job["metadata"]["labels"] = labels
    settings = JobConfig(batch_scheduler="volcano")
    (created,) = [a.object for a in run(job, settings=settings).actions if isinstance(a, Apply)]
    assert created["kind"] == "RayCluster"
    assert created["metadata"]["annotations"] == {"scheduling.k8s.io/group-name": f"ray-{NAME}-pg",
                                                  "volcano.sh/task-spec": ""}
    assert "schedulerName" not in created["spec"]
    c = cluster()
    c["metadata"]["labels"] = labels
    d = run(job, c, head_service(), settings=settings)
    (submitter,) = [a.object for a in d.actions if isinstance(a, Apply) and a.object["kind"] == "Job"]
    template = submitter["spec"]["template"]
    assert template["spec"]["schedulerName"] == "volcano"
    assert template["metadata"]["labels"][batch.VOLCANO_QUEUE_LABEL] == "q1"
    assert template["metadata"]["annotations"] == {"scheduling.k8s.io/group-name": f"ray-{NAME}-pg",
                                                   "volcano.sh/task-spec": "submittergroup"}


def test_job_ctl_under_scheduler_plugins_keeps_the_submitter_out_of_the_gang() -> None:
    job = rayjob(status("Initializing"))
    job["metadata"]["labels"] = {batch.GANG_LABEL: "true"}
    d = run(job, cluster(), head_service(), settings=JobConfig(batch_scheduler="scheduler-plugins"))
    (submitter,) = [a.object for a in d.actions if isinstance(a, Apply) and a.object["kind"] == "Job"]
    template = submitter["spec"]["template"]
    assert template["spec"]["schedulerName"] == "scheduler-plugins-scheduler"
    assert batch.POD_GROUP_LABEL not in template["metadata"]["labels"]


def test_job_ctl_yunikorn_gang_puts_the_submitter_in_the_clusters_task_groups() -> None:
    job = rayjob(status("Initializing"))
    job["metadata"]["labels"] = {batch.GANG_LABEL: "true"}
    settings = JobConfig(batch_scheduler="yunikorn")
    (created,) = [a.object for a in run(job, settings=settings).actions if isinstance(a, Apply)]
    groups = json.loads(created["metadata"]["annotations"][batch.YUNIKORN_TASK_GROUPS_ANNOTATION])
    assert [g["name"] for g in groups] == ["headgroup", "cpu", "submittergroup"]
    assert batch.YUNIKORN_TASK_GROUP_NAME_ANNOTATION not in created["metadata"]["annotations"]
