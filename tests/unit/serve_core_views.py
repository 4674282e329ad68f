"""Small builders for the unit tests of serve-ctl's pure core (names, hashing, the cluster, upgrade,
traffic, conditions, Services, validation): a RayService as the API server serves it, one of its
RayClusters as observed, a status with given clusters and conditions. Each builder makes the
object as the API server would, and nothing more."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

from raybus_common.crds.raycluster import RayCluster
from raybus_common.crds.rayservice import RayService

Obj = dict[str, Any]
NAME, NS, UID = "rs", "ns", "rs-uid-1"
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
HEAD_PORTS = [{"containerPort": 6379, "name": "gcs-server"}, {"containerPort": 8265, "name": "dashboard"},
              {"containerPort": 10001, "name": "client"}, {"containerPort": 8000, "name": "serve"}]
OWNER = {"apiVersion": "ray.io/v1", "kind": "RayService", "name": NAME, "uid": UID, "controller": True,
         "blockOwnerDeletion": True}


def wire(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def ago(seconds: float) -> str:
    return wire(NOW - timedelta(seconds=seconds))


def worker(name: str = "small", **fields: Any) -> Obj:
    group: Obj = {"groupName": name, "replicas": 1, "minReplicas": 1, "maxReplicas": 3, "rayStartParams": {},
                  "template": {"spec": {"containers": [{"name": "ray-worker", "image": "rayproject/ray:2.52.0"}]}}}
    group.update(fields)
    return group


def cluster_config(*, image: str = "rayproject/ray:2.52.0", workers: list[Obj] | None = None,
                   ports: list[Obj] | None = None, **fields: Any) -> Obj:
    """A small `rayClusterConfig`: a head with gcs, dashboard, client and serve ports, one group."""
    config: Obj = {
        "rayVersion": "2.52.0",
        "headGroupSpec": {"rayStartParams": {}, "template": {"spec": {"containers": [
            {"name": "ray-head", "image": image, "ports": copy.deepcopy(HEAD_PORTS if ports is None else ports)}]}}},
        "workerGroupSpecs": [worker()] if workers is None else workers,
    }
    config.update(fields)
    return config


def rayservice(*, config: Obj | None = None, labels: dict[str, str] | None = None,
               annotations: dict[str, str] | None = None, status: Obj | None = None, generation: int = 1,
               name: str = NAME, **spec: Any) -> Obj:
    meta: Obj = {"name": name, "namespace": NS, "uid": UID, "generation": generation, "resourceVersion": "5"}
    if labels is not None:
        meta["labels"] = labels
    if annotations is not None:
        meta["annotations"] = annotations
    body: Obj = {"serveConfigV2": "applications: []\n", "rayClusterConfig": config or cluster_config(), **spec}
    raw: Obj = {"apiVersion": "ray.io/v1", "kind": "RayService", "metadata": meta, "spec": body}
    if status is not None:
        raw["status"] = status
    return raw


def incremental(*, max_surge: int = 100, step: int = 25, interval: int = 30, gateway_class: str = "istio") -> Obj:
    """`upgradeStrategy` for NewClusterWithIncrementalUpgrade."""
    return {"type": "NewClusterWithIncrementalUpgrade", "clusterUpgradeOptions": {
        "maxSurgePercent": max_surge, "stepSizePercent": step, "intervalSeconds": interval,
        "gatewayClassName": gateway_class}}


def typed(raw: Obj) -> RayService:
    return RayService.model_validate(raw)


def raycluster(name: str, config: Obj | None = None, *, annotations: dict[str, str] | None = None,
               conditions: list[Obj] | None = None, uid: str | None = None) -> Obj:
    """One of the RayService's clusters as observed (spec `config`, the given annotations)."""
    obj: Obj = {"apiVersion": "ray.io/v1", "kind": "RayCluster",
                "metadata": {"name": name, "namespace": NS, "uid": uid or f"uid-{name}",
                             "annotations": dict(annotations or {})},
                "spec": copy.deepcopy(config or cluster_config())}
    if conditions is not None:
        obj["status"] = {"conditions": conditions}
    return obj


def typed_cluster(raw: Obj) -> RayCluster:
    return RayCluster.model_validate(raw)


def cond(kind: str, status: str, reason: str, *, at: str | None = None, message: str = "") -> Obj:
    return {"type": kind, "status": status, "reason": reason, "message": message,
            "lastTransitionTime": at or ago(3600), "observedGeneration": 1}


def status(*, active: str = "", pending: str = "", conditions: list[Obj] | None = None, **fields: Any) -> Obj:
    """A RayService status naming the active and pending clusters; `active_<key>` / `pending_<key>`
    keyword arguments set that cluster status's field."""
    out: Obj = {"observedGeneration": 1, "activeServiceStatus": {"rayClusterName": active},
                "pendingServiceStatus": {"rayClusterName": pending}, "conditions": list(conditions or [])}
    for key, value in fields.items():
        which, _, field = key.partition("_")
        if which in ("active", "pending"):
            out[f"{which}ServiceStatus"][field] = value
        else:
            out[key] = value
    return out


def condition(status_: Obj, kind: str) -> Obj | None:
    return next((c for c in status_.get("conditions") or [] if c["type"] == kind), None)
