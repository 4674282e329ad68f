"""The local control plane behaves like a cluster: scheduling, readiness, Jobs, garbage collection;
and the testbed's synchronous client over it closes cleanly."""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from raybus_testbed.kube import Kube
from raybus_testbed.waiting import wait_until

pytestmark = pytest.mark.integration


def pod(name: str, **resources: str) -> dict[str, Any]:
    res = {"requests": resources, "limits": resources} if resources else {}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": [{"name": "main", "image": "busybox", "resources": res}]}}


def ready(api: Kube, ns: str, name: str) -> bool:
    p = api.get(f"/api/v1/namespaces/{ns}/pods/{name}")
    conds = (p.get("status") or {}).get("conditions") or []
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conds)


def test_pod_is_scheduled_on_a_kwok_node_and_becomes_ready(control_plane: Kube, namespace: str) -> None:
    control_plane.create(f"/api/v1/namespaces/{namespace}/pods", pod("p1", cpu="500m", memory="1Gi"))
    wait_until(lambda: ready(control_plane, namespace, "p1"), timeout=60, what="pod p1 Ready")
    p = control_plane.get(f"/api/v1/namespaces/{namespace}/pods/p1")
    assert p["spec"]["nodeName"].startswith("kwok-")
    assert p["status"]["phase"] == "Running"
    assert p["status"]["podIP"].startswith("10.244.")


def test_gpu_pod_lands_on_the_gpu_node(control_plane: Kube, namespace: str) -> None:
    control_plane.create(f"/api/v1/namespaces/{namespace}/pods", pod("gpu", **{"nvidia.com/gpu": "2"}))
    wait_until(lambda: ready(control_plane, namespace, "gpu"), timeout=60, what="gpu pod Ready")
    assert control_plane.get(f"/api/v1/namespaces/{namespace}/pods/gpu")["spec"]["nodeName"] == "kwok-gpu-0"


def test_pod_that_fits_nowhere_stays_pending(control_plane: Kube, namespace: str) -> None:
    control_plane.create(f"/api/v1/namespaces/{namespace}/pods", pod("huge", **{"nvidia.com/gpu": "64"}))

    def unschedulable() -> bool:
        conds = control_plane.get(f"/api/v1/namespaces/{namespace}/pods/huge").get("status", {}).get("conditions") or []
        return any(c["type"] == "PodScheduled" and c.get("reason") == "Unschedulable" for c in conds)

    wait_until(unschedulable, timeout=60, what="scheduler to report Unschedulable")
    assert not ready(control_plane, namespace, "huge")


def test_job_completes(control_plane: Kube, namespace: str) -> None:
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j1"},
           "spec": {"backoffLimit": 0, "template": {"spec": {
               "restartPolicy": "Never", "containers": [{"name": "main", "image": "busybox"}]}}}}
    control_plane.create(f"/apis/batch/v1/namespaces/{namespace}/jobs", job)

    def complete() -> bool:
        conds = control_plane.get(f"/apis/batch/v1/namespaces/{namespace}/jobs/j1").get("status", {}).get("conditions") or []
        return any(c["type"] == "Complete" and c["status"] == "True" for c in conds)

    wait_until(complete, timeout=90, what="Job j1 Complete")
    assert control_plane.get(f"/apis/batch/v1/namespaces/{namespace}/jobs/j1")["status"]["succeeded"] == 1


def test_deleting_an_owner_garbage_collects_its_children(control_plane: Kube, namespace: str) -> None:
    owner = control_plane.create(f"/api/v1/namespaces/{namespace}/configmaps",
                                 {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "owner"}})
    ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner["metadata"]["uid"],
           "controller": True, "blockOwnerDeletion": True}
    child = pod("child")
    child["metadata"]["ownerReferences"] = [ref]
    control_plane.create(f"/api/v1/namespaces/{namespace}/pods", child)
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "child-svc", "ownerReferences": [ref]},
           "spec": {"ports": [{"port": 80}], "selector": {"app": "x"}}}
    control_plane.create(f"/api/v1/namespaces/{namespace}/services", svc)
    wait_until(lambda: ready(control_plane, namespace, "child"), timeout=60, what="child pod Ready")

    control_plane.delete(f"/api/v1/namespaces/{namespace}/configmaps/owner", propagationPolicy="Background")
    wait_until(lambda: not control_plane.exists(f"/api/v1/namespaces/{namespace}/pods/child"),
                       timeout=60, what="garbage collection of the child pod")
    wait_until(lambda: not control_plane.exists(f"/api/v1/namespaces/{namespace}/services/child-svc"),
                       timeout=60, what="garbage collection of the child service")
    assert not control_plane.exists(f"/api/v1/namespaces/{namespace}/configmaps/owner")


@pytest.fixture
def unraisable() -> Iterator[list[str]]:
    """What the interpreter could not raise meanwhile (a socket or connection never closed,
    found by the garbage collector), collected here to be asserted on."""
    seen: list[str] = []
    before = sys.unraisablehook
    sys.unraisablehook = lambda u: seen.append(f"{u.exc_type.__name__}: {u.exc_value} ({u.object!r})")
    try:
        yield seen
    finally:
        sys.unraisablehook = before


def test_closing_the_testbed_client_with_a_watch_open_leaves_no_connection_behind(
        kubeconfig: Path, unraisable: list[str]) -> None:
    for _ in range(3):
        api = Kube.connect(kubeconfig)
        api.get("/api/v1/namespaces")
        watch = api.watch("/api/v1/namespaces", {"watch": "true", "timeoutSeconds": "30"})
        assert next(watch)["type"] == "ADDED"  # the stream is open, mid-read
        api.close()
        del watch  # its clean-up comes after the loop is gone
        gc.collect()
    assert unraisable == []
