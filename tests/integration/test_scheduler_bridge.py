"""Batch schedulers end to end: a real control plane with the schedulers' CRDs (Volcano's and
scheduler-plugins' PodGroups, `raybus_testbed.schedulers`), real NATS, and the watcher,
actuator, cluster-ctl, job-ctl and scheduler-bridge as processes.

The operator-wide scheduler is Volcano (`RAYBUS_BATCH_SCHEDULER`); other clusters choose their
own with the label `raybus.io/batch-scheduler`. No scheduler runs here, so pods under a batch
scheduler's `schedulerName` stay Pending: what is checked is what Raybus writes — the group
objects, the pods' metadata, and their order: scheduler-bridge starts late, and until it runs
no gang-scheduled cluster has a pod while the others have theirs.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from raybus_common.crds import batch
from raybus_testbed.kube import Kube
from raybus_testbed.services import Services
from raybus_testbed.waiting import wait_until

pytestmark = pytest.mark.integration
IMAGE = "rayproject/ray:2.52.0"
RESOURCES = {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"cpu": "1", "memory": "1Gi"}}
VOLCANO = "/apis/scheduling.volcano.sh/v1beta1"
PLUGINS = "/apis/scheduling.x-k8s.io/v1alpha1"


def cluster_spec(replicas: int = 2) -> dict[str, Any]:
    def template(name: str) -> dict[str, Any]:
        return {"spec": {"containers": [{"name": name, "image": IMAGE, "resources": RESOURCES}]}}
    return {"headGroupSpec": {"rayStartParams": {}, "template": template("ray-head")},
            "workerGroupSpecs": [{"groupName": "cpu", "replicas": replicas, "minReplicas": 0, "maxReplicas": 5,
                                  "rayStartParams": {}, "template": template("ray-worker")}]}


def raycluster(name: str, labels: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": "ray.io/v1", "kind": "RayCluster", "metadata": {"name": name, "labels": labels},
            "spec": cluster_spec()}


class Ns:
    def __init__(self, api: Kube, ns: str) -> None:
        self.api, self.ns = api, ns

    def pods(self, cluster: str) -> list[dict[str, Any]]:
        return list(self.api.get(f"/api/v1/namespaces/{self.ns}/pods", labelSelector=f"ray.io/cluster={cluster}")["items"])

    def group(self, api_base: str, name: str) -> dict[str, Any] | None:
        path = f"{api_base}/namespaces/{self.ns}/podgroups/{name}"
        return self.api.get(path) if self.api.exists(path) else None

    def cluster(self, name: str) -> dict[str, Any]:
        found: dict[str, Any] = self.api.get(f"/apis/ray.io/v1/namespaces/{self.ns}/rayclusters/{name}")
        return found

    def patch(self, kind: str, name: str, patch: dict[str, Any]) -> None:
        self.api.merge_patch(f"/apis/ray.io/v1/namespaces/{self.ns}/{kind}/{name}", patch)


def test_group_objects_pod_metadata_and_no_pod_before_the_group(
        scheduler_crds: Kube, services: Services, control_plane: Kube, namespace: str) -> None:
    env = {"RAYBUS_BATCH_SCHEDULER": "volcano"}
    services.start("watcher", "raybus-watcher")
    services.start("actuator", "raybus-actuator")
    services.start("cluster-ctl", "raybus-cluster-ctl", **env)
    n = Ns(control_plane, namespace)
    base = f"/apis/ray.io/v1/namespaces/{namespace}/rayclusters"
    clusters = {
        "vc": {batch.VOLCANO_QUEUE_LABEL: "q1", batch.PRIORITY_CLASS_LABEL: "high"},  # the operator's: Volcano
        "sp": {batch.SCHEDULER_LABEL: "scheduler-plugins", batch.GANG_LABEL: "true"},
        "yk": {batch.SCHEDULER_LABEL: "yunikorn", batch.GANG_LABEL: "", batch.YUNIKORN_QUEUE_LABEL: "root.ml",
               batch.YUNIKORN_APP_ID_LABEL: "app-yk"},
        "kai": {batch.SCHEDULER_LABEL: "kai-scheduler", batch.KAI_QUEUE_LABEL: "team-a"},
        "plain": {batch.SCHEDULER_LABEL: "default"},
    }
    for name, labels in clusters.items():
        control_plane.create(base, raycluster(name, labels))

    # Without scheduler-bridge: the clusters that need no group object get their pods ...
    wait_until(lambda: all(len(n.pods(c)) == 3 for c in ("yk", "kai", "plain")), timeout=60,
               what="the pods of the clusters without a group object")
    # ... the gang-scheduled ones none, though cluster-ctl has reconciled them (status written).
    wait_until(lambda: all("desiredWorkerReplicas" in (n.cluster(c).get("status") or {}) for c in ("vc", "sp")),
               timeout=30, what="cluster-ctl's status of the gang-scheduled clusters")
    assert n.pods("vc") == [] and n.pods("sp") == []
    assert n.group(VOLCANO, "ray-vc-pg") is None

    for pod in n.pods("yk"):
        assert pod["spec"]["schedulerName"] == "yunikorn"
        assert {k: pod["metadata"]["labels"][k] for k in ("applicationId", "queue")} == {
            "applicationId": "app-yk", "queue": "root.ml"}
        groups = json.loads(pod["metadata"]["annotations"][batch.YUNIKORN_TASK_GROUPS_ANNOTATION])
        assert [(g["name"], g["minMember"], g["minResource"]) for g in groups] == [
            ("headgroup", 1, {"cpu": "1", "memory": "1Gi"}), ("cpu", 0, {"cpu": "1", "memory": "1Gi"})]
        group = pod["metadata"]["labels"]["ray.io/group"]
        assert pod["metadata"]["annotations"][batch.YUNIKORN_TASK_GROUP_NAME_ANNOTATION] == group
    for pod in n.pods("kai"):
        assert pod["spec"]["schedulerName"] == "kai-scheduler"
        assert pod["metadata"]["labels"][batch.KAI_QUEUE_LABEL] == "team-a"
    for pod in n.pods("plain"):
        assert pod["spec"]["schedulerName"] == "default-scheduler"

    # scheduler-bridge starts: the groups appear, then the pods.
    services.start("scheduler-bridge", "raybus-scheduler-bridge", **env)
    wait_until(lambda: len(n.pods("vc")) == 3 and len(n.pods("sp")) == 3, timeout=60,
               what="the gang-scheduled clusters' pods")
    vc_group = n.group(VOLCANO, "ray-vc-pg")
    assert vc_group is not None
    assert vc_group["spec"]["minMember"] == 3
    assert vc_group["spec"]["minResources"] == {"cpu": "3", "memory": "3Gi"}
    assert (vc_group["spec"]["queue"], vc_group["spec"]["priorityClassName"]) == ("q1", "high")
    (owner,) = vc_group["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["name"], owner["uid"]) == ("RayCluster", "vc", n.cluster("vc")["metadata"]["uid"])
    for pod in n.pods("vc"):
        assert pod["spec"]["schedulerName"] == "volcano"
        assert pod["metadata"]["labels"][batch.VOLCANO_QUEUE_LABEL] == "q1"
        assert pod["metadata"]["annotations"][batch.VOLCANO_GROUP_ANNOTATION] == "ray-vc-pg"
        assert pod["metadata"]["annotations"][batch.VOLCANO_TASK_SPEC_ANNOTATION] == \
            pod["metadata"]["labels"]["ray.io/group"]
        assert pod["metadata"]["creationTimestamp"] >= vc_group["metadata"]["creationTimestamp"]
    sp_group = n.group(PLUGINS, "sp")
    assert sp_group is not None and sp_group["spec"]["minMember"] == 3
    for pod in n.pods("sp"):
        assert pod["spec"]["schedulerName"] == "scheduler-plugins-scheduler"
        assert pod["metadata"]["labels"][batch.POD_GROUP_LABEL] == "sp"
    assert n.group(VOLCANO, "ray-yk-pg") is None and n.group(VOLCANO, "ray-plain-pg") is None

    # Scale: the Volcano group follows; scheduler-plugins' stays as created (as KubeRay's).
    for name in ("vc", "sp"):
        n.patch("rayclusters", name, {"spec": {"workerGroupSpecs": [{**cluster_spec(3)["workerGroupSpecs"][0]}]}})
    wait_until(lambda: (n.group(VOLCANO, "ray-vc-pg") or {}).get("spec", {}).get("minMember") == 4, timeout=30,
               what="the Volcano group scaled to 4")
    wait_until(lambda: len(n.pods("vc")) == 4 and len(n.pods("sp")) == 4, timeout=30, what="the fourth pods")
    assert (n.group(PLUGINS, "sp") or {})["spec"]["minMember"] == 3

    # Suspend: the pods go, the Volcano group reserves nothing; resumed, it reserves again.
    n.patch("rayclusters", "vc", {"spec": {"suspend": True}})
    wait_until(lambda: n.pods("vc") == [] and (n.group(VOLCANO, "ray-vc-pg") or {}).get("spec", {}).get(
        "minMember") == 0, timeout=60, what="the suspended cluster's pods gone and its group at 0")
    assert not (n.group(VOLCANO, "ray-vc-pg") or {})["spec"].get("minResources")
    n.patch("rayclusters", "vc", {"spec": {"suspend": False}})
    wait_until(lambda: (n.group(VOLCANO, "ray-vc-pg") or {}).get("spec", {}).get("minMember") == 4
               and len(n.pods("vc")) == 4, timeout=60, what="the resumed cluster's group and pods")

    # Delete: the groups go with their clusters (owner references, the garbage collector).
    for name in ("vc", "sp"):
        control_plane.delete(f"{base}/{name}")
    wait_until(lambda: n.group(VOLCANO, "ray-vc-pg") is None and n.group(PLUGINS, "sp") is None, timeout=60,
               what="the groups garbage-collected")


def test_a_rayjobs_volcano_group_across_suspend_and_resume(
        scheduler_crds: Kube, services: Services, control_plane: Kube, namespace: str) -> None:
    env = {"RAYBUS_BATCH_SCHEDULER": "volcano"}
    for name, command in (("watcher", "raybus-watcher"), ("actuator", "raybus-actuator"),
                          ("cluster-ctl", "raybus-cluster-ctl"), ("job-ctl", "raybus-job-ctl"),
                          ("scheduler-bridge", "raybus-scheduler-bridge")):
        services.start(name, command, **({} if name in ("watcher", "actuator") else env))
    n = Ns(control_plane, namespace)
    job = {"apiVersion": "ray.io/v1", "kind": "RayJob",
           "metadata": {"name": "rj", "labels": {batch.VOLCANO_QUEUE_LABEL: "q1"}},
           "spec": {"entrypoint": "python -c 'print(1)'", "shutdownAfterJobFinishes": True,
                    "rayClusterSpec": cluster_spec(1)}}
    control_plane.create(f"/apis/ray.io/v1/namespaces/{namespace}/rayjobs", job)

    def job_cluster() -> str:
        status = control_plane.get(f"/apis/ray.io/v1/namespaces/{namespace}/rayjobs/rj").get("status") or {}
        return str(status.get("rayClusterName") or "")

    wait_until(lambda: job_cluster() != "" and len(n.pods(job_cluster())) == 2, timeout=60,
               what="the RayJob's cluster and its pods")
    first = job_cluster()
    group = n.group(VOLCANO, "ray-rj-pg")
    assert group is not None
    assert group["metadata"]["labels"] == {"ray.io/cluster": first}
    (owner,) = group["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["name"]) == ("RayJob", "rj")
    # Head and worker are members; the submitter is not, but its resources are reserved.
    assert group["spec"]["minMember"] == 2
    assert group["spec"]["minResources"] == {"cpu": "2500m", "memory": "2248Mi"}
    assert group["spec"]["queue"] == "q1"
    made = n.cluster(first)
    assert made["metadata"]["annotations"][batch.VOLCANO_GROUP_ANNOTATION] == "ray-rj-pg"
    for pod in n.pods(first):
        assert pod["metadata"]["annotations"][batch.VOLCANO_GROUP_ANNOTATION] == "ray-rj-pg"
        assert pod["spec"]["schedulerName"] == "volcano"

    # Suspended: the cluster goes and the RayJob's group (which outlives it) reserves nothing.
    n.patch("rayjobs", "rj", {"spec": {"suspend": True}})
    wait_until(lambda: (n.group(VOLCANO, "ray-rj-pg") or {}).get("spec", {}).get("minMember") == 0, timeout=60,
               what="the RayJob's group released")
    assert not (n.group(VOLCANO, "ray-rj-pg") or {})["spec"].get("minResources")
    # Resumed: a new cluster, and the same group serving it with the full gang again.
    n.patch("rayjobs", "rj", {"spec": {"suspend": False}})
    wait_until(lambda: job_cluster() not in ("", first) and len(n.pods(job_cluster())) == 2, timeout=90,
               what="the resumed RayJob's new cluster and pods")
    again = n.group(VOLCANO, "ray-rj-pg")
    assert again is not None and again["metadata"]["uid"] == group["metadata"]["uid"]
    assert again["metadata"]["labels"] == {"ray.io/cluster": job_cluster()} and again["spec"]["minMember"] == 2
    control_plane.delete(f"/apis/ray.io/v1/namespaces/{namespace}/rayjobs/rj")
    wait_until(lambda: n.group(VOLCANO, "ray-rj-pg") is None, timeout=60, what="the group gone with its RayJob")
