"""The resources a pod template asks for, summed the way KubeRay's `utils/util.go` sums them.

`pod_resources` is `CalculatePodResource` (what the RayCluster model's `desired_resources` adds
up, for status and for gang schedulers); `is_gpu` is `IsGPUResourceKey` (which resource names
count as GPUs, for `desiredGPU` and for the `num-gpus` flag of `ray start`). Resource lists are
`{name: Quantity}`.

Pure: reads the pod spec as the plain dict the CR embeds, writes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ..quantity import Quantity

_MIG = re.compile(r"nvidia\.com/mig-\d+g\.\d+gb$")


def is_gpu(name: str) -> bool:
    """KubeRay `IsGPUResourceKey`: the name ends with "gpu", or is an NVIDIA MIG slice."""
    return name.endswith("gpu") or bool(_MIG.search(name))


def add(total: dict[str, Quantity], more: Mapping[str, Quantity], times: int = 1) -> None:
    """`total += more × times`, name by name (Go's `quantity.Add` over a ResourceList)."""
    for key, q in more.items():
        total[key] = total[key] + q * times if key in total else q * times


def pod_resources(pod_spec: Mapping[str, Any]) -> dict[str, Quantity]:
    """KubeRay `CalculatePodResource`: Σ over the pod's containers of requests, with the limit
    for a name that has no request. Init containers, overhead and sidecars Raybus injects later
    are not counted."""
    total: dict[str, Quantity] = {}
    for c in pod_spec.get("containers") or []:
        res = c.get("resources") or {}
        merged = {**(res.get("limits") or {}), **(res.get("requests") or {})}
        add(total, {key: Quantity.parse(raw) for key, raw in merged.items()})
    return total
