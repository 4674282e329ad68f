"""job-ctl's RayCluster and head Service builders (KubeRay v1.7 `constructRayClusterForRayJob`,
`BuildHeadServiceForRayJob`, `reconcileServices`)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from raybus_common.crds.rayjob import RayJob
from raybus_job_ctl.children import head_service_for, head_service_outdated, ray_cluster_for

OWNER = {"apiVersion": "ray.io/v1", "kind": "RayJob", "name": "myjob", "uid": "uid-1", "controller": True,
         "blockOwnerDeletion": True}
HEAD_CONTAINER = {"name": "ray-head", "image": "rayproject/ray:2.41.0",
                  "ports": [{"name": "dashboard", "containerPort": 8265}]}


def rayjob(spec: dict[str, Any] | None = None, *, labels: dict[str, str] | None = None,
           annotations: dict[str, str] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "myjob", "namespace": "ns", "uid": "uid-1"}
    if labels is not None:
        meta["labels"] = labels
    if annotations is not None:
        meta["annotations"] = annotations
    cluster_spec = {"rayVersion": "2.41.0", "futureField": {"kept": True},
                    "headGroupSpec": {"rayStartParams": {}, "template": {"spec": {"containers": [
                        copy.deepcopy(HEAD_CONTAINER)]}}},
                    "workerGroupSpecs": [{"groupName": "w", "replicas": 1, "template": {"spec": {"containers": [
                        {"name": "w", "image": "rayproject/ray:2.41.0"}]}}}]}
    return {"apiVersion": "ray.io/v1", "kind": "RayJob", "metadata": meta,
            "spec": {"entrypoint": "python a.py", "rayClusterSpec": cluster_spec, **(spec or {})},
            "status": {"jobId": "myjob-abcde"}}


def build(raw: dict[str, Any], *, gate: bool = False) -> dict[str, Any]:
    return ray_cluster_for(raw, RayJob.model_validate(raw), name="myjob-xyz12", job_id="myjob-abcde",
                           login_shell=False, restart_gate=gate)


@pytest.mark.parametrize(("mode", "mode_label"), [
    pytest.param(None, "K8sJobMode", id="default-mode"),
    pytest.param("HTTPMode", "HTTPMode", id="http"),
    pytest.param("InteractiveMode", "InteractiveMode", id="interactive"),
])
def test_ray_cluster(mode: str | None, mode_label: str) -> None:
    raw = rayjob({"submissionMode": mode} if mode else None, labels={"team": "a", "ray.io/originated-from-crd": "x"},
                 annotations={"note": "n"})
    before = copy.deepcopy(raw)
    cluster = build(raw)
    assert (cluster["apiVersion"], cluster["kind"]) == ("ray.io/v1", "RayCluster")
    meta = cluster["metadata"]
    assert (meta["name"], meta["namespace"]) == ("myjob-xyz12", "ns")
    assert meta["labels"] == {"team": "a", "ray.io/originated-from-cr-name": "myjob",
                              "ray.io/originated-from-crd": "RayJob", "ray.io/job-submission-mode": mode_label}
    assert meta["annotations"] == {"note": "n"}
    assert meta["ownerReferences"] == [OWNER]
    assert cluster["spec"] == before["spec"]["rayClusterSpec"]  # as sent, unknown fields too
    cluster["spec"]["headGroupSpec"]["template"]["spec"]["containers"].append({})
    assert raw == before  # a copy


def test_ray_cluster_without_labels_or_annotations() -> None:
    meta = build(rayjob())["metadata"]
    assert meta["labels"] == {"ray.io/originated-from-cr-name": "myjob", "ray.io/originated-from-crd": "RayJob",
                              "ray.io/job-submission-mode": "K8sJobMode"}
    assert meta["annotations"] == {}


@pytest.mark.parametrize(("gate", "restart_policy"), [
    pytest.param(False, None, id="default"),
    pytest.param(True, "OnFailure", id="restart-gate"),
])
def test_sidecar_ray_cluster(gate: bool, restart_policy: str | None) -> None:
    raw = rayjob({"submissionMode": "SidecarMode"}, annotations={"note": "n"})
    before = copy.deepcopy(raw)
    cluster = build(raw, gate=gate)
    assert cluster["metadata"]["annotations"] == {"note": "n", "ray.io/disable-provisioned-head-restart": "true"}
    assert cluster["metadata"]["labels"]["ray.io/job-submission-mode"] == "SidecarMode"
    pod = cluster["spec"]["headGroupSpec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    head, submitter = pod["containers"]
    assert head == HEAD_CONTAINER
    assert submitter["name"] == "ray-job-submitter"
    assert submitter["image"] == "rayproject/ray:2.41.0"
    assert submitter["command"] == ["/bin/bash", "-ce", "--"]
    assert "--submission-id myjob-abcde" in submitter["args"][0]
    assert ("--no-wait" in submitter["args"][0]) is gate
    assert submitter.get("restartPolicy") == restart_policy
    labels = cluster["spec"]["headGroupSpec"]["template"]["metadata"]["labels"]
    assert labels["ray.io/originated-from-cr-name"] == "myjob" and labels["ray.io/originated-from-crd"] == "RayJob"
    assert cluster["spec"]["workerGroupSpecs"] == before["spec"]["rayClusterSpec"]["workerGroupSpecs"]
    assert cluster["spec"]["futureField"] == {"kept": True}
    assert raw == before


def test_sidecar_token_secret_is_the_new_clusters() -> None:
    raw = rayjob({"submissionMode": "SidecarMode"})
    raw["spec"]["rayClusterSpec"]["authOptions"] = {"mode": "token"}
    submitter = build(raw)["spec"]["headGroupSpec"]["template"]["spec"]["containers"][1]
    assert {"name": "RAY_AUTH_TOKEN", "valueFrom": {"secretKeyRef": {"name": "myjob-xyz12", "key": "auth_token"}}} \
        in submitter["env"]


# --- the RayJob's head Service ---------------------------------------------------------------
def cluster_service(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "myjob-xyz12-head-svc", "namespace": "ns", "uid": "svc-uid", "resourceVersion": "7",
                         "labels": {"ray.io/cluster": "myjob-xyz12"}, "annotations": {"from": "headServiceAnnotations"}},
            "spec": {"selector": {"ray.io/cluster": "myjob-xyz12", "ray.io/node-type": "head"},
                     "ports": [{"name": "dashboard", "port": 8265, "protocol": "TCP", "targetPort": 8265,
                                "appProtocol": "tcp"}], "type": "ClusterIP", "sessionAffinity": "None", **spec},
            "status": {"loadBalancer": {}}}


LABELS = {"ray.io/originated-from-cr-name": "myjob", "ray.io/originated-from-crd": "RayJob",
          "ray.io/node-type": "head", "ray.io/identifier": "myjob-head",
          "app.kubernetes.io/created-by": "kuberay-operator"}


def test_head_service_headless() -> None:
    observed = cluster_service(clusterIP="None", clusterIPs=["None"], publishNotReadyAddresses=True)
    service = head_service_for(rayjob(), observed)
    assert (service["apiVersion"], service["kind"]) == ("v1", "Service")
    assert service["metadata"] == {"name": "myjob-head-svc", "namespace": "ns", "labels": LABELS, "annotations": {},
                                   "ownerReferences": [OWNER]}
    assert service["spec"] == {"selector": {"ray.io/cluster": "myjob-xyz12", "ray.io/node-type": "head"},
                               "ports": observed["spec"]["ports"], "type": "ClusterIP", "sessionAffinity": "None",
                               "clusterIP": "None", "publishNotReadyAddresses": True}
    assert "status" not in service


def test_head_service_drops_what_was_allocated() -> None:
    observed = cluster_service(type="LoadBalancer", clusterIP="10.96.0.7", clusterIPs=["10.96.0.7"],
                               healthCheckNodePort=31000, externalTrafficPolicy="Local")
    observed["spec"]["ports"][0]["nodePort"] = 30080
    before = copy.deepcopy(observed)
    spec = head_service_for(rayjob(), observed)["spec"]
    assert spec == {"selector": before["spec"]["selector"], "type": "LoadBalancer", "sessionAffinity": "None",
                    "externalTrafficPolicy": "Local",
                    "ports": [{"name": "dashboard", "port": 8265, "protocol": "TCP", "targetPort": 8265,
                               "appProtocol": "tcp"}]}
    assert observed == before


def test_head_service_annotations_are_the_custom_head_services() -> None:
    raw = rayjob()
    raw["spec"]["rayClusterSpec"]["headGroupSpec"]["headService"] = {
        "metadata": {"name": "custom", "annotations": {"lb": "internal"}}}
    assert head_service_for(raw, cluster_service())["metadata"]["annotations"] == {"lb": "internal"}


def test_head_service_identifier_is_checklabel() -> None:
    raw = rayjob()
    raw["metadata"]["name"] = "a" * 60
    labels = head_service_for(raw, cluster_service())["metadata"]["labels"]
    assert labels["ray.io/identifier"] == ("a" * 60 + "-head")[-63:]


@pytest.mark.parametrize(("selector", "outdated"), [
    pytest.param({"ray.io/cluster": "myjob-xyz12", "ray.io/node-type": "head"}, False, id="same-cluster"),
    pytest.param({"ray.io/cluster": "myjob-old99"}, True, id="earlier-attempt"),
    pytest.param({}, True, id="no-selector"),
])
def test_head_service_outdated(selector: dict[str, str], outdated: bool) -> None:
    assert head_service_outdated({"spec": {"selector": selector}}, "myjob-xyz12") is outdated


def test_a_sidecar_head_pod_joins_its_rayjobs_view_and_no_other_pod_does() -> None:
    from raybus_common.controller.view import RootKey
    from raybus_job_ctl.handlers import keep_head_pod, sidecar_head

    head = {"apiVersion": "v1", "kind": "Pod", "metadata": {
        "name": "rc-head-x", "namespace": "ns", "uid": "u", "resourceVersion": "7",
        "labels": {"ray.io/originated-from-cr-name": "myjob", "ray.io/originated-from-crd": "RayJob",
                   "ray.io/cluster": "rc", "ray.io/node-type": "head"}},
        "spec": {"containers": [{"name": "ray-head"}]},
        "status": {"phase": "Running", "podIP": "10.0.0.1", "containerStatuses": [{"name": "ray-job-submitter"}]}}
    assert list(sidecar_head(head)) == [RootKey("rayjob", "ns", "myjob")]
    other = copy.deepcopy(head)
    other["metadata"]["labels"]["ray.io/originated-from-crd"] = "RayService"
    assert list(sidecar_head(other)) == []
    kept = keep_head_pod(head)
    assert "spec" not in kept and kept["status"] == {"phase": "Running", "containerStatuses": [{"name": "ray-job-submitter"}]}
    assert kept["metadata"]["labels"] == head["metadata"]["labels"]
