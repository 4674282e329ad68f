"""Adoption, with the real KubeRay operator as the oracle.

KubeRay v1.5.0 (`scripts/build-kuberay.sh`; `raybus_testbed.kuberay`) brings a RayCluster to
Ready and is stopped; Raybus (watcher, actuator, cluster-ctl) takes the cluster over. Every pod
and Service KubeRay made keeps its uid and is never written by Raybus, the cluster stays ready,
and a scale-up afterwards adds exactly one pod, labelled as KubeRay labels its workers: Raybus
understood KubeRay's pods and manages them.

KubeRay v1.5.0 stamps no `ray.io/kuberay-version` on its head pods (v1.6 started to), so the
re-stamping of another operator's head is not what shows that Raybus has taken over here: its
first reconcile (cluster-ctl's counter) and the scale-up it then carries out are. The cluster
uses `upgradeStrategy: Recreate`, where misreading KubeRay's head would cost every pod.
Skips, saying why, when there is neither a cached KubeRay binary nor Go to build one.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from raybus_testbed.kuberay import KubeRay, NoKubeRay, operator_binary
from raybus_testbed.services import Services
from raybus_testbed.waiting import wait_until

pytestmark = pytest.mark.integration
SAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "samples" / "raycluster-sample.yaml"
NAME = "adopt"
RAYBUS = "raybus"  # the actuator's field manager
INDEX = "ray.io/worker-group-replica-index"


@pytest.fixture(scope="module")
def kuberay_binary() -> Path:
    try:
        return operator_binary()
    except NoKubeRay as e:
        pytest.skip(f"no KubeRay operator to compare with: {e}")


class Cluster:
    """What the test reads of the RayCluster and its children, through the admin client."""

    def __init__(self, api: Any, ns: str, kuberay_gates: str) -> None:
        self.api, self.ns, self.kuberay_gates = api, ns, kuberay_gates
        self.path = f"/apis/ray.io/v1/namespaces/{ns}/rayclusters/{NAME}"

    def get(self) -> dict[str, Any]:
        got: dict[str, Any] = self.api.get(self.path)
        return got

    def status(self) -> dict[str, Any]:
        return self.get().get("status") or {}

    def pods(self) -> dict[str, dict[str, Any]]:
        """Live pods of the cluster by name (terminating ones left out)."""
        items = self.api.get(f"/api/v1/namespaces/{self.ns}/pods", labelSelector=f"ray.io/cluster={NAME}")["items"]
        return {p["metadata"]["name"]: p for p in items if not p["metadata"].get("deletionTimestamp")}

    def services(self) -> dict[str, dict[str, Any]]:
        return {s["metadata"]["name"]: s for s in self.api.get(f"/api/v1/namespaces/{self.ns}/services")["items"]}

    def ready(self, workers: int) -> bool:
        """The status says ready with `workers` ready workers, and so do the pods themselves."""
        status, pods = self.status(), self.pods().values()
        return (status.get("state") == "ready" and status.get("readyWorkerReplicas") == workers
                and len(pods) == workers + 1 and all(_running_and_ready(p) for p in pods))


def _running_and_ready(pod: dict[str, Any]) -> bool:
    status = pod.get("status") or {}
    return status.get("phase") == "Running" and any(
        c["type"] == "Ready" and c["status"] == "True" for c in status.get("conditions") or [])


def uids(objs: dict[str, dict[str, Any]]) -> dict[str, str]:
    return {name: o["metadata"]["uid"] for name, o in objs.items()}


def written_by(obj: dict[str, Any], manager: str, subresource: str = "") -> bool:
    return any(m.get("manager") == manager and m.get("subresource", "") == subresource
               for m in obj["metadata"].get("managedFields") or [])


@pytest.fixture(params=["", "RayMultiHostIndexing=true"], ids=["kuberay-defaults", "raybus-gates"])
def made_by_kuberay(request: pytest.FixtureRequest, kuberay_binary: Path, control_plane: Any, kubeconfig: Path,
                    namespace: str, tmp_path: Path) -> Iterator[Cluster]:
    """The sample RayCluster (1 head, 2 workers) brought to Ready by KubeRay, which is then gone.

    Twice: with KubeRay v1.5.0's own feature gates (what a cluster made by a stock v1.5.0 looks
    like), and with the gate Raybus turns on by default (KubeRay v1.7's) that shapes RayCluster
    pods, RayMultiHostIndexing: then KubeRay's workers carry replica indexes Raybus must read."""
    obj = copy.deepcopy(yaml.safe_load(SAMPLE.read_text()))
    obj["metadata"] = {"name": NAME, "namespace": namespace}
    obj["spec"]["upgradeStrategy"] = {"type": "Recreate"}
    control_plane.create(f"/apis/ray.io/v1/namespaces/{namespace}/rayclusters", obj)
    rc = Cluster(control_plane, namespace, request.param)
    kuberay = KubeRay(tmp_path, kubeconfig, namespaces=[namespace], binary=kuberay_binary,
                      feature_gates=request.param)
    with kuberay:
        wait_until(lambda: rc.ready(2), timeout=90, what="KubeRay: the cluster Ready with 2 workers", proc=kuberay.proc)
    assert not kuberay.running()
    yield rc


def test_a_cluster_kuberay_made_is_adopted_with_every_pod_and_service_unchanged(
        made_by_kuberay: Cluster, services: Services, namespace: str) -> None:
    rc = made_by_kuberay
    pods, svcs = rc.pods(), rc.services()
    assert not written_by(rc.get(), RAYBUS, "status")
    worker_labels = {name: p["metadata"]["labels"] for name, p in pods.items()
                     if p["metadata"]["labels"].get("ray.io/node-type") == "worker"}
    assert len(worker_labels) == 2 and {"adopt-head-svc"} <= set(svcs)

    for name in ("watcher", "actuator", "cluster-ctl"):
        services.start(name, f"raybus-{name}", RAYBUS_WATCH_NAMESPACES=namespace)
    # Raybus has taken the cluster in hand once cluster-ctl has reconciled it (the only cluster
    # it watches). Its status matches KubeRay's field for field, so there may be nothing to
    # write; a delete from that pass racing these checks would still show below, once the
    # scale-up is done.
    wait_until(lambda: services.metric("cluster-ctl", "raybus_controller_reconciles_total") >= 1, timeout=60,
               what="cluster-ctl's first reconcile of KubeRay's cluster", proc=services.procs["cluster-ctl"])
    wait_until(lambda: rc.ready(2), timeout=30, what="the cluster Ready under Raybus")

    now, now_svcs = rc.pods(), rc.services()
    assert uids(now) == uids(pods), "Raybus deleted or created a pod of KubeRay's cluster"
    assert uids(now_svcs) == uids(svcs), "Raybus deleted or created a Service of KubeRay's cluster"
    assert not [n for n, p in now.items() if written_by(p, RAYBUS)], "Raybus rewrote one of KubeRay's pods"
    assert not [n for n, s in now_svcs.items() if written_by(s, RAYBUS)], "Raybus rewrote a KubeRay Service"
    assert rc.status()["head"]["podName"] == next(n for n, p in pods.items()
                                                  if p["metadata"]["labels"]["ray.io/node-type"] == "head")

    # Raybus manages it: one more worker is one more pod, beside KubeRay's, labelled as KubeRay
    # labels its workers (the naming of KubeRay's pods was understood: nothing was replaced).
    group = rc.get()["spec"]["workerGroupSpecs"][0]
    rc.api.merge_patch(rc.path, {"spec": {"workerGroupSpecs": [{**group, "replicas": 3}]}})
    wait_until(lambda: rc.ready(3), timeout=60, what="3 workers under Raybus", proc=services.procs["cluster-ctl"])
    scaled = rc.pods()
    added = set(scaled) - set(pods)
    assert uids({n: p for n, p in scaled.items() if n in pods}) == uids(pods), "a pod of KubeRay's was replaced"
    assert len(scaled) == len(pods) + 1 and len(added) == 1, f"expected one new pod, got {sorted(added)}"
    (new,) = added
    assert new.startswith(f"{NAME}-cpu-worker-")
    # Raybus's worker is labelled as KubeRay's are, plus the replica index (RayMultiHostIndexing,
    # on in Raybus): the lowest one KubeRay's workers leave free (none carry one under v1.5.0's
    # defaults, so 0).
    taken = {int(labels[INDEX]) for labels in worker_labels.values() if INDEX in labels}
    assert bool(taken) == ("RayMultiHostIndexing=true" in rc.kuberay_gates), "KubeRay's gates were not as asked"
    expected = {**next(iter(worker_labels.values())), INDEX: str(min(set(range(len(taken) + 1)) - taken))}
    assert scaled[new]["metadata"]["labels"] == expected, "Raybus labels a worker differently from KubeRay"
    assert uids(rc.services()) == uids(svcs)
