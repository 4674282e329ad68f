"""The hash a RayService compares its clusters by (KubeRay v1.7 `rayClusterSpecForHashing`,
`GenerateHashWithoutReplicasAndWorkersToDelete`, `isClusterSpecHashEqual`). Pure.

A RayCluster made by a RayService carries the hash of the `rayClusterConfig` it was built from
(annotation `ray.io/hash-without-replicas-and-workers-to-delete`) and its number of worker
groups (`ray.io/num-worker-groups`). Comparing the goal spec's hash with them decides between
nothing, an in-place update and a new cluster (`upgrade.py`). Left out of the hash, so that
changing them never makes a new cluster:

| cleared | why |
|---|---|
| `suspend` | copied to the cluster only at creation; afterwards Kueue owns it |
| `upgradeStrategy` (the cluster spec's) | not the RayService's concern |
| head and worker `template.spec.tolerations`, `template.spec.schedulingGates` | Kueue injects them |
| each worker group's `replicas`, `minReplicas`, `maxReplicas`, `scaleStrategy.workersToDelete` | the autoscaler's |

The hash is `RayClusterSpec.spec_hash` (sha1 of a canonical JSON, base32hex): the spec as sent,
keys sorted, explicit nulls kept. It is not byte-for-byte KubeRay's: Go marshals the typed
struct in its field order (with its zero values), which a Python model of the spec as sent does
not reproduce, and KubeRay's base32 is upper case. So a cluster KubeRay made hashes differently
here, and taking over a KubeRay RayService prepares one new cluster (zero-downtime). What counts
is that the same spec always hashes the same here. One rule of Go's kept: an empty
`workerGroupSpecs` is the same as none (`omitempty`), so appending the first group to a spec that
had none is an in-place update, as in KubeRay.

The partial hash (`partial_hash`) is the goal spec's hash with only the first `n` worker groups,
`n` the cluster's `ray.io/num-worker-groups`: equal to the cluster's hash when the only change is
worker groups appended at the end (and replica fields).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from raybus_common.crds.raycluster import RayClusterSpec

from .constants import HASH_ANNOTATION, NUM_WORKER_GROUPS_ANNOTATION

Obj = dict[str, Any]
_GO_INT = re.compile(r"[+-]?[0-9]+")


def hashing_spec(cluster_config: Mapping[str, Any]) -> Obj:
    """KubeRay `rayClusterSpecForHashing`: a copy of `rayClusterConfig` (as sent) without `suspend`
    (and without an empty `workerGroupSpecs`)."""
    spec = {k: v for k, v in cluster_config.items() if k != "suspend"}
    if not spec.get("workerGroupSpecs"):
        spec.pop("workerGroupSpecs", None)
    return spec


def spec_hash(cluster_config: Mapping[str, Any]) -> str:
    """The goal cluster's hash: `ray.io/hash-without-replicas-and-workers-to-delete`."""
    return RayClusterSpec.model_validate(hashing_spec(cluster_config)).spec_hash()


def partial_hash(cluster_config: Mapping[str, Any], num_worker_groups: int) -> str:
    """The goal's hash with its first `num_worker_groups` worker groups only; "" when the goal has
    fewer (KubeRay leaves the goal hash empty then, so only a cluster without a hash matches)."""
    groups = list(cluster_config.get("workerGroupSpecs") or [])
    if len(groups) < num_worker_groups:
        return ""
    return spec_hash({**cluster_config, "workerGroupSpecs": groups[:num_worker_groups]})


def worker_group_count(annotations: Mapping[str, str]) -> int | None:
    """`ray.io/num-worker-groups` as Go's `strconv.Atoi` reads it; None when absent, not an integer,
    or negative (where KubeRay's slice would panic)."""
    text = annotations.get(NUM_WORKER_GROUPS_ANNOTATION, "")
    if not _GO_INT.fullmatch(text):
        return None
    count = int(text)
    return count if count >= 0 else None


def hash_equal(cluster_config: Mapping[str, Any], cluster: Mapping[str, Any], *, partial: bool) -> bool:
    """KubeRay `isClusterSpecHashEqual`: whether the cluster's hash annotation equals the goal's
    hash, or (`partial`) the goal's partial hash. A cluster whose worker-group count cannot be read
    counts as partially equal (KubeRay's choice: update it in place, which rewrites the count)."""
    annotations = (cluster.get("metadata") or {}).get("annotations") or {}
    current = annotations.get(HASH_ANNOTATION, "")
    if not partial:
        return bool(current == spec_hash(cluster_config))
    count = worker_group_count(annotations)
    if count is None:
        return True
    return bool(current == partial_hash(cluster_config, count))
