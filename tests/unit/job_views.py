"""Small builders of what job-ctl's reconcile sees, for its unit tests: a RayJob in a given state,
the RayCluster it runs on, that cluster's head Service and head pod, the submitter Job, the
`RayJobInfo` observation of its Ray job; `run` reconciles them at a fake `now`. Each builder
makes the object as the API server (or the watcher's poller) would serve it, and nothing more.
"""

from __future__ import annotations

import copy
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar

import yaml

from raybus_common.actions import Apply, Delete, Patch, RecordEvent
from raybus_common.controller.view import Failure, Observed, RootKey
from raybus_common.decision import Decision
from raybus_common.ray.jobs import JobInfo, info_object
from raybus_job_ctl.config import JobConfig
from raybus_job_ctl.reconcile import reconcile

Obj = dict[str, Any]
T = TypeVar("T")
SAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "samples" / "raycluster-sample.yaml"
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
SETTINGS = JobConfig()
UID = "aaaaaaaa-1111-2222-3333-444444444444"
NAME, NS = "rj", "default"
CLUSTER = "rj-abcde"  # the cluster name an attempt wrote in the status
JOB_ID = "rj-vwxyz"
FINALIZER = "ray.io/rayjob-finalizer"


def wire(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def ago(seconds: float) -> str:
    return wire(NOW - timedelta(seconds=seconds))


def cluster_spec() -> Obj:
    spec: Obj = copy.deepcopy(yaml.safe_load(SAMPLE.read_text())["spec"])
    return spec


def rayjob(status: Obj | None = None, *, finalizers: Iterable[str] = (FINALIZER,), **spec: Any) -> Obj:
    """A RayJob (K8sJobMode by default) with `spec` fields (camelCase) over a small valid one."""
    body: Obj = {"entrypoint": "python /home/ray/job.py", "submissionMode": "K8sJobMode",
                 "rayClusterSpec": cluster_spec(), "backoffLimit": 0}
    body.update(spec)
    for key in [k for k, v in body.items() if v is None]:
        del body[key]
    obj: Obj = {"apiVersion": "ray.io/v1", "kind": "RayJob",
                "metadata": {"name": NAME, "namespace": NS, "uid": UID, "resourceVersion": "7", "generation": 1,
                             "finalizers": list(finalizers)},
                "spec": body}
    if status is not None:
        obj["status"] = status
    return obj


def status(deployment: str, *, started: float = 10, **fields: Any) -> Obj:
    """A status an earlier pass wrote: an attempt started `started` seconds ago, named CLUSTER /
    JOB_ID, in `deployment`."""
    out: Obj = {"jobDeploymentStatus": deployment, "jobId": JOB_ID, "rayClusterName": CLUSTER,
                "startTime": ago(started), "failed": 0, "succeeded": 0, "rayJobInfo": {},
                "rayClusterStatus": {"desiredCPU": "0", "desiredGPU": "0", "desiredMemory": "0", "desiredTPU": "0",
                                     "head": {}}}
    out.update(fields)
    return {k: v for k, v in out.items() if v is not None}


def running(**fields: Any) -> Obj:
    """Running with a dashboard URL and the ready cluster's status copied (as the pass to Running wrote it)."""
    base: Obj = {"dashboardURL": f"{CLUSTER}-head-svc.{NS}.svc.cluster.local:8265",
                 "rayClusterStatus": cluster()["status"]}
    base.update(fields)
    return status("Running", **base)


def owner() -> Obj:
    return {"apiVersion": "ray.io/v1", "kind": "RayJob", "name": NAME, "uid": UID, "controller": True}


def cluster(name: str = CLUSTER, *, state: str = "ready", owned: bool = True, terminating: bool = False,
            suspended_workers: bool = False) -> Obj:
    spec = cluster_spec()
    if suspended_workers:
        for group in spec["workerGroupSpecs"]:
            group["suspend"] = True
    meta: Obj = {"name": name, "namespace": NS, "uid": f"uid-{name}", "resourceVersion": "3"}
    if owned:
        meta["ownerReferences"] = [owner()]
    if terminating:
        meta["deletionTimestamp"] = ago(1)
    obj: Obj = {"apiVersion": "ray.io/v1", "kind": "RayCluster", "metadata": meta, "spec": spec,
                "status": {"desiredCPU": "2", "desiredGPU": "0", "desiredMemory": "4Gi", "desiredTPU": "0",
                           "head": {"podIP": "10.244.0.5", "serviceIP": "10.96.0.9", "serviceName": f"{name}-head-svc"},
                           "readyWorkerReplicas": 1, "desiredWorkerReplicas": 1}}
    if state:
        obj["status"]["state"] = state
    return obj


def head_service(cluster_name: str = CLUSTER, *, dashboard: int = 8265, name: str | None = None) -> Obj:
    """A RayCluster's head Service, as cluster-ctl makes it."""
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name or f"{cluster_name}-head-svc", "namespace": NS, "uid": f"uid-svc-{cluster_name}",
                         "resourceVersion": "4",
                         "labels": {"ray.io/cluster": cluster_name, "ray.io/node-type": "head",
                                    "app.kubernetes.io/created-by": "kuberay-operator"},
                         "ownerReferences": [{"apiVersion": "ray.io/v1", "kind": "RayCluster", "name": cluster_name,
                                              "uid": f"uid-{cluster_name}", "controller": True}]},
            "spec": {"clusterIP": "None", "selector": {"ray.io/cluster": cluster_name, "ray.io/node-type": "head"},
                     "ports": [{"name": "client", "port": 10001}, {"name": "dashboard", "port": dashboard}]}}


def own_head_service(cluster_name: str = CLUSTER) -> Obj:
    """The RayJob's `<rayjob>-head-svc`, selecting `cluster_name`."""
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": f"{NAME}-head-svc", "namespace": NS, "uid": "uid-own-svc", "resourceVersion": "5",
                         "labels": {"ray.io/originated-from-cr-name": NAME, "ray.io/originated-from-crd": "RayJob",
                                    "ray.io/node-type": "head", "app.kubernetes.io/created-by": "kuberay-operator"},
                         "ownerReferences": [owner()]},
            "spec": {"clusterIP": "None", "selector": {"ray.io/cluster": cluster_name, "ray.io/node-type": "head"},
                     "ports": [{"name": "dashboard", "port": 8265}]}}


def submitter(*, failed: bool = False, complete: bool = False, finished: float = 5, terminating: bool = False,
              reason: str = "BackoffLimitExceeded", message: str = "Job has reached the specified backoff limit") -> Obj:
    """The submitter Job; `finished` seconds ago when failed or complete."""
    conditions = []
    if failed:
        conditions.append({"type": "Failed", "status": "True", "reason": reason, "message": message,
                           "lastTransitionTime": ago(finished)})
    if complete:
        conditions.append({"type": "Complete", "status": "True", "lastTransitionTime": ago(finished)})
    meta: Obj = {"name": NAME, "namespace": NS, "uid": "uid-submitter", "resourceVersion": "6",
                 "labels": {"app.kubernetes.io/created-by": "kuberay-operator"}, "ownerReferences": [owner()]}
    if terminating:
        meta["deletionTimestamp"] = ago(1)
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": meta, "spec": {},
            "status": {"conditions": conditions}}


def head_pod(name: str = f"{CLUSTER}-head-xxxxx", *, sidecar: Obj | None = None) -> Obj:
    """The cluster's head pod; `sidecar`: the `ray-job-submitter` container's status fields."""
    statuses: list[Obj] = [{"name": "ray-head", "state": {"running": {}}, "restartCount": 0}]
    if sidecar is not None:
        statuses.append({"name": "ray-job-submitter", "restartCount": 0, "state": {"running": {}}, **sidecar})
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": NS, "uid": f"uid-{name}", "resourceVersion": "8",
                         "labels": {"ray.io/cluster": CLUSTER, "ray.io/node-type": "head"}},
            "status": {"phase": "Running", "containerStatuses": statuses}}


def info(submission_id: str = JOB_ID, *, found: bool = True, job_status: str = "RUNNING", message: str = "",
         start: int | None = None, end: int | None = None, error: str = "") -> Obj:
    """The watcher's `RayJobInfo` observation of the RayJob's Ray job `submission_id`."""
    found_info = JobInfo(found=found and not error, job_status=job_status if found and not error else "",
                         message=message, start_time=start, end_time=end, error=error)
    return info_object(rayjob(), submission_id=submission_id, cluster=CLUSTER, info=found_info, observed_at=NOW)


def ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def observe(root: Obj | None, *children: Obj, failures: tuple[Failure, ...] = ()) -> Observed:
    grouped: dict[str, list[Obj]] = defaultdict(list)
    for child in children:
        grouped[child["kind"].lower()].append(child)
    return Observed(RootKey("rayjob", NS, NAME), root, MappingProxyType({k: tuple(v) for k, v in grouped.items()}),
                    failures)


def run(root: Obj | None, *children: Obj, now: datetime = NOW, settings: JobConfig = SETTINGS,
        failures: tuple[Failure, ...] = ()) -> Decision:
    return reconcile(observe(root, *children, failures=failures), now=now, settings=settings)


def written(d: Decision) -> Obj:
    """The status the decision writes (the test fails if it writes none)."""
    assert d.status is not None, "expected a status write"
    return d.status


def ops(d: Decision) -> list[tuple[str, str, str]]:
    """(op, target kind, target name) of each action, in order."""
    out = []
    for a in d.actions:
        ref = a.regarding if isinstance(a, RecordEvent) else a.ref
        out.append((a.op, ref.kind, ref.name))
    return out


def events(d: Decision) -> list[str]:
    """The Events the decision asks for: Events of their own and each write's success Event."""
    out = []
    for a in d.actions:
        if isinstance(a, RecordEvent):
            out.append(a.reason)
        elif isinstance(a, Apply | Delete | Patch) and a.success_event is not None:
            out.append(a.success_event.reason)
    return out


def only(d: Decision, kind: type[T]) -> list[T]:
    """The decision's actions of one type."""
    return [a for a in d.actions if isinstance(a, kind)]
