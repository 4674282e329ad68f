"""KubeRay's RayCluster metrics, computed at scrape time from the controller's view.

| metric | labels | value |
|---|---|---|
| `kuberay_cluster_info` | name, namespace, uid, owner_kind | 1 |
| `kuberay_cluster_condition_provisioned` | name, namespace, uid, condition (`true`/`false`) | 1 |
| `kuberay_cluster_provisioned_duration_seconds` | name, namespace, uid | seconds from creation until `RayClusterProvisioned` turned True |

KubeRay sets the duration once, when it writes the status that turns the condition True, and
lists every RayCluster for the other two. Here each replica reports the clusters whose
partition it holds (so N replicas never report a cluster twice), and the duration comes from
the condition's `lastTransitionTime`, which is when that status was written: the same figure,
and it survives a restart. `families` is pure; `controller.scrape.export` plugs it into the registry.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from prometheus_client.core import GaugeMetricFamily

from raybus_common import objects
from raybus_common.crds.raycluster import ORIGINATED_FROM_CRD_LABEL, RayClusterConditionType

Obj = dict[str, Any]
LABELS = ["name", "namespace", "uid"]


def _time(text: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(text))
    except ValueError:
        return None


def families(clusters: Iterable[Obj]) -> list[GaugeMetricFamily]:
    info = GaugeMetricFamily("kuberay_cluster_info", "Metadata information about RayCluster custom resources",
                             labels=[*LABELS, "owner_kind"])
    provisioned = GaugeMetricFamily("kuberay_cluster_condition_provisioned",
                                    "Indicates whether the RayCluster is provisioned", labels=[*LABELS, "condition"])
    duration = GaugeMetricFamily("kuberay_cluster_provisioned_duration_seconds",
                                 "The time, in seconds, when a RayCluster's `RayClusterProvisioned` status "
                                 "transitions from false (or unset) to true", labels=LABELS)
    for c in clusters:  # as observed: a scrape does not parse every cluster
        ids = [objects.name(c), objects.namespace(c), objects.uid(c)]
        owner = objects.labels(c).get(ORIGINATED_FROM_CRD_LABEL) or "None"
        info.add_metric([*ids, owner], 1)
        cond = next((x for x in (c.get("status") or {}).get("conditions") or []
                     if x.get("type") == RayClusterConditionType.PROVISIONED), None)
        is_true = cond is not None and cond.get("status") == "True"
        provisioned.add_metric([*ids, "true" if is_true else "false"], 1)
        created, since = _time(objects.meta(c).get("creationTimestamp")), _time((cond or {}).get("lastTransitionTime"))
        if is_true and created is not None and since is not None:
            duration.add_metric(ids, max(0.0, (since - created).total_seconds()))
    return [info, provisioned, duration]

