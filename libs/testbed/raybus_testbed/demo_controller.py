"""A small controller for testing the spine end to end: it keeps one ConfigMap per RayCluster
holding the cluster's total worker replicas, annotated with the replica that wrote it.

    RAYBUS_SERVICE_NAME=demo-1 python -m raybus_testbed.demo_controller

The ConfigMap carries `raybus.io/demo=true`, so a watcher started with
`RAYBUS_WATCH_EXTRA=configmap=raybus.io/demo=true` feeds it back; deleting the RayCluster
garbage-collects it through the owner reference. Once a RayCluster is gone from the view, it
records a `RootGone` Event about it, so a test can see that every deletion reached the
controller. The same view gives the same action id (hence the same Event name, recorded
once); a later view of the gone root (its ConfigMap going too) may record another.
"""

from __future__ import annotations

from datetime import datetime

from raybus_common.actions import Apply, ObjectRef, RecordEvent
from raybus_common.controller.config import ControllerConfig
from raybus_common.controller.runtime import ControllerSpec, Watch, starter
from raybus_common.controller.view import Observed, owned_by
from raybus_common.decision import NOTHING, Decision
from raybus_common.objects import owner_reference
from raybus_common.runner import run_service
from raybus_common.settings import ControllerSettings

LABEL = "raybus.io/demo"
WRITER = "raybus.io/written-by"
GONE_REASON = "RootGone"


def configmap_name(cluster: str) -> str:
    return f"{cluster}-demo"


class DemoConfig(ControllerConfig):
    service_name: str = "demo-ctl"  # stamped on every ConfigMap (`raybus.io/written-by`)


class DemoSettings(ControllerSettings, DemoConfig):
    service_name: str = "demo-ctl"


def reconcile(observed: Observed, *, now: datetime, settings: DemoConfig) -> Decision:
    root = observed.root
    if root is None:
        key = observed.key
        ref = ObjectRef(api_version="ray.io/v1", kind="RayCluster", namespace=key.namespace, name=key.name)
        return Decision(actions=(RecordEvent(regarding=ref, reason=GONE_REASON,
                                             message=f"{key} is gone"),))
    if (root.get("metadata") or {}).get("deletionTimestamp"):
        return NOTHING
    meta = root["metadata"]
    workers = sum(int(g.get("replicas") or 0) for g in (root.get("spec") or {}).get("workerGroupSpecs") or [])
    data = {"workers": str(workers), "generation": str(meta.get("generation", ""))}
    current = next((c for c in observed.of("configmap") if c["metadata"]["name"] == configmap_name(meta["name"])), None)
    if current is not None and current.get("data") == data:
        return NOTHING
    cm = {"apiVersion": "v1", "kind": "ConfigMap",
          "metadata": {"name": configmap_name(meta["name"]), "namespace": meta["namespace"],
                       "labels": {LABEL: "true"}, "annotations": {WRITER: settings.service_name},
                       "ownerReferences": [owner_reference(root)]},
          "data": data}
    return Decision(actions=(Apply(object=cm),))


SPEC = ControllerSpec[DemoSettings]("demo-ctl", "raycluster", reconcile,
                                     (Watch("configmap", owned_by("raycluster", "RayCluster")),))


def main() -> None:
    run_service(DemoSettings, starter(SPEC))


if __name__ == "__main__":
    main()
