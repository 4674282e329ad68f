"""The real Kueue controller (v0.17.0, `raybus_testbed.kueue`) admits Raybus's RayJobs and
RayClusters, with no Raybus-specific code on either side (reference C.3): Kueue creates a Workload
for each object labelled `kueue.x-k8s.io/queue-name`, reserves quota for it and flips
`spec.suspend`; job-ctl and cluster-ctl honour `spec.suspend` as KubeRay does.

Kueue runs without webhooks (the API server cannot reach one here), so nothing suspends a job at
creation: these tests create them suspended, as Kueue's mutating webhook would leave them.

- Two RayJobs on a queue whose quota holds one job's cluster (2 CPUs, 4Gi): the first is
  admitted, unsuspended and runs on a real Ray head (the kwok pod network routed to it, as in
  test_job_ctl.py); the second's Workload waits with Kueue's "insufficient quota" verdict, the
  RayJob suspended and without a cluster, until the first finishes (its cluster deleted:
  shutdownAfterJobFinishes) and Kueue admits it; then it runs to completion.
- A RayCluster created suspended waits while its LocalQueue does not exist, and is admitted
  (suspend false, head and worker pods made by cluster-ctl) once the queue exists with quota.
"""

from __future__ import annotations

import copy
import shlex
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from test_cluster_ctl import Cluster, sample
from test_cluster_ctl import create as create_cluster
from test_cluster_ctl import start_stack as start_cluster_stack
from test_job_ctl import TERMINAL, jobs_with_id, rayjob, start_stack
from test_job_ctl import create as create_job

from raybus_testbed.kube import Kube
from raybus_testbed.kueue import QUEUE_LABEL, Kueue, NoKueue, condition, create_queue, workloads
from raybus_testbed.rayhead import RayHead
from raybus_testbed.services import Services
from raybus_testbed.waiting import wait_until

pytestmark = pytest.mark.integration

Obj = dict[str, Any]


@pytest.fixture(scope="module")
def kueue(scheduler_crds: Kube, kubeconfig: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kueue]:
    """The real Kueue controller on the session's control plane (its CRDs served), built by
    `scripts/build-kueue.sh` when not cached; skips, saying why, when it cannot be built or run."""
    try:
        runner = Kueue(tmp_path_factory.mktemp("kueue"), kubeconfig)
    except NoKueue as e:
        pytest.skip(f"no Kueue: {e}")
    runner.start()
    try:
        yield runner
    finally:
        runner.stop()


def owned_workload(api: Kube, ns: str, kind: str, name: str) -> Obj | None:
    """The Workload Kueue made for the `kind` object `name` (its controller owner), if any."""
    for wl in workloads(api, ns):
        owners = wl["metadata"].get("ownerReferences") or []
        if any(o["kind"] == kind and o["name"] == name and o.get("controller") for o in owners):
            return wl
    return None


def wait_workload(api: Kube, ns: str, kind: str, name: str, check: Callable[[Obj], bool], what: str,
                  kueue: Kueue, timeout: float = 90) -> Obj:
    seen: list[Obj] = []

    def holds() -> bool:
        wl = owned_workload(api, ns, kind, name)
        seen[:] = [wl] if wl is not None else []
        return wl is not None and check(wl)
    wait_until(holds, timeout=timeout, what=f"{kind} {name}'s Workload: {what}", proc=kueue.proc)
    return seen[0]


def is_true(wl: Obj, kind: str) -> bool:
    c = condition(wl, kind)
    return c is not None and c["status"] == "True"


def queued(obj: Obj, queue: str) -> Obj:
    """`obj` labelled for Kueue's `queue` and created suspended (what Kueue's webhook would do)."""
    obj["metadata"].setdefault("labels", {})[QUEUE_LABEL] = queue
    obj["spec"]["suspend"] = True
    return obj


def templates(spec: Obj) -> list[Obj]:
    """The pod templates of a RayJob's spec: the head's, then each worker group's."""
    cluster = spec["rayClusterSpec"]
    return [cluster["headGroupSpec"]["template"], *(g["template"] for g in cluster.get("workerGroupSpecs") or [])]


def template_metadata(spec: Obj) -> list[Obj]:
    return [t.get("metadata") or {} for t in templates(spec)]


def without_template_metadata(spec: Obj) -> Obj:
    stripped = copy.deepcopy(spec)
    for template in templates(stripped):
        template.pop("metadata", None)
    return stripped


def head_running(api: Kube, ns: str, cluster: str) -> bool:
    pods = api.get(f"/api/v1/namespaces/{ns}/pods", labelSelector=f"ray.io/cluster={cluster},ray.io/node-type=head")
    return any((p.get("status") or {}).get("phase") == "Running" for p in pods["items"])


def test_kueue_admits_one_rayjob_at_a_time_within_the_queue_s_quota(
        kueue: Kueue, services: Services, control_plane: Kube, namespace: str, ray_head: RayHead,
        pod_network: None, tmp_path: Path) -> None:
    api = control_plane
    start_stack(services)
    create_queue(api, namespace, "q", cpu="2", memory="4Gi")  # one job's cluster: a head and a worker, 1 CPU/2Gi each
    gate = tmp_path / "first-may-finish"
    hold = f"while [ ! -e {shlex.quote(str(gate))} ]; do sleep 0.2; done; echo first done"
    first = create_job(api, namespace, queued(rayjob("first", ray_head, hold, shutdownAfterJobFinishes=True), "q"))
    as_created = first.get()["spec"]

    wl_first = wait_workload(api, namespace, "RayJob", "first", lambda w: is_true(w, "Admitted"), "admitted", kueue)
    # Kueue's pod sets: the head, then each worker group by name (HTTPMode: no submitter's)
    assert [(p["name"], p["count"]) for p in wl_first["spec"]["podSets"]] == [("head", 1), ("cpu", 1)]
    assert wl_first["spec"]["queueName"] == "q"
    # Kueue updates the whole RayJob through KubeRay's Go types: `suspend: false` is omitted (omitempty)
    wait_until(lambda: "suspend" not in first.get()["spec"], timeout=60, what="first unsuspended by Kueue")
    # Kueue's update changed nothing else in the spec but for what its round trip through KubeRay
    # v1.6.0's Go types writes (`scaleStrategy: {}`, a struct omitempty cannot omit) and the pod
    # templates' metadata: Kueue's labels and annotations, which the pods carry
    after = first.get()["spec"]
    expected = without_template_metadata({k: v for k, v in as_created.items() if k != "suspend"})
    for group in expected["rayClusterSpec"]["workerGroupSpecs"]:
        group.setdefault("scaleStrategy", {})
    assert without_template_metadata(after) == expected
    injected = template_metadata(after)
    wl_name, cq = wl_first["metadata"]["name"], f"{namespace}-q"
    assert injected == [{"annotations": {"kueue.x-k8s.io/workload": wl_name},
                         "labels": {"kueue.x-k8s.io/cluster-queue-name": cq, "kueue.x-k8s.io/local-queue-name": "q",
                                    "kueue.x-k8s.io/podset": pod_set}} for pod_set in ("head", "cpu")], injected
    running = first.wait(lambda s: s.get("jobStatus") == "RUNNING", "running on Ray")
    cluster = running["rayClusterName"]
    assert first.clusters() == [cluster]
    wait_until(lambda: head_running(api, namespace, cluster), timeout=60, what="first's head pod Running")
    [head] = api.get(f"/api/v1/namespaces/{namespace}/pods",
                     labelSelector=f"ray.io/cluster={cluster},ray.io/node-type=head")["items"]
    assert injected[0]["labels"].items() <= head["metadata"]["labels"].items(), head["metadata"]["labels"]
    assert injected[0]["annotations"].items() <= head["metadata"]["annotations"].items()
    # The cluster job-ctl made carries the RayJob's labels (the queue's among them) and is the
    # RayJob's: Kueue leaves it to the RayJob's Workload and makes none of its own.
    made = api.get(f"/apis/ray.io/v1/namespaces/{namespace}/rayclusters/{cluster}")
    assert made["metadata"]["labels"][QUEUE_LABEL] == "q"
    assert owned_workload(api, namespace, "RayCluster", cluster) is None

    second = create_job(api, namespace, queued(rayjob("second", ray_head, "echo second done",
                                                      shutdownAfterJobFinishes=True), "q"))
    pending = wait_workload(api, namespace, "RayJob", "second",
                            lambda w: "insufficient" in ((condition(w, "QuotaReserved") or {}).get("message") or ""),
                            "pending for quota", kueue)
    reserved = condition(pending, "QuotaReserved")
    assert reserved is not None and reserved["status"] == "False" and reserved["reason"] == "Pending", reserved
    assert not is_true(pending, "Admitted")
    assert second.get()["spec"]["suspend"] is True and second.clusters() == []
    assert first.status().get("jobDeploymentStatus") not in TERMINAL  # it still holds the quota

    gate.touch()
    done = first.wait(lambda s: s.get("jobDeploymentStatus") in TERMINAL, "finished", timeout=120)
    assert done["jobDeploymentStatus"] == "Complete" and done["jobStatus"] == "SUCCEEDED", done
    wait_workload(api, namespace, "RayJob", "first", lambda w: is_true(w, "Finished"), "finished", kueue)
    wait_until(lambda: first.clusters() == [], timeout=60, what="first's cluster deleted (shutdownAfterJobFinishes)")

    wait_workload(api, namespace, "RayJob", "second", lambda w: is_true(w, "Admitted"), "admitted", kueue)
    finished = second.wait(lambda s: s.get("jobDeploymentStatus") in TERMINAL, "finished", timeout=180)
    assert finished["jobDeploymentStatus"] == "Complete" and finished["jobStatus"] == "SUCCEEDED", finished
    assert len(jobs_with_id(ray_head, finished["jobId"])) == 1
    assert "suspend" not in second.get()["spec"]
    wait_until(lambda: second.clusters() == [], timeout=60, what="second's cluster deleted")


def test_kueue_admits_a_suspended_raycluster_once_its_queue_has_quota(
        kueue: Kueue, services: Services, control_plane: Kube, namespace: str) -> None:
    api = control_plane
    start_cluster_stack(services)
    rc: Cluster = create_cluster(api, namespace, queued(sample("queued"), "q"))  # head + 2 workers: 3 CPUs, 6Gi

    waiting = wait_workload(api, namespace, "RayCluster", "queued",
                            lambda w: condition(w, "QuotaReserved") is not None, "judged (no LocalQueue yet)", kueue)
    reserved = condition(waiting, "QuotaReserved")
    assert reserved is not None and reserved["status"] == "False" and "doesn't exist" in reserved["message"], reserved
    assert not is_true(waiting, "Admitted")
    assert rc.get()["spec"]["suspend"] is True and rc.pods() == []

    create_queue(api, namespace, "q", cpu="3", memory="6Gi")
    wait_workload(api, namespace, "RayCluster", "queued", lambda w: is_true(w, "Admitted"), "admitted", kueue)
    rc.wait(lambda: rc.get()["spec"].get("suspend") is False, "unsuspended by Kueue")
    rc.wait(lambda: rc.ready(2), "Ready: its head and 2 workers Running")
    assert len(rc.pods("head")) == 1
