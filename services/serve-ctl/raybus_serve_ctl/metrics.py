"""KubeRay's RayService metrics (`ray_service_metrics.go`), computed at scrape time from the
controller's view, like job-ctl's `kuberay_job_*`. All gauges of value 1:

| metric | labels |
|---|---|
| `kuberay_service_info` | name, namespace, uid |
| `kuberay_service_condition_ready` | name, namespace, uid, condition (`"true"` when Ready is True, else `"false"`) |
| `kuberay_service_condition_upgrade_in_progress` | name, namespace, uid, condition (whether UpgradeInProgress is True) |

KubeRay lists every RayService at each scrape; here each replica reports the RayServices whose
partition it holds, so N replicas never report one twice. Pure: `handlers` serves `families`
through `raybus_common.controller.scrape`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from prometheus_client.core import GaugeMetricFamily

from raybus_common import objects
from raybus_common.crds.raycluster_status import condition_true
from raybus_common.crds.rayservice import RayServiceConditionType as Type

Obj = dict[str, Any]
LABELS = ["name", "namespace", "uid"]


def families(services: Iterable[Obj]) -> list[GaugeMetricFamily]:
    info = GaugeMetricFamily("kuberay_service_info", "Metadata information about RayService custom resources",
                             labels=LABELS)
    ready = GaugeMetricFamily("kuberay_service_condition_ready", "Describes whether the RayService is ready",
                              labels=[*LABELS, "condition"])
    upgrading = GaugeMetricFamily("kuberay_service_condition_upgrade_in_progress",
                                  "Describes whether the RayService is performing a zero-downtime upgrade",
                                  labels=[*LABELS, "condition"])
    for svc in services:  # as observed: a scrape parses nothing
        ids = [objects.name(svc), objects.namespace(svc), objects.uid(svc)]
        status = svc.get("status")
        conditions = status.get("conditions") if isinstance(status, dict) else None
        info.add_metric(ids, 1)
        ready.add_metric([*ids, str(condition_true(conditions, Type.READY)).lower()], 1)
        upgrading.add_metric([*ids, str(condition_true(conditions, Type.UPGRADE_IN_PROGRESS)).lower()], 1)
    return [info, ready, upgrading]
