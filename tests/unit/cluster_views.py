"""Observed views of every valid RayCluster fixture (`tests/fixtures/valid`, the manifests `make
conformance` applies), for tests that compare cluster-ctl's reconcile over two forms of one view:
memoised and afresh (`test_cluster_memo.py`), whole and as `keep` holds it (`test_cluster_keep.py`).

Each fixture is reconciled pass by pass from nothing; what a pass applies is served back as the
API server and kwok would serve it (uid, resourceVersion, the defaults, the service-account token
volume, a status shaped like a real one: Pending, then Running and Ready), its finalizers and its
status are written back, until it converges. The converged view is then varied in each way
reconcile reads a child or the root: a head not ready (a waiting container), failed pods
(terminated containers), a Ray container terminated under restartPolicy Never, a terminating
pod, scaling up and down, workersToDelete, suspension, another operator's head, a moved Recreate
hash, a head gone after provisioning, a worker without its cluster label, a missing head Service,
a drifted Ingress and one in line with a new annotation, deletion (with the GCS FT finalizer: the head still there, the cleanup Job
running, the Job complete).
"""

from __future__ import annotations

import copy
import hashlib
import itertools
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from raybus_cluster_ctl.config import ClusterConfig
from raybus_cluster_ctl.constants import (
    CLUSTER_LABEL,
    DISABLE_PROVISIONED_HEAD_RESTART_ANNOTATION,
    FT_FINALIZER,
    GROUP_LABEL,
    KUBERAY_VERSION_ANNOTATION,
    NODE_TYPE_LABEL,
    RECREATE_HASH_ANNOTATION,
)
from raybus_cluster_ctl.reconcile import reconcile
from raybus_common.actions import AddFinalizer, Apply, Delete, Patch, RemoveFinalizer
from raybus_common.controller.view import Observed, RootKey
from raybus_common.decision import Decision

Obj = dict[str, Any]
REPO = Path(__file__).resolve().parents[2]
FIXTURES = sorted((REPO / "tests" / "fixtures" / "valid").glob("raycluster-*.yaml"))
NOW = datetime(2026, 12, 2, 3, 0, tzinfo=UTC)
STAMP = "2026-12-02T02:58:00Z"
NS = "default"
SETTINGS = ClusterConfig()
_TOLERATIONS = [{"key": f"node.kubernetes.io/{t}", "operator": "Exists", "effect": "NoExecute",
                 "tolerationSeconds": 300} for t in ("not-ready", "unreachable")]


def _ip(name: str, prefix: str) -> str:
    digest = hashlib.sha256(name.encode()).digest()
    return f"{prefix}.{digest[0]}.{digest[1] % 250 + 2}"


class World:
    """One cluster and its children as the API server holds them."""

    def __init__(self, raw: Obj) -> None:
        self.rv = itertools.count(100)
        root = copy.deepcopy(raw)
        meta = root["metadata"]
        meta.update(namespace=NS, uid=f"uid-{meta['name']}", generation=1, creationTimestamp=STAMP)
        meta["resourceVersion"] = str(next(self.rv))
        self.root: Obj = root
        self.children: dict[tuple[str, str], Obj] = {}

    def copy(self) -> World:
        out = copy.copy(self)
        out.root, out.children = copy.deepcopy(self.root), copy.deepcopy(self.children)
        return out

    def observe(self) -> Observed:
        by_kind: dict[str, list[Obj]] = {}
        for (kind, _), obj in sorted(self.children.items()):
            by_kind.setdefault(kind, []).append(obj)
        return Observed(RootKey("raycluster", NS, self.root["metadata"]["name"]), self.root,
                        MappingProxyType({k: tuple(v) for k, v in by_kind.items()}))

    def touch(self, obj: Obj) -> None:
        obj["metadata"]["resourceVersion"] = str(next(self.rv))

    def pods(self, node_type: str | None = None) -> list[Obj]:
        return [o for (kind, _), o in sorted(self.children.items()) if kind == "pod"
                and (node_type is None or o["metadata"]["labels"].get(NODE_TYPE_LABEL) == node_type)]

    def act(self, d: Decision) -> bool:
        """Carry out `d` as the actuator and the API server would; whether anything changed."""
        changed = False
        for a in d.actions:
            if isinstance(a, Apply):
                obj = self.serve(a.object)
                key = (obj["kind"].lower(), obj["metadata"]["name"])
                if key not in self.children:
                    self.children[key] = obj
                    changed = True
            elif isinstance(a, Delete):
                changed |= self.children.pop((a.ref.kind.lower(), a.ref.name), None) is not None
            elif isinstance(a, (AddFinalizer, RemoveFinalizer)):
                finalizers = self.root["metadata"].setdefault("finalizers", [])
                if isinstance(a, AddFinalizer) and a.finalizer not in finalizers:
                    finalizers.append(a.finalizer)
                elif isinstance(a, RemoveFinalizer) and a.finalizer in finalizers:
                    finalizers.remove(a.finalizer)
                self.touch(self.root)
                changed = True
            elif isinstance(a, Patch):
                target = self.children[(a.ref.kind.lower(), a.ref.name)]
                target["metadata"].setdefault("annotations", {}).update(a.patch["metadata"]["annotations"])
                self.touch(target)
                changed = True
        if d.status is not None and d.status != self.root.get("status"):
            self.root["status"] = copy.deepcopy(d.status)
            self.touch(self.root)
            changed = True
        return changed

    def serve(self, applied: Obj) -> Obj:
        obj = copy.deepcopy(applied)
        meta = obj["metadata"]
        meta.update(uid=f"uid-{obj['kind'].lower()}-{meta['name']}", generation=1, creationTimestamp=STAMP)
        meta["resourceVersion"] = str(next(self.rv))
        kind = obj["kind"]
        if kind == "Pod":
            _serve_pod(obj)
        elif kind == "Service":
            _serve_service(obj)
        elif kind == "Ingress":
            obj["status"] = {"loadBalancer": {}}
        elif kind == "Job":
            obj["spec"]["template"]["metadata"].setdefault("labels", {})["batch.kubernetes.io/job-name"] = meta["name"]
            obj["status"] = {"active": 1, "startTime": STAMP, "ready": 0, "terminating": 0}
        elif kind == "Secret":
            obj.update(type="Opaque", data={"auth_token": "c2VjcmV0LXRva2VuLWJ5dGVz"})
        return obj


def _serve_pod(pod: Obj) -> None:
    spec = pod["spec"]
    for key, value in (("restartPolicy", "Always"), ("dnsPolicy", "ClusterFirst"), ("schedulerName", "default-scheduler"),
                       ("terminationGracePeriodSeconds", 30), ("serviceAccountName", "default"),
                       ("enableServiceLinks", True), ("priority", 0), ("preemptionPolicy", "PreemptLowerPriority"),
                       ("securityContext", {}), ("tolerations", _TOLERATIONS)):
        spec.setdefault(key, copy.deepcopy(value))
    spec["serviceAccount"] = spec["serviceAccountName"]
    token = f"kube-api-access-{pod['metadata']['name'][-5:]}"
    spec.setdefault("volumes", []).append({"name": token, "projected": {"defaultMode": 420, "sources": [
        {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
        {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
        {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1",
                                                                       "fieldPath": "metadata.namespace"}}]}}]}})
    for c in [*spec.get("initContainers", []), *spec["containers"]]:
        c.setdefault("imagePullPolicy", "IfNotPresent")
        c.update(terminationMessagePath="/dev/termination-log", terminationMessagePolicy="File")
        c.setdefault("resources", {})
        c.setdefault("volumeMounts", []).append({"name": token, "readOnly": True,
                                                 "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"})
        for port in c.get("ports") or []:
            port.setdefault("protocol", "TCP")
    pod["status"] = {"phase": "Pending", "qosClass": "Burstable", "conditions": [
        {"type": "PodScheduled", "status": "True", "lastProbeTime": None, "lastTransitionTime": STAMP}]}


def running(pod: Obj, *, ready: bool = True) -> None:
    """As kwok makes a scheduled pod: Running and Ready, with addresses and container statuses."""
    spec, name = pod["spec"], pod["metadata"]["name"]
    spec["nodeName"] = "kwok-node-0"
    state = {"running": {"startedAt": STAMP}}
    conditions = [{"type": t, "status": "True" if ready or t in ("PodScheduled", "Initialized") else "False",
                   "lastProbeTime": None, "lastTransitionTime": STAMP}
                  for t in ("PodScheduled", "Initialized", "ContainersReady", "Ready")]
    ip = _ip(name, "10.244")
    pod["status"] = {
        "phase": "Running", "conditions": conditions, "hostIP": "10.240.0.1", "hostIPs": [{"ip": "10.240.0.1"}],
        "podIP": ip, "podIPs": [{"ip": ip}], "startTime": STAMP, "qosClass": "Burstable",
        "initContainerStatuses": [
            {"name": c["name"], "state": {"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": STAMP,
                                                         "finishedAt": STAMP}},
             "lastState": {}, "ready": True, "restartCount": 0, "image": c.get("image", ""), "imageID": ""}
            for c in spec.get("initContainers", [])],
        "containerStatuses": [{"name": c["name"], "state": copy.deepcopy(state), "lastState": {}, "ready": ready,
                               "restartCount": 0, "image": c.get("image", ""), "imageID": "", "started": True}
                              for c in spec["containers"]]}


def _serve_service(svc: Obj) -> None:
    spec = svc.setdefault("spec", {})
    spec.setdefault("type", "ClusterIP")
    if "clusterIP" not in spec:
        spec["clusterIP"] = _ip(svc["metadata"]["name"], "10.96")
    spec["clusterIPs"] = [spec["clusterIP"]]
    for i, port in enumerate(spec.get("ports") or []):
        port.setdefault("protocol", "TCP")
        port.setdefault("targetPort", port["port"])
        if spec["type"] in ("NodePort", "LoadBalancer"):
            port["nodePort"] = 30000 + i
    spec.update(sessionAffinity="None", ipFamilies=["IPv4"], ipFamilyPolicy="SingleStack",
                internalTrafficPolicy="Cluster")
    svc["status"] = {"loadBalancer": {}}


def converge(raw: Obj, settings: ClusterConfig = SETTINGS, passes: int = 8) -> Iterator[tuple[str, World]]:
    """The fixture's life from nothing: the world before each pass, pods Running once they were
    seen Pending for a pass, until nothing changes."""
    world = World(raw)
    for step in range(passes):
        yield f"pass {step}", world.copy()
        pending = [pod for pod in world.pods() if pod["status"]["phase"] == "Pending"]
        changed = world.act(reconcile(world.observe(), now=NOW, settings=settings))
        for pod in pending:
            if ("pod", pod["metadata"]["name"]) in world.children:
                running(pod)
                world.touch(pod)
        if not changed and not pending:
            return


Vary = Callable[[World], bool]  # changes the world in place; False when it does not apply


def on_first(node_type: str, change: Callable[[Obj, World], object]) -> Vary:
    """`change` the first pod of `node_type` (in the world it is in); not for a world without one."""
    def vary(w: World) -> bool:
        pods = w.pods(node_type)
        if pods:
            change(pods[0], w)
        return bool(pods)
    return vary


def _not_ready(head: Obj, _: World) -> None:
    running(head, ready=False)
    ready = next(c for c in head["status"]["conditions"] if c["type"] == "Ready")
    ready.update(reason="ContainersNotReady", message="containers with unready status: [ray-head]")
    head["status"]["containerStatuses"][0].update(ready=False, state={"waiting": {
        "reason": "CrashLoopBackOff", "message": "back-off 10s restarting failed container"}})


def _terminated(pod: Obj, exit_code: int, reason: str) -> None:
    pod["status"]["containerStatuses"][0]["state"] = {"terminated": {
        "exitCode": exit_code, "reason": reason, "message": "the container went", "startedAt": STAMP,
        "finishedAt": "2026-12-02T02:59:30.250000Z", "containerID": "containerd://0123abcd"}}


def _failed(pod: Obj, _: World) -> None:
    pod["status"]["phase"] = "Failed"
    _terminated(pod, 137, "OOMKilled")


def _terminated_never(pod: Obj, _: World) -> None:
    pod["spec"]["restartPolicy"] = "Never"
    _terminated(pod, 1, "Error")


def _terminating_and_fewer(pod: Obj, w: World) -> None:
    pod["metadata"]["deletionTimestamp"] = STAMP
    _replicas(-1)(w)


def _replicas(delta: int) -> Vary:
    def vary(w: World) -> bool:
        groups = w.root["spec"].get("workerGroupSpecs") or []
        if not groups:
            return False
        group = groups[0]
        group["replicas"] = max(0, group.get("replicas", 0) + delta)
        group["minReplicas"] = 0
        group["maxReplicas"] = max(group.get("maxReplicas", 0), group["replicas"])
        w.root["metadata"]["generation"] += 1
        return True
    return vary


def _workers_to_delete(pod: Obj, w: World) -> None:
    group = next(g for g in w.root["spec"]["workerGroupSpecs"]
                 if g["groupName"] == pod["metadata"]["labels"][GROUP_LABEL])
    group.setdefault("scaleStrategy", {})["workersToDelete"] = [pod["metadata"]["name"]]


def _suspend(w: World) -> bool:
    w.root["spec"]["suspend"] = True
    return True


def _annotated(key: str, value: str) -> Callable[[Obj, World], None]:
    def change(pod: Obj, _: World) -> None:
        pod["metadata"].setdefault("annotations", {})[key] = value
    return change


def _gone(*, disable_restart: bool) -> Callable[[Obj, World], None]:
    def change(head: Obj, w: World) -> None:
        del w.children[("pod", head["metadata"]["name"])]
        if disable_restart:
            w.root["metadata"].setdefault("annotations", {})[DISABLE_PROVISIONED_HEAD_RESTART_ANNOTATION] = "true"
    return change


def _unlabelled(pod: Obj, _: World) -> None:
    """Someone took the `ray.io/cluster` label off: still the cluster's, by owner."""
    del pod["metadata"]["labels"][CLUSTER_LABEL]


def _service_gone(w: World) -> bool:
    found = [k for k in w.children if k[0] == "service"]
    for key in found:
        del w.children[key]
    return bool(found)


def _ingress_drifted(w: World) -> bool:
    found = [o for (kind, _), o in w.children.items() if kind == "ingress"]
    for ingress in found:
        ingress["spec"]["rules"][0]["http"]["paths"][0]["path"] = "/elsewhere"
        ingress["metadata"]["labels"]["team"] = "added-by-someone"
    return bool(found)


def _ingress_annotated(w: World) -> bool:
    """The cluster's annotations, which its Ingress carries, with one more on both: in line."""
    found = [o for (kind, _), o in w.children.items() if kind == "ingress"]
    for obj in (w.root, *found):
        obj["metadata"].setdefault("annotations", {})["nginx.ingress.kubernetes.io/rewrite-target"] = "/"
    return bool(found)


def _deleting(stage: str) -> Vary:
    def vary(w: World) -> bool:
        meta = w.root["metadata"]
        meta["deletionTimestamp"] = "2026-12-02T02:59:00Z"
        if stage == "head there":
            return True
        if FT_FINALIZER not in meta.get("finalizers", []):
            return stage == "pods gone"
        for pod in w.pods():
            del w.children[("pod", pod["metadata"]["name"])]
        if stage == "pods gone":
            return True
        w.act(reconcile(w.observe(), now=NOW, settings=SETTINGS))  # creates the cleanup Job
        job = next((o for (kind, _), o in w.children.items() if kind == "job"), None)
        if job is None:
            return False
        if stage == "job complete":
            job["status"] = {"succeeded": 1, "startTime": STAMP, "completionTime": STAMP, "conditions": [
                {"type": "SuccessCriteriaMet", "status": "True", "lastProbeTime": STAMP, "lastTransitionTime": STAMP},
                {"type": "Complete", "status": "True", "lastProbeTime": STAMP, "lastTransitionTime": STAMP}]}
        return True
    return vary


VARIATIONS: dict[str, Vary] = {
    "head not ready": on_first("head", _not_ready),
    "head failed": on_first("head", _failed),
    "worker failed": on_first("worker", _failed),
    "worker terminated under restartPolicy Never": on_first("worker", _terminated_never),
    "worker terminating, one replica fewer": on_first("worker", _terminating_and_fewer),
    "one replica more": _replicas(+1),
    "one replica fewer": _replicas(-1),
    "workersToDelete": on_first("worker", _workers_to_delete),
    "suspended": _suspend,
    "another operator's head": on_first("head", _annotated(KUBERAY_VERSION_ANNOTATION, "v1.5.0")),
    "Recreate hash moved": on_first("head", _annotated(RECREATE_HASH_ANNOTATION, "0123456789abcdefghij")),
    "head gone after provisioning": on_first("head", _gone(disable_restart=False)),
    "head gone, restart disabled": on_first("head", _gone(disable_restart=True)),
    "worker without its cluster label": on_first("worker", _unlabelled),
    "head Service gone": _service_gone,
    "Ingress drifted": _ingress_drifted,
    "Ingress annotated, in line": _ingress_annotated,
    "deleting, head there": _deleting("head there"),
    "deleting, pods gone": _deleting("pods gone"),
    "deleting, cleanup Job running": _deleting("job running"),
    "deleting, cleanup Job complete": _deleting("job complete"),
}


def worlds(settings: ClusterConfig = SETTINGS) -> Iterator[tuple[str, World]]:
    """Every fixture's life and the variations of its converged world, each named."""
    for path in FIXTURES:
        raw = yaml.safe_load(path.read_text())
        last: World | None = None
        for step, world in converge(raw, settings):
            last = world
            yield f"{path.stem}: {step}", world
        assert last is not None
        for what, vary in VARIATIONS.items():
            world = last.copy()
            if vary(world):
                yield f"{path.stem}: {what}", world


def views(settings: ClusterConfig = SETTINGS) -> list[tuple[str, Observed]]:
    return [(name, world.observe()) for name, world in worlds(settings)]
